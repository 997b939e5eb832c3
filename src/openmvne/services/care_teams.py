"""Care teams (the MVNO's own and its partners'), what each serves, their agents, and the
routing table that sends a ticket to a team (domain/care.py decides; this stores)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select
from sqlalchemy.exc import IntegrityError

from openmvne import clock, ids
from openmvne.db import audit
from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.db.scoping import scoped, unscoped
from openmvne.db.upsert import insert_ignore
from openmvne.domain import regions
from openmvne.domain.access import Actor, ScopeKind
from openmvne.domain.care import (
    Area,
    Route,
    TicketType,
    choose_route,
    parse,
    region_prefix,
    serves,
)
from openmvne.domain.parties import OrgKind, Role
from openmvne.errors import Conflict, Forbidden, InvalidInput, NotFound, RuleViolation
from openmvne.services.care_facts import block_facts
from openmvne.services.common import (
    Filter,
    as_public_id,
    fetch_visible,
    get_one,
    list_page,
    one_of,
    tenant_named,
)

ct = t.care_team
area = t.care_team_area
member = t.care_team_member
cr = t.care_route
o = t.organization
TEAM_NAME_MAX: int = ct.c.name.type.length  # type: ignore[attr-defined]  # String(n)
WHY = "care routing reads the MVNO's own rules, teams and brands"
TEAM_FILTERS: dict[str, Filter] = {
    "mvnoId": (ct.c.mvno_id, as_public_id("organization")),
    "ownerId": (ct.c.owner_party_id, as_public_id("organization")),
}
ROUTE_FILTERS: dict[str, Filter] = {
    "mvnoId": (cr.c.mvno_id, as_public_id("organization")),
    "teamId": (cr.c.team_id, as_public_id("care_team")),
    "ticketType": (cr.c.ticket_type, one_of(TicketType)),
}


@dataclass(frozen=True)
class AreaIn:
    brand_id: uuid.UUID | None
    region_code: str | None


def _mvno_of(actor: Actor, mvno_id: uuid.UUID | None) -> uuid.UUID:
    """The MVNO a care set-up call is about: the caller's own, or named by the platform."""
    actor.require(Role.MVNO_ADMIN, Role.PLATFORM_ADMIN, action="set up care teams and routing")
    if actor.scope.kind not in (ScopeKind.MVNO, ScopeKind.PLATFORM):
        raise Forbidden("care set-up is the MVNO's", code="role_required")
    mvno = tenant_named(actor, mvno_id, ScopeKind.MVNO, what="MVNO", field="mvnoId")
    if mvno is None:
        raise InvalidInput("name the MVNO (mvnoId)", code="required", field="mvnoId")
    return mvno


def _check_areas(conn: Connection, mvno_id: uuid.UUID, areas: Sequence[AreaIn]) -> None:
    for i, a in enumerate(areas):
        if a.region_code is not None:
            regions.require_current(a.region_code, field=f"serves.{i}.regionCode")
        if a.brand_id is not None:
            owner = conn.execute(
                unscoped(select(t.brand.c.mvno_id).where(t.brand.c.id == a.brand_id), WHY)
            ).scalar()
            if owner != mvno_id:
                raise InvalidInput(
                    "not a brand of this MVNO", code="unknown_brand", field=f"serves.{i}.brandId"
                )


def _write_areas(conn: Connection, team_id: uuid.UUID, areas: Sequence[AreaIn]) -> None:
    conn.execute(delete(area).where(area.c.team_id == team_id))
    if areas:
        conn.execute(
            insert(area),
            [
                {
                    "id": ids.new_id(),
                    "team_id": team_id,
                    "brand_id": a.brand_id,
                    "region_code": a.region_code,
                    "region_prefix": region_prefix(a.region_code),
                }
                for a in areas
            ],
        )


def _owner(conn: Connection, mvno_id: uuid.UUID, owner_id: uuid.UUID) -> str:
    """The MVNO itself, or a partner with an approved authorisation of it."""
    kind = conn.execute(unscoped(select(o.c.kind).where(o.c.id == owner_id), WHY)).scalar()
    if owner_id == mvno_id:
        if kind != OrgKind.MVNO.value:  # the platform named an outlet, a host, or nothing
            raise InvalidInput("mvnoId must name an MVNO", code="not_an_mvno", field="mvnoId")
        return OrgKind.MVNO.value
    ca = t.channel_authorisation
    approved = conn.execute(
        unscoped(
            select(ca.c.id).where(
                ca.c.party_id == owner_id, ca.c.mvno_id == mvno_id, ca.c.status == "approved"
            ),
            "is the partner an approved channel of the MVNO",
        )
    ).first()
    if kind != OrgKind.PARTNER.value or approved is None:
        raise RuleViolation(
            "a care team is the MVNO's own or an approved partner's",
            code="not_an_mvno_partner",
            field="ownerId",
        )
    return OrgKind.PARTNER.value


def create_team(
    db: Database,
    actor: Actor,
    *,
    name: str,
    owner_id: uuid.UUID | None,
    areas: Sequence[AreaIn],
    main: bool = False,
    mvno_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    mvno = _mvno_of(actor, mvno_id)
    owner = owner_id or mvno
    if not name or len(name) > TEAM_NAME_MAX:
        raise InvalidInput(f"a team name has 1-{TEAM_NAME_MAX} characters", field="name")
    with db.write() as conn:
        kind = _owner(conn, mvno, owner)
        if main and kind != OrgKind.MVNO.value:
            raise RuleViolation(
                "the main team is the MVNO's own", code="main_team_is_mvnos", field="main"
            )
        if kind == OrgKind.PARTNER.value and not areas:
            raise InvalidInput(
                "say which brands and regions a partner's team serves",
                code="required",
                field="serves",
            )
        _check_areas(conn, mvno, areas)
        team_id = ids.new_id()
        try:
            conn.execute(
                insert(ct).values(
                    id=team_id,
                    mvno_id=mvno,
                    owner_party_id=owner,
                    name=name,
                    main_of=mvno if main else None,
                    created_at=clock.now(),
                )
            )
        except IntegrityError as exc:
            text = str(exc.orig)
            raise Conflict(
                "the MVNO already has a main team" if "main_of" in text else "the name is taken",
                code="main_team_exists" if "main_of" in text else "name_taken",
                field="main" if "main_of" in text else "name",
            ) from exc
        _write_areas(conn, team_id, areas)
        audit.record(conn, actor, "care_team.created", "care_team", team_id, mvno_id=mvno)
        return team_view(conn, actor, team_id)


def update_team(
    db: Database,
    actor: Actor,
    team_id: uuid.UUID,
    *,
    name: str | None,
    areas: Sequence[AreaIn] | None,
) -> dict[str, Any]:
    actor.require(Role.MVNO_ADMIN, Role.PLATFORM_ADMIN, action="change a care team")
    with db.write() as conn:
        team = fetch_visible(conn, ct, actor.scope, team_id, what="care team")
        if name is not None:
            taken = conn.execute(
                unscoped(
                    select(ct.c.id).where(
                        ct.c.mvno_id == team["mvno_id"], ct.c.name == name, ct.c.id != team_id
                    ),
                    WHY,
                )
            ).first()
            if taken:
                raise Conflict("the name is taken", code="name_taken", field="name")
            conn.execute(ct.update().where(ct.c.id == team_id).values(name=name))
        if areas is not None:
            if team["owner_party_id"] != team["mvno_id"] and not areas:
                raise InvalidInput(
                    "a partner's team serves something", code="required", field="serves"
                )
            _check_areas(conn, team["mvno_id"], areas)
            _write_areas(conn, team_id, areas)
            if team["owner_party_id"] != team["mvno_id"]:
                for route in _routes(conn, team["mvno_id"]):
                    if route.team_id == team_id and not serves(
                        team_areas(conn, team_id), route.brand_id, route.region_code
                    ):
                        raise Conflict(
                            "a routing rule sends this team tickets outside the new areas; "
                            "change the rule first",
                            code="route_outside_team_area",
                            field="serves",
                        )
        audit.record(
            conn, actor, "care_team.changed", "care_team", team_id, mvno_id=team["mvno_id"]
        )
        return team_view(conn, actor, team_id)


def team_areas(conn: Connection, team_id: uuid.UUID) -> list[Area]:
    rows = conn.execute(
        unscoped(select(area.c.brand_id, area.c.region_code).where(area.c.team_id == team_id), WHY)
    )
    return [Area(r.brand_id, r.region_code) for r in rows]


def team_view(conn: Connection, actor: Actor, team_id: uuid.UUID) -> dict[str, Any]:
    """The team, its areas and its members, if the caller may see it."""
    team = fetch_visible(conn, ct, actor.scope, team_id, what="care team")
    team["areas"] = [
        dict(r)
        for r in conn.execute(
            unscoped(
                select(area.c.brand_id, area.c.region_code)
                .where(area.c.team_id == team_id)
                .order_by(area.c.id),
                "the visible team's areas",
            )
        ).mappings()
    ]
    u = t.user_account
    team["members"] = [
        dict(r)
        for r in conn.execute(
            unscoped(
                select(u.c.id, u.c.username)
                .join(member, member.c.user_id == u.c.id)
                .where(member.c.team_id == team_id)
                .order_by(u.c.username),
                "the visible team's members",
            )
        ).mappings()
    ]
    return team


def get_team(db: Database, actor: Actor, team_id: uuid.UUID) -> dict[str, Any]:
    with db.read() as conn:
        return team_view(conn, actor, team_id)


def list_teams(
    db: Database, actor: Actor, filters: Mapping[str, str], offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    rows, total = list_page(
        db, actor.scope, ct, filters, TEAM_FILTERS, order_by=[ct.c.id], offset=offset, limit=limit
    )
    with db.read() as conn:
        return [team_view(conn, actor, r["id"]) for r in rows], total


def _member_change(
    conn: Connection, actor: Actor, team_id: uuid.UUID, user_id: uuid.UUID
) -> dict[str, Any]:
    """The team (the caller manages it) and the user (a care agent of the team's owner)."""
    actor.require(
        Role.MVNO_ADMIN, Role.PARTNER_ADMIN, Role.PLATFORM_ADMIN, action="staff a care team"
    )
    team = fetch_visible(conn, ct, actor.scope, team_id, what="care team")
    u = t.user_account
    user = conn.execute(select(u.c.organization_id, u.c.status).where(u.c.id == user_id)).first()
    if user is None or user.organization_id != team["owner_party_id"]:
        raise NotFound("no such user in the team's organisation", field="userId")
    role = conn.execute(
        select(t.user_role.c.role).where(
            t.user_role.c.user_id == user_id, t.user_role.c.role == Role.CARE_AGENT.value
        )
    ).first()
    if role is None:
        raise RuleViolation("the user is not a care agent", code="not_a_care_agent", field="userId")
    return team


def add_member(
    db: Database, actor: Actor, team_id: uuid.UUID, user_id: uuid.UUID
) -> dict[str, Any]:
    with db.write() as conn:
        team = _member_change(conn, actor, team_id, user_id)
        insert_ignore(
            conn,
            member,
            {"team_id": team_id, "user_id": user_id, "created_at": clock.now()},
            ["team_id", "user_id"],
        )
        audit.record(
            conn,
            actor,
            "care_team.member_added",
            "care_team",
            team_id,
            mvno_id=team["mvno_id"],
            data={"user": str(user_id)},
        )
        return team_view(conn, actor, team_id)


def remove_member(db: Database, actor: Actor, team_id: uuid.UUID, user_id: uuid.UUID) -> None:
    actor.require(
        Role.MVNO_ADMIN, Role.PARTNER_ADMIN, Role.PLATFORM_ADMIN, action="staff a care team"
    )
    with db.write() as conn:
        team = fetch_visible(conn, ct, actor.scope, team_id, what="care team")
        gone = conn.execute(
            delete(member).where(member.c.team_id == team_id, member.c.user_id == user_id)
        )
        if gone.rowcount == 0:
            raise NotFound("the user is not in the team", field="userId")
        audit.record(
            conn,
            actor,
            "care_team.member_removed",
            "care_team",
            team_id,
            mvno_id=team["mvno_id"],
            data={"user": str(user_id)},
        )


def is_member(conn: Connection, team_id: uuid.UUID, user_id: uuid.UUID | None) -> bool:
    if user_id is None:
        return False
    found = conn.execute(
        unscoped(
            select(member.c.user_id).where(
                member.c.team_id == team_id, member.c.user_id == user_id
            ),
            "is the agent in the ticket's team",
        )
    ).first()
    return found is not None


def _free_team_name(conn: Connection, mvno_id: uuid.UUID, wanted: str) -> str:
    """`wanted`, cut to the column, or numbered after it when one of the MVNO's teams has
    that name already (a team someone named so would otherwise fail every new ticket)."""
    taken = set(
        conn.execute(unscoped(select(ct.c.name).where(ct.c.mvno_id == mvno_id), WHY)).scalars()
    )
    name, n = wanted[:TEAM_NAME_MAX], 1
    while name in taken:
        n += 1
        suffix = f" ({n})"
        name = wanted[: TEAM_NAME_MAX - len(suffix)] + suffix
    return name


def main_team(conn: Connection, mvno_id: uuid.UUID) -> uuid.UUID:
    """The MVNO's main team (unrouted and breached tickets go there), made on first use."""
    stmt = unscoped(select(ct.c.id).where(ct.c.main_of == mvno_id), WHY)
    found = conn.execute(stmt).scalar()
    if found is not None:
        return found  # type: ignore[no-any-return]  # Uuid column
    mvno_name = conn.execute(unscoped(select(o.c.name).where(o.c.id == mvno_id), WHY)).scalar()
    values = {
        "id": ids.new_id(),
        "mvno_id": mvno_id,
        "owner_party_id": mvno_id,
        "name": _free_team_name(conn, mvno_id, f"{mvno_name} care desk"),
        "main_of": mvno_id,
        "created_at": clock.now(),
    }
    insert_ignore(conn, ct, values, ["main_of"])
    return conn.execute(stmt).scalar_one()  # type: ignore[no-any-return]


# --- routing --------------------------------------------------------------------------------


def _routes(conn: Connection, mvno_id: uuid.UUID) -> list[Route]:
    rows = conn.execute(
        unscoped(select(cr).where(cr.c.mvno_id == mvno_id).order_by(cr.c.id), WHY)
    ).mappings()
    return [
        Route(
            r["id"],
            r["team_id"],
            r["brand_id"],
            r["region_code"],
            TicketType(r["ticket_type"]) if r["ticket_type"] else None,
        )
        for r in rows
    ]


def route(
    conn: Connection,
    mvno_id: uuid.UUID,
    brand_id: uuid.UUID | None,
    region_code: str | None,
    kind: TicketType,
) -> tuple[uuid.UUID | None, uuid.UUID | None]:
    """(team, rule) for a ticket; (None, None): no rule matches, the main team takes it."""
    chosen = choose_route(_routes(conn, mvno_id), brand_id, region_code, kind)
    return (chosen.team_id, chosen.id) if chosen else (None, None)


def create_route(
    db: Database,
    actor: Actor,
    *,
    team_id: uuid.UUID,
    brand_id: uuid.UUID | None,
    region_code: str | None,
    ticket_type: TicketType | None,
    mvno_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    mvno = _mvno_of(actor, mvno_id)
    with db.write() as conn:
        team = fetch_visible(conn, ct, actor.scope, team_id, what="care team", field="teamId")
        if team["mvno_id"] != mvno:
            raise NotFound("no care team with that id", field="teamId")
        _check_areas(conn, mvno, [AreaIn(brand_id, region_code)])
        if team["owner_party_id"] != mvno and not serves(
            team_areas(conn, team_id), brand_id, region_code
        ):
            raise RuleViolation(
                "the team does not serve that brand and region",
                code="route_outside_team_area",
                field="teamId",
            )
        route_id = ids.new_id()
        rule = Route(route_id, team_id, brand_id, region_code, ticket_type)
        try:
            conn.execute(
                insert(cr).values(
                    id=route_id,
                    mvno_id=mvno,
                    brand_id=brand_id,
                    region_code=region_code,
                    ticket_type=ticket_type.value if ticket_type else None,
                    team_id=team_id,
                    rule_key=rule.key(),
                    created_at=clock.now(),
                )
            )
        except IntegrityError as exc:
            raise Conflict(
                "a rule for this brand, region and ticket type exists; delete it first",
                code="route_exists",
            ) from exc
        audit.record(conn, actor, "care_route.created", "care_route", route_id, mvno_id=mvno)
        return fetch_visible(conn, cr, actor.scope, route_id, what="routing rule")


def delete_route(db: Database, actor: Actor, route_id: uuid.UUID) -> None:
    actor.require(Role.MVNO_ADMIN, Role.PLATFORM_ADMIN, action="change care routing")
    with db.write() as conn:
        row = fetch_visible(conn, cr, actor.scope, route_id, what="routing rule")
        conn.execute(delete(cr).where(cr.c.id == route_id))
        audit.record(
            conn, actor, "care_route.deleted", "care_route", route_id, mvno_id=row["mvno_id"]
        )


def get_route(db: Database, actor: Actor, route_id: uuid.UUID) -> dict[str, Any]:
    return get_one(db, actor.scope, cr, route_id, what="routing rule")


def list_routes(
    db: Database, actor: Actor, filters: Mapping[str, str], offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    return list_page(
        db, actor.scope, cr, filters, ROUTE_FILTERS, order_by=[cr.c.id], offset=offset, limit=limit
    )


def team_names(conn: Connection, team_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Names of teams a caller already sees tickets of (the name is shown on the ticket)."""
    if not team_ids:
        return {}
    rows = conn.execute(
        unscoped(select(ct.c.id, ct.c.name).where(ct.c.id.in_(team_ids)), "a visible ticket's team")
    )
    return {r.id: r.name for r in rows}


def visible(conn: Connection, actor: Actor, team_id: uuid.UUID) -> bool:
    stmt = scoped(select(ct.c.id).where(ct.c.id == team_id), ct, actor.scope)
    return conn.execute(stmt).first() is not None


def route_test(db: Database, actor: Actor, msisdn: str, ticket_type: str) -> dict[str, Any]:
    """Which team a ticket of this type for this number would go to, and by which rule
    (None: no rule matches; the MVNO's main team, which is made on the first ticket)."""
    kind = parse(TicketType, ticket_type, "ticketType")
    actor.require(Role.MVNO_ADMIN, Role.CARE_AGENT, Role.PLATFORM_ADMIN, action="test routing")
    with db.read() as conn:
        facts = block_facts(conn, msisdn)
        if actor.scope.kind is not ScopeKind.PLATFORM and facts.mvno_id != actor.party_id:
            raise NotFound(
                f"{facts.msisdn} is not a number of yours", code="unknown_number", field="msisdn"
            )
        team, rule = route(conn, facts.mvno_id, facts.brand_id, facts.region_code, kind)
        if team is None:
            team = conn.execute(
                unscoped(select(ct.c.id).where(ct.c.main_of == facts.mvno_id), WHY)
            ).scalar()
        return {
            "msisdn": facts.msisdn,
            "mvno_id": facts.mvno_id,
            "brand_id": facts.brand_id,
            "brand_name": facts.brand_name,
            "region_code": facts.region_code,
            "ticket_type": kind.value,
            "rule_id": rule,
            "fallback": rule is None,
            "team": team_view(conn, actor, team) if team is not None else None,
        }
