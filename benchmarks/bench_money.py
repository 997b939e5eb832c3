"""Recharges through the HTTP API, durable and idempotent (each with its own key), against
the baseline of a bare insert-one-row endpoint on the same stack and database, measured in
the same run with the same client: wrk (2 threads, 64 connections, a fresh key per request)
on the same 2 cores as the server, with 1 and with 2 server processes.

SQLite always; PostgreSQL too when OPENMVNE_BENCH_POSTGRES_URL names an empty database.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

SECONDS = 10
IN_FLIGHT = 64  # a busy outlet network's worth of concurrent recharges
LIGHT = 8  # the same server at a lighter load: what latency is when the server is not queueing
# The target is a rate with a latency bound (1,500/s, p99 under 50 ms): the most
# recharges per second any of these loads gets while its p99 stays under the bound.
SWEEP = (16, 24, 32, 48)
SWEEP_SECONDS = 5
P99_BOUND_MS = 50


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


# wrk's Lua: every request carries a fresh idempotency key and order number (thread id and
# counter), and the summary comes back as one JSON line.
WRK_SCRIPT = """
local counter = 0  -- tid is a global, set per thread in setup()
local threads = {}
function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end
function init(args)
  prefix = args[1] or "k"
  msisdn = args[2] or ""
end
function request()
  counter = counter + 1
  local key = prefix .. "-" .. tid .. "-" .. counter
  local body = '{"msisdn":"' .. msisdn .. '","amountFen":100,"channelOrderNumber":"' .. key .. '"}'
  wrk.headers["Idempotency-Key"] = key
  return wrk.format("POST", nil, nil, body)
end
function done(summary, latency, requests)
  io.write(string.format('{"requests":%d,"seconds":%f,"p50_us":%d,"p99_us":%d,' ..
    '"status_errors":%d,"socket_errors":%d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(99),
    summary.errors.status, summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.timeout))
end
"""


def _wrk(
    url: str,
    headers: dict[str, str],
    args: list[str],
    seconds: int,
    in_flight: int = 64,
    lua: str = WRK_SCRIPT,
) -> dict[str, Any]:
    """Run wrk (2 threads, `in_flight` connections) with a Lua script against url; the
    JSON line its done() writes."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua)
    command = [
        "wrk",
        "-t2",
        f"-c{in_flight}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        script.name,
    ]
    command += [arg for name, value in headers.items() for arg in ("-H", f"{name}: {value}")]
    command += ["-H", "Content-Type: application/json", url, "--", *args]
    done = subprocess.run(command, capture_output=True, text=True, check=True)  # noqa: S603
    Path(script.name).unlink()
    summary: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return summary


def _check(url: str, acknowledged: int) -> str:
    """After the run: every acknowledged recharge is in the database (wrk may leave up to a
    connection's worth per run unread when its time is up: those the server still made), and
    the ledger balances (Σ = 0, cached balances equal their transfers)."""
    from sqlalchemy import func, select

    from openmvne.db import tables as t
    from openmvne.db.engine import Database
    from openmvne.db.scoping import unscoped
    from openmvne.services import money

    db = Database(url)
    with db.read() as conn:
        orders = conn.execute(
            unscoped(select(func.count()).select_from(t.recharge_order), "bench")
        ).scalar_one()
    problems = money.check(db)
    db.dispose()
    unread = 2 * IN_FLIGHT + LIGHT + sum(SWEEP)  # a connection's worth per run, at most
    if not acknowledged <= orders <= acknowledged + unread or problems:
        raise RuntimeError(f"{orders} orders for {acknowledged} acknowledged; {problems[:3]}")
    return f"{orders:,} orders for {acknowledged:,} acknowledged, ledger check clean"


def _measure(label: str, url: str, workers: int) -> None:
    token, line = _world(url)
    env = {**os.environ, "OPENMVNE_DATABASE_URL": url, "OPENMVNE_LOG_LEVEL": "WARNING"}
    root = Path(__file__).parent.parent
    ours_port, bare_port = _port(), _port()
    mvne = str(Path(sys.executable).with_name("mvne"))
    ours = subprocess.Popen(  # noqa: S603  # our own CLI
        [mvne, "serve", "--port", str(ours_port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    bare = subprocess.Popen(  # noqa: S603  # our own module
        [sys.executable, "-m", "benchmarks.bare_app", str(bare_port), str(workers)],
        env=env,
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait(ours_port)
        _wait(bare_port)
        auth = {"Authorization": f"Bearer {token}"}
        topup = f"http://127.0.0.1:{ours_port}/tmf-api/prepayBalanceManagement/v4/topupBalance"
        warm = _wrk(topup, auth, ["warm", line], 2)  # warm-up: caches, connections
        ours_run = _wrk(topup, auth, ["run", line], SECONDS)
        light_run = _wrk(topup, auth, ["light", line], SECONDS // 2, LIGHT)
        sweep = {n: _wrk(topup, auth, [f"sweep{n}", line], SWEEP_SECONDS, n) for n in SWEEP}
        bare_url = f"http://127.0.0.1:{bare_port}/bare"
        _wrk(bare_url, {}, ["warm", line], 2)
        bare_run = _wrk(bare_url, {}, ["run", line], SECONDS)
    finally:
        ours.terminate()
        bare.terminate()
        ours.wait(10)
        bare.wait(10)
    runs = {"recharge": ours_run, "light": light_run, "bare": bare_run}
    runs |= {f"{n} in flight": result for n, result in sweep.items()}
    for name, result in runs.items():
        if result["status_errors"] or result["socket_errors"]:
            raise RuntimeError(f"{name}: {result}")
    # Every request of every run (warm-up included) was a distinct recharge.
    acknowledged = sum(r["requests"] for name, r in runs.items() if name != "bare")
    check = _check(url, acknowledged + warm["requests"])
    rate = ours_run["requests"] / ours_run["seconds"]
    base = bare_run["requests"] / bare_run["seconds"]
    print(
        f"[{label}, {workers} worker(s)] recharges over HTTP: {rate:,.0f}/s, "
        f"p50 {ours_run['p50_us'] / 1000:.1f} ms, p99 {ours_run['p99_us'] / 1000:.1f} ms; "
        f"baseline bare insert endpoint {base:,.0f}/s, p99 {bare_run['p99_us'] / 1000:.1f} ms; "
        f"ratio {rate / base:.2f}; with {LIGHT} in flight: "
        f"{light_run['requests'] / light_run['seconds']:,.0f}/s, p99 "
        f"{light_run['p99_us'] / 1000:.1f} ms; {check}"
    )
    curve = {n: (r["requests"] / r["seconds"], r["p99_us"] / 1000) for n, r in sweep.items()}
    within = [rate for rate, p99 in curve.values() if p99 < P99_BOUND_MS]
    print(
        "    by load: "
        + ", ".join(
            f"{n} in flight {rate:,.0f}/s p99 {p99:.1f} ms" for n, (rate, p99) in curve.items()
        )
        + f"; most with p99 under {P99_BOUND_MS} ms: "
        + (f"{max(within):,.0f}/s" if within else "none")
    )


def run() -> None:
    if shutil.which("wrk") is None:
        print("bench_money needs wrk (apt-get install wrk): skipped")
        return
    with tempfile.TemporaryDirectory() as tmp:  # one process: SQLite has one writer at a time
        _measure("SQLite", f"sqlite:///{Path(tmp) / 'money.db'}", 1)
    pg = os.environ.get("OPENMVNE_BENCH_POSTGRES_URL")
    if pg:
        from sqlalchemy import text

        from openmvne.db.engine import Database

        for workers in (1, 2):
            db = Database(pg)
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
            db.dispose()
            _measure("PostgreSQL", pg, workers)
