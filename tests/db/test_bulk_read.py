"""Bulk reads by key: the same rows and values as a Core select, chunk after chunk."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, tuple_

from openmvne.db import bulk_read
from openmvne.db import tables as t
from openmvne.db.bulk import insert_rows
from openmvne.db.engine import Database
from openmvne.db.scoping import unscoped
from openmvne.domain.ledger import AccountKind
from openmvne.domain.parties import OrgKind
from openmvne.services import ledger, parties, users

la = t.ledger_account


def _accounts(db: Database, n: int) -> dict[str, dict[str, object]]:
    op = users.operator(db)
    mvno = parties.create_organisation(db, op, kind=OrgKind.MVNO, name="虚商")["id"]
    with db.write() as conn:
        return {
            f"1710000{i:04d}": ledger.account(
                conn, AccountKind.SUBSCRIBER_PREPAID, mvno_id=mvno, msisdn=f"1710000{i:04d}"
            )
            for i in range(n)
        }


def test_rows_by_key_match_a_core_select_across_chunks(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk_read, "CHUNK", 4)  # 12 keys: three chunks
    accounts = _accounts(db, 14)
    wanted = [a["natural_key"] for m, a in sorted(accounts.items())][:12]
    subset = sorted(accounts)[2:9]
    with db.write() as conn:
        rows = bulk_read.rows_where_in(
            conn,
            [la.c.id, la.c.natural_key, la.c.mvno_id, la.c.msisdn, la.c.created_at],
            la.c.natural_key,
            wanted,
            why="a test's 100% ? */ odd reason",  # driver markers and a comment's end, harmless
            also=(la.c.msisdn, subset),
            repeated=("mvno_id",),
            lock_by=la.c.id,
        )
        core = conn.execute(
            unscoped(
                select(la.c.id, la.c.natural_key, la.c.mvno_id, la.c.msisdn, la.c.created_at).where(
                    la.c.natural_key.in_(wanted), la.c.msisdn.in_(subset)
                ),
                "the test's reference",
            )
        ).all()
        assert bulk_read.rows_where_in(conn, [la.c.id], la.c.natural_key, [], why="none") == []
    assert sorted(rows, key=str) == sorted((tuple(r) for r in core), key=str)
    assert {r[3] for r in rows} == set(subset)  # both filters held: 7 of 14
    first = rows[0]
    assert isinstance(first[0], uuid.UUID)
    assert isinstance(first[2], uuid.UUID)
    assert first[4].utcoffset() == UTC.utcoffset(None)  # aware UTC on SQLite too


def test_any_of_selects_the_same_rows_as_in(db: Database) -> None:
    accounts = _accounts(db, 6)
    ids = [*[a["id"] for a in accounts.values()][:4], uuid.uuid4()]  # one unknown id
    with db.read() as conn:
        found = conn.execute(
            unscoped(select(la.c.id).where(bulk_read.any_of(conn, la.c.id, ids)), "the test")
        ).scalars()
        assert set(found) == set(ids[:4])


def _keys(db: Database, caller: str, n: int) -> None:
    with db.write() as conn:
        insert_rows(
            conn,
            t.idempotency_key,
            [
                {
                    "id": uuid.uuid4(),
                    "caller": caller,
                    "key": f"key-{i}",
                    "operation": "recharge",
                    "request_sha256": "0" * 64,
                    "result": None,
                    "created_at": datetime(2026, 11, 28, tzinfo=UTC),
                }
                for i in range(n)
            ],
        )


def test_rows_where_pairs_match_a_tuple_in(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bulk_read, "PAIRS_CHUNK", 4)  # six pairs: two chunks
    ik = t.idempotency_key
    _keys(db, "busy-outlet", 50)
    _keys(db, "quiet-outlet", 3)
    pairs = {
        ("busy-outlet", "key-7"),
        ("busy-outlet", "key-49"),
        ("busy-outlet", "key-50"),  # not there
        ("quiet-outlet", "key-2"),
        ("quiet-outlet", "key-49"),  # a key the busy outlet has, this one has not
        ("nobody", "key-1"),
    }
    columns = [ik.c.caller, ik.c.key, ik.c.created_at]
    with db.read() as conn:
        twice = [*pairs, ("busy-outlet", "key-7")]  # a pair asked twice is found once
        found = bulk_read.rows_where_pairs(conn, columns, ik.c.caller, ik.c.key, twice, why="t")
        reference = conn.execute(
            select(*columns).where(tuple_(ik.c.caller, ik.c.key).in_(pairs))
        ).all()
        none = bulk_read.rows_where_pairs(conn, columns, ik.c.caller, ik.c.key, set(), why="t")
    assert sorted(found) == sorted(map(tuple, reference))
    assert sorted(row[:2] for row in found) == [
        ("busy-outlet", "key-49"),
        ("busy-outlet", "key-7"),
        ("quiet-outlet", "key-2"),
    ]
    assert found[0][2].utcoffset() == UTC.utcoffset(None)  # converted as Core would
    assert none == []


def _index_rows(plan: dict[str, Any]) -> int:
    """Rows the plan's index scans produced, over all their loops."""
    own = plan["Actual Rows"] * plan["Actual Loops"] if "Index" in plan["Node Type"] else 0
    return own + sum(_index_rows(p) for p in plan.get("Plans", []))


@pytest.mark.parametrize("outlets", [1, 40])
def test_rows_where_pairs_probe_the_index_once_per_pair(db: Database, outlets: int) -> None:
    """One busy caller owns most keys, and the new table has no statistics yet. A tuple IN
    read all of that caller's keys (4,000 index entries for 40 pairs asked) on PostgreSQL
    and walked the whole index on SQLite; `a IN … AND b IN …` probes every a with every b
    on SQLite (1,600 probes for 40 pairs of 40 callers). Here: one probe per pair."""
    ik = t.idempotency_key
    _keys(db, "caller-0", 4_000)
    pairs = [(f"caller-{i % outlets}", f"new-{i}") for i in range(39)] + [("caller-0", "key-3")]
    with db.read() as conn:
        sql, values = bulk_read.pairs_statement(
            conn, [ik.c.key], ik.c.caller, ik.c.key, pairs, why="the test"
        )
        if db.dialect == "postgresql":
            plan = conn.exec_driver_sql(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", values)
            explained = plan.scalar_one()
        else:
            plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", values)
            explained = [row[-1] for row in plan]
        found = bulk_read.rows_where_pairs(conn, [ik.c.key], ik.c.caller, ik.c.key, pairs, why="t")
    assert found == [("key-3",)]
    if db.dialect == "postgresql":
        assert _index_rows(explained[0]["Plan"]) <= len(pairs)
    else:
        table = [step for step in explained if "idempotency_key" in step]
        assert table, explained
        assert all(step.startswith("SEARCH") for step in table), explained  # never a SCAN
        assert len(table) == len(pairs), explained  # one search of (caller, key) per pair
        assert all("(caller=? AND key=?)" in step for step in table), explained


def test_many_natural_keys_are_each_holders_own() -> None:
    """Rating builds its lines' account keys in bulk; each is the key the account was opened
    under, whatever repeats between holders."""
    a, b = uuid.UUID(int=1), uuid.UUID(int=2)
    holders = [(a, None, "17100000001"), (a, None, "17100000002"), (b, a, None), (None, None, None),
               (b, None, "17100000001"), (a, b, "17100000003")]  # fmt: skip
    for kind in (AccountKind.SUBSCRIBER_PREPAID, AccountKind.CHANNEL_COMMISSION):
        assert ledger.natural_keys(kind, holders) == [
            ledger.natural_key(kind, *holder) for holder in holders
        ]
