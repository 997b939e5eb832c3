"""Batch rating end to end: N usage records (default 10,000,000; OPENMVNE_BENCH_USAGE_RECORDS)
for 50,000 lines from one Parquet file — read, check, claim, rate with allowances, post to
the ledger, keep the rated records, commit — against the baseline of a straightforward
per-record Python rater (domain/rating.rate_reference) on the same records, whose per-line
totals must be identical.

The lines are bulk-inserted (selling 50,000 lines through the sale service is the
[subscribers] benchmark's business, not this one's). SQLite always; PostgreSQL too when
OPENMVNE_BENCH_POSTGRES_URL names an empty database. Each scenario runs in a fresh process.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RECORDS = int(os.environ.get("OPENMVNE_BENCH_USAGE_RECORDS", "10000000"))
LINES = 50_000
DAYS = 30


def _world(url: str, count: int = LINES) -> list[str]:
    """An MVNO with a plan and `count` (50,000) active lines with money on them."""
    from datetime import UTC, date, datetime

    from sqlalchemy import insert

    from benchmarks.bench_numbers import _fresh
    from openmvne import clock, ids
    from openmvne.db import bulk
    from openmvne.db import tables as t
    from openmvne.db.engine import Database
    from openmvne.domain.catalog import OfferKind, PriceModel, RevenueTier, UnitRates
    from openmvne.domain.ledger import AccountKind, TransferCode
    from openmvne.domain.numbers import HostNetwork
    from openmvne.domain.parties import OrgKind
    from openmvne.money import parse_rate_fen
    from openmvne.services import catalog, ledger, parties, users

    _fresh(url)
    db = Database(url)
    op = users.operator(db)
    host = parties.create_organisation(
        db, op, kind=OrgKind.HOST_NETWORK, name="中国联通", network_code=HostNetwork.UNICOM
    )["id"]
    mvno = parties.create_organisation(db, op, kind=OrgKind.MVNO, name="虚商")["id"]
    outlet = parties.create_organisation(db, op, kind=OrgKind.OUTLET, name="网点")["id"]
    brand = parties.add_brand(db, op, mvno, "卡", "4000")["id"]
    catalog.create_price_list(
        db, op, host_id=host, mvno_id=mvno, model=PriceModel.POOL,
        valid_from=date(2016, 1, 1), valid_to=None,
        rates=UnitRates(parse_rate_fen("6"), parse_rate_fen("4"), parse_rate_fen("1.2")),
        revenue_tiers=[RevenueTier(0, 0)], annual_revenue_fen=0, host_packages=[],
        per_number_fee_fen=0,
    )  # fmt: skip
    ten = parse_rate_fen("10")
    offer = catalog.create_offer(
        db, op, brand_id=brand, host_id=host, kind=OfferKind.PLAN, name="59元 3GB",
        terms={"voice_rate": ten, "sms_rate": ten, "data_rate": ten, "monthly_fee_fen": 5900,
               "data_mb": 3072, "voice_min": 100, "rollover_data": True},
    )["id"]  # fmt: skip
    now = clock.now()
    opened = datetime(2026, 10, 1, tzinfo=UTC)  # before the usage: none of it is refused
    batch = ids.new_id()
    msisdns = [f"171{n:08d}" for n in range(count)]
    people = [ids.new_id() for _ in msisdns]
    cards = [ids.new_id() for _ in msisdns]
    lines = [ids.new_id() for _ in msisdns]
    with db.write() as conn:
        bulk.insert_rows(conn, t.sim_batch, [{"id": batch, "mvno_id": mvno, "host_id": host,
                         "name": "bench", "card_count": count, "created_at": now}])  # fmt: skip
        bulk.insert_rows(conn, t.individual, [
            {"id": p, "given_name": "伟", "family_name": "张", "status": "validated",
             "mvno_id": mvno,
             "registered_by_party_id": outlet, "created_at": now, "updated_at": now,
             "id_type": "residentId", "id_sealed": None, "id_fingerprint": f"fp{i}",
             "id_masked": "4403**********0000", "id_expires_on": None}
            for i, p in enumerate(people)])  # fmt: skip
        bulk.insert_rows(conn, t.sim_card, [
            {"id": c, "iccid": f"8986010{i:013d}", "imsi": f"46001{i:010d}", "ki_enc": b"x",
             "opc_enc": None, "kind": "blank", "msisdn": m, "region_code": None, "state": "active",
             "mvno_id": mvno, "batch_id": batch, "holder_party_id": outlet, "holder_auth_id": None,
             "updated_at": now}
            for i, (c, m) in enumerate(zip(cards, msisdns, strict=True))])  # fmt: skip
        # Not COPY: the JSON column goes through SQLAlchemy's type on both databases.
        conn.execute(insert(t.subscription), [
            {"id": s, "mvno_id": mvno, "msisdn": m, "individual_id": p, "id_fingerprint": f"fp{i}",
             "offering_id": offer, "host_id": host, "brand_id": brand, "sim_id": c,
             "iccid": f"8986010{i:013d}", "region_code": None, "outlet_id": outlet,
             "outlet_auth_id": None, "state": "active", "previous_state": None, "state_since": now,
             "state_until": None, "network_level": "open", "network_in_sync": True, "debt_fen": 0,
             "next_fee_on": None, "evidence": {}, "activated_at": opened, "ended_at": None,
             "created_at": now, "updated_at": now}
            for i, (s, m, p, c) in enumerate(zip(lines, msisdns, people, cards, strict=True))
        ])  # fmt: skip
        cash = ledger.account(conn, AccountKind.CASH, mvno_id=mvno)
        moves = []
        for m in msisdns:
            account = ledger.account(conn, AccountKind.SUBSCRIBER_PREPAID, mvno_id=mvno, msisdn=m)
            moves.append(
                ledger.Move(cash["id"], account["id"], 10_000, TransferCode.RECHARGE, "bench", mvno)
            )
        ledger.post_many(conn, moves)
    db.dispose()
    return msisdns


def scenario(url: str, file: str) -> dict[str, float]:
    from datetime import UTC, datetime

    from sqlalchemy import select

    from openmvne import clock
    from openmvne.db import tables as t
    from openmvne.db.engine import Database
    from openmvne.db.scoping import unscoped
    from openmvne.services import usage

    _world(url)
    db = Database(url)
    with (
        tempfile.TemporaryDirectory() as lake,
        clock.frozen(datetime(2026, 12, 2, 12, tzinfo=UTC)),
    ):
        started = time.perf_counter()
        result = usage.rate_files(db, [Path(file)], lake=Path(lake))
        seconds = time.perf_counter() - started
        again_started = time.perf_counter()
        again = usage.rate_files(db, [Path(file)], lake=Path(lake))
        again_s = time.perf_counter() - again_started
        with db.read() as conn:
            up = t.usage_period
            stmt = select(up.c.msisdn, up.c.charge_exact, up.c.wholesale_exact)
            totals = {
                r.msisdn: [int(r.charge_exact), int(r.wholesale_exact)]
                for r in conn.execute(unscoped(stmt, "the benchmark's own check"))
            }
    Path(file + ".engine.json").write_text(json.dumps(totals))
    return {
        "records": result.records_in,
        "rated": result.rated,
        "seconds": seconds,
        "rerun_duplicates": again.duplicates,
        "rerun_seconds": again_s,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def reference(file: str) -> dict[str, float]:
    """The per-record Python rater on the same records, with the same terms."""
    import pyarrow.parquet as pq

    from openmvne.domain.rating import Record, Terms, period_of, rate_reference
    from openmvne.money import parse_rate_fen

    ten = parse_rate_fen("10")
    table = pq.read_table(file)
    started = time.perf_counter()
    records = [Record(**row) for row in table.to_pylist()]
    terms = {}
    for r in records:
        key = (r.msisdn, period_of(r.start_time))
        if key not in terms:
            terms[key] = Terms(
                voice_rate=ten, sms_rate=ten, data_rate=ten, voice_allow_s=6000, sms_allow=0,
                # The plan's 3 GB and, the offer rolling data over, October's 3 GB: the lines
                # were open all October and used none of it (domain.md §6).
                data_allow_kb=2 * 3072 * 1024, w_voice=parse_rate_fen("6"),
                w_sms=parse_rate_fen("4"),
                w_data=parse_rate_fen("1.2"),
            )  # fmt: skip
    rated = rate_reference(records, terms)
    totals: dict[str, list[int]] = {}
    for x in rated:
        pair = totals.setdefault(x.record.msisdn, [0, 0])
        pair[0] += x.charge_exact
        pair[1] += x.wholesale_exact
    seconds = time.perf_counter() - started
    Path(file + ".reference.json").write_text(json.dumps(totals))
    return {"records": len(records), "seconds": seconds}


def _child(kind: str, *args: str) -> dict[str, float]:
    out = subprocess.run(  # noqa: S603  # our own interpreter and module
        [sys.executable, "-c",
         f"import json, sys; from benchmarks.bench_usage import {kind}; "
         f"print(json.dumps({kind}(*sys.argv[1:])))", *args],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def run() -> None:
    from datetime import date

    from openmvne.services import usage_generate

    with tempfile.TemporaryDirectory() as tmp:
        file = str(Path(tmp) / "usage.parquet")
        msisdns = [f"171{n:08d}" for n in range(LINES)]
        table = usage_generate.generate(
            msisdns, days=DAYS, start=date(2026, 11, 1), seed=1, per_day=RECORDS / LINES / DAYS
        )
        usage_generate.write(table, Path(file))
        print(f"  {table.num_rows:,} records, {LINES:,} lines, {DAYS} days")
        del table
        base = _child("reference", file)
        print(
            f"  baseline per-record Python rater: {base['seconds']:.1f} s, "
            f"{base['records'] / base['seconds']:,.0f} records/s"
        )
        urls = {"sqlite": f"sqlite:///{tmp}/bench.db"}
        if os.environ.get("OPENMVNE_BENCH_POSTGRES_URL"):
            urls["postgres"] = os.environ["OPENMVNE_BENCH_POSTGRES_URL"]
        expected = json.loads(Path(file + ".reference.json").read_text())
        for name, url in urls.items():
            got = _child("scenario", url, file)
            same = json.loads(Path(file + ".engine.json").read_text()) == expected
            speed = got["records"] / got["seconds"]
            print(
                f"  {name}: {got['records']:,.0f} records rated end to end "
                f"in {got['seconds']:.1f} s, "
                f"{speed:,.0f} records/s ({speed / (base['records'] / base['seconds']):.1f}x the "
                f"baseline), peak {got['peak_mb']:,.0f} MB; identical per-line totals: {same}; "
                f"the same file again: {got['rerun_duplicates']:,.0f} duplicates in "
                f"{got['rerun_seconds']:.1f} s"
            )
