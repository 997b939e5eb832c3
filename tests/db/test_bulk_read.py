"""Bulk reads by key: the same rows and values as a Core select, chunk after chunk."""

from __future__ import annotations

import uuid
from datetime import UTC

import pytest
from sqlalchemy import select

from openmvne.db import bulk_read
from openmvne.db import tables as t
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
