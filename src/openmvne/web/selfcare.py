"""Subscriber self-care: log-in by number and SMS code, and a page per own line (balance,
allowances left, usage by day as a small SVG chart, recharge through the payment gateway or
with a voucher PIN, and a SIM replacement request).

Log-in by SMS code (`/login/sms`): the code goes out through the SMS gateway
(care_verify.request_code: its per-number limits and lock-out are shown as field errors),
and a right code makes the holder of the line a portal user (services/selfcare.py: their
own account, or a passwordless one made at the first SMS log-in).

A line page answers 404 for any number that is not the visitor's own (the subscriber's
scope decides: subscriber_orders.summary). Money forms carry an idempotency key made when
the form is drawn, so a resend answers with the first result. Tickets: selfcare_tickets.py.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from openmvne import ids
from openmvne import money as yuan
from openmvne.api.ratelimit import TokenBucket
from openmvne.domain.access import Actor
from openmvne.domain.care import Severity, TicketType
from openmvne.domain.ledger import check_amount
from openmvne.domain.numbers import parse_msisdn
from openmvne.errors import DomainError, InvalidInput, NotFound
from openmvne.services import (
    care,
    care_verify,
    payments,
    selfcare,
    subscriber_orders,
    usage,
    vouchers,
)
from openmvne.web import i18n
from openmvne.web.frame import (
    allowed,
    database,
    form_of,
    home_of,
    is_htmx,
    maybe_actor,
    now_s,
    page,
    portal_router,
    safe_next,
    templates,
    text,
    translator,
)
from openmvne.web.i18n import Translator
from openmvne.web.public import region_name
from openmvne.web.session import PortalSession

router = portal_router()
holder = allowed("/me")
# Per client address, as the API's careVerifications; the number's own limits are the service's.
code_limiter = TokenBucket(rate_per_s=0.5, burst=10)
login_limiter = TokenBucket(rate_per_s=0.2, burst=30)
CODE_FIELDS = {"msisdn": "msisdn", "X-Verification-Code": "code", "": "code"}
PAY_FIELDS = {"msisdn": "_form", "amountFen": "amount", "amount": "amount"}
PIN_FIELDS = {"pin": "pin", "": "pin", "msisdn": "_form"}
SIM_FIELDS = {"description": "description"}
PRESET_AMOUNTS = (30, 50, 100)
CHART_W, CHART_H, CHART_TOP, CHART_BOTTOM = 640, 200, 16, 28

templates.env.filters.setdefault("region_name", region_name)
templates.env.tests.setdefault("message", lambda key: key in i18n.catalogue(i18n.FALLBACK))


# --- shared helpers (selfcare_tickets.py uses them too) ------------------------------------


def error_text(t: Translator, exc: DomainError) -> str:
    """This area's wording of an error (with its details), else the portal's."""
    key = f"self.error.{exc.code}"
    if key in i18n.catalogue(i18n.FALLBACK):
        return t(key, **exc.details)
    return t.error(exc)


def place(t: Translator, exc: DomainError, fields: Mapping[str, str]) -> dict[str, str]:
    """The error next to the form field it names (unknown fields: at the top, `_form`)."""
    return {fields.get(exc.field or "", "_form"): error_text(t, exc)}


def new_key() -> str:
    return secrets.token_urlsafe(18)


def own_line(request: Request, actor: Actor, msisdn: str) -> dict[str, Any]:
    """The visitor's own line's summary; any other number is 404 (the scope says so)."""
    try:
        number = parse_msisdn(msisdn).national
    except DomainError as exc:
        raise NotFound("not one of your lines", code="unknown_line") from exc
    return subscriber_orders.summary(database(request), actor, number)


def masked(msisdn: str) -> str:
    return f"{msisdn[:3]} **** {msisdn[7:]}" if len(msisdn) == 11 else msisdn


# --- log-in by SMS code -------------------------------------------------------------------


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _sms_page(
    request: Request,
    step: str,
    *,
    msisdn: str,
    target: str,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    return page(
        request,
        "me/sms_login.html",
        status=status,
        step=step,
        msisdn=msisdn,
        next=target,
        errors=errors or {},
        notice=notice,
    )


@router.get("/login/sms", response_class=HTMLResponse)
def sms_login_form(request: Request, actor: Actor | None = Depends(maybe_actor)) -> Response:
    target = safe_next(request.query_params.get("next"))
    if actor is not None:
        return RedirectResponse(home_of(actor) if target == "/home" else target, status_code=303)
    msisdn = request.query_params.get("msisdn", "").strip()[:20]
    return _sms_page(request, "number", msisdn=msisdn, target=target)


@router.post("/login/sms/code", response_class=HTMLResponse)
def sms_send_code(request: Request) -> HTMLResponse:
    form, t = form_of(request), translator(request)
    msisdn, target = text(form, "msisdn")[:20], safe_next(text(form, "next"))
    if not msisdn:
        errors = {"msisdn": t("error.required")}
        return _sms_page(request, "number", msisdn=msisdn, target=target, errors=errors, status=422)
    again = bool(text(form, "again"))  # "send a new code" from the code step
    try:
        code_limiter.take(_client(request))
        sent = care_verify.request_code(database(request), msisdn)
    except DomainError as exc:
        errors = {"_form": error_text(t, exc)} if again else place(t, exc, {"msisdn": "msisdn"})
        step = "code" if again else "number"
        return _sms_page(
            request, step, msisdn=msisdn, target=target, errors=errors, status=exc.status
        )
    notice = t("self.login.sent", msisdn=masked(sent["msisdn"]))
    return _sms_page(request, "code", msisdn=sent["msisdn"], target=target, notice=notice)


@router.post("/login/sms", response_class=HTMLResponse)
def sms_login(request: Request) -> Response:
    form, t = form_of(request), translator(request)
    msisdn, code = text(form, "msisdn")[:20], text(form, "code")
    target = safe_next(text(form, "next"))
    errors: dict[str, str] = {}
    if not code:
        errors["code"] = t("error.required")
    elif not (code.isascii() and code.isdigit() and len(code) == 6):
        errors["code"] = t("self.error.code_format")
    actor = None
    if not errors:
        try:
            login_limiter.take(f"{_client(request)}|{msisdn}")
            actor = selfcare.login_by_code(database(request), msisdn, code)
        except DomainError as exc:
            errors = place(t, exc, CODE_FIELDS)
    if actor is None or actor.user_id is None:
        step = "number" if "msisdn" in errors else "code"
        return _sms_page(request, step, msisdn=msisdn, target=target, errors=errors, status=422)
    request.state.session = PortalSession.logged_in(actor.user_id, now_s())
    request.state.actor, request.state.actor_loaded = actor, True
    return RedirectResponse(home_of(actor) if target == "/home" else target, status_code=303)


# --- a line -------------------------------------------------------------------------------


def _usage(request: Request, actor: Actor, msisdn: str) -> tuple[list[dict[str, Any]], ...]:
    db = database(request)
    try:
        found_buckets = usage.buckets(db, actor.scope, msisdn)
        by_day = usage.daily(db, actor.scope, msisdn)
    except NotFound:  # not a line that uses the network (yet): nothing to show
        return [], []
    return found_buckets, by_day


def _days(by_day: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rated usage per day: voice minutes, messages, data MB."""
    days: dict[str, dict[str, Any]] = {}
    for row in by_day:
        day = days.setdefault(row["day"], {"day": row["day"], "voice": 0, "sms": 0, "data": 0})
        day[row["type"]] += row["units"]
    out = []
    for day in sorted(days.values(), key=lambda d: d["day"]):
        out.append(
            {
                "day": day["day"],
                "voice_min": (day["voice"] + 59) // 60,
                "sms": day["sms"],
                "data_mb": round(day["data"] / 1024, 1),
            }
        )
    return out


def chart(days: list[dict[str, Any]]) -> dict[str, Any] | None:
    """A bar per day of data used (MB), laid out for an inline SVG."""
    if not days:
        return None
    top = max(d["data_mb"] for d in days) or 1.0
    inner = CHART_H - CHART_TOP - CHART_BOTTOM
    step = CHART_W / len(days)
    width = max(2.0, step * 0.7)
    bars = []
    for i, d in enumerate(days):
        height = inner * d["data_mb"] / top
        bars.append(
            {
                "x": round(i * step + (step - width) / 2, 1),
                "y": round(CHART_TOP + inner - height, 1),
                "w": round(width, 1),
                "h": round(height, 1),
                "day": d["day"],
                "label": d["day"][8:],
                "mb": d["data_mb"],
                "show_label": len(days) <= 16 or i % max(1, len(days) // 10) == 0,
            }
        )
    return {"w": CHART_W, "h": CHART_H, "base": CHART_H - CHART_BOTTOM, "top": top, "bars": bars}


def _line_page(
    request: Request,
    actor: Actor,
    msisdn: str,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    done: dict[str, Any] | None = None,
) -> HTMLResponse:
    summary = own_line(request, actor, msisdn)
    number = summary["line"]["msisdn"]
    found_buckets, by_day = _usage(request, actor, number)
    days = _days(by_day)
    return page(
        request,
        "me/line.html",
        status=status,
        s=summary,
        buckets=found_buckets,
        days=days,
        chart=chart(days),
        errors=errors or {},
        values=values or {},
        done=done,
        pay_key=new_key(),
        pin_key=new_key(),
        sim_key=new_key(),
        services=[
            {**svc, "public_id": ids.to_public("product_offering", svc["id"]), "key": new_key()}
            for svc in subscriber_orders.services_for(database(request), actor, number)
        ],
        presets=PRESET_AMOUNTS,
    )


@router.get("/me/line/{msisdn}", response_class=HTMLResponse)
def line_page(msisdn: str, request: Request, actor: Actor = Depends(holder)) -> HTMLResponse:
    return _line_page(request, actor, msisdn)


def _amount_fen(raw: str) -> int:
    try:
        fen = yuan.parse_yuan(raw)
    except ValueError as exc:
        raise InvalidInput(str(exc), code="bad_amount", field="amount") from exc
    return check_amount(fen, field="amount")


@router.post("/me/line/{msisdn}/pay", response_class=HTMLResponse)
def pay(msisdn: str, request: Request, actor: Actor = Depends(holder)) -> Response:
    """Recharge by the payment gateway: a payment order, then the gateway's page, which
    sends the payer back to the order's status here."""
    form, t = form_of(request), translator(request)
    number = own_line(request, actor, msisdn)["line"]["msisdn"]
    raw, key = text(form, "amount"), text(form, "key")
    values = {"amount": raw}
    try:
        if not raw:
            raise InvalidInput("required", code="required", field="amount")
        order = payments.create_order(
            database(request),
            actor,
            msisdn=number,
            amount_fen=_amount_fen(raw),
            idempotency_key=key,
        )
    except DomainError as exc:
        errors = place(t, exc, PAY_FIELDS)
        if exc.code == "required":
            errors = {"amount": t("error.required")}
        return _line_page(request, actor, number, status=422, errors=errors, values=values)
    back = f"/me/line/{number}/payments/{order['orderId']}"
    query = urlencode({"amountFen": order["amountFen"], "returnUrl": back})
    return RedirectResponse(f"/fake-gateway/pay/{order['orderId']}?{query}", status_code=303)


@router.get("/me/line/{msisdn}/payments/{order_id}", response_class=HTMLResponse)
def payment_status(
    msisdn: str, order_id: str, request: Request, actor: Actor = Depends(holder)
) -> HTMLResponse:
    """The order's status: pending until the gateway's signed callback lands (htmx asks
    again every second meanwhile; without JavaScript, reload)."""
    summary = own_line(request, actor, msisdn)
    try:
        order = payments.get_order(database(request), actor, uuid.UUID(order_id))
    except ValueError as exc:
        raise NotFound("no such payment order") from exc
    if order["msisdn"] != summary["line"]["msisdn"]:
        raise NotFound("no such payment order")
    name = "me/_payment.html" if is_htmx(request) else "me/payment.html"
    return page(request, name, s=summary, order=order)


@router.post("/me/line/{msisdn}/voucher", response_class=HTMLResponse)
def redeem_voucher(msisdn: str, request: Request, actor: Actor = Depends(holder)) -> HTMLResponse:
    form, t = form_of(request), translator(request)
    number = own_line(request, actor, msisdn)["line"]["msisdn"]
    pin = "".join(text(form, "pin").split())  # printed in groups: 1234 5678 …
    if not pin:
        errors = {"pin": t("error.required")}
        return _line_page(request, actor, number, status=422, errors=errors)
    try:
        result = vouchers.redeem(
            database(request), actor, msisdn=number, pin=pin, idempotency_key=text(form, "key")
        )
    except DomainError as exc:
        errors = place(t, exc, PIN_FIELDS)
        return _line_page(request, actor, number, status=422, errors=errors)
    return _line_page(request, actor, number, done={"voucher": result})


@router.post("/me/line/{msisdn}/services", response_class=HTMLResponse)
def change_service(msisdn: str, request: Request, actor: Actor = Depends(holder)) -> HTMLResponse:
    """Open (paid from the balance) or close one of the MVNO's add-on services or packs."""
    form, t = form_of(request), translator(request)
    number = own_line(request, actor, msisdn)["line"]["msisdn"]
    offering = ids.from_public("product_offering", text(form, "offering"))
    action = text(form, "action")
    if action not in ("add", "remove"):
        raise InvalidInput(f"unknown action {action!r}", code="unknown_action", field="action")
    add = action == "add"
    try:
        if offering is None:
            raise NotFound("no such add-on for this line", code="unknown_addon")
        subscriber_orders.change_service(
            database(request), actor, number, offering_id=offering, add=add,
            idempotency_key=text(form, "key") or None,
        )  # fmt: skip
    except DomainError as exc:
        errors = {"service": error_text(t, exc)}
        return _line_page(request, actor, number, status=422, errors=errors)
    return _line_page(request, actor, number, done={"service": "added" if add else "removed"})


@router.post("/me/line/{msisdn}/sim", response_class=HTMLResponse)
def request_sim(msisdn: str, request: Request, actor: Actor = Depends(holder)) -> Response:
    """补卡 asks for the holder's ID to be checked again and a new card handed over: the
    subscriber cannot do it alone, so it is a ticket (simReplacement) routed to the care desk,
    which replaces the card (or sends the holder to an outlet) after checking the ID."""
    form, t = form_of(request), translator(request)
    number = own_line(request, actor, msisdn)["line"]["msisdn"]
    details = text(form, "description")
    description = t("self.sim.ticket_text") + (f" {details}" if details else "")
    req = care.TicketRequest(
        msisdn=number,
        ticket_type=TicketType.SIM_REPLACEMENT.value,
        severity=Severity.MAJOR.value,
        description=description,
        name=t("self.sim.ticket_name"),
    )
    key = text(form, "key") or None
    try:
        if text(form, "lost") and key:  # bar the lost card at once (挂失), before anything else
            subscriber_orders.run_task(
                database(request),
                actor,
                number,
                "reportLost",
                holder=None,
                reason="SIM replacement requested from self-care",
                idempotency_key=f"{key}-lost",
            )
        ticket = care.open_ticket(database(request), actor, req, idempotency_key=key)
    except DomainError as exc:
        errors = place(t, exc, SIM_FIELDS)
        return _line_page(request, actor, number, status=422, errors=errors)
    public = ids.to_public("trouble_ticket", ticket["id"])
    return RedirectResponse(f"/me/tickets/{public}?opened=1", status_code=303)
