"""After-sales care: TMF621 trouble tickets (`/tmf-api/troubleTicket/v4/troubleTicket`),
self-care codes, actions from a ticket, care teams, the routing table, SLA breaches and the
monthly reports (`/openmvne/v1`). docs/care.md."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Header, Query, Request
from fastapi.responses import JSONResponse, Response

from openmvne.api import presenters_care as show
from openmvne.api import tmf
from openmvne.api.auth import caller, caller_now, database
from openmvne.api.ratelimit import TokenBucket
from openmvne.api.routing import Router
from openmvne.api.schemas import calendar_date
from openmvne.api.schemas_care import (
    AreaBody,
    CareRouteCreate,
    CareTeamCreate,
    CareTeamPatch,
    MemberCreate,
    TicketActionBody,
    TroubleTicketCreate,
    TroubleTicketPatch,
    VerificationCreate,
)
from openmvne.db.engine import Database
from openmvne.domain.access import Actor
from openmvne.domain.care import TicketType, parse
from openmvne.errors import InvalidInput, NotAuthenticated
from openmvne.services import care, care_actions, care_reports, care_teams, care_verify
from openmvne.services.care import TicketRequest
from openmvne.services.care_actions import ActionInput
from openmvne.services.care_teams import AreaIn
from openmvne.services.subscriber_sale import Identity

router = Router(tags=["Care"])
TICKETS = f"{show.TICKETS}/troubleTicket"
V1 = show.V1
KEY = Header(None, alias="Idempotency-Key", description="Makes a retry safe")
# Per client address, on top of the per-number limits of the codes themselves.
code_limiter = TokenBucket(rate_per_s=0.5, burst=10)
NUMBER_ROLES = ("affectedNumber", "msisdn")


def _msisdn(body: TroubleTicketCreate) -> str:
    for entity in body.relatedEntity:
        if entity.role in NUMBER_ROLES:
            return entity.id
    raise InvalidInput(
        'name the number: relatedEntity [{"id": "<msisdn>", "role": "affectedNumber", '
        '"@referredType": "MSISDN"}]',
        code="required",
        field="relatedEntity",
    )


def _ticket_answer(row: dict[str, Any], request: Request, status: int = 200) -> JSONResponse:
    shown = show.ticket(row, tmf.base_url(request))
    headers = {"Idempotent-Replayed": "true" if row.get("replayed") else "false"}
    if status == 201:
        headers["Location"] = shown["href"]
    return JSONResponse(tmf.compact(shown), status_code=status, headers=headers)


@router.post(
    TICKETS,
    status_code=201,
    summary="Open a trouble ticket: logged in (Bearer), or self-care with the SMS code "
    "(X-Verification-Code, from POST /openmvne/v1/careVerifications)",
)
def create_ticket(
    body: TroubleTicketCreate,
    request: Request,
    idempotency_key: str | None = KEY,
    code: str | None = Header(None, alias="X-Verification-Code"),
    db: Database = Depends(database),
) -> JSONResponse:
    ticket = TicketRequest(
        msisdn=_msisdn(body),
        ticket_type=body.ticketType,
        severity=body.severity,
        description=body.description,
        name=body.name,
        priority=body.priority,
        external_id=body.externalId,
        notes=tuple(n.text for n in body.note),
    )
    if request.headers.get("authorization"):
        row = care.open_ticket(db, caller_now(request), ticket, idempotency_key=idempotency_key)
    elif code is not None:
        row = care.open_self_care(db, ticket, code)
    else:
        raise NotAuthenticated(
            "send an API token, or a verification code (X-Verification-Code) sent to the number",
            code="verification_required",
        )
    return _ticket_answer(row, request, 201)


@router.get(TICKETS, summary="Trouble tickets in your scope")
def list_tickets(
    request: Request,
    params: tmf.ListParams = Depends(tmf.list_params),
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    rows, total = care.list_tickets(db, actor, params.filters, params.offset, params.limit)
    base = tmf.base_url(request)
    return tmf.list_response([show.ticket(r, base) for r in rows], total, params)


@router.get(f"{TICKETS}/{{ticket_id}}", summary="Retrieve a trouble ticket")
def get_ticket(
    ticket_id: str,
    request: Request,
    fields: str | None = None,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    row = care.get_ticket(db, actor, tmf.path_id("trouble_ticket", ticket_id))
    return tmf.item_response(show.ticket(row, tmf.base_url(request)), fields)


@router.patch(
    f"{TICKETS}/{{ticket_id}}",
    summary="Move the status (with statusChangeReason), add notes, set the priority",
    dependencies=[Depends(tmf.require_patch_media_type)],
)
def patch_ticket(
    ticket_id: str,
    body: TroubleTicketPatch,
    request: Request,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    row = care.update_ticket(
        db,
        actor,
        tmf.path_id("trouble_ticket", ticket_id),
        status=body.status,
        reason=body.statusChangeReason,
        notes=[n.text for n in body.note or []],
        priority=body.priority,
    )
    return _ticket_answer(row, request)


def _holder(body: TicketActionBody) -> Identity | None:
    if body.identification is None:
        return None
    if body.evidence is None:
        raise InvalidInput(
            "say how the ID was read (evidence.source)", code="required", field="evidence"
        )
    valid = (body.identification.validFor or {}).get("endDateTime")
    return Identity(
        id_type=body.identification.identificationType,
        number=body.identification.identificationId,
        given_name="-",
        family_name="-",
        expires_on=calendar_date(valid) if valid else None,
        evidence_source=body.evidence.source,
        evidence_reference=body.evidence.reference,
    )


@router.post(
    f"{V1}/troubleTickets/{{ticket_id}}/actions/{{action}}",
    status_code=201,
    summary="Act from a ticket: replaceSim, addService, removeService, reportLost, credit "
    "(Idempotency-Key), traceRecharge; each is linked to the ticket",
)
def ticket_action(
    ticket_id: str,
    action: str,
    body: TicketActionBody,
    request: Request,
    idempotency_key: str | None = KEY,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    given = ActionInput(
        reason=body.reason,
        iccid=body.iccid,
        holder=_holder(body),
        offering_id=tmf.body_id("product_offering", body.offeringId, "offeringId"),
        amount_fen=body.amountFen,
        since=body.since,
        until=body.until,
    )
    result = care_actions.act(
        db,
        actor,
        tmf.path_id("trouble_ticket", ticket_id),
        action,
        given,
        idempotency_key=idempotency_key,
    )
    return JSONResponse(
        show.action(result, tmf.base_url(request)),
        status_code=201,
        headers={"Idempotent-Replayed": "true" if result.get("replayed") else "false"},
    )


@router.post(
    f"{V1}/careVerifications",
    status_code=201,
    tags=["Public"],
    summary="Send a self-care code by SMS to a line (public, rate-limited)",
)
def create_verification(
    body: VerificationCreate, request: Request, db: Database = Depends(database)
) -> JSONResponse:
    code_limiter.take(request.client.host if request.client else "unknown")
    return JSONResponse(show.verification(care_verify.request_code(db, body.msisdn)), 201)


# --- teams, routing, breaches, reports ---------------------------------------------------


def _areas(serves: list[AreaBody]) -> list[AreaIn]:
    return [
        AreaIn(tmf.body_id("brand", a.brandId, f"serves.{i}.brandId"), a.regionCode)
        for i, a in enumerate(serves)
    ]


@router.post(f"{V1}/careTeams", status_code=201, summary="Create a care team (the MVNO)")
def create_team(
    body: CareTeamCreate,
    request: Request,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    row = care_teams.create_team(
        db,
        actor,
        name=body.name,
        owner_id=tmf.body_id("organization", body.ownerId, "ownerId"),
        areas=_areas(body.serves),
        main=body.main,
        mvno_id=tmf.body_id("organization", body.mvnoId, "mvnoId"),
    )
    return tmf.created_response(show.team(row, tmf.base_url(request)))


@router.get(f"{V1}/careTeams", summary="Care teams in your scope")
def list_teams(
    request: Request,
    params: tmf.ListParams = Depends(tmf.list_params),
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    rows, total = care_teams.list_teams(db, actor, params.filters, params.offset, params.limit)
    base = tmf.base_url(request)
    return tmf.list_response([show.team(r, base) for r in rows], total, params)


@router.get(f"{V1}/careTeams/{{team_id}}", summary="Retrieve a care team")
def get_team(
    team_id: str,
    request: Request,
    fields: str | None = None,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    row = care_teams.get_team(db, actor, tmf.path_id("care_team", team_id))
    return tmf.item_response(show.team(row, tmf.base_url(request)), fields)


@router.patch(
    f"{V1}/careTeams/{{team_id}}",
    summary="Rename a team or change what it serves",
    dependencies=[Depends(tmf.require_patch_media_type)],
)
def patch_team(
    team_id: str,
    body: CareTeamPatch,
    request: Request,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    row = care_teams.update_team(
        db,
        actor,
        tmf.path_id("care_team", team_id),
        name=body.name,
        areas=_areas(body.serves) if body.serves is not None else None,
    )
    return tmf.item_response(show.team(row, tmf.base_url(request)))


@router.post(
    f"{V1}/careTeams/{{team_id}}/members",
    status_code=201,
    summary="Add a care agent of the team's organisation",
)
def add_member(
    team_id: str,
    body: MemberCreate,
    request: Request,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    user = tmf.body_id("user", body.userId, "userId")
    row = care_teams.add_member(db, actor, tmf.path_id("care_team", team_id), user)
    return tmf.created_response(show.team(row, tmf.base_url(request)))


@router.delete(
    f"{V1}/careTeams/{{team_id}}/members/{{user_id}}",
    status_code=204,
    summary="Take an agent off a team",
)
def remove_member(
    team_id: str, user_id: str, actor: Actor = Depends(caller), db: Database = Depends(database)
) -> Response:
    care_teams.remove_member(
        db, actor, tmf.path_id("care_team", team_id), tmf.path_id("user", user_id)
    )
    return tmf.no_content()


@router.post(
    f"{V1}/careRouting",
    status_code=201,
    summary="Add a routing rule: brand × region × ticket type → team (none: any)",
)
def create_route(
    body: CareRouteCreate,
    request: Request,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    row = care_teams.create_route(
        db,
        actor,
        team_id=tmf.body_id("care_team", body.teamId, "teamId"),
        brand_id=tmf.body_id("brand", body.brandId, "brandId"),
        region_code=body.regionCode,
        ticket_type=parse(TicketType, body.ticketType, "ticketType") if body.ticketType else None,
        mvno_id=tmf.body_id("organization", body.mvnoId, "mvnoId"),
    )
    return tmf.created_response(show.route(row, tmf.base_url(request)))


@router.get(f"{V1}/careRouting", summary="The routing table in your scope")
def list_routes(
    request: Request,
    params: tmf.ListParams = Depends(tmf.list_params),
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    rows, total = care_teams.list_routes(db, actor, params.filters, params.offset, params.limit)
    base = tmf.base_url(request)
    return tmf.list_response([show.route(r, base) for r in rows], total, params)


@router.get(
    f"{V1}/careRouting/resolve",
    summary="Which team a ticket of this type for this number would go to",
)
def resolve_route(
    request: Request,
    msisdn: str = Query(...),
    ticketType: str = Query(...),
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    found = care_teams.route_test(db, actor, msisdn, ticketType)
    return JSONResponse(show.route_test(found, tmf.base_url(request)))


@router.get(f"{V1}/careRouting/{{route_id}}", summary="Retrieve a routing rule")
def get_route(
    route_id: str,
    request: Request,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    row = care_teams.get_route(db, actor, tmf.path_id("care_route", route_id))
    return tmf.item_response(show.route(row, tmf.base_url(request)))


@router.delete(f"{V1}/careRouting/{{route_id}}", status_code=204, summary="Delete a rule")
def delete_route(
    route_id: str, actor: Actor = Depends(caller), db: Database = Depends(database)
) -> Response:
    care_teams.delete_route(db, actor, tmf.path_id("care_route", route_id))
    return tmf.no_content()


@router.get(f"{V1}/slaBreaches", summary="Tickets that missed their SLA deadline")
def list_breaches(
    request: Request,
    params: tmf.ListParams = Depends(tmf.list_params),
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    rows, total = care.list_breaches(db, actor, params.filters, params.offset, params.limit)
    base = tmf.base_url(request)
    return tmf.list_response([show.breach(r, base) for r in rows], total, params)


@router.get(f"{V1}/slaBreaches/{{breach_id}}", summary="Retrieve an SLA breach")
def get_breach(
    breach_id: str,
    request: Request,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    row = care.get_breach(db, actor, tmf.path_id("care_sla_breach", breach_id))
    return tmf.item_response(show.breach(row, tmf.base_url(request)))


@router.get(f"{V1}/careReports/teams", summary="Per team: tickets by type, response, SLA")
def team_report(
    month: str = Query(..., description="YYYY-MM, business time (Asia/Shanghai)"),
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    rows = care_reports.by_team(db, actor, month)
    return JSONResponse([show.team_report(r) for r in rows])


@router.get(f"{V1}/careReports/brands", summary="Per brand: the most common problems")
def brand_report(
    month: str = Query(..., description="YYYY-MM, business time (Asia/Shanghai)"),
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    rows = care_reports.by_brand(db, actor, month)
    return JSONResponse([show.brand_report(r) for r in rows])
