"""Care reports for a month (business time): per team — tickets by type, time to first
response, time to resolve, SLA compliance — and per brand, the most common problems.
Tickets count for the team routing first sent them to (an escalation does not move them).
The MVNO's figures: read in the MVNO's (or the platform's) scope."""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, select

from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.db.scoping import scoped, unscoped
from openmvne.domain.access import Actor, ScopeKind
from openmvne.domain.care import TicketFacts, figures, top_problems
from openmvne.domain.parties import Role
from openmvne.domain.settlement import check_month, month_bounds
from openmvne.errors import Forbidden
from openmvne.services import care_teams

tt = t.trouble_ticket


def _month_tickets(conn: Connection, actor: Actor, month: str) -> list[dict[str, Any]]:
    actor.require(Role.MVNO_ADMIN, Role.CARE_AGENT, Role.PLATFORM_ADMIN, action="read reports")
    if actor.scope.kind not in (ScopeKind.MVNO, ScopeKind.PLATFORM):
        raise Forbidden("care reports are the MVNO's", code="role_required")
    start, end = month_bounds(check_month(month))
    stmt = scoped(
        select(tt).where(tt.c.created_at >= start, tt.c.created_at < end).order_by(tt.c.id),
        tt,
        actor.scope,
    )
    rows = [dict(r) for r in conn.execute(stmt).mappings()]
    breached = set(
        conn.execute(
            unscoped(
                select(t.care_sla_breach.c.ticket_id).where(
                    t.care_sla_breach.c.ticket_id.in_([r["id"] for r in rows])
                ),
                "the visible tickets' breaches",
            )
        ).scalars()
    )
    for row in rows:
        row["breached"] = row["id"] in breached
    return rows


def _facts(row: dict[str, Any]) -> TicketFacts:
    return TicketFacts(
        row["ticket_type"],
        row["created_at"],
        row["first_response_at"],
        row["resolved_at"],
        row["sla_due_at"],
        row["breached"],
    )


def by_team(db: Database, actor: Actor, month: str) -> list[dict[str, Any]]:
    with db.read() as conn:
        rows = _month_tickets(conn, actor, month)
        teams: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            teams[row["first_team_id"]].append(row)
        names = care_teams.team_names(conn, set(teams))
    return [
        {"team_id": team, "team_name": names.get(team), "month": month}
        | figures(_facts(r) for r in found)
        for team, found in sorted(teams.items(), key=lambda kv: names.get(kv[0]) or "")
    ]


def by_brand(db: Database, actor: Actor, month: str, *, top: int = 5) -> list[dict[str, Any]]:
    with db.read() as conn:
        rows = _month_tickets(conn, actor, month)
        brands: dict[uuid.UUID | None, list[str]] = defaultdict(list)
        for row in rows:
            brands[row["brand_id"]].append(row["ticket_type"])
        names = dict(
            conn.execute(
                unscoped(
                    select(t.brand.c.id, t.brand.c.name).where(
                        t.brand.c.id.in_([b for b in brands if b is not None])
                    ),
                    "brand names are public",
                )
            ).all()
        )
    return [
        {
            "brand_id": brand,
            "brand_name": names.get(brand),
            "month": month,
            "tickets": len(types),
            "top_problems": top_problems(types, top),
        }
        for brand, types in sorted(brands.items(), key=lambda kv: -len(kv[1]))
    ]
