"""Online charging through the HTTP API: reserve/terminate pairs (CCR-I then CCR-T), 32 in
flight, against the baseline of the bare insert-one-row endpoint (benchmarks/bare_app.py) in
the same run. 1,000 lines with money (bulk-made as in bench_usage). SQLite always;
PostgreSQL too when OPENMVNE_BENCH_POSTGRES_URL names an empty database."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

PAIRS = int(os.environ.get("OPENMVNE_BENCH_CHARGING_PAIRS", "2000"))
IN_FLIGHT = 32


def _world(url: str) -> tuple[str, list[str]]:
    from benchmarks import bench_usage
    from openmvne.db.engine import Database
    from openmvne.domain.parties import Role
    from openmvne.services import users

    bench_usage.LINES = 1_000
    lines = bench_usage._world(url)
    db = Database(url)
    op = users.operator(db)
    hosts = [o for o in _orgs(db) if o[1] == "hostNetwork"]
    users.add_user(
        db, op, username="network", party_id=hosts[0][0], roles=frozenset({Role.HOST_ADMIN}),
        password=None,
    )  # fmt: skip
    token = users.create_token(db, op, "network")
    db.dispose()
    return token, lines


def _orgs(db: Any) -> list[tuple[Any, str]]:
    from sqlalchemy import select

    from openmvne.db import tables as t
    from openmvne.db.scoping import unscoped

    with db.read() as conn:
        o = t.organization
        return [tuple(r) for r in conn.execute(unscoped(select(o.c.id, o.c.kind), "bench"))]


async def _pairs(base: str, token: str, lines: list[str]) -> tuple[float, float]:
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(PAIRS):
        queue.put_nowait(i)
    auth = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=IN_FLIGHT), timeout=30) as c:

        async def worker() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                started = time.perf_counter()
                opened = await c.post(
                    f"{base}/openmvne/v1/chargingSessions",
                    headers=auth,
                    json={"sessionId": f"b{i}", "msisdn": lines[i % len(lines)],
                          "serviceType": "voice", "requestedUnits": 120},
                )  # fmt: skip
                assert opened.status_code == 201, opened.text
                ended = await c.post(
                    f"{base}/openmvne/v1/chargingSessions/b{i}/terminate",
                    headers=auth,
                    json={"requestNumber": 1, "usedUnits": 61},
                )
                assert ended.status_code == 200, ended.text
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return PAIRS / elapsed, latencies[int(len(latencies) * 0.99) - 1] * 1000


def _measure(label: str, url: str) -> None:
    from benchmarks.bench_money import _load, _port, _wait

    token, lines = _world(url)
    env = {**os.environ, "OPENMVNE_DATABASE_URL": url, "OPENMVNE_LOG_LEVEL": "WARNING"}
    root = Path(__file__).parent.parent
    ours_port, bare_port = _port(), _port()
    ours = subprocess.Popen(  # noqa: S603  # our own CLI
        [str(Path(sys.executable).with_name("mvne")), "serve", "--port", str(ours_port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    bare = subprocess.Popen(  # noqa: S603  # our own module
        [sys.executable, "-m", "benchmarks.bare_app", str(bare_port)],
        env=env, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait(ours_port)
        _wait(bare_port)
        rate, p99 = asyncio.run(_pairs(f"http://127.0.0.1:{ours_port}", token, lines))
        base_rate, base_p99 = asyncio.run(
            _load(f"http://127.0.0.1:{bare_port}/bare", lambda i: ({}, {}))
        )
        print(
            f"[{label}] reserve/terminate pairs over HTTP: {rate:,.0f}/s, p99 {p99:.0f} ms per "
            f"pair; baseline bare insert endpoint {base_rate:,.0f} requests/s, p99 "
            f"{base_p99:.0f} ms; ratio (pairs are two requests) {2 * rate / base_rate:.2f}"
        )
    finally:
        ours.kill()
        bare.kill()


def run() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        _measure("SQLite", f"sqlite:///{Path(tmp) / 'charging.db'}")
    pg = os.environ.get("OPENMVNE_BENCH_POSTGRES_URL")
    if pg:
        _measure("PostgreSQL", pg)
