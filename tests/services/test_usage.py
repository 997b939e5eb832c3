"""Batch rating against real databases: exactly once, rejects, balance effects, rerating,
and a rater killed mid-batch."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from openmvne import clock
from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.db.scoping import unscoped
from openmvne.domain.catalog import OfferKind
from openmvne.domain.rating import Record, Terms, period_of, rate_reference
from openmvne.errors import Conflict, InvalidInput, NotFound
from openmvne.services import (
    catalog,
    charging,
    ledger,
    money,
    number_lifecycle,
    subscriber_orders,
    usage,
)
from openmvne.services.usage_engine import line_totals, rate_vectorised
from tests.catalog_world import TEN_FEN
from tests.subscribers_world import SubscribersWorld, build_subscribers, holder_actor
from tests.usage_files import HEADER, write_csv

NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)


def at(minutes: int) -> str:
    return (NOW - timedelta(days=5) + timedelta(minutes=minutes)).isoformat()


@pytest.fixture
def sw(db: Database) -> SubscribersWorld:
    with clock.frozen(NOW - timedelta(days=10)):
        world = build_subscribers(db)
        world.lines = []  # type: ignore[attr-defined]
        for seq in (1, 2, 3):
            msisdn, _ = world.sale(db, seq=seq, offer="payg", prepayment_fen=1_000)
            world.lines.append(msisdn)  # type: ignore[attr-defined]
        world.settle(db)
    return world


def lines(sw: SubscribersWorld) -> list[str]:
    return sw.lines  # type: ignore[attr-defined, no-any-return]


def balance(db: Database, sw: SubscribersWorld, msisdn: str) -> int:
    return subscriber_orders.summary(db, sw.w.actor["mvnoAdmin"], msisdn)["balance"].available  # type: ignore[no-any-return]


def period_row(db: Database, msisdn: str) -> dict[str, Any] | None:
    with db.read() as conn:
        row = (
            conn.execute(
                unscoped(select(t.usage_period).where(t.usage_period.c.msisdn == msisdn), "test")
            )
            .mappings()
            .first()
        )
    return dict(row) if row else None


def calls(msisdn: str, first_seq: int, count: int, seconds: int = 61) -> list[list[Any]]:
    return [
        ["44-MSC", first_seq + i, msisdn, "voice", at(i), seconds, "mo", "44"] for i in range(count)
    ]


def test_same_file_twice_and_overlapping_files_rate_once(
    db: Database, sw: SubscribersWorld, tmp_path: Path
) -> None:
    a, b, _ = lines(sw)
    lake = tmp_path / "lake"
    first = write_csv(tmp_path / "1.csv", calls(a, 0, 10))
    with clock.frozen(NOW):
        done = usage.rate_files(db, [first], lake=lake)
        assert (done.rated, done.duplicates) == (10, 0)
        # 10 calls of 61 s: 2 minutes each at 0.10 CNY: 2 yuan.
        assert done.charged_fen == 200
        assert balance(db, sw, a) == 1_000 - 200
        again = usage.rate_files(db, [first], lake=lake)
        assert (again.rated, again.duplicates, again.charged_fen) == (0, 10, 0)
        overlap = write_csv(tmp_path / "2.csv", calls(a, 5, 10) + calls(b, 100, 3))
        more = usage.rate_files(db, [overlap], lake=lake)
    assert (more.rated, more.duplicates) == (8, 5)
    assert balance(db, sw, a) == 1_000 - 300
    assert balance(db, sw, b) == 1_000 - 60
    assert period_row(db, a)["records"] == 15  # type: ignore[index]
    with db.read() as conn:
        assert not ledger.audit_ledger(conn)
    rated = usage.rated_records(db, sw.w.actor["mvnoAdmin"].scope, a, "2026-11")
    assert len(rated) == 15
    assert len({(r["node_id"], r["seq"]) for r in rated}) == 15
    # The other MVNO sees none of it.
    for outsider in ("mvno2Admin", "partnerAdmin", "outletClerk"):
        with pytest.raises(NotFound):
            usage.rated_records(db, sw.w.actor[outsider].scope, a, "2026-11")


def test_each_record_gets_its_beijing_month_at_the_edges_of_days_and_of_the_calendar(
    tmp_path: Path,
) -> None:
    """Loading looks a record's period up by its Beijing day in a calendar of 2000-2099, and
    formats those outside it: either way the month of `period_of`, the rule's own."""
    times = [
        "2026-10-31T15:59:59.999999+00:00",  # 23:59:59 on 31 October in Beijing
        "2026-10-31T16:00:00+00:00",  # midnight, 1 November in Beijing
        "2024-02-29T12:00:00+00:00",
        "1999-12-31T15:59:59+00:00",  # before the calendar
        "1999-12-31T16:00:00+00:00",  # its first day
        "2099-12-31T16:00:00+00:00",  # 2100 in Beijing: after it
    ]
    rows = [["n", i, "17100000001", "sms", when, 1, "mo", "44"] for i, when in enumerate(times)]
    con = usage._rating_connection()
    with clock.frozen(NOW):
        usage.load(con, [write_csv(tmp_path / "edges.csv", rows)])
    got = dict(con.execute("SELECT seq, period FROM good").fetchall())
    assert got == {i: period_of(datetime.fromisoformat(when)) for i, when in enumerate(times)}
    assert [got[i] for i in range(6)] == [
        "2026-10", "2026-11", "2024-02", "1999-12", "2000-01", "2100-01",
    ]  # fmt: skip


def test_a_batch_over_two_months_rates_each_and_keeps_each_in_its_own_file(
    db: Database, sw: SubscribersWorld, tmp_path: Path
) -> None:
    """A batch whose records fall in two billing periods: the records are rated once into a
    table and written to one file per period (a one-period batch writes straight from the
    rating statement)."""
    a, _, _ = lines(sw)
    december = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)
    rows = calls(a, 0, 3) + [
        [
            "44-MSC",
            10 + i,
            a,
            "voice",
            (december + timedelta(minutes=i)).isoformat(),
            61,
            "mo",
            "44",
        ]
        for i in range(2)
    ]
    with clock.frozen(december + timedelta(days=1)):
        done = usage.rate_files(db, [write_csv(tmp_path / "u.csv", rows)], lake=tmp_path / "lake")
    assert (done.rated, done.lines, done.charged_fen) == (5, 2, 5 * 20)
    assert sorted(Path(f).parent.name for f in done.files) == ["period=2026-11", "period=2026-12"]
    scope = sw.w.actor["mvnoAdmin"].scope
    for period, seqs in (("2026-11", [0, 1, 2]), ("2026-12", [10, 11])):
        rated = usage.rated_records(db, scope, a, period)
        assert [r["seq"] for r in rated] == seqs
        assert {r["period"] for r in rated} == {period}
        assert all(r["charge_exact"] == 120 * 10_000_000 * 1024 for r in rated)  # 2 min, 0.10 CNY


RATING_COLUMNS = ("units", "in_allowance", "overage", "billed_overage", "charge_exact")


@pytest.mark.parametrize("periods", [1, 2])
def test_rated_records_keep_their_units_and_exact_charges_as_integers(
    db: Database, sw: SubscribersWorld, tmp_path: Path, periods: int
) -> None:
    """The lake holds each record's units and exact charge as 64-bit integers, as the ledger
    has them: a floating-point column rounds an exact charge above 2**53. Files an earlier
    version wrote with DOUBLE columns still read as integers. One period is written straight
    from the rating statement, two through a table: both paths."""
    a, _, _ = lines(sw)
    rows = data(a, 0, 3, NOW - timedelta(days=2), mb=1)
    if periods == 2:
        rows += data(a, 10, 1, datetime(2026, 12, 2, 1, 0, tzinfo=UTC), mb=1)
    with clock.frozen(datetime(2026, 12, 3, tzinfo=UTC)):
        done = usage.rate_files(db, [write_csv(tmp_path / "u.csv", rows)], lake=tmp_path / "lake")
    assert len(done.files) == periods
    november = next(f for f in done.files if "period=2026-11" in f)
    schema = pq.read_schema(november)
    assert {name: str(schema.field(name).type) for name in RATING_COLUMNS} == dict.fromkeys(
        RATING_COLUMNS, "int64"
    )
    scope = sw.w.actor["mvnoAdmin"].scope

    def values() -> list[tuple[Any, ...]]:
        return [
            tuple(r[c] for c in RATING_COLUMNS)
            for r in usage.rated_records(db, scope, a, "2026-11")
        ]

    rated = values()
    assert rated == [(1024, 0, 1024, 1024, 1024 * 10_000_000 * 60)] * 3  # 1 MB at 0.10 CNY
    assert all(type(v) is int for row in rated for v in row)
    old = pq.read_table(november)
    for name in RATING_COLUMNS[1:]:
        at_ = old.schema.get_field_index(name)
        old = old.set_column(at_, name, old.column(name).cast(pa.float64()))
    pq.write_table(old, november)
    assert values() == rated
    assert all(type(v) is int for row in values() for v in row)
    daily = usage.daily(db, scope, a, "2026-11")
    assert [(d["units"], d["overage"], d["chargeMicroFen"]) for d in daily] == [
        (3 * 1024, 3 * 1024, 3 * 1024 * 10_000_000 * 60 // 61_440)
    ]


def test_a_batch_runs_without_the_cycle_collector_and_gives_it_back(
    db: Database, sw: SubscribersWorld, tmp_path: Path
) -> None:
    """The collector stays off while a batch makes its millions of objects (openmvne.heap),
    and is back afterwards, whether the batch committed or failed."""
    seen: list[bool] = []
    file = write_csv(tmp_path / "1.csv", calls(lines(sw)[0], 0, 3))
    with clock.frozen(NOW):
        usage.rate_files(
            db, [file], lake=tmp_path / "lake", after_compute=lambda: seen.append(gc.isenabled())
        )
        assert seen == [False]
        assert gc.isenabled()
        bad = tmp_path / "bad.csv"
        bad.write_text("not,usage\n1,2\n")
        with pytest.raises(InvalidInput):
            usage.rate_files(db, [bad], lake=tmp_path / "lake")
        assert gc.isenabled()
        assert usage.rerate(db, "2026-11", lake=tmp_path / "lake").records_in == 3
        assert gc.isenabled()


def test_a_record_twice_in_one_batch_is_rated_once_as_its_first_copy(
    db: Database, sw: SubscribersWorld, tmp_path: Path
) -> None:
    a = lines(sw)[0]
    # Another line in another partition of the subscriber space (claims are kept per one).
    other = next(m for m in lines(sw) if usage.partition_of(m) != usage.partition_of(a))
    lake = tmp_path / "lake"
    rows = [
        ["44-MSC", 5, a, "voice", at(5), 61, "mo", "44"],
        ["44-MSC", 5, a, "voice", at(5), 600, "mo", "44"],  # the same id again: dropped
        ["44-MSC", 5, other, "voice", at(5), 60, "mo", "44"],  # the same id, another number
        ["44-MSC", 1, a, "voice", at(1), 61, "mo", "44"],  # rated by the first file
        ["44-MSC", 9, "17999999999", "voice", at(9), 60, "mo", "44"],
        ["44-MSC", 9, "17999999999", "voice", at(9), 60, "mo", "44"],
    ]
    parquet = tmp_path / "usage.parquet"
    pq.write_table(
        pa.table({name: [str(row[i]) for row in rows] for i, name in enumerate(HEADER)}), parquet
    )
    with clock.frozen(NOW):
        usage.rate_files(db, [write_csv(tmp_path / "1.csv", calls(a, 0, 2))], lake=lake)
        done = usage.rate_files(db, [parquet], lake=lake)
    assert (done.rated, done.duplicates, done.rejected) == (1, 3, 2)
    assert done.charged_fen == 20  # the first copy, 61 s: 2 minutes at 0.10 CNY
    with db.read() as conn:
        refused = conn.execute(
            unscoped(
                select(t.usage_reject.c.line_no, t.usage_reject.c.reason)
                .where(t.usage_reject.c.batch_id == done.batch_id)
                .order_by(t.usage_reject.c.line_no),
                "test",
            )
        ).all()
    # Parquet rows count from 1; a refused record is refused every time it appears.
    assert [tuple(r) for r in refused] == [(5, "unknown subscriber"), (6, "unknown subscriber")]
    rated = usage.rated_records(db, sw.w.actor["mvnoAdmin"].scope, a, "2026-11")
    assert sorted((r["seq"], r["quantity"]) for r in rated) == [(0, 61), (1, 61), (5, 61)]


def test_bad_records_are_quarantined_and_the_rest_rated(
    db: Database, sw: SubscribersWorld, tmp_path: Path
) -> None:
    a = lines(sw)[0]
    rows = [
        ["44-MSC", 1, a, "voice", at(1), 60, "mo", "44"],
        ["44-MSC", 2, "1234", "voice", at(2), 60, "mo", "44"],
        ["44-MSC", 3, a, "voice", at(3), -5, "mo", "44"],
        ["44-MSC", 4, a, "fax", at(4), 1, "mo", "44"],
        ["44-MSC", 5, a, "voice", (NOW + timedelta(days=1)).isoformat(), 60, "mo", "44"],
        ["44-MSC", 6, a, "voice", "not a time", 60, "mo", "44"],
        ["44-MSC", 7, "17999999999", "voice", at(7), 60, "mo", "44"],
        ["44-MSC", 8, a, "voice", at(8), 60, "sideways", "44"],
        ["44-MSC", "x", a, "voice", at(9), 60, "mo", "44"],
        ["44-MSC", 10, a, "sms", at(10), 1, "mo", "44"],
        ["44-MSC", 11, a, "sms", (NOW - timedelta(days=30)).isoformat(), 1, "mo", "44"],
    ]
    path = write_csv(tmp_path / "bad.csv", rows)
    with clock.frozen(NOW):
        done = usage.rate_files(db, [path], lake=tmp_path / "lake")
    assert done.rated == 2
    assert done.rejected == 9
    assert done.reasons == {
        "bad MSISDN": 1,
        "negative or missing quantity": 1,
        "unknown type": 1,
        "start time in the future": 1,
        "bad start time": 1,
        "unknown subscriber": 1,
        "bad direction": 1,
        "bad sequence number": 1,
        "before the line was opened": 1,
    }
    with db.read() as conn:
        kept = conn.execute(
            unscoped(select(func.count()).select_from(t.usage_reject), "test")
        ).scalar()
    assert kept == 9
    # A rejected record was not claimed: once its line exists, it can still be rated.


def test_a_sequence_number_past_two_to_the_56_is_quarantined_not_rated_on_every_replay(
    db: Database, sw: SubscribersWorld, tmp_path: Path
) -> None:
    """A claim row keeps the partition above bit 40 of its block and a sequence number's top
    40 bits below it: a number of 2**56 or more spilled into the partition, its claim could
    not be found again, and the same file rated it (and charged it) on every run."""
    a = lines(sw)[0]
    lake = tmp_path / "lake"
    rows = [
        ["44-SMSC", (1 << 56) - 1, a, "sms", at(1), 1, "mo", "44"],  # the largest allowed
        ["44-SMSC", (1 << 56) + 5, a, "sms", at(2), 1, "mo", "44"],
        ["44-SMSC", (1 << 62), a, "sms", at(3), 1, "mo", "44"],
    ]
    path = write_csv(tmp_path / "big.csv", rows)
    with clock.frozen(NOW):
        first = usage.rate_files(db, [path], lake=lake)
        again = usage.rate_files(db, [path], lake=lake)
    assert (first.rated, first.rejected, first.charged_fen) == (1, 2, 10)
    assert first.reasons == {"bad sequence number": 2}
    assert (again.rated, again.duplicates, again.charged_fen) == (0, 1, 0)
    assert balance(db, sw, a) == 1_000 - 10


def test_a_fraction_where_a_whole_number_belongs_is_quarantined_not_rounded(
    db: Database, sw: SubscribersWorld, tmp_path: Path
) -> None:
    """The cast alone rounded: sequence number 1.4 became 1, took the id of the record
    after it, and that real record was dropped as its duplicate; a call of 60.4 s was
    billed as 60 s; a partial sequence that was no number became 0."""
    a = lines(sw)[0]
    path = tmp_path / "fractions.csv"
    path.write_text(
        "node_id,seq,msisdn,type,start_time,quantity,direction,partial_seq\n"
        f"44-MSC,1.4,{a},voice,{at(1)},60,mo,0\n"
        f"44-MSC,1,{a},voice,{at(2)},61,mo,0\n"
        f"44-MSC,2,{a},voice,{at(3)},60.4,mo,0\n"
        f"44-MSC,3,{a},voice,{at(4)},60,mo,x\n"
        f"44-MSC,4,{a},voice,{at(5)},60.0,mo,\n"  # a whole number however written
    )
    with clock.frozen(NOW):
        done = usage.rate_files(db, [path], lake=tmp_path / "lake")
    assert (done.rated, done.duplicates, done.rejected) == (2, 0, 3)
    assert done.reasons == {
        "bad sequence number": 1,
        "negative or missing quantity": 1,
        "bad partial sequence": 1,
    }
    rated = usage.rated_records(db, sw.w.actor["mvnoAdmin"].scope, a, "2026-11")
    assert sorted((r["seq"], r["quantity"]) for r in rated) == [(1, 61), (4, 60)]
    assert done.charged_fen == 20 + 10


def test_a_start_time_without_an_offset_is_quarantined_not_taken_for_utc(
    db: Database, sw: SubscribersWorld, tmp_path: Path
) -> None:
    """A network element writing Beijing local time without an offset was read as UTC:
    its records 8 hours late, across the month's end; "CST" (China Standard Time to the
    element) was read as US Central. The records name their offset or are quarantined."""
    a = lines(sw)[0]
    day = (NOW - timedelta(days=5)).date().isoformat()
    path = tmp_path / "local.csv"
    path.write_text(
        "node_id,seq,msisdn,type,start_time,quantity,direction\n"
        f"44-SMSC,1,{a},sms,{day} 08:00:00,1,mo\n"
        f"44-SMSC,2,{a},sms,{day}T08:00:00.5,1,mo\n"
        f"44-SMSC,3,{a},sms,{day} 08:00:00 CST,1,mo\n"
        f"44-SMSC,4,{a},sms,{day},1,mo\n"
        f"44-SMSC,5,{a},sms,{day}T08:00:00+08:00,1,mo\n"
        f"44-SMSC,6,{a},sms,{day} 08:00:00+0800,1,mo\n"
        f"44-SMSC,7,{a},sms,{day}T00:00:00Z,1,mo\n"
    )
    with clock.frozen(NOW):
        done = usage.rate_files(db, [path], lake=tmp_path / "lake")
    assert (done.rated, done.rejected) == (3, 4)
    assert done.reasons == {"bad start time": 4}
    # Typed Parquet: a TIMESTAMP WITH TIME ZONE (whatever its unit or zone) is an instant;
    # one without time zone is local time of no stated zone, as text without an offset.
    when = datetime.fromisoformat(f"{day}T00:00:00+00:00")
    typed = {
        "node_id": ["44-SMSC"] * 3,
        "seq": [10, 11, 12],
        "msisdn": [a] * 3,
        "type": ["sms"] * 3,
        "quantity": [1] * 3,
        "direction": ["mo"] * 3,
    }
    zoned = tmp_path / "zoned.parquet"
    pq.write_table(
        pa.table(
            {**typed, "start_time": pa.array([when] * 3, pa.timestamp("ms", "Asia/Shanghai"))}
        ),
        zoned,
    )
    naive = tmp_path / "naive.parquet"
    pq.write_table(
        pa.table(
            {
                **typed,
                "seq": [20, 21, 22],
                "start_time": pa.array([when.replace(tzinfo=None)] * 3, pa.timestamp("us")),
            }
        ),
        naive,
    )
    with clock.frozen(NOW):
        assert usage.rate_files(db, [zoned], lake=tmp_path / "lake").rated == 3
        refused = usage.rate_files(db, [naive], lake=tmp_path / "lake")
    assert (refused.rated, refused.reasons) == (0, {"bad start time": 3})


@pytest.mark.parametrize("cut", ["direction", "type"])
def test_a_line_cut_short_is_quarantined_and_the_rest_of_its_file_rated(
    db: Database, sw: SubscribersWorld, tmp_path: Path, cut: str
) -> None:
    """A file whose last line was cut off mid-write (or with a line short of fields) was
    refused whole as lacking every column ('missing_columns'): the CSV sniffer read it as a
    file of one column. The short line is a bad record; the others are rated."""
    a = lines(sw)[0]
    full = [f"44-MSC,{i},{a},voice,{at(i)},60,mo" for i in range(4)]
    short = f"44-MSC,4,{a},voice,{at(4)},60" if cut == "direction" else f"44-MSC,4,{a},vo"
    path = tmp_path / "cut.csv"
    path.write_text("node_id,seq,msisdn,type,start_time,quantity,direction\n" + "\n".join(
        [*full[:2], short, *full[2:]] if cut == "direction" else [*full, short]
    ))  # fmt: skip
    with clock.frozen(NOW):
        done = usage.rate_files(db, [path], lake=tmp_path / "lake")
    assert (done.rated, done.rejected) == (4, 1)
    assert done.reasons == {"bad direction" if cut == "direction" else "unknown type": 1}
    with db.read() as conn:
        refused = conn.execute(
            unscoped(select(t.usage_reject.c.line_no, t.usage_reject.c.seq), "test")
        ).all()
    assert [tuple(r) for r in refused] == [(4 if cut == "direction" else 6, "4")]


def test_a_record_too_large_to_be_real_is_quarantined_not_the_batch_failed(
    db: Database, sw: SubscribersWorld, tmp_path: Path
) -> None:
    """A call of 10**12 s overflowed the engine's 64-bit exact charge: the whole batch failed
    with DuckDB's OutOfRangeException (and a stream's micro-batch with it, redelivered and
    failing for ever). Such a record is quarantined; the others are rated."""
    a = lines(sw)[0]
    week = 7 * 86_400
    rows = [
        ["44-MSC", 1, a, "voice", at(1), 10**12, "mo", "44"],
        ["44-GGSN", 2, a, "data", at(2), 10**15, "mo", "44"],
        ["44-SMSC", 3, a, "sms", at(3), 2**63 - 1, "mo", "44"],
        ["44-MSC", 4, a, "voice", at(4), week, "mt", "44"],  # the longest: free, incoming
        ["44-SMSC", 5, a, "sms", at(5), 1, "mo", "44"],
    ]
    with clock.frozen(NOW):
        done = usage.rate_files(db, [write_csv(tmp_path / "big.csv", rows)], lake=tmp_path / "l")
    assert (done.rated, done.rejected, done.charged_fen) == (2, 3, 10)
    assert done.reasons == {"quantity too large": 3}


def test_a_month_without_usage_rolls_its_whole_plan_data_over(db: Database, tmp_path: Path) -> None:
    """Last month's unused plan data rolls over (domain.md §6). It was read from last
    month's usage row only: a line that made one call in October rolled its whole 1 GB
    over, one that used nothing at all in October (no row) rolled over nothing. A line
    opened this month has no last month to roll over."""
    with clock.frozen(datetime(2026, 10, 5, tzinfo=UTC)):
        sw = build_subscribers(db)
        sw.cw.offer["roll"] = catalog.create_offer(
            db, sw.w.op, brand_id=sw.cw.brand["m1"], host_id=sw.w.org["host"],
            kind=OfferKind.PLAN, name="1GB 结转",
            terms={**TEN_FEN, "monthly_fee_fen": 3900, "data_mb": 1024, "rollover_data": True},
        )["id"]  # fmt: skip
        called, idle = (sw.sale(db, seq=s, offer="roll")[0] for s in (1, 2))
        sw.settle(db)
    lake = tmp_path / "lake"
    october = datetime(2026, 10, 6, tzinfo=UTC).isoformat()
    with clock.frozen(datetime(2026, 10, 7, tzinfo=UTC)):
        usage.rate_files(
            db, [write_csv(tmp_path / "10.csv", [["44-MSC", 1, called, "voice", october, 60,
                                                  "mo", "44"]])], lake=lake,
        )  # fmt: skip
    with clock.frozen(NOW - timedelta(days=10)):
        fresh = sw.sale(db, seq=3, offer="roll")[0]
        sw.settle(db)
    rows = [["44-GGSN", i, m, "data", at(i), 1024, "mo", "44"]
            for i, m in enumerate((called, idle, fresh))]  # fmt: skip
    with clock.frozen(NOW):
        usage.rate_files(db, [write_csv(tmp_path / "11.csv", rows)], lake=lake)
        scope = sw.w.actor["mvnoAdmin"].scope
        data = {m: next(b for b in usage.buckets(db, scope, m, "2026-11") if b["type"] == "data")
                for m in (called, idle, fresh)}  # fmt: skip
    assert data[called]["rollover"] == data[idle]["rollover"] == 1024 * 1024
    assert data[called]["allowance"] == data[idle]["allowance"] == 2 * 1024 * 1024
    assert (data[fresh]["rollover"], data[fresh]["allowance"]) == (0, 1024 * 1024)


def test_exhausted_balance_bars_the_line_and_a_recharge_restores_it(
    db: Database, sw: SubscribersWorld, tmp_path: Path
) -> None:
    a = lines(sw)[0]
    # 1,000 fen of balance; 60 calls of 2 minutes cost 12 yuan.
    path = write_csv(tmp_path / "heavy.csv", calls(a, 0, 60))
    with clock.frozen(NOW):
        done = usage.rate_files(db, [path], lake=tmp_path / "lake")
        assert done.charged_fen == 1_000
        assert done.unpaid_fen == 200
        line = subscriber_orders.summary(db, sw.w.actor["mvnoAdmin"], a)["line"]
        assert line["state"] == "arrearsOutBarred"
        assert line["debt_fen"] == 200
        money.recharge(
            db,
            sw.w.actor["outletClerk"],
            msisdn=a,
            amount_fen=5_000,
            channel_order_number="top-1",
            idempotency_key="top-1",
        )
        line = subscriber_orders.summary(db, sw.w.actor["mvnoAdmin"], a)["line"]
    assert line["state"] == "active"
    assert line["debt_fen"] == 0
    assert balance(db, sw, a) == 4_800
    with db.read() as conn:
        assert not ledger.audit_ledger(conn)


def test_no_charge_for_use_while_barred_for_missing_real_name(
    db: Database, sw: SubscribersWorld, tmp_path: Path
) -> None:
    """By each call's time, not by the line's state when rating runs: calls at minutes 0 to
    4 (20 fen each), the line barred for missing real-name at minute 1.5 and registered at
    minute 3.5: the calls at minutes 2 and 3 are free, whichever state the line is in when
    a batch rates them, and a rerating changes nothing."""
    a = lines(sw)[0]
    start = NOW - timedelta(days=5)
    made = calls(a, 0, 5)
    lake = tmp_path / "lake"

    def task(name: str, minute: float) -> None:
        with clock.frozen(start + timedelta(minutes=minute)):
            subscriber_orders.run_task(
                db, sw.w.op, a, name, holder=None, reason="audit", idempotency_key=name
            )

    task("realNameMissing", 1.5)
    with clock.frozen(start + timedelta(minutes=2.5)):  # barred now; two calls were not
        done = usage.rate_files(db, [write_csv(tmp_path / "1.csv", made[:3])], lake=lake)
    assert (done.rated, done.charged_fen) == (3, 40)
    assert done.wholesale_fen > 0  # the MVNO still pays the host
    task("realNameRegistered", 3.5)
    with clock.frozen(NOW):  # registered now; the call at minute 3 was barred
        done = usage.rate_files(db, [write_csv(tmp_path / "2.csv", made[3:])], lake=lake)
    assert (done.rated, done.charged_fen) == (2, 20)
    assert balance(db, sw, a) == 1_000 - 60
    with clock.frozen(NOW):
        again = usage.rerate(db, "2026-11", lake=lake)
    assert again.charged_fen == 0
    assert balance(db, sw, a) == 1_000 - 60
    rated = usage.rated_records(db, sw.w.actor["mvnoAdmin"].scope, a, "2026-11")
    assert [r["units"] for r in rated] == [120, 120, 0, 0, 120]


def test_a_recycled_number_shows_its_new_holder_only_their_own_usage(
    db: Database, sw: SubscribersWorld, tmp_path: Path
) -> None:
    """The lake keeps a record's number, not its line: after the number's quarantine, its
    new holder (and the MVNO, asking about the new line) must not see the earlier holder's
    calls, from files or charged online, in any month."""
    a = lines(sw)[0]
    lake = tmp_path / "lake"
    mvno = sw.w.actor["mvnoAdmin"]
    network = sw.w.actor["hostAdmin"]
    with clock.frozen(NOW):
        usage.rate_files(db, [write_csv(tmp_path / "a.csv", calls(a, 0, 3))], lake=lake)
        charging.initial(db, network, session_key="a1", msisdn=a, kind="voice", requested=120)
        charging.terminate(db, network, session_key="a1", number=1, used=90)
        assert len(usage.rated_records(db, mvno.scope, a, "2026-11")) == 3 + 1  # files, online
        assert sum(d["records"] for d in usage.daily(db, mvno.scope, a, "2026-11")) == 3 + 1
        subscriber_orders.run_task(
            db, mvno, a, "cancel", holder=None, reason="test", idempotency_key="cancel-a"
        )
        sw.settle(db)
    with db.read() as conn:
        until = conn.execute(
            unscoped(select(t.number.c.state_until).where(t.number.c.msisdn == a), "test")
        ).scalar_one()
    later = until + timedelta(days=1)
    with clock.frozen(later):
        number_lifecycle.sweep(db)
        money.pay_float(
            db, sw.w.op, outlet_id=sw.w.org["o1"], amount_fen=10_000, idempotency_key="float-b"
        )
        sw.sale(db, seq=2, number=a, offer="payg", prepayment_fen=1_000, key="sale-b")
        sw.settle(db)
    b_calls = [
        [*row[:4], (later + timedelta(hours=1 + i)).isoformat(), *row[5:]]
        for i, row in enumerate(calls(a, 100, 2))
    ]
    own = (later + timedelta(hours=8)).strftime("%Y-%m")
    with clock.frozen(later + timedelta(hours=4)):
        done = usage.rate_files(db, [write_csv(tmp_path / "b.csv", b_calls)], lake=lake)
    assert done.rated == 2
    holder = holder_actor(db, sw.w.op, a)
    for who in (mvno, holder):
        assert usage.rated_records(db, who.scope, a, "2026-11") == []
        assert usage.daily(db, who.scope, a, "2026-11") == []
        assert [r["seq"] for r in usage.rated_records(db, who.scope, a, own)] == [100, 101]
        assert sum(d["records"] for d in usage.daily(db, who.scope, a, own)) == 2


def test_rerating_posts_only_the_difference_and_twice_changes_nothing(
    db: Database, sw: SubscribersWorld, tmp_path: Path
) -> None:
    a, b, _ = lines(sw)
    lake = tmp_path / "lake"
    path = write_csv(tmp_path / "u.csv", calls(a, 0, 3) + calls(b, 10, 2))
    with clock.frozen(NOW):
        usage.rate_files(db, [path], lake=lake)
        assert balance(db, sw, a) == 1_000 - 60
        # The tariff was entered wrong: 0.10 CNY a minute should have been 0.08.
        catalog.correct_rates(
            db,
            sw.w.op,
            sw.cw.offer["payg"],
            voice_rate=8_000_000,
            sms_rate=10_000_000,
            data_rate=10_000_000,
            reason="typo in the tariff sheet",
        )
        fixed = usage.rerate(db, "2026-11", lake=lake)
        assert fixed.lines == 2
        assert balance(db, sw, a) == 1_000 - 48
        assert balance(db, sw, b) == 1_000 - 32
        with db.read() as conn:
            transfers = conn.execute(
                unscoped(select(func.count()).select_from(t.ledger_transfer), "test")
            ).scalar()
        again = usage.rerate(db, "2026-11", lake=lake)
        assert again.batch_id is None
        with db.read() as conn:
            after = conn.execute(
                unscoped(select(func.count()).select_from(t.ledger_transfer), "test")
            ).scalar()
            assert not ledger.audit_ledger(conn)
    assert after == transfers
    assert balance(db, sw, a) == 1_000 - 48
    # The period's records now read from the rerating.
    rated = usage.rated_records(db, sw.w.actor["mvnoAdmin"].scope, a, "2026-11")
    assert len(rated) == 3
    assert all(r["charge_exact"] == 120 * 8_000_000 * 1024 for r in rated)


RECORD = st.builds(
    lambda seq, kind, q, mt, minute, line: Record(
        "n",
        seq,
        f"1710000000{line}",
        kind,
        datetime(2016, 3, 1, tzinfo=UTC) + timedelta(minutes=minute),
        q,
        "mt" if mt else "mo",
    ),
    st.integers(0, 10**6),
    st.sampled_from(["voice", "sms", "data"]),
    st.integers(0, 5_000_000),
    st.booleans(),
    st.integers(0, 60 * 24 * 30),
    st.integers(0, 2),
)


def _spans(minutes: list[int]) -> tuple[tuple[datetime, datetime | None], ...]:
    """Barrings from ordered minutes of March 2016, pairwise; an odd last one still open."""
    t0 = datetime(2016, 3, 1, tzinfo=UTC)
    times = [t0 + timedelta(minutes=m) for m in minutes]
    ends: list[datetime | None] = [*times[1::2], None]
    return tuple(zip(times[::2], ends, strict=False))


TERMS = st.builds(
    Terms,
    voice_rate=st.integers(0, 10**7),
    sms_rate=st.integers(0, 10**7),
    data_rate=st.integers(0, 10**7),
    voice_incr_s=st.sampled_from([1, 6, 60]),
    data_incr_kb=st.sampled_from([1, 10, 1024]),
    term_voice_free=st.booleans(),
    cap_kb=st.one_of(st.none(), st.integers(0, 10_000)),
    voice_allow_s=st.integers(0, 6_000),
    sms_allow=st.integers(0, 50),
    data_allow_kb=st.integers(0, 50_000),
    no_charge_spans=st.lists(st.integers(0, 60 * 24 * 30), max_size=4, unique=True).map(
        lambda minutes: _spans(sorted(minutes))
    ),
    voice_used_s=st.integers(0, 3_000),
    sms_used=st.integers(0, 10),
    data_used_kb=st.integers(0, 10_000),
    data_over_kb=st.integers(0, 1_000),
    w_voice=st.integers(0, 10**7),
    w_sms=st.integers(0, 10**7),
    w_data=st.integers(0, 10**7),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(RECORD, min_size=1, max_size=60, unique_by=lambda r: r.seq),
    st.lists(TERMS, min_size=3, max_size=3),
)
def test_vectorised_engine_equals_the_reference_rater(
    records: list[Record], terms: list[Terms]
) -> None:
    by_line = {(f"1710000000{i}", "2016-03"): terms[i] for i in range(3)}
    expected = sorted(rate_reference(records, by_line), key=lambda r: r.record.seq)
    got = sorted(rate_vectorised(records, by_line), key=lambda r: r.record.seq)
    assert got == expected


def test_the_engine_puts_in_order_the_groups_that_cross_an_allowance_or_a_cap() -> None:
    """Only such groups go through the window; each case here needs it, and the engine must
    still find which record crossed. Hypothesis seldom draws the cap crossed with no
    allowance left, so it is spelled out."""
    t0 = datetime(2016, 3, 10, tzinfo=UTC)
    ten = 10_000_000  # 0.10 CNY per minute / SMS / MB, in µfen

    def rec(seq: int, line: str, kind: str, quantity: int, minute: int) -> Record:
        return Record("n", seq, line, kind, t0 + timedelta(minutes=minute), quantity, "mo")

    capped, allowance, plain = "17100000001", "17100000002", "17100000003"
    records = [
        rec(1, capped, "data", 512 * 1024, 1),  # no allowance; 1 MB of overage billed a month
        rec(2, capped, "data", 5 * 1024 * 1024, 2),  # crosses the cap
        rec(3, capped, "data", 1024 * 1024, 3),
        rec(4, allowance, "voice", 60, 30),  # after the call below: over the 120 s allowance
        rec(5, allowance, "voice", 120, 5),
        rec(6, plain, "voice", 60, 1),  # within its allowance, whatever the order
        rec(7, plain, "voice", 60, 2),
    ]
    base = Terms(voice_rate=ten, sms_rate=ten, data_rate=ten)
    terms = {
        (capped, "2016-03"): replace(base, cap_kb=1024),
        (allowance, "2016-03"): replace(base, voice_allow_s=120),
        (plain, "2016-03"): replace(base, voice_allow_s=600),
    }
    got = {r.record.seq: r for r in rate_vectorised(records, terms)}
    assert [got[seq].billed_overage for seq in (1, 2, 3)] == [512, 512, 0]
    assert [got[seq].in_allowance for seq in (4, 5, 6, 7)] == [0, 120, 60, 60]
    assert sorted(got.values(), key=lambda r: r.record.seq) == sorted(
        rate_reference(records, terms), key=lambda r: r.record.seq
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(RECORD, min_size=1, max_size=60, unique_by=lambda r: r.seq),
    st.lists(TERMS, min_size=3, max_size=3),
)
def test_line_totals_without_the_window_equal_the_rated_records_summed(
    records: list[Record], terms: list[Terms]
) -> None:
    """The ledger is posted from LINE_TOTALS_SQL, which sums a line's units, overage and
    charge without putting its records in order; the reference rater goes record by record."""
    by_line = {(f"1710000000{i}", "2016-03"): terms[i] for i in range(3)}
    expected: dict[tuple[str, str], list[int]] = {}
    for r in rate_reference(records, by_line):
        sums = expected.setdefault((r.record.msisdn, r.period), [0] * 7)
        kind = r.record.type
        sums[0] += 1
        sums[1] += r.units if kind == "voice" else 0
        sums[2] += r.units if kind == "sms" else 0
        sums[3] += r.units if kind == "data" else 0
        sums[4] += r.overage if kind == "data" else 0
        sums[5] += r.charge_exact
        sums[6] += r.wholesale_exact
    assert line_totals(records, by_line) == {k: tuple(v) for k, v in expected.items()}


KILLER = """
import os, signal, sys
from pathlib import Path
from datetime import datetime, UTC
from openmvne import clock
from openmvne.db.engine import Database
from openmvne.services import usage
db = Database(sys.argv[1])
with clock.frozen(datetime.fromisoformat(sys.argv[4])):
    usage.rate_files(db, [Path(sys.argv[2])], lake=Path(sys.argv[3]),
                     after_compute=lambda: os.kill(os.getpid(), signal.SIGKILL))
"""


def test_a_rater_killed_mid_batch_leaves_nothing_and_the_rerun_is_whole(
    db: Database, sw: SubscribersWorld, tmp_path: Path, backend: Any
) -> None:
    a, b, c = lines(sw)
    path = write_csv(
        tmp_path / "u.csv", calls(a, 0, 4) + calls(b, 10, 3) + calls(c, 20, 2, seconds=30)
    )
    lake = tmp_path / "lake"
    killed = subprocess.run(
        [sys.executable, "-c", KILLER, backend.url, str(path), str(lake), NOW.isoformat()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ},
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    with db.read() as conn:
        assert (
            conn.execute(
                unscoped(select(func.count()).select_from(t.rating_batch), "test")
            ).scalar()
            == 0
        )
        assert conn.execute(select(func.count()).select_from(t.usage_claim)).scalar() == 0
    assert balance(db, sw, a) == 1_000
    orphans = list(lake.glob("period=*/.*.tmp"))
    assert orphans  # the half-written file is there, uncommitted
    for orphan in orphans:  # old enough not to be another rater's batch in progress
        os.utime(orphan, (1_000_000_000, 1_000_000_000))
    with clock.frozen(NOW):
        done = usage.rate_files(db, [path], lake=lake)
    assert (done.rated, done.duplicates) == (9, 0)
    assert not list(lake.glob("period=*/.*.tmp"))
    assert [balance(db, sw, x) for x in (a, b, c)] == [1_000 - 80, 1_000 - 60, 1_000 - 20]
    with db.read() as conn:
        assert not ledger.audit_ledger(conn)


def test_killed_after_commit_before_rename_is_finished_by_the_next_run(
    db: Database, sw: SubscribersWorld, tmp_path: Path
) -> None:
    a = lines(sw)[0]
    lake = tmp_path / "lake"
    with clock.frozen(NOW):
        done = usage.rate_files(db, [write_csv(tmp_path / "u.csv", calls(a, 0, 2))], lake=lake)
    final = Path(done.files[0])
    final.rename(final.with_name(f".{final.name}.tmp"))  # as if the process died before renaming
    assert usage.recover(db, lake) == 1
    assert final.exists()
    assert len(usage.rated_records(db, sw.w.actor["mvnoAdmin"].scope, a, "2026-11")) == 2


def test_a_batch_whose_files_another_raters_recover_renamed_finishes_cleanly(
    db: Database, sw: SubscribersWorld, tmp_path: Path
) -> None:
    """Two raters on one lake: B's `recover` may rename A's committed files before A does;
    A must then finish without an error (its batch is committed) and lose no file."""
    a = lines(sw)[0]
    lake = tmp_path / "lake"
    with clock.frozen(NOW):
        done = usage.rate_files(db, [write_csv(tmp_path / "u.csv", calls(a, 0, 2))], lake=lake)
    final = Path(done.files[0])
    temporary = final.with_name(f".{final.name}.tmp")
    final.rename(temporary)  # A's batch as it stands between its commit and its rename
    assert usage.recover(db, lake) == 1  # B finishes it
    usage.finish_renames([(temporary, final)])  # then A's own rename: no error
    assert final.exists()
    with pytest.raises(FileNotFoundError):  # a file truly lost is still an error
        usage.finish_renames([(temporary, final.with_name("missing.parquet"))])


def data(msisdn: str, first_seq: int, count: int, when: datetime, mb: int = 10) -> list[list[Any]]:
    return [
        ["44-GGSN", first_seq + i, msisdn, "data", (when + timedelta(minutes=i)).isoformat(),
         mb * 1024 * 1024, "mo", "44"]
        for i in range(count)
    ]  # fmt: skip


def test_a_pack_bought_mid_month_counts_at_once_and_ends_with_the_month(
    db: Database, sw: SubscribersWorld, tmp_path: Path
) -> None:
    """Bought after the month's usage was first rated, a 1 GB pack still covers the rest of
    the month (its allowance joins the rated period); next month it is gone."""
    with clock.frozen(NOW - timedelta(days=9)):
        line, _ = sw.sale(db, seq=9, offer="payg", prepayment_fen=50_000)
        sw.settle(db)
    lake, admin = tmp_path / "lake", sw.w.actor["mvnoAdmin"]
    with clock.frozen(NOW):
        first = usage.rate_files(
            db, [write_csv(tmp_path / "1.csv", data(line, 0, 5, NOW - timedelta(days=1)))],
            lake=lake,
        )  # fmt: skip
        assert first.charged_fen > 0  # pay as you go: no allowance yet
        subscriber_orders.change_service(
            db, admin, line, offering_id=sw.cw.offer["pack"], add=True, idempotency_key="p"
        )
        assert period_row(db, line)["data_allow_kb"] == 1024 * 1024  # type: ignore[index]
        covered = usage.rate_files(
            db, [write_csv(tmp_path / "2.csv", data(line, 100, 5, NOW + timedelta(minutes=1)))],
            lake=lake,
        )  # fmt: skip
        assert covered.charged_fen == 0  # 50 MB inside the pack's 1 GB
        [pack] = [s for s in subscriber_orders.services_for(db, admin, line) if s["active"]]
        assert pack["id"] == sw.cw.offer["pack"]
    december = datetime(2026, 12, 3, 4, 0, tzinfo=UTC)
    with clock.frozen(december):
        assert not any(s["active"] for s in subscriber_orders.services_for(db, admin, line))
        later = usage.rate_files(
            db, [write_csv(tmp_path / "3.csv", data(line, 200, 5, december - timedelta(days=1)))],
            lake=lake,
        )  # fmt: skip
    assert later.charged_fen == first.charged_fen  # the pack did not carry into December


def _money_and_batches(db: Database, sw: SubscribersWorld) -> tuple[list[int], int, int]:
    with db.read() as conn:
        transfers = conn.execute(
            unscoped(select(func.count()).select_from(t.ledger_transfer), "test")
        ).scalar()
        batches = conn.execute(
            unscoped(select(func.count()).select_from(t.rating_batch), "test")
        ).scalar()
    return [balance(db, sw, m) for m in lines(sw)], int(transfers or 0), int(batches or 0)


def test_a_rerating_refuses_when_a_rated_file_is_missing_and_moves_nothing(
    db: Database, sw: SubscribersWorld, tmp_path: Path
) -> None:
    """A rated-record file deleted from the lake: rerating without it would rate the period
    from the rest and refund its records' charges. It refuses, naming the file."""
    a = lines(sw)[0]
    lake = tmp_path / "lake"
    with clock.frozen(NOW):
        usage.rate_files(db, [write_csv(tmp_path / "1.csv", calls(a, 0, 3))], lake=lake)
        lost = usage.rate_files(db, [write_csv(tmp_path / "2.csv", calls(a, 10, 2))], lake=lake)
        Path(lost.files[0]).unlink()
        before = _money_and_batches(db, sw)
        with pytest.raises(Conflict) as refused:
            usage.rerate(db, "2026-11", lake=lake)
        assert refused.value.code == "lake_incomplete"
        assert lost.files[0] in refused.value.message
        assert _money_and_batches(db, sw) == before
        assert period_row(db, a)["records"] == 5  # type: ignore[index]


def test_a_rerating_finishes_the_rename_of_a_committed_batch_it_finds_under_its_locks(
    db: Database, sw: SubscribersWorld, tmp_path: Path
) -> None:
    """A batch commits, then renames its file outside its locks: a rerating whose `recover`
    ran before that commit finds the batch listed and its file still under the temporary
    name. (Here: the rerating's own lake is another directory, so its `recover` cannot see
    the file, as it could not see it in the race.) It finishes the rename and rates it."""
    a = lines(sw)[0]
    lake = tmp_path / "lake"
    with clock.frozen(NOW):
        usage.rate_files(db, [write_csv(tmp_path / "1.csv", calls(a, 0, 3))], lake=lake)
        late = usage.rate_files(db, [write_csv(tmp_path / "2.csv", calls(a, 10, 2))], lake=lake)
        final = Path(late.files[0])
        final.rename(final.with_name(f".{final.name}.tmp"))  # committed, not yet renamed
        before = _money_and_batches(db, sw)
        again = usage.rerate(db, "2026-11", lake=tmp_path / "other-lake")
        assert again.batch_id is None  # the tariff is unchanged: nothing to move
        assert final.exists()
        assert _money_and_batches(db, sw) == before
        assert period_row(db, a)["records"] == 5  # type: ignore[index]
