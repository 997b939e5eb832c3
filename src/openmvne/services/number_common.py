"""What the number services share: block bitmaps, the MVNO's number policy, who may sell."""

from __future__ import annotations

import time
import uuid
from typing import Any

from pyroaring import BitMap
from sqlalchemy import Connection, bindparam, exists, select, update

from openmvne import clock
from openmvne.db import tables as t
from openmvne.db.scoping import sellable_holders, unscoped
from openmvne.db.upsert import insert_ignore
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


# Hot-path statements are built once: building a statement costs more than running it.
_STORE_TAKEN = (
    update(b)
    .where(b.c.id == bindparam("block_id"))
    .values(taken=bindparam("taken"), taken_count=bindparam("taken_count"))
)
_POLICY = unscoped(
    select(t.number_policy).where(t.number_policy.c.mvno_id == bindparam("mvno_id")),
    "the MVNO's own settings",
)


def store_taken(conn: Connection, block_id: uuid.UUID, bitmap: BitMap) -> None:
    conn.execute(
        _STORE_TAKEN,
        {"block_id": block_id, "taken": dump_bitmap(bitmap), "taken_count": len(bitmap)},
    )


def policy_row(conn: Connection, mvno_id: uuid.UUID) -> dict[str, Any]:
    """The MVNO's number policy, created with the defaults on first use."""
    p = t.number_policy
    row = conn.execute(_POLICY, {"mvno_id": mvno_id}).mappings().first()
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
    insert_ignore(conn, p, values, ["mvno_id"])  # first use may race: one row wins
    return dict(conn.execute(_POLICY, {"mvno_id": mvno_id}).mappings().one())


# Reservations read the policy on every call; a short per-process cache saves a query each.
# A change made here is seen at once (update_policy clears it); elsewhere within seconds.
_POLICY_CACHE: dict[uuid.UUID, tuple[float, NumberPolicy]] = {}
POLICY_CACHE_S = 5.0


def policy(conn: Connection, mvno_id: uuid.UUID) -> NumberPolicy:
    cached = _POLICY_CACHE.get(mvno_id)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    row = policy_row(conn, mvno_id)
    found = NumberPolicy(
        row["utilisation_threshold_pct"], row["quarantine_days"], row["reservation_minutes"]
    )
    _POLICY_CACHE[mvno_id] = (time.monotonic() + POLICY_CACHE_S, found)
    return found


def forget_policy(mvno_id: uuid.UUID) -> None:
    _POLICY_CACHE.pop(mvno_id, None)


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
