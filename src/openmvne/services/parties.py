"""Organisations, individuals and brands: register, read, change, remove."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, delete, exists, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from openmvne import clock, ids
from openmvne.db import audit
from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.db.scoping import scoped, unscoped
from openmvne.domain import regions
from openmvne.domain.access import Action, Actor, Scope, ScopeKind, require
from openmvne.domain.numbers import HostNetwork
from openmvne.domain.parties import (
    CREATABLE_KINDS,
    OrgKind,
    PartnerType,
    PartyStatus,
    Role,
    check_organisation_shape,
)
from openmvne.errors import Conflict, Forbidden, InvalidInput
from openmvne.services.common import (
    Filter,
    as_public_id,
    fetch_visible,
    get_one,
    list_page,
    refuse_removing_required,
)

o = t.organization
ind = t.individual

ORGANISATION_FILTERS: dict[str, Filter] = {
    "name": (o.c.name, str),
    "organizationType": (o.c.kind, lambda v: OrgKind(v).value),
    "partnerType": (o.c.partner_type, lambda v: PartnerType(v).value),
    "status": (o.c.status, lambda v: PartyStatus(v).value),
    "regionCode": (o.c.region_code, str),
}

INDIVIDUAL_FILTERS: dict[str, Filter] = {
    "givenName": (ind.c.given_name, str),
    "familyName": (ind.c.family_name, str),
    "status": (ind.c.status, lambda v: PartyStatus(v).value),
    "mvnoId": (ind.c.mvno_id, as_public_id("organization")),
}


# --- organisations ---------------------------------------------------------------------


def create_organisation(
    db: Database,
    actor: Actor,
    *,
    kind: OrgKind,
    name: str,
    partner_type: PartnerType | None = None,
    trading_name: str | None = None,
    region_code: str | None = None,
    legal_representative_id: uuid.UUID | None = None,
    network_code: HostNetwork | None = None,
) -> dict[str, Any]:
    require(actor, Action.CREATE_ORGANISATION)
    if not any(kind in CREATABLE_KINDS.get(role, frozenset()) for role in actor.roles):
        raise Forbidden(
            f"your role may not register a {kind.value} organisation",
            code="kind_not_allowed",
            field="organizationType",
        )
    check_organisation_shape(kind, partner_type)
    if (kind is OrgKind.HOST_NETWORK) != (network_code is not None):
        raise InvalidInput(
            "a host network, and only a host network, has a networkCode "
            "(telecom, mobile or unicom)",
            code="network_code_mismatch",
            field="networkCode",
        )
    if region_code is not None:
        regions.require_current(region_code)
    now = clock.now()
    org_id = ids.new_id()
    with db.write() as conn:
        if legal_representative_id is not None:
            fetch_visible(
                conn,
                ind,
                actor.scope,
                legal_representative_id,
                what="individual",
                field="legalRepresentative",
            )
        _refuse_duplicate_name(conn, kind, name)
        conn.execute(
            insert(o).values(
                id=org_id,
                kind=kind.value,
                partner_type=partner_type.value if partner_type else None,
                name=name,
                trading_name=trading_name,
                region_code=region_code,
                network_code=network_code.value if network_code else None,
                status=PartyStatus.ACTIVE.value,
                legal_representative_id=legal_representative_id,
                created_by_party_id=actor.party_id,
                created_at=now,
                updated_at=now,
            )
        )
        audit.record(
            conn,
            actor,
            "organization.created",
            "organization",
            org_id,
            mvno_id=org_id if kind is OrgKind.MVNO else None,
            data={"kind": kind.value, "name": name},
        )
        return fetch_visible(conn, o, actor.scope, org_id, what="organization")


def _refuse_duplicate_name(
    conn: Connection, kind: OrgKind, name: str, *, except_id: uuid.UUID | None = None
) -> None:
    stmt = select(o.c.id).where(o.c.kind == kind.value, o.c.name == name)
    if except_id is not None:
        stmt = stmt.where(o.c.id != except_id)
    if conn.execute(unscoped(stmt, "names are unique per kind platform-wide")).first():
        raise Conflict(
            f"a {kind.value} organisation named {name!r} already exists",
            code="name_taken",
            field="name",
        )


def get_organisation(db: Database, scope: Scope, org_id: uuid.UUID) -> dict[str, Any]:
    return get_one(db, scope, o, org_id, what="organization")


def list_organisations(
    db: Database, scope: Scope, filters: Mapping[str, str], offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    return list_page(
        db, scope, o, filters, ORGANISATION_FILTERS, order_by=[o.c.id], offset=offset, limit=limit
    )


def _require_manager(actor: Actor, row: Mapping[str, Any]) -> None:
    """Who may change or remove an organisation: the platform, its creator, or its own admins."""
    if actor.scope.kind is ScopeKind.PLATFORM:
        return
    admin_roles = {Role.MVNO_ADMIN, Role.PARTNER_ADMIN, Role.HOST_ADMIN}
    is_admin = bool(actor.roles & admin_roles)
    if is_admin and actor.party_id in (row["created_by_party_id"], row["id"]):
        return
    raise Forbidden("only the platform, its registrar or its own admins may change it")


def update_organisation(
    db: Database, actor: Actor, org_id: uuid.UUID, changes: Mapping[str, Any]
) -> dict[str, Any]:
    """Change name, trading name, region or status. Kind is fixed at registration."""
    allowed = {"name", "trading_name", "region_code", "status"}
    unknown = set(changes) - allowed
    if unknown:
        raise InvalidInput(f"cannot change {sorted(unknown)}", code="field_not_patchable")
    if changes.get("region_code") is not None:
        regions.require_current(changes["region_code"])
    with db.write() as conn:
        row = fetch_visible(conn, o, actor.scope, org_id, what="organization", for_update=True)
        _require_manager(actor, row)
        refuse_removing_required(o, changes)
        if changes.get("name") not in (None, row["name"]):
            _refuse_duplicate_name(conn, OrgKind(row["kind"]), changes["name"], except_id=org_id)
        values = {**changes, "updated_at": clock.now()}
        conn.execute(update(o).where(o.c.id == org_id).values(**values))
        audit.record(
            conn,
            actor,
            "organization.updated",
            "organization",
            org_id,
            mvno_id=org_id if row["kind"] == OrgKind.MVNO.value else None,
            data=dict(changes),
        )
        return fetch_visible(conn, o, actor.scope, org_id, what="organization")


def delete_organisation(db: Database, actor: Actor, org_id: uuid.UUID) -> None:
    """Remove an organisation nothing refers to yet (a mistaken registration)."""
    with db.write() as conn:
        row = fetch_visible(conn, o, actor.scope, org_id, what="organization", for_update=True)
        _require_manager(actor, row)
        ca = t.channel_authorisation
        in_use = select(
            or_(
                exists().where(or_(ca.c.party_id == org_id, ca.c.mvno_id == org_id)),
                exists().where(t.user_account.c.organization_id == org_id),
                exists().where(t.brand.c.mvno_id == org_id),
                exists().where(ind.c.mvno_id == org_id),
            )
        )
        if conn.execute(unscoped(in_use, "references from any tenant block removal")).scalar():
            raise Conflict(
                "the organisation has channels, users, brands or customers; close it instead",
                code="party_in_use",
            )
        try:
            conn.execute(delete(o).where(o.c.id == org_id))
        except IntegrityError as exc:
            raise Conflict("the organisation is still referred to", code="party_in_use") from exc
        audit.record(conn, actor, "organization.deleted", "organization", org_id)


# --- individuals -----------------------------------------------------------------------


def create_individual(
    db: Database,
    actor: Actor,
    *,
    given_name: str,
    family_name: str,
    mvno_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    require(actor, Action.CREATE_INDIVIDUAL)
    now = clock.now()
    person_id = ids.new_id()
    with db.write() as conn:
        if actor.scope.kind is ScopeKind.MVNO:
            mvno_id = mvno_id or actor.party_id
        if mvno_id is not None:
            mvno = fetch_visible(conn, o, actor.scope, mvno_id, what="MVNO", field="mvnoId")
            if mvno["kind"] != OrgKind.MVNO.value:
                raise InvalidInput("mvnoId must name an MVNO", code="not_an_mvno", field="mvnoId")
        conn.execute(
            insert(ind).values(
                id=person_id,
                given_name=given_name,
                family_name=family_name,
                status=PartyStatus.ACTIVE.value,
                mvno_id=mvno_id,
                registered_by_party_id=actor.party_id if actor.party_kind else None,
                created_at=now,
                updated_at=now,
            )
        )
        audit.record(conn, actor, "individual.created", "individual", person_id, mvno_id=mvno_id)
        return fetch_visible(conn, ind, actor.scope, person_id, what="individual")


def get_individual(db: Database, scope: Scope, person_id: uuid.UUID) -> dict[str, Any]:
    return get_one(db, scope, ind, person_id, what="individual")


def list_individuals(
    db: Database, scope: Scope, filters: Mapping[str, str], offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    return list_page(
        db, scope, ind, filters, INDIVIDUAL_FILTERS, order_by=[ind.c.id], offset=offset, limit=limit
    )


def update_individual(
    db: Database, actor: Actor, person_id: uuid.UUID, changes: Mapping[str, Any]
) -> dict[str, Any]:
    allowed = {"given_name", "family_name", "status"}
    unknown = set(changes) - allowed
    if unknown:
        raise InvalidInput(f"cannot change {sorted(unknown)}", code="field_not_patchable")
    # The name a line is registered under is the name on the ID: only the MVNO corrects it.
    require(actor, Action.CHANGE_INDIVIDUAL)
    refuse_removing_required(ind, changes)
    for name in ("given_name", "family_name"):
        if name in changes and not changes[name]:
            raise InvalidInput(f"{name} cannot be empty", code="required", field=name)
    with db.write() as conn:
        row = fetch_visible(conn, ind, actor.scope, person_id, what="individual", for_update=True)
        conn.execute(
            update(ind).where(ind.c.id == person_id).values(**changes, updated_at=clock.now())
        )
        audit.record(
            conn,
            actor,
            "individual.updated",
            "individual",
            person_id,
            mvno_id=row["mvno_id"],
            data={"fields": sorted(changes)},  # names only: personal data stays out of the audit
        )
        return fetch_visible(conn, ind, actor.scope, person_id, what="individual")


def delete_individual(db: Database, actor: Actor, person_id: uuid.UUID) -> None:
    # Removing a real-name record is the MVNO's correction, as changing it is: not a care
    # agent's, a seller's or the holder's.
    require(actor, Action.CHANGE_INDIVIDUAL)
    with db.write() as conn:
        row = fetch_visible(conn, ind, actor.scope, person_id, what="individual", for_update=True)
        try:
            conn.execute(delete(ind).where(ind.c.id == person_id))
        except IntegrityError as exc:
            raise Conflict("the individual is still referred to", code="party_in_use") from exc
        audit.record(
            conn, actor, "individual.deleted", "individual", person_id, mvno_id=row["mvno_id"]
        )


# --- brands ----------------------------------------------------------------------------


def add_brand(
    db: Database,
    actor: Actor,
    mvno_id: uuid.UUID,
    name: str,
    hotline: str | None = None,
    *,
    website: str | None = None,
    highlights: list[str] | None = None,
    service_channels: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """A brand the MVNO sells under, with what its card sleeve and service desk show."""
    actor.require(Role.PLATFORM_ADMIN, Role.MVNO_ADMIN, action="add a brand")
    with db.write() as conn:
        mvno = fetch_visible(conn, o, actor.scope, mvno_id, what="MVNO", field="mvnoId")
        if mvno["kind"] != OrgKind.MVNO.value:
            raise InvalidInput("brands belong to MVNOs", code="not_an_mvno", field="mvnoId")
        taken = unscoped(select(t.brand.c.id).where(t.brand.c.name == name), "brand names unique")
        if conn.execute(taken).first():
            raise Conflict(f"brand {name!r} exists", code="name_taken", field="name")
        brand_id = ids.new_id()
        conn.execute(
            insert(t.brand).values(
                id=brand_id,
                mvno_id=mvno_id,
                name=name,
                hotline=hotline,
                website=website,
                highlights=highlights or [],
                service_channels=service_channels or [],
                created_at=clock.now(),
            )
        )
        audit.record(conn, actor, "brand.created", "brand", brand_id, mvno_id=mvno_id)
        return fetch_visible(conn, t.brand, actor.scope, brand_id, what="brand")


def brands_of(conn: Connection, scope: Scope, mvno_id: uuid.UUID) -> list[str]:
    b = t.brand
    stmt = scoped(select(b.c.name).where(b.c.mvno_id == mvno_id), b, scope).order_by(b.c.name)
    return list(conn.execute(stmt).scalars())
