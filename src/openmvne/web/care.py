"""The care agent's pages: the queue of the agent's own teams (`/care`, by state, with the SLA
deadline and breaches), and one ticket (`/care/tickets/{id}`): the subscriber's summary (ID
masked), the ticket's history, the state change (a resolution needs a note) and the actions
from a ticket (services/care_actions.py) as forms, each carrying an idempotency key drawn
with the page, so a resend answers with the first result instead of acting twice.

A partner's agent sees only its teams' tickets (the scope decides); a ticket the caller does
not see answers 404, as the services say.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import date
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse

from openmvne import ids
from openmvne import money as yuan
from openmvne.domain.access import Actor
from openmvne.domain.care import MOVES, TicketAction, TicketStatus
from openmvne.domain.identity import EvidenceSource, IdType
from openmvne.domain.ledger import check_amount
from openmvne.domain.parties import OrgKind, Role
from openmvne.errors import DomainError, InvalidInput, NotFound
from openmvne.services import care, care_actions, care_teams, catalog
from openmvne.services import subscriber_orders as orders
from openmvne.services.subscriber_sale import Identity
from openmvne.web import i18n
from openmvne.web.frame import (
    allowed,
    database,
    form_of,
    page,
    portal_router,
    text,
    translator,
)
from openmvne.web.i18n import Translator
from openmvne.web.public import region_name

router = portal_router()
agent = allowed("/care")
SHOWN = 200
OPEN = ("acknowledged", "inProgress", "pending")
FILTERS = ("open", *(s.value for s in TicketStatus), "all")
# The desk's moves offered on the page (rejecting needs the MVNO's judgement: the API has it).
OFFERED = (
    TicketStatus.IN_PROGRESS,
    TicketStatus.PENDING,
    TicketStatus.RESOLVED,
    TicketStatus.CLOSED,
)
NEEDS_NOTE = (TicketStatus.RESOLVED, TicketStatus.REJECTED)
# Service field names → each form's fields; anything else is said at the top of the form.
FIELDS: dict[str, dict[str, str]] = {
    "status": {"status": "status", "statusChangeReason": "note", "note": "note"},
    "replaceSim": {
        "iccid": "iccid",
        "identification": "idNumber",
        "realNameEvidence.source": "evidence",
        "givenName": "idNumber",
        "familyName": "idNumber",
        "expiresOn": "expiresOn",
        "idNumber": "idNumber",
        "idType": "idNumber",
    },
    "addService": {"offeringId": "addOffering"},
    "removeService": {"offeringId": "removeOffering"},
    "reportLost": {"reason": "lostReason"},
    "credit": {"amountFen": "creditAmount", "amount": "creditAmount", "reason": "creditReason"},
    "traceRecharge": {"since": "traceSince"},
}


def message(t: Translator, exc: DomainError) -> str:
    """An error in the page's language: this area's words for it, else the portal's."""
    key = f"care.err.{exc.code}"
    return t(key) if key in i18n.catalogue(i18n.FALLBACK) else t.error(exc)


def _errors(t: Translator, action: str, exc: DomainError) -> dict[str, str]:
    return {FIELDS[action].get(exc.field or "", "_form"): message(t, exc)}


def _ticket_id(public: str) -> uuid.UUID:
    found = ids.from_public("trouble_ticket", public)
    if found is None:
        raise NotFound("no such trouble ticket")
    return found


def my_teams(request: Request, actor: Actor) -> list[dict[str, Any]]:
    """The teams whose queue the caller works, among those the scope sees: an agent's own
    teams; for a partner's administrator, every team its organisation runs."""
    teams, _ = care_teams.list_teams(database(request), actor, {}, 0, SHOWN)
    runs_teams = actor.has(Role.PARTNER_ADMIN)
    return [
        team
        for team in teams
        if any(member["id"] == actor.user_id for member in team["members"])
        or (runs_teams and team["owner_party_id"] == actor.party_id)
    ]


def _row(ticket: dict[str, Any]) -> dict[str, Any]:
    return {
        **ticket,
        "public_id": ids.to_public("trouble_ticket", ticket["id"]),
        "region": region_name(ticket["region_code"]),
    }


@router.get("/care", response_class=HTMLResponse)
def care_queue(
    request: Request, state: str = "open", actor: Actor = Depends(agent)
) -> HTMLResponse:
    chosen = state if state in FILTERS else "open"
    db = database(request)
    teams = my_teams(request, actor)
    found: list[dict[str, Any]] = []
    for team in teams:
        wanted = {"teamId": ids.to_public("care_team", team["id"])}
        if chosen not in ("open", "all"):
            wanted["status"] = chosen
        rows, _ = care.list_tickets(db, actor, wanted, 0, SHOWN)
        found.extend(rows)
    if chosen == "open":
        found = [r for r in found if r["status"] in OPEN]
    found.sort(key=lambda r: (r["breached"] is False, r["sla_due_at"]))
    return page(
        request,
        "care/queue.html",
        teams=teams,
        tickets=[_row(r) for r in found],
        state=chosen,
        filters=FILTERS,
    )


def _keys() -> dict[str, str]:
    """One idempotency key per action form drawn: a resend of that form is a replay."""
    return {action.value: secrets.token_urlsafe(18) for action in TicketAction}


def _summary(request: Request, actor: Actor, msisdn: str) -> dict[str, Any] | None:
    try:
        return orders.summary(database(request), actor, msisdn)
    except NotFound:
        return None  # a partner's agent may not see a line its subtree did not sell


def _addons(request: Request, actor: Actor) -> list[dict[str, Any]]:
    try:
        rows, _ = catalog.list_offers(
            database(request),
            actor.scope,
            {"offerType": "addon", "lifecycleStatus": "active"},
            0,
            100,
        )
    except DomainError:
        return []
    return [{**r, "public_id": ids.to_public("product_offering", r["id"])} for r in rows]


def _show(
    request: Request,
    actor: Actor,
    ticket_id: uuid.UUID,
    *,
    status: int = 200,
    failed: str | None = None,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    done: dict[str, Any] | None = None,
) -> HTMLResponse:
    db = database(request)
    ticket = care.get_ticket(db, actor, ticket_id)  # 404 when not visible
    current = TicketStatus(ticket["status"])
    mvno_desk = actor.party_kind in (OrgKind.MVNO, OrgKind.PLATFORM)
    moves = [m.value for m in OFFERED if m in MOVES[current]]
    t = translator(request)
    return page(
        request,
        "care/ticket.html",
        status=status,
        ticket=_row(ticket),
        summary=_summary(request, actor, ticket["msisdn"]),
        moves=moves,
        move_options=[(m, t(f"care.status.{m}")) for m in moves],
        is_open=current.value in OPEN,
        mvno_desk=mvno_desk,
        addon_options=[(a["public_id"], a["name"]) for a in _addons(request, actor)],
        keys=_keys(),
        failed=failed,
        errors=errors or {},
        values=values or {},
        done=done,
        id_type_options=[(i.value, t(f"idtype.{i.value}")) for i in IdType],
        evidence_options=[(e.value, t(f"care.evidence.{e.value}")) for e in EvidenceSource],
    )


@router.get("/care/tickets/{public_id}", response_class=HTMLResponse)
def ticket_page(request: Request, public_id: str, actor: Actor = Depends(agent)) -> HTMLResponse:
    return _show(request, actor, _ticket_id(public_id))


@router.post("/care/tickets/{public_id}/status", response_class=HTMLResponse)
def change_status(request: Request, public_id: str, actor: Actor = Depends(agent)) -> HTMLResponse:
    ticket_id = _ticket_id(public_id)
    form, t = form_of(request), translator(request)
    values = {"status": text(form, "status"), "note": text(form, "note")}
    target = values["status"]
    errors: dict[str, str] = {}
    if not target and not values["note"]:
        errors["note"] = t("error.required")
    if target in (s.value for s in NEEDS_NOTE) and not values["note"]:
        errors["note"] = t("care.note_needed")
    if errors:
        return _show(
            request, actor, ticket_id, status=422, failed="status", errors=errors, values=values
        )
    try:
        if target:
            care.update_ticket(
                database(request), actor, ticket_id, status=target, reason=values["note"] or None
            )
        else:
            care.update_ticket(database(request), actor, ticket_id, notes=[values["note"]])
    except DomainError as exc:
        if exc.status == 404:
            raise
        return _show(
            request,
            actor,
            ticket_id,
            status=422 if exc.status == 400 else exc.status,
            failed="status",
            errors=_errors(t, "status", exc),
            values=values,
        )
    done = {"kind": "status", "status": target} if target else {"kind": "note"}
    return _show(request, actor, ticket_id, done=done)


def _holder(values: dict[str, str]) -> Identity:
    expires: date | None = None
    if values["expiresOn"]:
        try:
            expires = date.fromisoformat(values["expiresOn"])
        except ValueError:
            raise InvalidInput(
                "the expiry date is YYYY-MM-DD", code="bad_date", field="expiresOn"
            ) from None
    return Identity(
        id_type=values["idType"] or IdType.RESIDENT.value,
        number=values["idNumber"],
        given_name="-",  # the number decides whose ID it is (the fingerprint); names do not
        family_name="-",
        expires_on=expires,
        evidence_source=values["evidence"] or EvidenceSource.READER.value,
    )


def _offering(raw: str, field: str) -> uuid.UUID:
    found = ids.from_public("product_offering", raw)
    if found is None:
        raise InvalidInput("choose an add-on", code="required", field=field)
    return found


def _input(action: TicketAction, values: dict[str, str]) -> care_actions.ActionInput:
    if action is TicketAction.REPLACE_SIM:
        return care_actions.ActionInput(iccid=values["iccid"], holder=_holder(values))
    if action is TicketAction.ADD_SERVICE:
        return care_actions.ActionInput(offering_id=_offering(values["addOffering"], "offeringId"))
    if action is TicketAction.REMOVE_SERVICE:
        return care_actions.ActionInput(
            offering_id=_offering(values["removeOffering"], "offeringId")
        )
    if action is TicketAction.REPORT_LOST:
        return care_actions.ActionInput(reason=values["lostReason"] or None)
    if action is TicketAction.CREDIT:
        try:
            fen = yuan.parse_yuan(values["creditAmount"])
        except ValueError as exc:
            raise InvalidInput(str(exc), code="bad_amount", field="amount") from exc
        return care_actions.ActionInput(
            amount_fen=check_amount(fen, field="amount"), reason=values["creditReason"]
        )
    return care_actions.ActionInput()


ACTION_FIELDS = {
    TicketAction.REPLACE_SIM: ("iccid", "idType", "idNumber", "expiresOn", "evidence"),
    TicketAction.ADD_SERVICE: ("addOffering",),
    TicketAction.REMOVE_SERVICE: ("removeOffering",),
    TicketAction.REPORT_LOST: ("lostReason",),
    TicketAction.CREDIT: ("creditAmount", "creditReason"),
    TicketAction.TRACE_RECHARGE: (),
}
REQUIRED = {"iccid", "idNumber", "addOffering", "removeOffering", "creditAmount", "creditReason"}


@router.post("/care/tickets/{public_id}/actions/{name}", response_class=HTMLResponse)
def ticket_action(
    request: Request, public_id: str, name: str, actor: Actor = Depends(agent)
) -> HTMLResponse:
    ticket_id = _ticket_id(public_id)
    try:
        action = TicketAction(name)
    except ValueError:
        raise NotFound("no such action", code="unknown_action") from None
    form, t = form_of(request), translator(request)
    values = {field: text(form, field) for field in ACTION_FIELDS[action]}
    errors = {f: t("error.required") for f, v in values.items() if f in REQUIRED and not v}
    if errors:
        return _show(
            request, actor, ticket_id, status=422, failed=name, errors=errors, values=values
        )
    try:
        result = care_actions.act(
            database(request),
            actor,
            ticket_id,
            name,
            _input(action, values),
            idempotency_key=text(form, "key") or None,
        )
    except DomainError as exc:
        if exc.status == 404 and exc.field is None:
            raise
        return _show(
            request,
            actor,
            ticket_id,
            status=422 if exc.status == 400 else exc.status,
            failed=name,
            errors=_errors(t, name, exc),
            values=values,
        )
    return _show(request, actor, ticket_id, done={"kind": "action", **result})
