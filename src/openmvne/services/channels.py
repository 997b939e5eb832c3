"""Channel authorisations: request, decide (approve/suspend/reinstate/blacklist), read."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from openmvne import clock, ids
from openmvne.db import audit, locks
from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.db.listing import page
from openmvne.db.scoping import scoped, unscoped
from openmvne.domain import regions
from openmvne.domain.access import Action, Actor, Scope, ScopeKind, require
from openmvne.domain.channels import (
    SEAT_HOLDING,
    AuthorisationStatus,
    ChannelLevel,
    ParentEdge,
    Transition,
    check_parent_approved_for_approval,
    check_placement,
    next_status,
)
from openmvne.domain.parties import OrgKind
from openmvne.errors import Conflict, InvalidInput, NotFound, RuleViolation
from openmvne.services.common import (
    Filter,
    apply_filters,
    as_bool,
    as_public_id,
    fetch_visible,
    get_one,
)

ca = t.channel_authorisation
o = t.organization

FILTERS: dict[str, Filter] = {
    "mvnoId": (ca.c.mvno_id, as_public_id("organization")),
    "partyId": (ca.c.party_id, as_public_id("organization")),
    "parentId": (ca.c.parent_id, as_public_id("channel_authorisation")),
    "level": (ca.c.level, lambda v: ChannelLevel(v).value),
    "regionCode": (ca.c.region_code, str),
    "exclusive": (ca.c.exclusive, as_bool),
    "status": (ca.c.status, lambda v: AuthorisationStatus(v).value),
    "plaqueNumber": (ca.c.plaque_number, str),
}


def request_authorisation(
    db: Database,
    actor: Actor,
    *,
    party_id: uuid.UUID,
    level: ChannelLevel,
    mvno_id: uuid.UUID | None = None,
    parent_id: uuid.UUID | None = None,
    region_code: str | None = None,
    exclusive: bool = False,
    plaque_number: str | None = None,
) -> dict[str, Any]:
    """Create a pending authorisation. Only the MVNO's decision makes it approved."""
    require(actor, Action.REQUEST_CHANNEL)
    region = regions.require_current(region_code) if region_code is not None else None
    if exclusive and region is None:
        raise InvalidInput(
            "exclusivity is per region; give a regionCode",
            code="exclusive_needs_region",
            field="exclusive",
        )
    with db.write() as conn:
        parent = None
        if parent_id is not None:
            parent = fetch_visible(
                conn, ca, actor.scope, parent_id, what="parent channel", field="parentId"
            )
        mvno_id = _resolve_mvno(conn, actor, mvno_id, parent)
        party = _channel_party(conn, actor, party_id)
        _refuse_blacklisted(conn, mvno_id, party)
        check_placement(
            party_kind=OrgKind(party["kind"]),
            level=level,
            region=region,
            parent=_edge(parent),
        )
        _refuse_duplicate(conn, mvno_id, party_id, level, region_code)
        if exclusive:
            _take_seat(conn, mvno_id, level, region_code, except_id=None)
        if plaque_number is not None:
            _refuse_taken_plaque(conn, mvno_id, plaque_number)
        auth_id = ids.new_id()
        now = clock.now()
        conn.execute(
            insert(ca).values(
                id=auth_id,
                mvno_id=mvno_id,
                party_id=party_id,
                parent_id=parent_id,
                path=(parent["path"] if parent else "/") + auth_id.hex + "/",
                level=level.value,
                region_code=region_code,
                exclusive=exclusive,
                plaque_number=plaque_number,
                status=AuthorisationStatus.PENDING.value,
                requested_by_party_id=actor.party_id,
                created_at=now,
                updated_at=now,
            )
        )
        audit.record(
            conn,
            actor,
            "channel.requested",
            "channel_authorisation",
            auth_id,
            mvno_id=mvno_id,
            data={"level": level.value, "region": region_code, "exclusive": exclusive},
        )
        return fetch_visible(conn, ca, actor.scope, auth_id, what="channel authorisation")


def _resolve_mvno(
    conn: Connection,
    actor: Actor,
    mvno_id: uuid.UUID | None,
    parent: Mapping[str, Any] | None,
) -> uuid.UUID:
    """Which MVNO's tree this edge joins: the caller's own, the parent's, or the one named."""
    if actor.scope.kind is ScopeKind.MVNO:
        mvno_id = mvno_id or actor.party_id
    if parent is not None:
        if mvno_id is not None and mvno_id != parent["mvno_id"]:
            raise InvalidInput(
                "the parent channel belongs to another MVNO",
                code="parent_mvno_mismatch",
                field="parentId",
            )
        mvno_id = parent["mvno_id"]
    elif actor.scope.kind is ScopeKind.CHANNEL:
        raise InvalidInput(
            "a partner requests sub-channels under one of its own channels; give parentId",
            code="parent_required",
            field="parentId",
        )
    if mvno_id is None:
        raise InvalidInput("give the MVNO (mvnoId)", code="required", field="mvnoId")
    mvno = fetch_visible(conn, o, actor.scope, mvno_id, what="MVNO", field="mvnoId")
    if mvno["kind"] != OrgKind.MVNO.value:
        raise InvalidInput("mvnoId must name an MVNO", code="not_an_mvno", field="mvnoId")
    return mvno_id


def _channel_party(conn: Connection, actor: Actor, party_id: uuid.UUID) -> dict[str, Any]:
    """The organisation to authorise. A partner works with several MVNOs, so an MVNO may name
    any partner or outlet by its id (the partner hands it over, as an introduction) without
    seeing it in lists beforehand. Partners only place organisations they can see."""
    if actor.scope.kind is not ScopeKind.MVNO:
        return fetch_visible(conn, o, actor.scope, party_id, what="organization", field="partyId")
    stmt = select(o).where(
        o.c.id == party_id, o.c.kind.in_([OrgKind.PARTNER.value, OrgKind.OUTLET.value])
    )
    row = conn.execute(unscoped(stmt, "an MVNO authorises a partner by id")).mappings().first()
    if row is None:
        raise NotFound("no partner or outlet with that id", field="partyId")
    return dict(row)


def _edge(row: Mapping[str, Any] | None) -> ParentEdge | None:
    if row is None:
        return None
    return ParentEdge(
        level=ChannelLevel(row["level"]),
        region=regions.lookup(row["region_code"]) if row["region_code"] else None,
        status=AuthorisationStatus(row["status"]),
    )


def _refuse_blacklisted(conn: Connection, mvno_id: uuid.UUID, party: Mapping[str, Any]) -> None:
    b = t.blacklist_entry
    who = [b.c.organization_id == party["id"]]
    if party["legal_representative_id"] is not None:
        who.append(b.c.individual_id == party["legal_representative_id"])
    stmt = select(b.c.reason).where(or_(*who), or_(b.c.mvno_id == mvno_id, b.c.mvno_id.is_(None)))
    hit = conn.execute(unscoped(stmt, "the blacklist binds whoever asks")).first()
    if hit is not None:
        raise RuleViolation(
            "this party (or its legal representative) is blacklisted and cannot be authorised",
            code="party_blacklisted",
            field="partyId",
        )


def _refuse_duplicate(
    conn: Connection,
    mvno_id: uuid.UUID,
    party_id: uuid.UUID,
    level: ChannelLevel,
    region_code: str | None,
) -> None:
    stmt = select(ca.c.id).where(
        ca.c.mvno_id == mvno_id,
        ca.c.party_id == party_id,
        ca.c.level == level.value,
        ca.c.region_code.is_(None) if region_code is None else ca.c.region_code == region_code,
        ca.c.status != AuthorisationStatus.BLACKLISTED.value,
    )
    if conn.execute(unscoped(stmt, "duplicates are checked across the tree")).first():
        raise Conflict(
            "this party already holds or requested this authorisation", code="already_authorised"
        )


def _take_seat(
    conn: Connection,
    mvno_id: uuid.UUID,
    level: ChannelLevel,
    region_code: str | None,
    *,
    except_id: uuid.UUID | None,
) -> None:
    """Lock the (MVNO, level, region) seat and refuse if another channel holds it."""
    locks.lock(conn, f"channel-seat:{mvno_id}:{level.value}:{region_code}")
    stmt = select(ca.c.id).where(
        ca.c.mvno_id == mvno_id,
        ca.c.level == level.value,
        ca.c.region_code == region_code,
        ca.c.exclusive.is_(True),
        ca.c.status.in_([s.value for s in SEAT_HOLDING]),
    )
    if except_id is not None:
        stmt = stmt.where(ca.c.id != except_id)
    if conn.execute(unscoped(stmt, "a seat is taken whoever holds it")).first():
        raise _seat_taken(level, region_code)


def _seat_taken(level: ChannelLevel, region_code: str | None) -> Conflict:
    return Conflict(
        f"the exclusive {level.value} seat for region {region_code} is taken",
        code="exclusive_seat_taken",
        field="exclusive",
    )


def _refuse_taken_plaque(conn: Connection, mvno_id: uuid.UUID, plaque: str) -> None:
    stmt = select(ca.c.id).where(ca.c.mvno_id == mvno_id, ca.c.plaque_number == plaque)
    if conn.execute(unscoped(stmt, "plaque numbers are unique per MVNO")).first():
        raise Conflict(
            f"plaque number {plaque!r} is already issued",
            code="plaque_taken",
            field="plaqueNumber",
        )


def decide(
    db: Database,
    actor: Actor,
    auth_id: uuid.UUID,
    transition: Transition,
    *,
    reason: str | None = None,
) -> dict[str, Any]:
    """The MVNO's decision on an authorisation. Foreign ids are 404 before roles are checked."""
    with db.write() as conn:
        row = fetch_visible(
            conn, ca, actor.scope, auth_id, what="channel authorisation", for_update=True
        )
        require(actor, Action.DECIDE_CHANNEL)
        current = AuthorisationStatus(row["status"])
        target = next_status(current, transition)
        if transition is Transition.BLACKLIST and not reason:
            raise InvalidInput(
                "say why the channel is blacklisted", code="required", field="reason"
            )
        level = ChannelLevel(row["level"])
        now = clock.now()
        values: dict[str, Any] = {
            "status": target.value,
            "status_reason": reason,
            "updated_at": now,
        }
        if transition is Transition.APPROVE:
            check_parent_approved_for_approval(_parent_status(conn, row))
            values["approved_at"] = now
            if row["plaque_number"] is None:
                values["plaque_number"] = _issue_plaque(row["id"], now.year)
        if target in SEAT_HOLDING and row["exclusive"]:
            _take_seat(conn, row["mvno_id"], level, row["region_code"], except_id=auth_id)
        try:
            conn.execute(update(ca).where(ca.c.id == auth_id).values(**values))
        except IntegrityError as exc:  # the seat index: a writer that skipped the lock lost
            raise _seat_taken(level, row["region_code"]) from exc
        if transition is Transition.BLACKLIST:
            _blacklist_party(conn, actor, row, reason or "", now)
        audit.record(
            conn,
            actor,
            f"channel.{transition.value}",
            "channel_authorisation",
            auth_id,
            mvno_id=row["mvno_id"],
            data={"from": current.value, "to": target.value, "reason": reason},
        )
        return fetch_visible(conn, ca, actor.scope, auth_id, what="channel authorisation")


def _parent_status(conn: Connection, row: Mapping[str, Any]) -> AuthorisationStatus | None:
    if row["parent_id"] is None:
        return None
    stmt = select(ca.c.status).where(ca.c.id == row["parent_id"])
    status = conn.execute(unscoped(stmt, "the parent of a visible edge")).scalar_one()
    return AuthorisationStatus(status)


def _issue_plaque(auth_id: uuid.UUID, year: int) -> str:
    """A plaque number (授权牌编号) unique within the MVNO: year + the id's random tail."""
    return f"SQ{year}-{ids.encode(auth_id)[-10:]}"


def _blacklist_party(
    conn: Connection, actor: Actor, row: Mapping[str, Any], reason: str, now: Any
) -> None:
    """Blacklisting one edge blacklists the party within the MVNO: all its edges, for good."""
    conn.execute(
        update(ca)
        .where(
            ca.c.mvno_id == row["mvno_id"],
            ca.c.party_id == row["party_id"],
            ca.c.status != AuthorisationStatus.BLACKLISTED.value,
        )
        .values(status=AuthorisationStatus.BLACKLISTED.value, status_reason=reason, updated_at=now)
    )
    entry_id = ids.new_id()
    conn.execute(
        insert(t.blacklist_entry).values(
            id=entry_id,
            mvno_id=row["mvno_id"],
            organization_id=row["party_id"],
            individual_id=None,
            reason=reason,
            created_at=now,
        )
    )
    audit.record(
        conn,
        actor,
        "party.blacklisted",
        "organization",
        row["party_id"],
        mvno_id=row["mvno_id"],
        data={"reason": reason},
    )


def get_authorisation(db: Database, scope: Scope, auth_id: uuid.UUID) -> dict[str, Any]:
    return get_one(db, scope, ca, auth_id, what="channel authorisation")


def list_authorisations(
    db: Database,
    scope: Scope,
    filters: Mapping[str, str],
    offset: int,
    limit: int,
    *,
    subtree_of: uuid.UUID | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """Authorisations the scope sees, optionally only those under (and including) one edge."""
    stmt = apply_filters(scoped(select(ca), ca, scope), filters, FILTERS)
    with db.read() as conn:
        if subtree_of is not None:
            root = fetch_visible(conn, ca, scope, subtree_of, what="channel authorisation")
            stmt = stmt.where(ca.c.path.startswith(root["path"]))
        return page(conn, stmt, order_by=[ca.c.path], offset=offset, limit=limit)


def chain_of(conn: Connection, path: str | None) -> list[tuple[uuid.UUID, ChannelLevel]]:
    """The channels of an authorisation's path, top first: (party, level). Commissions split
    along it (each tier keeps its amount less its child's)."""
    if not path:
        return []
    ca = t.channel_authorisation
    chain_ids = [uuid.UUID(h) for h in path.strip("/").split("/")]
    rows = {
        r.id: r
        for r in conn.execute(
            unscoped(
                select(ca.c.id, ca.c.party_id, ca.c.level).where(ca.c.id.in_(chain_ids)),
                "the channels above a seller, for commissions",
            )
        )
    }
    return [(rows[i].party_id, ChannelLevel(rows[i].level)) for i in chain_ids if i in rows]
