"""Small reads the portal needs and no service offers yet, each through `scoped()` with the
caller's scope, like the services' own reads (tenancy fails closed here too)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import func, select

from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.db.scoping import scoped
from openmvne.domain.access import Actor


def line_counts(db: Database, actor: Actor) -> dict[str, int]:
    """Subscriber lines per state, as the actor's scope sees them."""
    sub = t.subscription
    counted = select(sub.c.state, func.count().label("lines")).group_by(sub.c.state)
    with db.read() as conn:
        return {row.state: row.lines for row in conn.execute(scoped(counted, sub, actor.scope))}


def organisation_names(
    db: Database, actor: Actor, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """Names of the organisations the actor's scope sees, among `ids`."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    o = t.organization
    stmt = scoped(select(o.c.id, o.c.name).where(o.c.id.in_(wanted)), o, actor.scope)
    with db.read() as conn:
        return {row.id: row.name for row in conn.execute(stmt)}
