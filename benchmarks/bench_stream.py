"""Usage over NATS JetStream end to end: N usage records (default 1,000,000;
OPENMVNE_BENCH_STREAM_RECORDS) for 50,000 lines published to a stream, rated by two worker
processes (`mvne stream worker`, partitions 0-7 and 8-15, micro-batches of up to
OPENMVNE_BENCH_STREAM_MAX_RECORDS records, default 200,000), timed until every message is
acked (a worker acks only after its batch's commit), against two baselines on the same
records:

- transport: the same publish and two workers that decode and ack without rating — what
  JetStream and the worker loop cost on their own;
- batch: the records rated as one batch (`usage.rate_table`, what `mvne usage rate` does),
  whose per-line results the stream's must equal exactly.

Needs a NATS server with JetStream (OPENMVNE_NATS_URL, default nats://127.0.0.1:4222).
SQLite always; PostgreSQL too when OPENMVNE_BENCH_POSTGRES_URL names an empty database. Each
scenario runs in a fresh process; the lines come from bench_usage's world (opened on
2026-10-01), the usage is October 2026's.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

RECORDS = int(os.environ.get("OPENMVNE_BENCH_STREAM_RECORDS", "1000000"))
MAX_RECORDS = os.environ.get("OPENMVNE_BENCH_STREAM_MAX_RECORDS", "200000")
DAYS = 30
HALVES = ("0-7", "8-15")
DEADLINE_S = 1800.0  # the benchmark gives up (and says so) rather than run forever

COUNTING_WORKER = """
import asyncio, sys
from openmvne.services.usage import BatchResult
from openmvne.streaming import layout, worker
options = worker.WorkerOptions(layout.parse_partitions(sys.argv[1]), max_records=int(sys.argv[2]),
                               name="count-" + sys.argv[1])
def count(table, source):
    return BatchResult(None, records_in=table.num_rows, rated=table.num_rows)
stats = asyncio.run(worker.run_until_signalled(worker.Worker(count, options)))
print(__import__("json").dumps(stats.as_dict()))
"""
CLI = "from openmvne.cli.main import main; main()"


def _table() -> Any:
    import pyarrow.parquet as pq

    return pq.read_table(os.environ["BENCH_STREAM_FILE"])


def _layout() -> Any:
    from openmvne.streaming.layout import Layout

    return Layout(stream=f"BENCH_{os.getpid()}_{uuid.uuid4().hex[:8]}")


def _start_workers(layout: Any, env: dict[str, str], *, rate: bool) -> list[subprocess.Popen[str]]:
    env = {**env, "OPENMVNE_NATS_STREAM": layout.stream, "OPENMVNE_LOG_LEVEL": "WARNING"}
    out = []
    for half in HALVES:
        if rate:
            args = [CLI, "stream", "worker", "--partitions", half, "--max-records", MAX_RECORDS]
        else:
            args = [COUNTING_WORKER, half, MAX_RECORDS]
        out.append(
            subprocess.Popen(  # noqa: S603  # our own interpreter and module
                [sys.executable, "-c", *args],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    return out


def _wait(layout: Any, workers: list[subprocess.Popen[str]], *, drained: bool) -> None:
    """Until the workers have bound all 16 consumers (drained=False), or until every message
    is acked and gone (drained=True)."""
    from openmvne.streaming.layout import status

    deadline = time.monotonic() + DEADLINE_S
    while True:
        state = asyncio.run(status(None, layout))
        consumers = [p for p in state["partitions"] if p.get("consumer")]
        if len(consumers) == 16 and (
            not drained
            or (
                state["messages"] == 0
                and all(p["pending"] == 0 and p["ackPending"] == 0 for p in consumers)
            )
        ):
            return
        for w in workers:
            if w.poll() is not None:
                raise RuntimeError(f"a worker stopped: {w.stderr.read() if w.stderr else ''}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"not drained after {DEADLINE_S:.0f} s: {state}")
        time.sleep(0.05 if not drained else 0.2)


def _stop(workers: list[subprocess.Popen[str]]) -> list[dict[str, Any]]:
    for w in workers:
        w.send_signal(signal.SIGTERM)
    stats = []
    for w in workers:
        out, err = w.communicate(timeout=120)
        if w.returncode != 0:
            raise RuntimeError(f"worker failed: {err[-2000:]}")
        stats.append(json.loads(out.strip().splitlines()[-1]))
    return stats


def _through_stream(env: dict[str, str], *, rate: bool) -> dict[str, Any]:
    """Workers up and waiting; then publish everything; then wait until all is acked."""
    from openmvne.streaming import layout as lay
    from openmvne.streaming import publisher

    layout = _layout()
    asyncio.run(_ensure(layout))
    workers = _start_workers(layout, env, rate=rate)
    try:
        _wait(layout, workers, drained=False)
        table = _table()
        started = time.perf_counter()
        sent = publisher.publish(table, layout=layout)
        published = time.perf_counter() - started
        _wait(layout, workers, drained=True)
        seconds = time.perf_counter() - started
        stats = _stop(workers)
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.wait()
        asyncio.run(lay.delete_stream(None, layout))
    return {
        "records": sent.records,
        "messages": sent.messages,
        "megabytes": sent.bytes / 1e6,
        "publish_seconds": published,
        "seconds": seconds,
        "batches": sum(s["batches"] for s in stats),
        "rated": sum(s["rated"] for s in stats),
        "duplicates": sum(s["duplicates"] for s in stats),
        "rejected": sum(s["rejected"] for s in stats),
        "rating_seconds": [s["ratingSeconds"] for s in stats],
    }


async def _ensure(layout: Any) -> None:
    from openmvne.streaming.layout import connect, ensure_stream

    nc = await connect(None)
    try:
        await ensure_stream(nc.jetstream(), layout)
    finally:
        await nc.close()


def transport() -> dict[str, Any]:
    return _through_stream(dict(os.environ), rate=False)


def _totals(url: str) -> dict[str, list[int]]:
    from sqlalchemy import select

    from openmvne.db import tables as t
    from openmvne.db.engine import Database
    from openmvne.db.scoping import unscoped

    db = Database(url)
    up = t.usage_period
    stmt = select(
        up.c.msisdn, up.c.period, up.c.records, up.c.charge_exact, up.c.unpaid_fen,
        up.c.wholesale_exact,
    )  # fmt: skip
    with db.read() as conn:
        rows = conn.execute(unscoped(stmt, "the benchmark's own check")).all()
    db.dispose()
    return {
        f"{r.msisdn} {r.period}": [
            int(r.records), int(r.charge_exact), int(r.unpaid_fen), int(r.wholesale_exact)
        ]
        for r in rows
    }  # fmt: skip


def batch(url: str) -> dict[str, Any]:
    from benchmarks.bench_usage import _world
    from openmvne.db.engine import Database
    from openmvne.services import usage

    _world(url)
    db = Database(url)
    table = _table()
    with tempfile.TemporaryDirectory() as lake:
        started = time.perf_counter()
        result = usage.rate_table(db, table, lake=Path(lake), source="bench one batch")
        seconds = time.perf_counter() - started
    db.dispose()
    Path(os.environ["BENCH_STREAM_FILE"] + ".batch.json").write_text(json.dumps(_totals(url)))
    return {"records": result.records_in, "rated": result.rated, "seconds": seconds}


def stream(url: str) -> dict[str, Any]:
    from benchmarks.bench_usage import _world

    _world(url)
    with tempfile.TemporaryDirectory() as lake:
        env = {**os.environ, "OPENMVNE_DATABASE_URL": url, "OPENMVNE_USAGE_DIR": lake}
        got = _through_stream(env, rate=True)
    Path(os.environ["BENCH_STREAM_FILE"] + ".stream.json").write_text(json.dumps(_totals(url)))
    return got


def _child(kind: str, *args: str) -> dict[str, Any]:
    out = subprocess.run(  # noqa: S603  # our own interpreter and module
        [sys.executable, "-c",
         f"import json, sys; from benchmarks.bench_stream import {kind}; "
         f"print(json.dumps({kind}(*sys.argv[1:])))", *args],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"{kind} failed: {out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def run() -> None:
    from datetime import date

    from benchmarks.bench_usage import LINES
    from openmvne.services import usage_generate
    from openmvne.streaming.layout import nats_url

    if not _nats_up(nats_url()):
        print(f"  skipped: no NATS server at {nats_url()}")
        return
    with tempfile.TemporaryDirectory() as tmp:
        file = str(Path(tmp) / "usage.parquet")
        os.environ["BENCH_STREAM_FILE"] = file
        msisdns = [f"171{n:08d}" for n in range(LINES)]
        table = usage_generate.generate(
            msisdns, days=DAYS, start=date(2026, 10, 2), seed=1, per_day=RECORDS / LINES / DAYS
        )
        usage_generate.write(table, Path(file))
        print(
            f"  {table.num_rows:,} records, {LINES:,} lines, {DAYS} days; two workers, "
            f"micro-batches of up to {int(MAX_RECORDS):,} records"
        )
        del table
        base = _child("transport")
        base_speed = base["records"] / base["seconds"]
        print(
            f"  transport (publish, two workers decode and ack, no rating): "
            f"{base['records']:,} records in {base['messages']:,} messages "
            f"({base['megabytes']:,.0f} MB) in {base['seconds']:.1f} s = {base_speed:,.0f} "
            f"records/s end to end; publishing alone {base['publish_seconds']:.1f} s = "
            f"{base['records'] / base['publish_seconds']:,.0f} records/s"
        )
        urls = {"sqlite": f"sqlite:///{tmp}/batch.db"}
        stream_urls = {"sqlite": f"sqlite:///{tmp}/stream.db"}
        if os.environ.get("OPENMVNE_BENCH_POSTGRES_URL"):
            urls["postgres"] = stream_urls["postgres"] = os.environ["OPENMVNE_BENCH_POSTGRES_URL"]
        for name in urls:
            one = _child("batch", urls[name])
            one_speed = one["records"] / one["seconds"]
            got = _child("stream", stream_urls[name])
            speed = got["records"] / got["seconds"]
            same = json.loads(Path(file + ".stream.json").read_text()) == json.loads(
                Path(file + ".batch.json").read_text()
            )
            print(
                f"  {name}: one batch {one['seconds']:.1f} s = {one_speed:,.0f} records/s; "
                f"stream with two workers {got['seconds']:.1f} s end to end = {speed:,.0f} "
                f"records/s ({speed / one_speed:.2f}x the batch, {speed / base_speed:.2f}x the "
                f"transport) in {got['batches']} micro-batches (rating "
                f"{' + '.join(f'{s:.1f}' for s in got['rating_seconds'])} s); rated "
                f"{got['rated']:,}, duplicates {got['duplicates']:,}, rejected "
                f"{got['rejected']:,}; per-line results identical to the batch: {same}"
            )


def _nats_up(url: str) -> bool:
    import socket
    from urllib.parse import urlparse

    first = urlparse(url.split(",")[0].strip())
    try:
        with socket.create_connection((first.hostname or "127.0.0.1", first.port or 4222), 1):
            return True
    except OSError:
        return False
