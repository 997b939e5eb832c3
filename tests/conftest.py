"""Fixtures: a real database per backend (SQLite always, PostgreSQL when configured) and a
real HTTP server (uvicorn on a free port) in front of it. No mocks of our own code."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import text

from openmvne.api.app import create_app
from openmvne.config import Settings
from openmvne.db import migrate
from openmvne.db.engine import Database
from openmvne.db.tables import APPEND_ONLY_SQLITE, metadata

# Processes the tests start (servers, workers) keep the simulated network in memory, not in
# ./var, which would outlive the run.
os.environ.setdefault("OPENMVNE_NETWORK_STATE_PATH", "")
POSTGRES_URL = os.environ.get("OPENMVNE_TEST_POSTGRES_URL")
BACKENDS = ["sqlite", *(["postgres"] if POSTGRES_URL else [])]


def fresh_url(backend: str, tmp: Path) -> str:
    """An empty database of this backend, upgraded to head."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp / 'openmvne.db'}"
    else:
        assert POSTGRES_URL is not None
        url = POSTGRES_URL
        db = Database(url)
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        db.dispose()
    migrate.upgrade(url)
    return url


class Backend:
    """One migrated database and, on demand, one HTTP server in front of it."""

    def __init__(self, name: str, url: str) -> None:
        self.name = name
        self.url = url
        self.db = Database(url, lock_timeout_s=5.0)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.app: FastAPI | None = None
        self.base_url = ""

    def clean(self) -> None:
        with self.db.engine.begin() as conn:
            if self.name == "postgres":
                names = ", ".join(t.name for t in metadata.sorted_tables)
                conn.execute(text(f"TRUNCATE {names} CASCADE"))
            else:
                # The ledger is append-only in the database itself; only the test harness
                # lifts that, for the time it takes to empty the tables.
                conn.execute(text("DROP TRIGGER IF EXISTS ledger_transfer_no_update"))
                conn.execute(text("DROP TRIGGER IF EXISTS ledger_transfer_no_delete"))
                for table in reversed(metadata.sorted_tables):
                    conn.execute(table.delete())
                for statement in APPEND_ONLY_SQLITE:
                    conn.execute(text(statement))

    def serve(self) -> str:
        if self._server is None:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            # The background loops stay quiet: service tests drive the outbox with their own
            # simulated network; API tests drain this app's network (`self.app.state.network`).
            settings = Settings(
                database_url=self.url,
                provisioning_interval_s=3600,
                lifecycle_interval_s=3600,
                network_state_path="",
            )
            app = create_app(settings, db=self.db)
            self.app = app
            config = uvicorn.Config(
                app,
                host="127.0.0.1",
                port=port,
                log_level="warning",
                access_log=False,
                log_config=None,
            )
            self._server = uvicorn.Server(config)
            self._thread = threading.Thread(target=self._server.run, daemon=True)
            self._thread.start()
            deadline = time.monotonic() + 10
            while not self._server.started:
                if time.monotonic() > deadline:
                    raise RuntimeError("test server did not start")
                time.sleep(0.01)
            self.base_url = f"http://127.0.0.1:{port}"
        return self.base_url

    def close(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=5)
        self.db.dispose()


@pytest.fixture(scope="session")
def backends(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Backend]]:
    made: dict[str, Backend] = {}

    class Lazy(dict[str, Backend]):
        def __missing__(self, name: str) -> Backend:
            backend = Backend(name, fresh_url(name, tmp_path_factory.mktemp(name)))
            made[name] = backend
            self[name] = backend
            return backend

    yield Lazy()
    for backend in made.values():
        backend.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, backends: dict[str, Backend]) -> Backend:
    """A clean, migrated database of each backend in turn."""
    chosen = backends[request.param]
    chosen.clean()
    return chosen


@pytest.fixture
def db(backend: Backend) -> Database:
    return backend.db


@pytest.fixture
def http(backend: Backend) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=backend.serve(), timeout=10) as client:
        yield client
