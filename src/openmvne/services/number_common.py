"""What the number services share: block bitmaps, the MVNO's number policy, who may sell."""

from __future__ import annotations

import uuid
from typing import Any

from pyroaring import BitMap
from sqlalchemy import Connection, exists, insert, select, update

from openmvne import clock
from openmvne.db import tables as t
from openmvne.db.scoping import sellable_holders, unscoped
from openmvne.domain import pretty
from openmvne.domain.access import Actor, ScopeKind
from openmvne.domain.numbers import NumberPolicy

b = t.number_block
sr = t.sale_right


def load_bitmap(data: bytes) -> BitMap:
    return BitMap.deserialize(data) if data else BitMap()


def dump_bitmap(bitmap: BitMap) -> bytes:
    bitmap.run_optimize()
    return bytes(bitmap.serialize())


EMPTY = dump_bitmap(BitMap())


def store_taken(conn: Connection, block_id: uuid.UUID, bitmap: BitMap) -> None:
    conn.execute(
        update(b)
        .where(b.c.id == block_id)
        .values(taken=dump_bitmap(bitmap), taken_count=len(bitmap))
    )


def policy_row(conn: Connection, mvno_id: uuid.UUID) -> dict[str, Any]:
    """The MVNO's number policy, created with the defaults on first use."""
    p = t.number_policy
    stmt = unscoped(select(p).where(p.c.mvno_id == mvno_id), "the MVNO's own settings")
    row = conn.execute(stmt).mappings().first()
    if row is not None:
        return dict(row)
    defaults = NumberPolicy()
    values = {
        "mvno_id": mvno_id,
        "utilisation_threshold_pct": defaults.utilisation_threshold_pct,
        "quarantine_days": defaults.quarantine_days,
        "reservation_minutes": defaults.reservation_minutes,
        "pretty_rules": None,
        "updated_at": clock.now(),
    }
    conn.execute(insert(p).values(**values))
    return values


def policy(conn: Connection, mvno_id: uuid.UUID) -> NumberPolicy:
    row = policy_row(conn, mvno_id)
    return NumberPolicy(
        row["utilisation_threshold_pct"], row["quarantine_days"], row["reservation_minutes"]
    )


def rules(conn: Connection, mvno_id: uuid.UUID) -> pretty.PrettyRules:
    p = t.number_policy
    stmt = unscoped(select(p.c.pretty_rules).where(p.c.mvno_id == mvno_id), "grading rules")
    return pretty.from_json(conn.execute(stmt).scalar())


def may_sell(conn: Connection, actor: Actor, block: dict[str, Any], value: int) -> bool:
    """Whether the caller may sell this number: the owner MVNO (and the platform) may sell
    anything it owns; a channel only what is granted to it or to a channel above it."""
    kind = actor.scope.kind
    if kind is ScopeKind.PLATFORM:
        return block["mvno_id"] is not None
    if kind is ScopeKind.MVNO:
        return bool(block["mvno_id"] == actor.party_id)
    if kind not in (ScopeKind.CHANNEL, ScopeKind.OUTLET):
        return False
    stmt = select(
        exists().where(
            sr.c.status == "active",
            sr.c.first_number <= value,
            sr.c.last_number >= value,
            sr.c.holder_id.in_(sellable_holders(actor.party_id)),
        )
    )
    return bool(conn.execute(unscoped(stmt, "sale rights decide who may sell")).scalar())
