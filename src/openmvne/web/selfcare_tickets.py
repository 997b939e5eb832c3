"""The subscriber's tickets: the list (tickets about their own lines), opening one for one
of their lines, and a ticket's state and history, where they may add a note, confirm a
resolved ticket (closed) or reopen it. The care desk works them (services/care.py)."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from openmvne import ids
from openmvne.domain.access import Actor
from openmvne.domain.care import Severity, TicketStatus, TicketType
from openmvne.errors import DomainError, NotFound
from openmvne.services import care, subscriber_orders
from openmvne.web.frame import allowed, database, form_of, page, portal_router, text, translator
from openmvne.web.selfcare import new_key, place

router = portal_router()
holder = allowed("/me/tickets")
TICKETS_SHOWN = 50
LINES_SHOWN = 20
# Self-care opens these (a SIM replacement from the line's page, with its own wording).
TYPES = [k.value for k in TicketType]
SEVERITIES = [s.value for s in Severity]
OPEN_FIELDS = {
    "msisdn": "msisdn",
    "ticketType": "ticketType",
    "severity": "severity",
    "description": "description",
    "name": "name",
}
NOTE_FIELDS = {"note": "note", "status": "_form"}
# What the requester may do from each state (domain/care.py: the rest is the desk's).
REQUESTER_MOVES = {
    TicketStatus.RESOLVED.value: (TicketStatus.CLOSED.value, TicketStatus.IN_PROGRESS.value)
}
FINAL = (TicketStatus.CLOSED.value, TicketStatus.REJECTED.value)


def _own_numbers(request: Request, actor: Actor) -> list[str]:
    rows, _ = subscriber_orders.list_products(database(request), actor.scope, {}, 0, LINES_SHOWN)
    ended = ("cancelled", "failed")
    return list(dict.fromkeys(r["msisdn"] for r in rows if r["state"] not in ended))


def _list_page(
    request: Request,
    actor: Actor,
    *,
    status: int = 200,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> HTMLResponse:
    rows, total = care.list_tickets(database(request), actor, {}, 0, TICKETS_SHOWN)
    numbers = _own_numbers(request, actor)
    chosen = values or {"msisdn": request.query_params.get("msisdn", "")}
    return page(
        request,
        "me/tickets.html",
        status=status,
        tickets=[{**r, "public_id": ids.to_public("trouble_ticket", r["id"])} for r in rows],
        total=total,
        numbers=numbers,
        types=TYPES,
        severities=SEVERITIES,
        values=chosen,
        errors=errors or {},
        key=new_key(),
    )


@router.get("/me/tickets", response_class=HTMLResponse)
def tickets(request: Request, actor: Actor = Depends(holder)) -> HTMLResponse:
    return _list_page(request, actor)


@router.post("/me/tickets", response_class=HTMLResponse)
def open_ticket(request: Request, actor: Actor = Depends(holder)) -> Response:
    form, t = form_of(request), translator(request)
    values = {
        name: text(form, name) for name in ("msisdn", "ticketType", "severity", "description")
    }
    values["name"] = text(form, "name")
    errors = {
        name: t("error.required")
        for name in ("msisdn", "ticketType", "severity", "description")
        if not values[name]
    }
    if errors:
        return _list_page(request, actor, status=422, values=values, errors=errors)
    req = care.TicketRequest(
        msisdn=values["msisdn"],
        ticket_type=values["ticketType"],
        severity=values["severity"],
        description=values["description"],
        name=values["name"] or None,
    )
    try:
        ticket = care.open_ticket(
            database(request), actor, req, idempotency_key=text(form, "key") or None
        )
    except DomainError as exc:
        errors = place(t, exc, OPEN_FIELDS)
        return _list_page(request, actor, status=422, values=values, errors=errors)
    public = ids.to_public("trouble_ticket", ticket["id"])
    return RedirectResponse(f"/me/tickets/{public}?opened=1", status_code=303)


def _ticket(request: Request, actor: Actor, ticket_id: str) -> dict[str, Any]:
    found = ids.from_public("trouble_ticket", ticket_id)
    if found is None:
        raise NotFound("no such trouble ticket")
    return care.get_ticket(database(request), actor, found)


def _ticket_page(
    request: Request,
    actor: Actor,
    ticket_id: str,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
) -> HTMLResponse:
    ticket = _ticket(request, actor, ticket_id)
    return page(
        request,
        "me/ticket.html",
        status=status,
        ticket=ticket,
        public_id=ticket_id,
        moves=REQUESTER_MOVES.get(ticket["status"], ()),
        may_note=ticket["status"] not in FINAL,
        opened=bool(request.query_params.get("opened")),
        errors=errors or {},
    )


@router.get("/me/tickets/{ticket_id}", response_class=HTMLResponse)
def ticket_page(ticket_id: str, request: Request, actor: Actor = Depends(holder)) -> HTMLResponse:
    return _ticket_page(request, actor, ticket_id)


@router.post("/me/tickets/{ticket_id}", response_class=HTMLResponse)
def update_ticket(ticket_id: str, request: Request, actor: Actor = Depends(holder)) -> Response:
    """A note from the requester (which answers a pending ticket), or a confirm / reopen."""
    form, t = form_of(request), translator(request)
    note, target = text(form, "note"), text(form, "status") or None
    ticket = _ticket(request, actor, ticket_id)
    if not note and target is None:
        return _ticket_page(
            request, actor, ticket_id, status=422, errors={"note": t("error.required")}
        )
    try:
        care.update_ticket(
            database(request),
            actor,
            ticket["id"],
            status=target,
            reason=note if target is not None and note else None,
            notes=[note] if note and target is None else [],
        )
    except DomainError as exc:
        errors = place(t, exc, NOTE_FIELDS)
        return _ticket_page(request, actor, ticket_id, status=422, errors=errors)
    return RedirectResponse(f"/me/tickets/{ticket_id}", status_code=303)
