"""Trouble tickets (TMF621): opened by the subscriber (self-care), an outlet, an agent or an
MVNO's systems; routed at once; worked through their states with notes and a history; and
escalated to the MVNO's main team when their SLA deadline passes (`escalate_breaches`).

Rules live in domain/care.py; teams and routing in care_teams.py; actions from a ticket in
care_actions.py; self-care codes in care_verify.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select, update

from openmvne import clock, ids
from openmvne.db import audit, locks
from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.db.scoping import unscoped
from openmvne.db.upsert import insert_ignore
from openmvne.domain.access import Actor, ScopeKind
from openmvne.domain.care import (
    CLOCK_RUNS,
    Area,
    Channel,
    Priority,
    Severity,
    TicketStatus,
    TicketType,
    check_move,
    check_not_final,
    check_open,
    check_reason,
    default_priority,
    parse,
    redact,
    serves,
    sla_deadline,
)
from openmvne.domain.parties import OrgKind, Role
from openmvne.errors import Forbidden, InvalidInput, NotFound
from openmvne.services import care_teams, care_verify, idempotency
from openmvne.services.care_facts import NumberFacts, number_facts
from openmvne.services.common import Filter, as_public_id, fetch_visible, get_one, list_page, one_of

tt = t.trouble_ticket
ev = t.ticket_event
br = t.care_sla_breach
WHY = "the visible ticket's own history, team and brand"
TICKET_FILTERS: dict[str, Filter] = {
    "status": (tt.c.status, one_of(TicketStatus)),
    "ticketType": (tt.c.ticket_type, one_of(TicketType)),
    "priority": (tt.c.priority, one_of(Priority)),
    "severity": (tt.c.severity, one_of(Severity)),
    "msisdn": (tt.c.msisdn, str),
    "channel": (tt.c.channel, one_of(Channel)),
    "teamId": (tt.c.team_id, as_public_id("care_team")),
    "mvnoId": (tt.c.mvno_id, as_public_id("organization")),
}
BREACH_FILTERS: dict[str, Filter] = {
    "teamId": (br.c.team_id, as_public_id("care_team")),
    "mvnoId": (br.c.mvno_id, as_public_id("organization")),
    "ticketType": (br.c.ticket_type, one_of(TicketType)),
    "priority": (br.c.priority, one_of(Priority)),
}
CARE_SIDE = frozenset({Role.CARE_AGENT, Role.MVNO_ADMIN, Role.PARTNER_ADMIN, Role.PLATFORM_ADMIN})
SLA_SWEEP = Actor(
    user_id=None,
    username="care-sla",
    party_id=uuid.UUID(int=0),
    party_kind=OrgKind.PLATFORM,
    roles=frozenset({Role.PLATFORM_ADMIN}),
)


@dataclass(frozen=True)
class TicketRequest:
    msisdn: str
    ticket_type: str
    severity: str
    description: str
    name: str | None = None
    priority: str | None = None
    external_id: str | None = None
    notes: tuple[str, ...] = ()


# --- who may open, and on which side of the desk a caller stands ---------------------------


def is_care_side(actor: Actor) -> bool:
    return actor.scope.kind in (ScopeKind.MVNO, ScopeKind.CHANNEL, ScopeKind.PLATFORM) and bool(
        actor.roles & CARE_SIDE
    )


def may_work(conn: Connection, actor: Actor, ticket: Mapping[str, Any]) -> None:
    """Administrators work every ticket they see; an agent the tickets of their own teams."""
    kind = actor.scope.kind
    if (
        (kind is ScopeKind.PLATFORM and actor.has(Role.PLATFORM_ADMIN))
        or (kind is ScopeKind.MVNO and actor.has(Role.MVNO_ADMIN))
        or (kind is ScopeKind.CHANNEL and actor.has(Role.PARTNER_ADMIN))
    ):
        return
    if not actor.has(Role.CARE_AGENT):
        raise Forbidden("working tickets needs a care agent", code="role_required")
    if not care_teams.is_member(conn, ticket["team_id"], actor.user_id):
        raise Forbidden(
            "the ticket is with a team you are not in", code="not_your_team", field="team"
        )


def _partner_serves(conn: Connection, partner_id: uuid.UUID, facts: NumberFacts) -> bool:
    ct, area = t.care_team, t.care_team_area
    rows = conn.execute(
        unscoped(
            select(area.c.brand_id, area.c.region_code)
            .join(ct, ct.c.id == area.c.team_id)
            .where(ct.c.owner_party_id == partner_id, ct.c.mvno_id == facts.mvno_id),
            "the partner's own teams' areas",
        )
    )
    return serves(
        [Area(r.brand_id, r.region_code) for r in rows], facts.brand_id, facts.region_code
    )


def _opening_channel(conn: Connection, actor: Actor, facts: NumberFacts) -> Channel:
    """Where this caller opens a ticket for this number, or 404 (not theirs to see) / 403."""
    unknown = NotFound(
        f"{facts.msisdn} is not a line of a connected brand", code="unknown_number", field="msisdn"
    )
    match actor.scope.kind:
        case ScopeKind.SUBSCRIBER:
            if facts.individual_id != actor.party_id:
                raise unknown
            return Channel.SELF_CARE
        case ScopeKind.OUTLET:
            # Any outlet serves any connected brand's customer at the counter, as for recharge.
            actor.require(Role.OUTLET_CLERK, action="open a ticket")
            return Channel.OUTLET
        case ScopeKind.MVNO:
            actor.require(Role.CARE_AGENT, Role.MVNO_ADMIN, action="open a ticket")
            if facts.mvno_id != actor.party_id:
                raise unknown
        case ScopeKind.CHANNEL:
            actor.require(Role.CARE_AGENT, Role.PARTNER_ADMIN, action="open a ticket")
            if not _partner_serves(conn, actor.party_id, facts):
                raise unknown
        case ScopeKind.PLATFORM:
            actor.require(Role.CARE_AGENT, Role.PLATFORM_ADMIN, action="open a ticket")
        case _:
            raise Forbidden("this party does not open tickets", code="role_required")
    return Channel.AGENT if actor.has(Role.CARE_AGENT) else Channel.API


@dataclass(frozen=True)
class _Checked:
    kind: TicketType
    severity: Severity
    priority: Priority | None
    name: str | None
    description: str
    notes: tuple[str, ...]


def checked_notes(notes: Sequence[str]) -> tuple[str, ...]:
    texts = tuple(redact(n.strip()) or "" for n in notes)
    if any(not n or len(n) > 2000 for n in texts):
        raise InvalidInput("a note has 1-2000 characters", code="bad_note", field="note")
    return texts


def _checked(req: TicketRequest) -> _Checked:
    kind = parse(TicketType, req.ticket_type, "ticketType")
    severity = parse(Severity, req.severity, "severity")
    priority = parse(Priority, req.priority, "priority") if req.priority is not None else None
    description = (req.description or "").strip()
    if not description:
        raise InvalidInput("describe the problem", code="required", field="description")
    if len(description) > 2000:
        raise InvalidInput(
            "a description has at most 2000 characters",
            code="too_long",
            field="description",
            maxLength=2000,
        )
    if req.name is not None and len(req.name) > 200:
        raise InvalidInput("a ticket name has at most 200 characters", field="name")
    if req.external_id is not None and len(req.external_id) > 64:
        raise InvalidInput("an externalId has at most 64 characters", field="externalId")
    return _Checked(
        kind,
        severity,
        priority,
        redact(req.name),
        redact(description) or "",
        checked_notes(req.notes),
    )


def add_event(
    conn: Connection,
    ticket_id: uuid.UUID,
    actor: Actor,
    kind: str,
    *,
    status: str | None = None,
    text: str | None = None,
    data: dict[str, Any] | None = None,
    action_key: str | None = None,
    at: datetime | None = None,
) -> uuid.UUID:
    event_id = ids.new_id()
    conn.execute(
        insert(ev).values(
            id=event_id,
            ticket_id=ticket_id,
            kind=kind,
            status=status,
            text=text,
            author=actor.username,
            author_party_id=actor.party_id,
            data=data or {},
            action_key=action_key,
            at=at or clock.now(),
        )
    )
    return event_id


def _open(
    conn: Connection, actor: Actor, req: _Checked, facts: NumberFacts, external_id: str | None
) -> uuid.UUID:
    channel = _opening_channel(conn, actor, facts)
    if req.priority is not None and channel in (Channel.SELF_CARE, Channel.OUTLET):
        raise Forbidden("the care desk sets the priority", code="care_desk_only", field="priority")
    priority = req.priority or default_priority(req.kind, req.severity)
    team, rule = care_teams.route(conn, facts.mvno_id, facts.brand_id, facts.region_code, req.kind)
    if team is None:
        team = care_teams.main_team(conn, facts.mvno_id)
    now = clock.now()
    ticket_id = ids.new_id()
    conn.execute(
        insert(tt).values(
            id=ticket_id,
            mvno_id=facts.mvno_id,
            brand_id=facts.brand_id,
            msisdn=facts.msisdn,
            region_code=facts.region_code,
            subscription_id=facts.subscription_id,
            individual_id=facts.individual_id,
            ticket_type=req.kind.value,
            severity=req.severity.value,
            priority=priority.value,
            name=req.name,
            description=req.description,
            status=TicketStatus.ACKNOWLEDGED.value,
            status_reason=None,
            status_changed_at=now,
            team_id=team,
            first_team_id=team,
            channel=channel.value,
            opened_by_party_id=actor.party_id,
            opened_by=actor.username,
            external_id=external_id,
            sla_due_at=sla_deadline(req.kind, priority, now),
            paused_at=None,
            paused_s=0,
            first_response_at=None,
            resolved_at=None,
            closed_at=None,
            escalated_at=None,
            created_at=now,
            updated_at=now,
        )
    )
    add_event(conn, ticket_id, actor, "status", status=TicketStatus.ACKNOWLEDGED.value, at=now)
    add_event(
        conn,
        ticket_id,
        actor,
        "routed",
        data={"team": str(team), "rule": str(rule) if rule else None},
        at=now,
    )
    for text in req.notes:
        add_event(conn, ticket_id, actor, "note", text=text, at=now)
    audit.record(
        conn,
        actor,
        "ticket.opened",
        "trouble_ticket",
        ticket_id,
        mvno_id=facts.mvno_id,
        data={"msisdn": facts.msisdn, "type": req.kind.value, "channel": channel.value},
    )
    return ticket_id


def open_ticket(
    db: Database, actor: Actor, req: TicketRequest, *, idempotency_key: str | None = None
) -> dict[str, Any]:
    """Open and route a ticket for a logged-in caller. An idempotency key is optional."""
    checked = _checked(req)

    def effect(conn: Connection) -> dict[str, Any]:
        facts = number_facts(conn, req.msisdn)
        return {"ticketId": str(_open(conn, actor, checked, facts, req.external_id))}

    if idempotency_key is None:
        with db.write() as conn:
            result = effect(conn)
    else:
        result = idempotency.run_once(
            db, actor, idempotency_key, "ticket.open", asdict(req), effect
        )
    return {
        **get_ticket(db, actor, uuid.UUID(result["ticketId"])),
        "replayed": result.get("replayed", False),
    }


def holder_actor(facts: NumberFacts) -> Actor:
    """The line's holder, proven by the SMS code: their own scope, the subscriber's role."""
    return Actor(
        user_id=None,
        username="selfCare",
        party_id=facts.individual_id,
        party_kind=None,
        roles=frozenset({Role.SUBSCRIBER}),
    )


def open_self_care(db: Database, req: TicketRequest, code: str) -> dict[str, Any]:
    """Self-care without an account: the code sent to the number proves the caller holds
    it. A wrong code counts (and may lock the code) even though the request fails."""
    checked = _checked(req)
    failure = None
    with db.write() as conn:
        facts = number_facts(conn, req.msisdn, live=True)
        failure = care_verify.check(conn, facts.msisdn, code)
        if failure is None:
            holder = holder_actor(facts)
            ticket_id = _open(conn, holder, checked, facts, req.external_id)
            return ticket_view(conn, holder, ticket_id)
    raise failure


# --- reading --------------------------------------------------------------------------------


def _decorate(conn: Connection, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add each ticket's history, team name, brand name and whether it breached its SLA."""
    if not rows:
        return []
    found = [r["id"] for r in rows]
    events: dict[uuid.UUID, list[dict[str, Any]]] = {i: [] for i in found}
    for e in conn.execute(
        unscoped(select(ev).where(ev.c.ticket_id.in_(found)).order_by(ev.c.at, ev.c.id), WHY)
    ).mappings():
        events[e["ticket_id"]].append(dict(e))
    breached = set(
        conn.execute(unscoped(select(br.c.ticket_id).where(br.c.ticket_id.in_(found)), WHY))
        .scalars()
        .all()
    )
    teams = care_teams.team_names(conn, {r["team_id"] for r in rows})
    brand_ids = {r["brand_id"] for r in rows if r["brand_id"] is not None}
    brands = {
        b.id: b.name
        for b in conn.execute(
            unscoped(select(t.brand.c.id, t.brand.c.name).where(t.brand.c.id.in_(brand_ids)), WHY)
        )
    }
    return [
        {
            **r,
            "events": events[r["id"]],
            "breached": r["id"] in breached,
            "team_name": teams.get(r["team_id"]),
            "brand_name": brands.get(r["brand_id"]),
        }
        for r in rows
    ]


def ticket_view(conn: Connection, actor: Actor, ticket_id: uuid.UUID) -> dict[str, Any]:
    row = fetch_visible(conn, tt, actor.scope, ticket_id, what="trouble ticket")
    return _decorate(conn, [row])[0]


def get_ticket(db: Database, actor: Actor, ticket_id: uuid.UUID) -> dict[str, Any]:
    with db.read() as conn:
        return ticket_view(conn, actor, ticket_id)


def list_tickets(
    db: Database, actor: Actor, filters: Mapping[str, str], offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    rows, total = list_page(
        db,
        actor.scope,
        tt,
        filters,
        TICKET_FILTERS,
        order_by=[tt.c.id.desc()],
        offset=offset,
        limit=limit,
    )
    with db.read() as conn:
        return _decorate(conn, rows), total


# --- working a ticket -------------------------------------------------------------------------


def locked_ticket(conn: Connection, actor: Actor, ticket_id: uuid.UUID) -> dict[str, Any]:
    """The ticket if the caller sees it, read again under its lock."""
    fetch_visible(conn, tt, actor.scope, ticket_id, what="trouble ticket")
    locks.lock(conn, f"ticket:{ticket_id}")
    return dict(
        conn.execute(unscoped(select(tt).where(tt.c.id == ticket_id), WHY)).mappings().one()
    )


def _move(
    conn: Connection,
    actor: Actor,
    ticket: dict[str, Any],
    target: TicketStatus,
    reason: str | None,
    now: datetime,
) -> None:
    """Change `ticket` (a dict the caller writes back) to `target`, keeping the SLA clock:
    it stops while pending and the deadline moves by the time spent there."""
    current = TicketStatus(ticket["status"])
    if current is TicketStatus.PENDING and ticket["paused_at"] is not None:
        ticket["paused_s"] += int((now - ticket["paused_at"]).total_seconds())
        ticket["paused_at"] = None
        ticket["sla_due_at"] = due_of(ticket)
    if target is TicketStatus.PENDING:
        ticket["paused_at"] = now
    if target is TicketStatus.RESOLVED:
        ticket["resolved_at"] = now
    elif target is TicketStatus.IN_PROGRESS:
        ticket["resolved_at"] = None  # reopened: the resolution that counts is the next one
    if target in (TicketStatus.CLOSED, TicketStatus.REJECTED):
        ticket["closed_at"] = now
    ticket.update(status=target.value, status_reason=reason, status_changed_at=now)
    add_event(conn, ticket["id"], actor, "status", status=target.value, text=reason, at=now)


def due_of(ticket: Mapping[str, Any]) -> datetime:
    return sla_deadline(
        TicketType(ticket["ticket_type"]),
        Priority(ticket["priority"]),
        ticket["created_at"],
        timedelta(seconds=ticket["paused_s"]),
    )


WRITABLE = (
    "status",
    "status_reason",
    "status_changed_at",
    "priority",
    "sla_due_at",
    "paused_at",
    "paused_s",
    "first_response_at",
    "resolved_at",
    "closed_at",
)


def save(conn: Connection, ticket: dict[str, Any], now: datetime) -> None:
    conn.execute(
        update(tt)
        .where(tt.c.id == ticket["id"])
        .values(updated_at=now, **{k: ticket[k] for k in WRITABLE})
    )


def care_touch(
    conn: Connection, actor: Actor, ticket: dict[str, Any], now: datetime, why: str
) -> None:
    """The desk did something: the first response is now, and an acknowledged ticket is
    being worked."""
    if ticket["first_response_at"] is None:
        ticket["first_response_at"] = now
    if ticket["status"] == TicketStatus.ACKNOWLEDGED.value:
        _move(conn, actor, ticket, TicketStatus.IN_PROGRESS, why, now)


def update_ticket(
    db: Database,
    actor: Actor,
    ticket_id: uuid.UUID,
    *,
    status: str | None = None,
    reason: str | None = None,
    notes: Sequence[str] = (),
    priority: str | None = None,
) -> dict[str, Any]:
    """PATCH: a status move, notes (appended), a new priority (the desk only)."""
    target = parse(TicketStatus, status, "status") if status is not None else None
    new_priority = parse(Priority, priority, "priority") if priority is not None else None
    texts = checked_notes(notes)
    reason = redact(reason)
    if target is not None:
        check_reason(target, reason)
    with db.write() as conn:
        ticket = locked_ticket(conn, actor, ticket_id)
        care = is_care_side(actor)
        if care:
            may_work(conn, actor, ticket)
        now = clock.now()
        current = TicketStatus(ticket["status"])
        if target is not None and target is not current:
            check_move(current, target, care=care)
        elif texts:
            check_not_final(current)
        if new_priority is not None:
            if not care:
                raise Forbidden(
                    "the care desk sets the priority", code="care_desk_only", field="priority"
                )
            check_open(current, "priority change")
            ticket["priority"] = new_priority.value
            ticket["sla_due_at"] = due_of(ticket)
            add_event(conn, ticket_id, actor, "priority", text=new_priority.value, at=now)
        for text in texts:
            add_event(conn, ticket_id, actor, "note", text=text, at=now)
        if target is not None and target is not current:
            _move(conn, actor, ticket, target, reason, now)
        elif texts and not care and current is TicketStatus.PENDING:
            _move(conn, actor, ticket, TicketStatus.IN_PROGRESS, "the customer answered", now)
        if care and ticket["first_response_at"] is None:
            ticket["first_response_at"] = now
        save(conn, ticket, now)
        audit.record(
            conn,
            actor,
            "ticket.updated",
            "trouble_ticket",
            ticket_id,
            mvno_id=ticket["mvno_id"],
            data={
                "status": ticket["status"],
                "notes": len(texts),
                "priority": ticket["priority"],
            },
        )
        return ticket_view(conn, actor, ticket_id)


# --- SLA breaches ---------------------------------------------------------------------------


def escalate_breaches(db: Database, *, limit: int = 1000) -> dict[str, int]:
    """Move tickets whose SLA deadline passed (clock running, not yet escalated) to the
    MVNO's main team and record the breach, once each: safe to run twice or in parallel.
    The server should run it with the lifecycle step; `mvne care escalate` runs it by hand."""
    now = clock.now()
    with db.read() as conn:
        due = (
            conn.execute(
                unscoped(
                    select(tt.c.id)
                    .where(
                        tt.c.status.in_([s.value for s in CLOCK_RUNS]),
                        tt.c.sla_due_at < now,
                        tt.c.escalated_at.is_(None),
                    )
                    .order_by(tt.c.sla_due_at)
                    .limit(limit),
                    "the SLA sweep looks at every MVNO's tickets",
                )
            )
            .scalars()
            .all()
        )
    done = 0
    for ticket_id in due:
        with db.write() as conn:
            done += _escalate(conn, ticket_id, now)
    return {"breached": done}


def _escalate(conn: Connection, ticket_id: uuid.UUID, now: datetime) -> int:
    locks.lock(conn, f"ticket:{ticket_id}")
    ticket = (
        conn.execute(
            unscoped(
                select(tt).where(tt.c.id == ticket_id), "the SLA sweep, under the ticket's lock"
            )
        )
        .mappings()
        .one()
    )
    if (
        TicketStatus(ticket["status"]) not in CLOCK_RUNS
        or ticket["sla_due_at"] >= now
        or ticket["escalated_at"] is not None
    ):
        return 0
    main = care_teams.main_team(conn, ticket["mvno_id"])
    insert_ignore(
        conn,
        br,
        {
            "id": ids.new_id(),
            "ticket_id": ticket_id,
            "mvno_id": ticket["mvno_id"],
            "team_id": ticket["team_id"],
            "escalated_to_team_id": main,
            "ticket_type": ticket["ticket_type"],
            "priority": ticket["priority"],
            "due_at": ticket["sla_due_at"],
            "breached_at": now,
        },
        ["ticket_id"],
    )
    conn.execute(
        update(tt)
        .where(tt.c.id == ticket_id)
        .values(team_id=main, escalated_at=now, updated_at=now)
    )
    add_event(
        conn,
        ticket_id,
        SLA_SWEEP,
        "escalated",
        data={
            "from": str(ticket["team_id"]),
            "to": str(main),
            "dueAt": ticket["sla_due_at"].isoformat(),
        },
        at=now,
    )
    audit.record(
        conn,
        SLA_SWEEP,
        "ticket.sla_breached",
        "trouble_ticket",
        ticket_id,
        mvno_id=ticket["mvno_id"],
        data={"team": str(ticket["team_id"]), "escalatedTo": str(main)},
    )
    return 1


def get_breach(db: Database, actor: Actor, breach_id: uuid.UUID) -> dict[str, Any]:
    row = get_one(db, actor.scope, br, breach_id, what="SLA breach")
    return _named_breaches(db, [row])[0]


def list_breaches(
    db: Database, actor: Actor, filters: Mapping[str, str], offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    rows, total = list_page(
        db,
        actor.scope,
        br,
        filters,
        BREACH_FILTERS,
        order_by=[br.c.breached_at.desc(), br.c.id],
        offset=offset,
        limit=limit,
    )
    return _named_breaches(db, rows), total


def _named_breaches(db: Database, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    with db.read() as conn:
        names = care_teams.team_names(
            conn, {r["team_id"] for r in rows} | {r["escalated_to_team_id"] for r in rows}
        )
        msisdns = dict(
            conn.execute(
                unscoped(
                    select(tt.c.id, tt.c.msisdn).where(tt.c.id.in_([r["ticket_id"] for r in rows])),
                    "the visible breaches' tickets",
                )
            ).all()
        )
    return [
        {
            **r,
            "msisdn": msisdns.get(r["ticket_id"]),
            "team_name": names.get(r["team_id"]),
            "escalated_to_name": names.get(r["escalated_to_team_id"]),
        }
        for r in rows
    ]
