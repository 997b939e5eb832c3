"""Online charging through the HTTP API: reserve/terminate pairs (CCR-I then CCR-T), driven
by wrk (32 connections, on the same 2 cores), against the baseline of the bare
insert-one-row endpoint (benchmarks/bare_app.py) in the same run. 1,000 lines with money
(bulk-made as in bench_usage). SQLite always (one server process: one writer); PostgreSQL too,
with one and with two server processes, when OPENMVNE_BENCH_POSTGRES_URL names an empty
database (made anew for each). Then, on each database, the batches alone, without HTTP: how
fast the charging engine answers, apart from the web stack that shares its cores."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

SECONDS = 10
IN_FLIGHT = 32
LINES = 1_000
BATCH = 16  # requests per batch without HTTP: about what 32 requests in flight make
BATCHES = 300


def _world(url: str) -> tuple[str, list[str]]:
    from benchmarks import bench_usage
    from openmvne.db.engine import Database
    from openmvne.domain.parties import Role
    from openmvne.services import users

    # Not by setting bench_usage.LINES: `make bench` runs every benchmark in one process,
    # and bench_stream and bench_usage, which run after this one, read it.
    lines = bench_usage._world(url, LINES)
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


# wrk's Lua: a connection opens a session (CCR-I) unless a session whose CCR-I has been
# answered waits for its CCR-T; so every terminate follows its own initial request.
WRK_SCRIPT = """
counter, ended, refused = 0, 0, 0  -- globals: done() reads them with thread:get
local opened = {}
local threads = {}
local lines = {LINES}
function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end
function init(args)
  prefix = args[1] or "s"
end
function request()
  if #opened > 0 then
    local id = table.remove(opened, 1)
    return wrk.format("POST", "/openmvne/v1/chargingSessions/" .. id .. "/terminate", nil,
      '{"requestNumber":1,"usedUnits":61}')
  end
  counter = counter + 1
  local id = prefix .. "-" .. tid .. "-" .. counter
  local line = lines[(counter * 7 + tid) % #lines + 1]
  return wrk.format("POST", "/openmvne/v1/chargingSessions", nil,
    '{"sessionId":"' .. id .. '","msisdn":"' .. line ..
    '","serviceType":"voice","requestedUnits":120}')
end
function response(status, headers, body)
  if status == 201 then
    table.insert(opened, string.match(body, '"sessionId":%s*"([^"]+)"'))
  elseif status == 200 then
    ended = ended + 1
  else
    refused = refused + 1
  end
end
function done(summary, latency, requests)
  local pairs_done, bad = 0, 0
  for _, thread in ipairs(threads) do
    pairs_done = pairs_done + thread:get("ended")
    bad = bad + thread:get("refused")
  end
  io.write(string.format('{"requests":%d,"pairs":%d,"refused":%d,"seconds":%f,' ..
    '"p50_us":%d,"p99_us":%d,"socket_errors":%d}\\n',
    summary.requests, pairs_done, bad, summary.duration / 1e6, latency:percentile(50),
    latency:percentile(99), summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.timeout))
end
"""


def _pairs(base: str, token: str, lines: list[str], prefix: str, seconds: int) -> dict[str, Any]:
    from benchmarks.bench_money import _wrk

    lua = WRK_SCRIPT.replace("{LINES}", "{" + ",".join(f'"{m}"' for m in lines) + "}")
    auth = {"Authorization": f"Bearer {token}"}
    return _wrk(base, auth, [prefix], seconds, IN_FLIGHT, lua)


def _measure(label: str, url: str, workers: int = 1) -> None:
    from benchmarks.bench_money import _port, _wait, _wrk

    token, lines = _world(url)
    env = {**os.environ, "OPENMVNE_DATABASE_URL": url, "OPENMVNE_LOG_LEVEL": "WARNING"}
    root = Path(__file__).parent.parent
    ours_port, bare_port = _port(), _port()
    ours = subprocess.Popen(  # noqa: S603  # our own CLI
        [str(Path(sys.executable).with_name("mvne")), "serve", "--port", str(ours_port),
         "--workers", str(workers)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    bare = subprocess.Popen(  # noqa: S603  # our own module
        [sys.executable, "-m", "benchmarks.bare_app", str(bare_port), str(workers)],
        env=env, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait(ours_port)
        _wait(bare_port)
        base = f"http://127.0.0.1:{ours_port}"
        warm = _pairs(base, token, lines, "warm", 2)
        ours_run = _pairs(base, token, lines, "run", SECONDS)
        bare_url = f"http://127.0.0.1:{bare_port}/bare"
        _wrk(bare_url, {}, ["warm", ""], 2, IN_FLIGHT)
        bare_run = _wrk(bare_url, {}, ["run", ""], SECONDS, IN_FLIGHT)
    finally:
        ours.terminate()
        bare.terminate()
        ours.wait(10)
        bare.wait(10)
    if ours_run["refused"] or ours_run["socket_errors"] or ours_run["pairs"] == 0:
        raise RuntimeError(f"charging: {ours_run}")
    checked = _check(url, warm["pairs"] + ours_run["pairs"])
    rate = ours_run["pairs"] / ours_run["seconds"]
    base_rate = bare_run["requests"] / bare_run["seconds"]
    print(
        f"[{label}, {workers} worker(s)] reserve/terminate pairs over HTTP: {rate:,.0f}/s "
        f"({ours_run['requests'] / ours_run['seconds']:,.0f} requests/s), per request p50 "
        f"{ours_run['p50_us'] / 1000:.1f} ms, p99 {ours_run['p99_us'] / 1000:.1f} ms; baseline "
        f"bare insert endpoint {base_rate:,.0f} requests/s, p99 "
        f"{bare_run['p99_us'] / 1000:.1f} ms; ratio (pairs are two requests) "
        f"{2 * rate / base_rate:.2f}; {checked}"
    )


def _check(url: str, acknowledged: int) -> str:
    """After the runs: every acknowledged termination closed its session, each session's
    61 s were charged once (two started minutes) into its line's period, no more (wrk may
    leave up to a connection's worth per run unanswered when its time is up: those the server
    still did), and the ledger balances."""
    from sqlalchemy import func, select

    from openmvne.db import tables as t
    from openmvne.db.engine import Database
    from openmvne.db.scoping import unscoped
    from openmvne.services import money

    db = Database(url)
    cs, up = t.charging_session, t.usage_period
    with db.read() as conn:
        closed, billed = conn.execute(
            unscoped(
                select(func.count(), func.sum(cs.c.used_units)).where(cs.c.state == "closed"),
                "bench",
            )
        ).one()
        charged = conn.execute(unscoped(select(func.sum(up.c.voice_used_s)), "bench")).scalar_one()
    problems = money.check(db)
    db.dispose()
    if (
        not acknowledged <= closed <= acknowledged + 4 * IN_FLIGHT
        or billed != 120 * closed
        or charged != billed
        or problems
    ):
        raise RuntimeError(
            f"{closed} sessions closed for {acknowledged} acknowledged, {billed} s billed, "
            f"{charged} s in the periods; {problems[:3]}"
        )
    return f"{closed:,} sessions closed for {acknowledged:,} acknowledged, each charged once"


def _batches(label: str, url: str) -> None:
    """On a fresh world, BATCHES rounds in this process: a batch of BATCH initial requests
    (each on its own line), then a batch of their terminations; every answer a success."""
    import time

    from openmvne.db.engine import Database
    from openmvne.services import charging, users

    token, lines = _world(url)
    db = Database(url)
    network = users.actor_from_token(db, token)

    def round_trip(n: int) -> None:
        keys = [f"in-process-{n}-{i}" for i in range(BATCH)]
        numbers = [lines[(n * BATCH + i) % len(lines)] for i in range(BATCH)]
        started = charging.run_batch(
            db,
            [
                charging.initial_ask(network, k, m, "voice", 120, "mo")
                for k, m in zip(keys, numbers, strict=True)
            ],
        )
        ended = charging.run_batch(
            db, [charging.step_ask(network, k, 1, 61, 0, final=True) for k in keys]
        )
        for answer in (*started, *ended):
            if not isinstance(answer, dict) or answer["resultCode"] != charging.SUCCESS:
                raise RuntimeError(f"charging batch: {answer}")

    for n in range(10):  # warm-up: statement caches, connections
        round_trip(n)
    began = time.perf_counter()
    for n in range(10, 10 + BATCHES):
        round_trip(n)
    elapsed = time.perf_counter() - began
    db.dispose()
    print(
        f"[{label}, no HTTP] batches of {BATCH} requests, initial then terminate: "
        f"{elapsed / BATCHES / 2 * 1000:.1f} ms per batch, {BATCHES * BATCH / elapsed:,.0f} "
        "pairs/s"
    )


def run() -> None:
    if shutil.which("wrk") is None:
        print("bench_charging needs wrk (apt-get install wrk): skipped")
        return
    with tempfile.TemporaryDirectory() as tmp:
        _measure("SQLite", f"sqlite:///{Path(tmp) / 'charging.db'}")
        _batches("SQLite", f"sqlite:///{Path(tmp) / 'batches.db'}")
    pg = os.environ.get("OPENMVNE_BENCH_POSTGRES_URL")
    if pg:
        # One server process, then two (`mvne serve --workers 2`, one per core, as the docs
        # advise on PostgreSQL); the bare endpoint with as many.
        for workers in (1, 2):
            _measure("PostgreSQL", pg, workers)
        _batches("PostgreSQL", pg)
