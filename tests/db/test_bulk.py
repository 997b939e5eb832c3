"""Bulk inserts: what a Core select reads back is what went in, on both databases, whether a
column's value is shared by every row (converted once), by some, or by none."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from openmvne.db import bulk
from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.db.scoping import unscoped
from openmvne.domain.parties import OrgKind
from openmvne.services import parties, users

la = t.ledger_account


def test_inserted_rows_read_back_as_they_went_in(db: Database) -> None:
    op = users.operator(db)
    mvno = parties.create_organisation(db, op, kind=OrgKind.MVNO, name="虚商")["id"]
    now = datetime(2026, 11, 27, 8, 30, 1, 123456, tzinfo=UTC)
    earlier = now - timedelta(days=3)
    rows = [
        {
            "id": uuid.uuid4(),  # every row its own
            "kind": "subscriberPrepaid",
            "mvno_id": mvno,  # every row the same
            "owner_id": None,
            "msisdn": f"1710000{i:04d}",
            "natural_key": f"test:{i}",
            "no_overdraft": i % 2 == 0,
            "debits_posted": 0,
            "credits_posted": 7,
            "debits_pending": 0,
            "credits_pending": 0,
            # the same at both ends but not between: converted row by row
            "created_at": earlier if 0 < i < 4 else now,
        }
        for i in range(6)
    ]
    with db.write() as conn:
        bulk.insert_rows(conn, la, rows)
    with db.read() as conn:
        back = (
            conn.execute(
                unscoped(
                    select(*(la.c[c] for c in rows[0])).where(la.c.natural_key.like("test:%")),
                    "test",
                )
            )
            .mappings()
            .all()
        )
    assert sorted((dict(r) for r in back), key=lambda r: r["natural_key"]) == rows
