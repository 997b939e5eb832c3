"""Recharges through the HTTP API, durable and idempotent (each with its own key), against
the baseline of a bare insert-one-row endpoint on the same stack and database, measured in
the same run with the same client: 64 requests in flight from one asyncio client.

SQLite always; PostgreSQL too when OPENMVNE_BENCH_POSTGRES_URL names an empty database.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

REQUESTS = 2000
IN_FLIGHT = 64


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.post(f"http://127.0.0.1:{port}/healthz", timeout=0.5)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def _world(url: str) -> tuple[str, str]:
    """An outlet with a large float and one line in service; returns (token, msisdn)."""
    from openmvne.db import migrate
    from openmvne.db.engine import Database
    from openmvne.domain.numbers import HostNetwork
    from openmvne.domain.parties import OrgKind, Role
    from openmvne.services import money, number_lifecycle, number_supply, parties, users

    migrate.upgrade(url)
    db = Database(url)
    op = users.operator(db)
    host = parties.create_organisation(
        db, op, kind=OrgKind.HOST_NETWORK, name="中国联通", network_code=HostNetwork.UNICOM
    )["id"]
    mvno = parties.create_organisation(db, op, kind=OrgKind.MVNO, name="虚商")["id"]
    outlet = parties.create_organisation(
        db, op, kind=OrgKind.OUTLET, name="网点", region_code="440300"
    )["id"]
    segment = number_supply.register_segment(db, op, "1709", host)
    block = number_supply.allocate_now(
        db, op, mvno_id=mvno, segment_id=segment["id"], block_count=1, region_code=None
    )["granted_prefixes"][0]
    line = f"{block}0001"
    reservation = number_lifecycle.reserve(db, op, [line])
    number_lifecycle.assign(db, op, reservation["id"], line, "bench")
    number_lifecycle.activate(db, op, line)
    money.pay_float(db, op, outlet_id=outlet, amount_fen=90_000_000, idempotency_key="bench")
    users.add_user(
        db,
        op,
        username="clerk",
        party_id=outlet,
        roles=frozenset({Role.OUTLET_CLERK}),
        password=None,
    )
    token = users.create_token(db, op, "clerk")
    db.dispose()
    return token, line


async def _load(url: str, make: Any) -> tuple[float, float]:
    """Requests per second and p99 latency (ms) for REQUESTS requests, IN_FLIGHT at a time."""
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(REQUESTS):
        queue.put_nowait(i)
    limits = httpx.Limits(max_connections=IN_FLIGHT)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def worker() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                headers, body = make(i)
                started = time.perf_counter()
                r = await client.post(url, headers=headers, json=body)
                latencies.append(time.perf_counter() - started)
                assert r.status_code == 201, r.text

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return REQUESTS / elapsed, latencies[int(len(latencies) * 0.99) - 1] * 1000


def _measure(label: str, url: str) -> None:
    token, line = _world(url)
    env = {**os.environ, "OPENMVNE_DATABASE_URL": url, "OPENMVNE_LOG_LEVEL": "WARNING"}
    root = Path(__file__).parent.parent
    ours_port, bare_port = _port(), _port()
    ours = subprocess.Popen(  # noqa: S603  # our own CLI
        [str(Path(sys.executable).with_name("mvne")), "serve", "--port", str(ours_port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    bare = subprocess.Popen(  # noqa: S603  # our own module
        [sys.executable, "-m", "benchmarks.bare_app", str(bare_port)],
        env=env,
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait(ours_port)
        _wait(bare_port)
        auth = {"Authorization": f"Bearer {token}"}

        def recharge(i: int) -> tuple[dict[str, str], dict[str, Any]]:
            return (
                {**auth, "Idempotency-Key": f"bench-{i}"},
                {"msisdn": line, "amountFen": 100, "channelOrderNumber": f"o-{i}"},
            )

        rate, p99 = asyncio.run(
            _load(
                f"http://127.0.0.1:{ours_port}/tmf-api/prepayBalanceManagement/v4/topupBalance",
                recharge,
            )
        )
        base_rate, base_p99 = asyncio.run(
            _load(f"http://127.0.0.1:{bare_port}/bare", lambda i: ({}, {}))
        )
        print(
            f"[{label}] recharges over HTTP: {rate:,.0f}/s, p99 {p99:.0f} ms; baseline bare "
            f"insert endpoint {base_rate:,.0f}/s, p99 {base_p99:.0f} ms; ratio "
            f"{rate / base_rate:.2f}"
        )
    finally:
        ours.kill()
        bare.kill()


def run() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        _measure("SQLite", f"sqlite:///{Path(tmp) / 'money.db'}")
    pg = os.environ.get("OPENMVNE_BENCH_POSTGRES_URL")
    if pg:
        from sqlalchemy import text

        from openmvne.db.engine import Database

        db = Database(pg)
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        db.dispose()
        _measure("PostgreSQL", pg)
