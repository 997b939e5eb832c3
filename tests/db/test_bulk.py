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


def test_inserted_json_bytes_and_every_column_type_read_back_as_they_went_in(db: Database) -> None:
    """On PostgreSQL rows go as binary COPY, each field in its column's own binary form: a
    JSON document, bytes, an int4 beside int8s, a NULL, text that needs escaping as text."""
    now = datetime(2026, 11, 29, 11, 0, 0, 654321, tzinfo=UTC)
    batches = [
        {
            "id": uuid.uuid4(),
            "kind": "rate",
            "source": 'tab\there, "quotes", \\ back\nslash, 中文' if i == 0 else f"file {i}",
            "period": None if i else "2026-11",
            "records_in": 2**40 + i,
            "duplicates": 0,
            "rejected": i,
            "rated": 5,
            "charged_fen": -7,
            "wholesale_fen": 3,
            "files": [] if i else ["/lake/a b.parquet", {"nested": [1, None, "二"]}],
            "created_at": now,
        }
        for i in range(3)
    ]
    claims = [
        {"node_id": f"node-{i}", "block": 2**41 + i, "bitmap": bytes([0, 255, i]), "count": i}
        for i in range(3)
    ]
    rb, uc = t.rating_batch, t.usage_claim
    with db.write() as conn:
        bulk.insert_rows(conn, rb, batches)
        bulk.insert_rows(conn, uc, claims)
    with db.read() as conn:
        got_batches = conn.execute(unscoped(select(rb).order_by(rb.c.rejected), "test")).all()
        got_claims = conn.execute(unscoped(select(uc).order_by(uc.c.block), "test")).all()
    assert [dict(r._mapping) for r in got_batches] == batches
    assert [dict(r._mapping) for r in got_claims] == claims


def test_updated_rows_are_those_their_keys_name_and_read_back_as_set(db: Database) -> None:
    uc = t.usage_claim
    blocks = [(node, block) for node in ("44-MSC", "11-SGW") for block in (0, 1, 2**41 + 7)]
    with db.write() as conn:
        bulk.insert_rows(
            conn, uc, [{"node_id": n, "block": b, "bitmap": b"old", "count": 1} for n, b in blocks]
        )
        # Two keys of one node, one of the other, and one that names no row.
        bulk.update_rows(
            conn,
            uc,
            ("node_id", "block"),
            [
                {"node_id": "44-MSC", "block": 2**41 + 7, "bitmap": b"\x00new\xff", "count": 2**30},
                {"node_id": "44-MSC", "block": 0, "bitmap": b"", "count": 0},
                {"node_id": "11-SGW", "block": 1, "bitmap": b"x", "count": 5},
                {"node_id": "99-NONE", "block": 1, "bitmap": b"y", "count": 6},
            ],
        )
    with db.read() as conn:
        back = {(r.node_id, r.block): (r.bitmap, r.count) for r in conn.execute(select(uc))}
    assert back == {
        ("44-MSC", 0): (b"", 0),
        ("44-MSC", 1): (b"old", 1),
        ("44-MSC", 2**41 + 7): (b"\x00new\xff", 2**30),
        ("11-SGW", 0): (b"old", 1),
        ("11-SGW", 1): (b"x", 5),
        ("11-SGW", 2**41 + 7): (b"old", 1),
    }


def test_updates_by_uuid_convert_each_columns_values(db: Database) -> None:
    op = users.operator(db)
    mvno = parties.create_organisation(db, op, kind=OrgKind.MVNO, name="虚商")["id"]
    then = datetime(2026, 11, 27, 8, 30, 1, 123456, tzinfo=UTC)
    ids_ = [uuid.uuid4() for _ in range(4)]
    with db.write() as conn:
        bulk.insert_rows(
            conn,
            la,
            [
                {
                    "id": i, "kind": "subscriberPrepaid", "mvno_id": mvno, "owner_id": None,
                    "msisdn": f"1710000{n:04d}", "natural_key": f"test:{n}",
                    "no_overdraft": True, "debits_posted": 0, "credits_posted": 0,
                    "debits_pending": 0, "credits_pending": 0, "created_at": then,
                }
                for n, i in enumerate(ids_)
            ],
        )  # fmt: skip
        later = then + timedelta(hours=3)
        bulk.update_rows(
            conn,
            la,
            ("id",),
            [
                {"id": ids_[0], "credits_posted": 10**15, "created_at": later},
                {"id": ids_[2], "credits_posted": 3, "created_at": later},
            ],
        )
    with db.read() as conn:
        back = {
            r.id: (r.credits_posted, r.created_at)
            for r in conn.execute(
                unscoped(select(la.c.id, la.c.credits_posted, la.c.created_at), "test").where(
                    la.c.natural_key.like("test:%")
                )
            )
        }
    assert back == {
        ids_[0]: (10**15, later),
        ids_[1]: (0, then),
        ids_[2]: (3, later),
        ids_[3]: (0, then),
    }
