"""The baseline for bench_money: the same stack (uvicorn, FastAPI, SQLAlchemy Core, the same
database settings) answering POST /bare by inserting one row, nothing else."""

from __future__ import annotations

import os
import sys

import uvicorn
from fastapi import FastAPI
from sqlalchemy import Column, MetaData, String, Table

from openmvne import heap, ids
from openmvne.db.engine import Database

metadata = MetaData()
bare = Table("bare_row", metadata, Column("id", String(32), primary_key=True))


def make_app(url: str) -> FastAPI:
    db = Database(url)
    app = FastAPI()

    @app.post("/bare", status_code=201)
    def insert_one() -> dict[str, str]:
        row_id = ids.new_id().hex
        with db.write() as conn:
            conn.execute(bare.insert().values(id=row_id))
        return {"id": row_id}

    return app


def app_from_environment() -> FastAPI:
    app = make_app(os.environ["OPENMVNE_DATABASE_URL"])
    heap.settle_server()  # the runtime setting `mvne serve` uses
    return app


if __name__ == "__main__":
    made = Database(os.environ["OPENMVNE_DATABASE_URL"])
    metadata.create_all(made.engine)  # once, before the worker processes start
    made.dispose()
    uvicorn.run(
        "benchmarks.bare_app:app_from_environment",
        factory=True,
        workers=int(sys.argv[2]) if len(sys.argv) > 2 else 1,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="warning",
        access_log=False,
    )
