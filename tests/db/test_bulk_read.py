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


def test_pairs_in_selects_the_same_rows_as_a_tuple_in(db: Database) -> None:
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
    with db.read() as conn:
        found = conn.execute(
            select(ik.c.caller, ik.c.key).where(
                bulk_read.pairs_in(conn, ik.c.caller, ik.c.key, pairs)
            )
        ).all()
        reference = conn.execute(
            select(ik.c.caller, ik.c.key).where(tuple_(ik.c.caller, ik.c.key).in_(pairs))
        ).all()
        none = conn.execute(
            select(ik.c.key).where(bulk_read.pairs_in(conn, ik.c.caller, ik.c.key, set()))
        ).all()
    assert sorted(map(tuple, found)) == sorted(map(tuple, reference))
    assert sorted(map(tuple, found)) == [
        ("busy-outlet", "key-49"),
        ("busy-outlet", "key-7"),
        ("quiet-outlet", "key-2"),
    ]
    assert none == []


def _index_rows(plan: dict[str, Any]) -> int:
    """Rows the plan's index scans produced, over all their loops."""
    own = plan["Actual Rows"] * plan["Actual Loops"] if "Index" in plan["Node Type"] else 0
    return own + sum(_index_rows(p) for p in plan.get("Plans", []))


def test_pairs_in_probes_the_index_once_per_pair(db: Database) -> None:
    """One busy caller owns most keys, and the new table has no statistics yet. A tuple IN
    read all of that caller's keys (4,000 index entries for 40 pairs asked) on PostgreSQL
    and walked the whole index on SQLite; pairs_in looks each pair up in the unique index."""
    ik = t.idempotency_key
    _keys(db, "busy-outlet", 4_000)
    pairs = {("busy-outlet", f"new-{i}") for i in range(39)} | {("busy-outlet", "key-3")}
    with db.read() as conn:
        stmt = select(ik.c.key).where(bulk_read.pairs_in(conn, ik.c.caller, ik.c.key, pairs))
        compiled = stmt.compile(conn, compile_kwargs={"render_postcompile": True})
        params = compiled.params
        if db.dialect == "postgresql":
            sql = f"EXPLAIN (ANALYZE, FORMAT JSON) {compiled}"
            explained = conn.exec_driver_sql(sql, params).scalar_one()
        else:  # SQLite's driver takes positional parameters, in the statement's order
            sql = f"EXPLAIN QUERY PLAN {compiled}"
            ordered = tuple(params[name] for name in compiled.positiontup or ())
            explained = [row[-1] for row in conn.exec_driver_sql(sql, ordered)]
        assert conn.execute(stmt).scalars().all() == ["key-3"]
    if db.dialect == "postgresql":
        assert _index_rows(explained[0]["Plan"]) <= len(pairs)
    else:
        table = [step for step in explained if "idempotency_key" in step]
        assert table, explained
        assert all(step.startswith("SEARCH") for step in table), explained  # never a SCAN
