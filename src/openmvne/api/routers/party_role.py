"""TMF669 Party Role Management v4: channel roles, the same authorisations in TMF shape."""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.responses import JSONResponse

from openmvne.api import presenters, tmf
from openmvne.api.auth import caller, database
from openmvne.api.routing import Router
from openmvne.api.schemas import PartyRoleCreate, PartyRolePatch
from openmvne.db.engine import Database
from openmvne.domain.access import Actor
from openmvne.domain.channels import AuthorisationStatus, ChannelLevel, Transition
from openmvne.errors import InvalidInput
from openmvne.services import channels

router = Router(prefix=presenters.PARTY_ROLE, tags=["TMF669 Party Role"])

# Which decision a PATCH of `status` means, from the current status.
_BY_TARGET = {
    (AuthorisationStatus.PENDING, AuthorisationStatus.APPROVED): Transition.APPROVE,
    (AuthorisationStatus.APPROVED, AuthorisationStatus.SUSPENDED): Transition.SUSPEND,
    (AuthorisationStatus.SUSPENDED, AuthorisationStatus.APPROVED): Transition.REINSTATE,
}


@router.get("/partyRole", summary="List party roles (channel authorisations)")
def list_party_roles(
    request: Request,
    params: tmf.ListParams = Depends(tmf.list_params),
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    filters = dict(params.filters)
    if "engagedParty.id" in filters:
        filters["partyId"] = filters.pop("engagedParty.id")
    allowed = {"status", "partyId"}
    for name in set(filters) - allowed:
        raise InvalidInput(
            f"cannot filter on {name!r}; filterable: status, engagedParty.id",
            code="unknown_filter",
            field=name,
        )
    rows, total = channels.list_authorisations(
        db, actor.scope, filters, params.offset, params.limit
    )
    base = tmf.base_url(request)
    return tmf.list_response([presenters.party_role(r, base) for r in rows], total, params)


@router.get("/partyRole/{role_id}", summary="Retrieve a party role")
def get_party_role(
    role_id: str,
    request: Request,
    fields: str | None = None,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    row = channels.get_authorisation(db, actor.scope, tmf.path_id("channel_authorisation", role_id))
    return tmf.item_response(presenters.party_role(row, tmf.base_url(request)), fields)


@router.post("/partyRole", status_code=201, summary="Request a channel role (pending)")
def create_party_role(
    body: PartyRoleCreate,
    request: Request,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    chars = {c.name: c.value for c in body.characteristic}
    unknown = set(chars) - {"level", "regionCode", "exclusive", "plaqueNumber"}
    if unknown:
        raise InvalidInput(
            f"unknown characteristic(s) {sorted(unknown)}",
            code="unknown_field",
            field="characteristic",
        )
    try:
        level = ChannelLevel(str(chars.get("level", "")))
    except ValueError as exc:
        raise InvalidInput(
            "characteristic `level` is one of " + ", ".join(v.value for v in ChannelLevel),
            code="missing_field",
            field="characteristic.level",
        ) from exc
    related = {r.role: r.id for r in body.relatedParty}
    exclusive = chars.get("exclusive", False)
    row = channels.request_authorisation(
        db,
        actor,
        party_id=tmf.body_id("organization", body.engagedParty.id, "engagedParty.id"),
        level=level,
        mvno_id=tmf.body_id("organization", related.get("authoriser"), "relatedParty.authoriser"),
        parent_id=tmf.body_id(
            "channel_authorisation", related.get("parentChannel"), "relatedParty.parentChannel"
        ),
        region_code=str(chars["regionCode"]) if "regionCode" in chars else None,
        exclusive=exclusive is True or exclusive == "true",
        plaque_number=str(chars["plaqueNumber"]) if "plaqueNumber" in chars else None,
    )
    return tmf.created_response(presenters.party_role(row, tmf.base_url(request)))


@router.patch(
    "/partyRole/{role_id}",
    summary="Change a party role's status (the MVNO's decision)",
    dependencies=[Depends(tmf.require_patch_media_type)],
)
def patch_party_role(
    role_id: str,
    body: PartyRolePatch,
    request: Request,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    auth_id = tmf.path_id("channel_authorisation", role_id)
    current = channels.get_authorisation(db, actor.scope, auth_id)
    if body.status is None:
        row = current
    else:
        try:
            target = AuthorisationStatus(body.status)
        except ValueError as exc:
            raise InvalidInput(
                "status is one of " + ", ".join(s.value for s in AuthorisationStatus),
                code="bad_status",
                field="status",
            ) from exc
        now = AuthorisationStatus(current["status"])
        transition = (
            Transition.BLACKLIST
            if target is AuthorisationStatus.BLACKLISTED
            else _BY_TARGET.get((now, target))
        )
        if transition is None:
            raise InvalidInput(
                f"cannot go from {now.value} to {target.value}",
                code="invalid_transition",
                field="status",
            )
        row = channels.decide(db, actor, auth_id, transition, reason=body.statusReason)
    return tmf.item_response(presenters.party_role(row, tmf.base_url(request)))
