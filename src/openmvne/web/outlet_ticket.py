"""The outlet opens a trouble ticket for a customer at the counter (services/care.py, the same
as TMF621's POST): the number, the kind of problem, how bad, a description; the ticket comes
back routed to the brand's care team, with its id, state and SLA deadline. The outlet also
sees the tickets it opened (care's scope: an outlet sees its own).

The form carries an idempotency key drawn with it, so a double submit opens one ticket.
"""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse

from openmvne import ids
from openmvne.domain.access import Actor
from openmvne.domain.care import Severity, TicketType
from openmvne.errors import DomainError
from openmvne.services import care
from openmvne.web.frame import allowed, database, form_of, page, portal_router, text, translator
from openmvne.web.outlet_sale import place

router = portal_router()
clerk = allowed("/outlet/ticket")
FIELDS = {
    "msisdn": "msisdn",
    "ticketType": "ticket_type",
    "severity": "severity",
    "description": "description",
    "name": "description",
}


def _show(
    request: Request,
    actor: Actor,
    *,
    values: dict[str, str],
    errors: dict[str, str],
    ticket: dict[str, Any] | None = None,
) -> HTMLResponse:
    t = translator(request)
    mine, _ = care.list_tickets(database(request), actor, {}, 0, 10)
    return page(
        request,
        "outlet/ticket/page.html",
        status=422 if errors else 200,
        values=values,
        errors=errors,
        ticket=ticket,
        ticket_public=ids.to_public("trouble_ticket", ticket["id"]) if ticket else "",
        mine=[{**row, "public_id": ids.to_public("trouble_ticket", row["id"])} for row in mine],
        type_options=[(k.value, t(f"outletticket.type.{k.value}")) for k in TicketType],
        severity_options=[(s.value, t(f"outletticket.severity.{s.value}")) for s in Severity],
        key=secrets.token_urlsafe(18),  # one per drawn form: a resend is a replay
    )


@router.get("/outlet/ticket", response_class=HTMLResponse)
def ticket_form(request: Request, actor: Actor = Depends(clerk)) -> HTMLResponse:
    values = {"msisdn": (request.query_params.get("msisdn") or "").strip(), "severity": "major"}
    return _show(request, actor, values=values, errors={})


@router.post("/outlet/ticket", response_class=HTMLResponse)
def ticket_open(request: Request, actor: Actor = Depends(clerk)) -> HTMLResponse:
    form, t = form_of(request), translator(request)
    names = ("msisdn", "ticket_type", "severity", "description")
    values = {name: text(form, name) for name in names}
    values["msisdn"] = "".join(values["msisdn"].split())
    errors = {name: t("error.required") for name in names if not values[name]}
    if errors:
        return _show(request, actor, values=values, errors=errors)
    request_ = care.TicketRequest(
        msisdn=values["msisdn"],
        ticket_type=values["ticket_type"],
        severity=values["severity"],
        description=values["description"],
    )
    try:
        ticket = care.open_ticket(
            database(request), actor, request_, idempotency_key=text(form, "key") or None
        )
    except DomainError as exc:
        return _show(request, actor, values=values, errors=place(t, exc, FIELDS))
    fresh = {"msisdn": "", "severity": "major"}
    return _show(request, actor, values=fresh, errors={}, ticket=ticket)
