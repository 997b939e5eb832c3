"""The outlet's home: its float, its cards on hand, and recharge of any connected brand's
number in two steps (preview: brand and the holder's masked name; confirm: the money moves).

The confirm form carries an idempotency key made when the form is drawn, so a double click
or a reload answers with the first result instead of charging twice. With htmx each step
swaps into the page; without it each step is a whole page.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse

from openmvne import clock
from openmvne import money as yuan
from openmvne.domain.access import Actor
from openmvne.domain.ledger import check_amount
from openmvne.domain.sims import CardState
from openmvne.errors import DomainError, InvalidInput, NotFound
from openmvne.services import money, sims
from openmvne.web.frame import (
    allowed,
    database,
    form_errors,
    form_of,
    is_htmx,
    page,
    portal_router,
    text,
    translator,
)

router = portal_router()
clerk = allowed("/outlet")
# Service field names → this form's fields; anything else is said at the top of the form.
FIELDS = {"msisdn": "msisdn", "amountFen": "amount", "amount": "amount"}
CONFIRM_FIELDS = {"channelOrderNumber": "channelOrderNumber"}
WHOLE_FEN = re.compile(r"[0-9]{1,15}")


def _float(request: Request, actor: Actor) -> dict[str, Any] | None:
    try:
        return money.float_of(database(request), actor, None)
    except NotFound:
        return None  # no float paid in yet


def _stock(request: Request, actor: Actor) -> list[tuple[str, int]]:
    counts: dict[str, int] = {}
    for row in sims.stock(database(request), actor.scope):
        if row["holder_party_id"] == actor.party_id:
            counts[row["state"]] = counts.get(row["state"], 0) + row["count"]
    order = [s.value for s in CardState]
    return sorted(counts.items(), key=lambda item: order.index(item[0]) if item[0] in order else 99)


def _show(
    request: Request, actor: Actor, step: str, *, status: int = 200, **recharge: Any
) -> HTMLResponse:
    """The recharge section at `step` (form, preview, done): alone for htmx, else the page."""
    context: dict[str, Any] = {
        "step": step,
        "values": recharge.pop("values", {}),
        "errors": recharge.pop("errors", {}),
        **recharge,
    }
    if step == "done" or not is_htmx(request):
        context["outlet_float"] = _float(request, actor)
    if is_htmx(request):
        return page(request, "outlet/_recharge.html", status=status, **context)
    return page(request, "outlet/page.html", status=status, stock=_stock(request, actor), **context)


@router.get("/outlet", response_class=HTMLResponse)
def outlet_home(request: Request, actor: Actor = Depends(clerk)) -> HTMLResponse:
    return _show(request, actor, "form")


def _amount_fen(raw: str) -> int:
    try:
        fen = yuan.parse_yuan(raw)
    except ValueError as exc:
        raise InvalidInput(str(exc), code="bad_amount", field="amount") from exc
    return check_amount(fen, field="amount")


@router.post("/outlet/recharge/preview", response_class=HTMLResponse)
def recharge_preview(request: Request, actor: Actor = Depends(clerk)) -> HTMLResponse:
    form, t = form_of(request), translator(request)
    values = {"msisdn": text(form, "msisdn"), "amount": text(form, "amount")}
    errors = {name: t("error.required") for name, value in values.items() if not value}
    amount_fen = 0
    if values["amount"]:
        try:
            amount_fen = _amount_fen(values["amount"])
        except DomainError as exc:
            errors.update(form_errors(t, exc, FIELDS))
    if errors:
        return _show(request, actor, "form", status=422, values=values, errors=errors)
    try:
        preview = money.preview(database(request), actor, values["msisdn"])
    except DomainError as exc:
        errors = form_errors(t, exc, FIELDS)
        return _show(request, actor, "form", status=422, values=values, errors=errors)
    return _confirm_form(request, actor, preview, amount_fen, order="", errors={})


def _confirm_form(
    request: Request,
    actor: Actor,
    preview: dict[str, Any],
    amount_fen: int,
    *,
    order: str,
    errors: dict[str, str],
) -> HTMLResponse:
    key = secrets.token_urlsafe(18)  # one per drawn form: a resend of this form is a replay
    order = order or f"W{clock.now():%Y%m%d}-{key[:10]}"
    return _show(
        request,
        actor,
        "preview",
        status=422 if errors else 200,
        preview=preview,
        amount_fen=amount_fen,
        key=key,
        values={"channelOrderNumber": order},
        errors=errors,
    )


@router.post("/outlet/recharge/confirm", response_class=HTMLResponse)
def recharge_confirm(request: Request, actor: Actor = Depends(clerk)) -> HTMLResponse:
    form, t = form_of(request), translator(request)
    msisdn, order, key = text(form, "msisdn"), text(form, "channelOrderNumber"), text(form, "key")
    raw_fen = text(form, "amountFen")
    amount_fen = int(raw_fen) if WHOLE_FEN.fullmatch(raw_fen) else -1  # -1: refused below
    values = {"msisdn": msisdn, "amount": yuan.format_fen(amount_fen) if amount_fen > 0 else ""}
    db = database(request)
    try:
        result = money.recharge(
            db,
            actor,
            msisdn=msisdn,
            amount_fen=amount_fen,
            channel_order_number=order,
            idempotency_key=key,
        )
    except DomainError as exc:
        if exc.field in CONFIRM_FIELDS:  # fix it on the confirm form itself
            try:
                preview = money.preview(db, actor, msisdn)
            except DomainError:
                pass
            else:
                errors = form_errors(t, exc, CONFIRM_FIELDS)
                return _confirm_form(
                    request, actor, preview, amount_fen, order=order, errors=errors
                )
        errors = form_errors(t, exc, FIELDS)
        return _show(request, actor, "form", status=422, values=values, errors=errors)
    return _show(request, actor, "done", result=result)
