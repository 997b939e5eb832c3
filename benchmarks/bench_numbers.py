"""Number inventory at national scale.

1. Register segment 171 (100 M numbers) and allocate 2,000 blocks (20 M numbers) to ten
   MVNOs, against the baseline of one row per number, run at 2 M numbers and scaled.
2. Search 20 available numbers matching *8888 with no 4 among 20 M: latency percentiles,
   against the baseline of a LIKE query over one row per number (2 M rows).
3. Reservations per second on one core, against the baseline of the bare durable write
   (one row inserted per transaction).

SQLite always; PostgreSQL too when OPENMVNE_BENCH_POSTGRES_URL names an empty database.
Each scenario runs in a fresh process so its peak memory is its own.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

BASELINE_NUMBERS = 2_000_000


def _fresh(url: str) -> None:
    from sqlalchemy import text

    from openmvne.db import migrate
    from openmvne.db.engine import Database

    if url.startswith("sqlite:///"):
        for suffix in ("", "-wal", "-shm"):
            Path(url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
    if url.startswith("postgresql"):
        db = Database(url)
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        db.dispose()
    migrate.upgrade(url)


def _world(url: str) -> dict[str, object]:
    """Register 171 and allocate 2,000 blocks to ten MVNOs; time it."""
    from openmvne.db.engine import Database
    from openmvne.domain.numbers import HostNetwork
    from openmvne.domain.parties import OrgKind
    from openmvne.services import number_supply, parties, users

    db = Database(url)
    op = users.operator(db)
    host = parties.create_organisation(
        db, op, kind=OrgKind.HOST_NETWORK, name="中国联通", network_code=HostNetwork.UNICOM
    )["id"]
    mvnos = [
        parties.create_organisation(db, op, kind=OrgKind.MVNO, name=f"虚商{i}")["id"]
        for i in range(10)
    ]
    started = time.perf_counter()
    segment = number_supply.register_segment(db, op, "171", host)
    for mvno in mvnos:
        number_supply.allocate_now(
            db, op, mvno_id=mvno, segment_id=segment["id"], block_count=200, region_code="440300"
        )
    elapsed = time.perf_counter() - started
    return {"seconds": elapsed, "mvno": str(mvnos[0]), "db": db}


def scenario_register(url: str) -> dict[str, float]:
    _fresh(url)
    result = _world(url)
    return {
        "seconds": float(result["seconds"]),  # type: ignore[arg-type]
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def scenario_baseline_rows(url: str) -> dict[str, float]:
    """One row per number, BASELINE_NUMBERS of them, the fastest bulk way each database has."""
    from sqlalchemy import text

    from openmvne.db.engine import Database

    db = Database(url)
    started = time.perf_counter()
    with db.engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS baseline_number"))
        conn.execute(
            text(
                "CREATE TABLE baseline_number (msisdn VARCHAR(11) PRIMARY KEY, "
                "state VARCHAR(16) NOT NULL, mvno INTEGER)"
            )
        )
        if db.dialect == "postgresql":
            raw = conn.connection.dbapi_connection
            assert raw is not None
            with (
                raw.cursor() as cur,
                cur.copy(  # type: ignore[attr-defined]
                    "COPY baseline_number (msisdn, state, mvno) FROM STDIN"
                ) as copy,
            ):
                for i in range(BASELINE_NUMBERS):
                    copy.write_row((f"171{i:08d}", "inStock", i // 2_000_000))
        else:
            batch = 50_000
            for start in range(0, BASELINE_NUMBERS, batch):
                conn.exec_driver_sql(
                    "INSERT INTO baseline_number VALUES (?, ?, ?)",
                    [(f"171{i:08d}", "inStock", 0) for i in range(start, start + batch)],
                )
    return {
        "seconds": time.perf_counter() - started,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def scenario_search(url: str) -> dict[str, float]:
    from sqlalchemy import text

    from openmvne.domain.access import Actor
    from openmvne.domain.parties import OrgKind, Role
    from openmvne.domain.patterns import compile_pattern
    from openmvne.services import number_search

    _fresh(url)
    world = _world(url)
    db = world["db"]
    import uuid

    mvno = Actor(
        None, "bench", uuid.UUID(str(world["mvno"])), OrgKind.MVNO, frozenset({Role.MVNO_ADMIN})
    )
    pattern = compile_pattern("*8888", "4")
    timings = []
    for seed in range(300):
        started = time.perf_counter()
        found = number_search.search(
            db,
            mvno,
            number_search.SearchQuery(  # type: ignore[arg-type]
                pattern, limit=20, seed=seed
            ),
        )
        timings.append(time.perf_counter() - started)
        assert len(found) == 20
    timings.sort()
    baseline = []
    scenario_baseline_rows(url)
    with db.engine.connect() as conn:  # type: ignore[attr-defined]
        for _ in range(20):
            started = time.perf_counter()
            rows = conn.execute(
                text(
                    "SELECT msisdn FROM baseline_number WHERE msisdn LIKE '%8888' "
                    "AND msisdn NOT LIKE '%4%' LIMIT 20"
                )
            ).all()
            baseline.append(time.perf_counter() - started)
            assert rows
    return {
        "p50_ms": timings[len(timings) // 2] * 1000,
        "p99_ms": timings[int(len(timings) * 0.99) - 1] * 1000,
        "baseline_like_2m_ms": statistics.median(baseline) * 1000,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def scenario_reserve(url: str) -> dict[str, float]:
    from sqlalchemy import text

    from openmvne.db.engine import Database
    from openmvne.domain.numbers import HostNetwork
    from openmvne.domain.parties import OrgKind
    from openmvne.services import number_lifecycle, number_supply, parties, users

    _fresh(url)
    db = Database(url)
    op = users.operator(db)
    host = parties.create_organisation(
        db, op, kind=OrgKind.HOST_NETWORK, name="中国联通", network_code=HostNetwork.UNICOM
    )["id"]
    mvno = parties.create_organisation(db, op, kind=OrgKind.MVNO, name="虚商")["id"]
    segment = number_supply.register_segment(db, op, "1709", host)
    blocks = number_supply.allocate_now(
        db, op, mvno_id=mvno, segment_id=segment["id"], block_count=50, region_code=None
    )["granted_prefixes"]
    count = 2000
    numbers = [f"{blocks[i % 50]}{i:04d}" for i in range(count)]
    started = time.perf_counter()
    for number in numbers[:1000]:
        number_lifecycle.reserve(db, op, [number])
    ours = 1000 / (time.perf_counter() - started)
    # Four clients at once (as a server sees them), on the other thousand numbers.
    chunks = [numbers[1000 + k :: 4][:250] for k in range(4)]
    started = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda chunk: [number_lifecycle.reserve(db, op, [x]) for x in chunk], chunks))
    concurrent = 1000 / (time.perf_counter() - started)
    with db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE bare_write (k VARCHAR(11) PRIMARY KEY)"))
    started = time.perf_counter()
    for number in numbers[:1000]:
        with db.write() as conn:
            conn.execute(text("INSERT INTO bare_write VALUES (:k)"), {"k": number})
    bare = 1000 / (time.perf_counter() - started)
    return {"per_s": ours, "four_clients_per_s": concurrent, "baseline_bare_write_per_s": bare}


SCENARIOS = {
    "register": scenario_register,
    "baseline_rows": scenario_baseline_rows,
    "search": scenario_search,
    "reserve": scenario_reserve,
}


def _in_child(name: str, url: str) -> dict[str, float]:
    output = subprocess.run(  # noqa: S603  # our own interpreter and module
        [
            sys.executable,
            "-c",
            f"import json; from benchmarks.bench_numbers import SCENARIOS; "
            f"print(json.dumps(SCENARIOS[{name!r}]({url!r})))",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parent.parent,
    )
    return json.loads(output.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def run() -> None:
    targets = []
    with tempfile.TemporaryDirectory() as tmp:
        targets.append(("SQLite", f"sqlite:///{Path(tmp) / 'numbers.db'}"))
        if os.environ.get("OPENMVNE_BENCH_POSTGRES_URL"):
            targets.append(("PostgreSQL", os.environ["OPENMVNE_BENCH_POSTGRES_URL"]))
        for label, url in targets:
            ours = _in_child("register", url)
            base = _in_child("baseline_rows", url)
            scaled = base["seconds"] * 100_000_000 / BASELINE_NUMBERS
            print(
                f"[{label}] register 171 (100 M) + allocate 2,000 blocks (20 M): "
                f"{ours['seconds']:.2f} s, peak {ours['peak_mb']:.0f} MB; baseline one row "
                f"per number: {base['seconds']:.2f} s for 2 M, so ~{scaled:.0f} s for 100 M; "
                f"ratio {scaled / ours['seconds']:.0f}x faster"
            )
            search = _in_child("search", url)
            print(
                f"[{label}] search *8888 without 4, 20 of 20 M available: p50 "
                f"{search['p50_ms']:.1f} ms, p99 {search['p99_ms']:.1f} ms; baseline LIKE over "
                f"2 M rows: {search['baseline_like_2m_ms']:.1f} ms (x10 at 20 M)"
            )
            reserve = _in_child("reserve", url)
            print(
                f"[{label}] reservations, one client: {reserve['per_s']:,.0f}/s, four clients "
                f"{reserve['four_clients_per_s']:,.0f}/s; baseline bare "
                f"durable insert {reserve['baseline_bare_write_per_s']:,.0f}/s; ratio "
                f"{reserve['per_s'] / reserve['baseline_bare_write_per_s']:.2f}"
            )
