"""Two worker processes on one stream give the results of one batch run of the same records,
exactly once, though records are published twice and a worker is killed between a commit
and its acks (so its messages are redelivered), then restarted."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.compute as pc
from sqlalchemy import func, select

from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.db.scoping import unscoped
from openmvne.services import ledger, usage
from openmvne.streaming import layout, publisher
from tests.conftest import Backend, fresh_url
from tests.streaming.conftest import build_lines, outcome, usage_for

# Worker A, killed (SIGKILL) right after its second commit, before it acks that batch.
KILLED_AFTER_COMMIT = """
import asyncio, os, signal, sys
from openmvne.db.engine import Database
from openmvne.streaming import layout, worker
db = Database(sys.argv[1], lock_timeout_s=60)
lake = worker.worker_lake(sys.argv[2], "a")
options = worker.WorkerOptions(layout.parse_partitions(sys.argv[3]), max_records=int(sys.argv[4]),
                               ack_wait_s=2.0, name="a")
rate = worker.rater(db, lake)
commits = []
def rate_then_die(table, source):
    result = rate(table, source)
    commits.append(result.rated)
    print("committed", result.rated, flush=True)
    if len(commits) == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    return result
with worker.exclusive(lake):
    asyncio.run(worker.run_until_signalled(worker.Worker(rate_then_die, options)))
"""
MAX_RECORDS = "1500"


def _logs(folder: Path) -> str:
    return "\n".join(f"--- {f.name}\n{f.read_text()[-3000:]}" for f in sorted(folder.glob("*.log")))


def _wait_drained(url: str, stream: layout.Layout, deadline: float, logs: Path) -> dict[str, Any]:
    while True:
        state = asyncio.run(layout.status(url, stream))
        consumers = [p for p in state["partitions"] if p["consumer"]]
        if (
            state["messages"] == 0
            and len(consumers) == 16
            and all(p["pending"] == 0 and p["ackPending"] == 0 for p in consumers)
        ):
            return state
        assert time.monotonic() < deadline, f"{state}\n{_logs(logs)}"
        time.sleep(0.3)


def test_two_worker_processes_rate_exactly_once_like_one_batch(
    backend: Backend, nats_url: str, stream: layout.Layout, tmp_path: Path
) -> None:
    db = backend.db
    world, lines = build_lines(db, count=12)
    assert {usage.partition_of(m) < 8 for m in lines} == {True, False}, "both halves have lines"
    table = usage_for(lines, per_day=100, days=20)  # about 24,000 records
    usage_dir = tmp_path / "lake"
    env = {
        **os.environ,
        "OPENMVNE_DATABASE_URL": backend.url,
        "OPENMVNE_USAGE_DIR": str(usage_dir),
        "OPENMVNE_NATS_URL": nats_url,
        "OPENMVNE_NATS_STREAM": stream.stream,
        "OPENMVNE_LOG_LEVEL": "INFO",
    }
    deadline = time.monotonic() + 50

    logs = tmp_path / "logs"
    logs.mkdir()
    handles: list[Any] = []

    def log_of(name: str) -> Any:  # each worker's log, shown when something goes wrong
        handles.append((logs / f"{name}.log").open("a"))
        return handles[-1]

    def cli_worker(partitions: str, name: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-c", "from openmvne.cli.main import main; main()", "stream", "worker",
             "--partitions", partitions, "--name", name, "--max-records", MAX_RECORDS,
             "--ack-wait", "2"],
            env=env, stdout=subprocess.PIPE, stderr=log_of(name), text=True,
        )  # fmt: skip

    sent = publisher.publish(table, url=nats_url, layout=stream, per_message=500)
    assert sent.records == table.num_rows
    a = subprocess.Popen(
        [sys.executable, "-c", KILLED_AFTER_COMMIT, backend.url, str(usage_dir), "0-7",
         MAX_RECORDS],
        env=env, stdout=subprocess.PIPE, stderr=log_of("a"), text=True,
    )  # fmt: skip
    b = cli_worker("8-15", "b")
    workers = [a, b]
    try:
        a_out, _ = a.communicate(timeout=40)
        assert a.returncode == -signal.SIGKILL, _logs(logs)
        assert a_out.count("committed") == 2
        # Everything again: the same messages are stored once (JetStream's duplicate window),
        # and a quarter of the records in other messages reach the workers, who find them claimed.
        again = publisher.publish(table, url=nats_url, layout=stream, per_message=500)
        assert again.duplicate_messages == sent.messages
        quarter = table.filter(pc.equal(pc.bit_wise_and(table.column("seq"), 3), 0))
        overlap = publisher.publish(quarter, url=nats_url, layout=stream, per_message=333)
        assert overlap.duplicate_messages == 0
        restarted = cli_worker("0-7", "a")
        workers.append(restarted)
        _wait_drained(nats_url, stream, deadline, logs)
        for process in (b, restarted):
            process.send_signal(signal.SIGTERM)
        outputs = {}
        for name, process in (("b", b), ("a", restarted)):
            out, _ = process.communicate(timeout=20)
            assert process.returncode == 0, _logs(logs)
            outputs[name] = json.loads(out.strip().splitlines()[-1])
    finally:
        for process in workers:
            if process.poll() is None:
                process.kill()
                process.communicate()
        for handle in handles:
            handle.close()
    # The batch killed before its ack came back, and was found claimed.
    assert outputs["a"]["redelivered"] > 0
    assert outputs["a"]["duplicates"] + outputs["b"]["duplicates"] >= quarter.num_rows
    assert outputs["a"]["failedBatches"] == outputs["b"]["failedBatches"] == 0

    with db.read() as conn:
        rb = t.rating_batch
        rated = conn.execute(unscoped(select(func.sum(rb.c.rated)), "test")).scalar()
        assert not ledger.audit_ledger(conn)
    assert rated == table.num_rows
    # The usage lake holds every record once, and nothing half-written.
    files = sorted(str(f) for f in usage_dir.glob("workers/*/period=*/*.parquet"))
    assert not list(usage_dir.glob("workers/*/period=*/.*.tmp"))
    listed = ", ".join(f"'{f}'" for f in files)
    [(count, distinct)] = (
        duckdb.connect()
        .execute(f"SELECT count(*), count(DISTINCT (node_id, seq)) FROM read_parquet([{listed}])")  # noqa: S608
        .fetchall()
    )
    assert count == distinct == table.num_rows

    # One batch of the same records on a twin database: the same outcome, to the fen.
    twin = Database(fresh_url("sqlite", tmp_path / "twin"))
    try:
        twin_world, twin_lines = build_lines(twin, count=12)
        assert twin_lines == lines
        one = usage.rate_table(twin, table, lake=tmp_path / "twin-lake", source="one batch")
        assert one.rated == table.num_rows
        streamed = outcome(db, world, lines)
        assert streamed == outcome(twin, twin_world, twin_lines)
        assert any(debt for _, debt in streamed["states"].values())  # some ran out of money
    finally:
        twin.dispose()
