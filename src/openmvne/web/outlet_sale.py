"""The outlet sells a card in one flow: find a number by pattern (grade and price shown) →
reserve it (its clock visible) → the card's ICCID → the holder's identity with its evidence
→ an offer → a summary to confirm → the order, pendingActivation until the network opens the
line.

Everything goes through the services the API uses: number_search, number_lifecycle
(reservations), sims, catalog and, for the sale itself, subscriber_sale.sell (TMF622).

Between steps the sale lives in the reservation (server-side: the number, its MVNO, its clock)
and in a *draft*: the card, identity and offer typed so far, sealed with the platform key
(AES-GCM, bound to the reservation and the user) into a hidden field. The client can neither
read the ID number back from the page nor change what it already gave; prices are never
carried at all, they are recomputed from the number and the offer at every step (and again
by the sale service). The confirm form carries an idempotency key drawn with the form, so a
double submit sells once. Every page is a plain form: nothing needs JavaScript.
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import secrets
import uuid
from dataclasses import asdict, dataclass, fields, replace
from datetime import date, datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.datastructures import FormData
from starlette.responses import Response

from openmvne import clock, ids, secrets_box
from openmvne import money as yuan
from openmvne.config import get_settings
from openmvne.domain import identity
from openmvne.domain.access import Actor
from openmvne.domain.catalog import OfferKind
from openmvne.domain.identity import EvidenceSource, IdType
from openmvne.domain.ledger import check_amount
from openmvne.domain.patterns import compile_pattern
from openmvne.domain.subscribers import local_date
from openmvne.errors import Conflict, DomainError, InvalidInput, NotFound, RuleViolation
from openmvne.services import (
    catalog,
    money,
    number_lifecycle,
    number_search,
    subscriber_orders,
    subscriber_sale,
)
from openmvne.services.subscriber_sale import Identity, SaleRequest, checked_identity, sell
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

router = portal_router()
clerk = allowed("/outlet/sale")

STEPS = ("card", "identity", "offer")
GRADES = ("S", "A", "B", "C", "D", "N")
# Service field names → this flow's form fields; anything else is said at the top.
SALE_FIELDS = {
    "iccid": "iccid",
    "state": "iccid",  # the card's state
    "identification.type": "id_type",
    "identification.number": "id_number",
    "identification.expiresOn": "id_expires",
    "identification": "id_number",  # blacklisted, five-card limit, name mismatch
    "realNameEvidence.source": "evidence",
    "givenName": "given_name",
    "familyName": "family_name",
    "offeringId": "offer",
    "prepaymentFen": "prepayment",
    "amountFen": "prepayment",
}
STEP_OF_FIELD = {
    "iccid": "card",
    "id_type": "identity",
    "id_number": "identity",
    "id_expires": "identity",
    "evidence": "identity",
    "evidence_ref": "identity",
    "given_name": "identity",
    "family_name": "identity",
    "offer": "offer",
    "prepayment": "offer",
}
# What a step's refusal at confirm takes back, so that the step is given again.
CLEARS: dict[str, dict[str, Any]] = {
    "card": {"iccid": ""},
    "identity": {"id_number": ""},
    "offer": {"offer": ""},
}
RESERVE_FIELDS = {"msisdns": "msisdn", "msisdns.0": "msisdn", "msisdn": "msisdn"}
SEARCH_FIELDS = {"pattern": "pattern", "excludeDigits": "exclude", "grade": "grade"}


# --- errors ------------------------------------------------------------------------------------


def say(t: Translator, exc: DomainError) -> str:
    """The error in the page's language: this area's own text for the code, else the portal's."""
    key = f"sale.error.{exc.code}"
    return t(key, **exc.details) if key in i18n.catalogue(i18n.FALLBACK) else t.error(exc)


def place(t: Translator, exc: DomainError, where: dict[str, str]) -> dict[str, str]:
    return {where.get(exc.field or "", "_form"): say(t, exc)}


# --- the reservation being sold -----------------------------------------------------------------


@dataclass(frozen=True)
class Held:
    """The reservation and its number, as the server knows them (never from the form)."""

    id: uuid.UUID
    public_id: str
    mvno_id: uuid.UUID
    msisdn: str
    status: str
    expires_at: datetime
    grade: str
    one_off_fen: int
    min_monthly_fen: int
    min_months: int

    @property
    def minutes_left(self) -> int:
        seconds = (self.expires_at - clock.now()).total_seconds()
        return max(0, math.ceil(seconds / 60))

    @property
    def open(self) -> bool:
        return self.status == "active" and self.expires_at > clock.now()


def held_of(request: Request, actor: Actor, public_id: str) -> Held:
    """This outlet's reservation, or 404 (another outlet's, another MVNO's, or none)."""
    rsv_id = ids.from_public("number_reservation", public_id)
    if rsv_id is None:
        raise NotFound("no reservation with that id")
    db = database(request)
    row = number_lifecycle.get_reservation(db, actor.scope, rsv_id)
    if row["party_id"] != actor.party_id or len(row["numbers"]) != 1:
        raise NotFound("no reservation with that id")
    msisdn = row["numbers"][0]
    try:
        number = number_lifecycle.describe(db, actor, msisdn)
    except NotFound:  # ended, and the number is someone else's since: no price to show
        number = {"grade": "", "one_off_fen": 0, "min_monthly_fen": 0, "min_months": 0}
    return Held(
        id=rsv_id,
        public_id=ids.to_public("number_reservation", rsv_id),
        mvno_id=row["mvno_id"],
        msisdn=msisdn,
        status=row["status"],
        expires_at=row["expires_at"],
        grade=number["grade"],
        one_off_fen=number["one_off_fen"],
        min_monthly_fen=number["min_monthly_fen"],
        min_months=number["min_months"],
    )


# --- the draft: what the clerk gave so far, sealed into the page --------------------------------


@dataclass(frozen=True)
class Draft:
    iccid: str = ""
    id_type: str = ""
    id_number: str = ""
    given_name: str = ""
    family_name: str = ""
    id_expires: str = ""  # ISO date, or "" (not printed on the document)
    evidence: str = ""
    evidence_ref: str = ""
    offer: str = ""  # the offer's public id
    prepayment_fen: int = 0

    def has(self, step: str) -> bool:
        return bool({"card": self.iccid, "identity": self.id_number, "offer": self.offer}[step])

    def next_step(self) -> str:
        return next((step for step in STEPS if not self.has(step)), "confirm")

    @property
    def masked_id(self) -> str:
        return identity.mask_id(self.id_number) if self.id_number else ""

    def person(self) -> Identity:
        return Identity(
            id_type=self.id_type,
            number=self.id_number,
            given_name=self.given_name,
            family_name=self.family_name,
            expires_on=date.fromisoformat(self.id_expires) if self.id_expires else None,
            evidence_source=self.evidence,
            evidence_reference=self.evidence_ref or None,
        )


def _context(held: Held, actor: Actor) -> bytes:
    return f"outlet-sale:{held.id}:{actor.user_id}".encode()


def seal(draft: Draft, held: Held, actor: Actor) -> str:
    sealed = secrets_box.seal(json.dumps(asdict(draft)).encode(), _context(held, actor))
    return base64.urlsafe_b64encode(sealed).decode()


def unseal(form: FormData, held: Held, actor: Actor) -> Draft:
    """The draft the page carried; empty on the first step. A forged, foreign or damaged one
    is refused: the clerk starts the steps again."""
    raw = text(form, "draft")
    if not raw:
        return Draft()
    try:
        data = json.loads(secrets_box.unseal(base64.urlsafe_b64decode(raw), _context(held, actor)))
        known = {f.name for f in fields(Draft)}
        return Draft(**{k: v for k, v in data.items() if k in known})
    except (InvalidTag, ValueError, TypeError) as exc:
        raise InvalidInput(
            "this form is damaged or out of date: start the sale again",
            code="sale_draft_invalid",
        ) from exc


# --- offers and prices, from the server ---------------------------------------------------------


def offers_for(request: Request, actor: Actor, held: Held) -> list[dict[str, Any]]:
    """The plans this outlet may sell for the number's MVNO, with what each costs today."""
    rows, _ = catalog.list_offers(database(request), actor.scope, {}, 0, 100)
    found = []
    for row in rows:
        if row["mvno_id"] != held.mvno_id or row["kind"] == OfferKind.ADDON.value:
            continue
        commitment = max(row["monthly_fee_fen"], row["min_monthly_spend_fen"] or 0)
        found.append(
            {
                **row,
                "public_id": ids.to_public("product_offering", row["id"]),
                "due_fen": held.one_off_fen + row["monthly_fee_fen"],
                "eligible": commitment >= held.min_monthly_fen,
            }
        )
    return sorted(found, key=lambda o: (not o["eligible"], o["monthly_fee_fen"], o["name"]))


def chosen_offer(offers: list[dict[str, Any]], public_id: str) -> dict[str, Any]:
    offer = next((o for o in offers if o["public_id"] == public_id), None)
    if offer is None:
        raise NotFound(
            "this outlet may not sell that offer", code="offer_not_sellable", field="offeringId"
        )
    if not offer["eligible"]:
        raise RuleViolation(
            "this number needs a plan with a higher monthly spend",
            code="pretty_number_min_spend",
            field="offeringId",
        )
    return offer


def bill(held: Held, offer: dict[str, Any], prepayment_fen: int) -> dict[str, int]:
    due = held.one_off_fen + offer["monthly_fee_fen"]
    return {
        "number_fee_fen": held.one_off_fen,
        "first_month_fen": offer["monthly_fee_fen"],
        "due_fen": due,
        "prepayment_fen": prepayment_fen,
        "opening_balance_fen": prepayment_fen - due,
    }


def evidence_choices() -> list[str]:
    """What the sale service accepts: typing an ID in by hand only in test mode."""
    choices = [EvidenceSource.READER.value, EvidenceSource.ONLINE_CHECK.value]
    if get_settings().test_mode:
        choices.append(EvidenceSource.MANUAL_FOR_TEST.value)
    return choices


def _float(request: Request, actor: Actor) -> dict[str, Any] | None:
    try:
        return money.float_of(database(request), actor, None)
    except NotFound:
        return None


# --- rendering ----------------------------------------------------------------------------------


def show_step(
    request: Request,
    actor: Actor,
    held: Held,
    step: str,
    draft: Draft,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    """One step of the sale, as a whole page, with the reservation's clock on top."""
    if not held.open:
        step = "ended"
    context: dict[str, Any] = {
        "held": held,
        "step": step,
        "steps": STEPS,
        "draft": draft,
        "sealed": seal(draft, held, actor),
        "values": values or {},
        "errors": errors or {},
    }
    if step == "identity":
        t = translator(request)
        context["id_type_options"] = [(k.value, t(f"idtype.{k.value}")) for k in IdType]
        context["evidence_options"] = [(e, t(f"sale.evidence.{e}")) for e in evidence_choices()]
    if step in ("offer", "confirm"):
        context["offers"] = offers_for(request, actor, held)
    if step == "confirm":
        offer = next((o for o in context["offers"] if o["public_id"] == draft.offer), None)
        if offer is None:  # retired meanwhile: choose again
            return show_step(
                request,
                actor,
                held,
                "offer",
                replace(draft, offer=""),
                errors={"offer": say(translator(request), NotFound("", code="offer_not_sellable"))},
                status=422,
            )
        context["offer"] = offer
        context["bill"] = bill(held, offer, draft.prepayment_fen)
        context["outlet_float"] = _float(request, actor)
        context["key"] = secrets.token_urlsafe(18)  # one per drawn form: a resend is a replay
    if status == 200 and errors:
        status = 422
    return page(request, "outlet/sale/step.html", status=status, **context)


# --- step 0: find and reserve a number ----------------------------------------------------------


def _search_page(
    request: Request,
    actor: Actor,
    *,
    values: dict[str, str],
    errors: dict[str, str],
    results: list[dict[str, Any]] | None = None,
    status: int = 200,
) -> HTMLResponse:
    db = database(request)
    rows, _ = number_lifecycle.list_reservations(db, actor.scope, {"status": "active"}, 0, 20)
    now = clock.now()
    open_sales = [
        {
            "public_id": ids.to_public("number_reservation", r["id"]),
            "msisdn": r["numbers"][0],
            "expires_at": r["expires_at"],
        }
        for r in rows
        if r["party_id"] == actor.party_id and r["expires_at"] > now and len(r["numbers"]) == 1
    ]
    return page(
        request,
        "outlet/sale/search.html",
        status=422 if errors else status,
        values=values,
        errors=errors,
        results=results,
        grade_options=[(g, translator(request)(f"sale.grade.{g}")) for g in GRADES],
        open_sales=open_sales,
        released=request.query_params.get("released") == "1",
    )


@router.get("/outlet/sale", response_class=HTMLResponse)
def sale_search(request: Request, actor: Actor = Depends(clerk)) -> HTMLResponse:
    query = request.query_params
    values = {name: (query.get(name) or "").strip() for name in ("pattern", "exclude", "grade")}
    if "pattern" not in query:
        return _search_page(request, actor, values=values, errors={})
    t = translator(request)
    grade = values["grade"] if values["grade"] in GRADES else None
    try:
        wanted = number_search.SearchQuery(
            pattern=compile_pattern(values["pattern"] or "*", values["exclude"]),
            limit=20,
            grade=grade,
        )
        results = number_search.search(database(request), actor, wanted)
    except DomainError as exc:
        return _search_page(request, actor, values=values, errors=place(t, exc, SEARCH_FIELDS))
    return _search_page(request, actor, values=values, errors={}, results=results)


@router.post("/outlet/sale/reserve", response_class=HTMLResponse)
def sale_reserve(request: Request, actor: Actor = Depends(clerk)) -> Response:
    form, t = form_of(request), translator(request)
    msisdn = "".join(text(form, "msisdn").split())
    values = {"msisdn": msisdn, "pattern": text(form, "pattern")}
    if not msisdn:
        return _search_page(request, actor, values=values, errors={"msisdn": t("error.required")})
    try:
        reservation = number_lifecycle.reserve(database(request), actor, [msisdn])
    except DomainError as exc:
        return _search_page(request, actor, values=values, errors=place(t, exc, RESERVE_FIELDS))
    public_id = ids.to_public("number_reservation", reservation["id"])
    return RedirectResponse(f"/outlet/sale/{public_id}", status_code=303)


# --- steps 1-3: card, identity, offer -----------------------------------------------------------


@router.get("/outlet/sale/{rsv}", response_class=HTMLResponse)
def sale_start(rsv: str, request: Request, actor: Actor = Depends(clerk)) -> HTMLResponse:
    return show_step(request, actor, held_of(request, actor, rsv), "card", Draft())


def _restart(request: Request, actor: Actor, held: Held, exc: DomainError) -> HTMLResponse:
    errors = {"_form": say(translator(request), exc)}
    return show_step(request, actor, held, "card", Draft(), errors=errors)


@router.post("/outlet/sale/{rsv}/card", response_class=HTMLResponse)
def sale_card(rsv: str, request: Request, actor: Actor = Depends(clerk)) -> HTMLResponse:
    held = held_of(request, actor, rsv)
    form, t = form_of(request), translator(request)
    try:
        draft = unseal(form, held, actor)
    except DomainError as exc:
        return _restart(request, actor, held, exc)
    iccid = "".join(text(form, "iccid").split()).upper()
    values = {"iccid": iccid}
    if not iccid:
        errors = {"iccid": t("error.required")}
        return show_step(request, actor, held, "card", draft, values=values, errors=errors)
    try:
        card = subscriber_sale.check_card(database(request), actor, held.msisdn, iccid)
    except DomainError as exc:
        errors = place(t, exc, SALE_FIELDS)
        return show_step(request, actor, held, "card", draft, values=values, errors=errors)
    draft = replace(draft, iccid=card["iccid"])
    return show_step(request, actor, held, draft.next_step(), draft)


IDENTITY_TEXT = ("id_type", "given_name", "family_name", "id_expires", "evidence", "evidence_ref")


@router.post("/outlet/sale/{rsv}/identity", response_class=HTMLResponse)
def sale_identity(rsv: str, request: Request, actor: Actor = Depends(clerk)) -> HTMLResponse:
    held = held_of(request, actor, rsv)
    form, t = form_of(request), translator(request)
    try:
        draft = unseal(form, held, actor)
    except DomainError as exc:
        return _restart(request, actor, held, exc)
    # The ID number is never written back into a page: on an error it is typed (read) again.
    values = {name: text(form, name) for name in IDENTITY_TEXT}
    number = text(form, "id_number")
    if not number and draft.id_number and values["id_type"] == draft.id_type:
        number = draft.id_number  # "leave empty to keep the one given"
    required = ("id_type", "given_name", "family_name", "evidence")
    errors = {name: t("error.required") for name in required if not values[name]}
    if not number:
        errors["id_number"] = t("error.required")
    if values["evidence"] and values["evidence"] not in evidence_choices():
        errors["evidence"] = t("sale.error.manual_entry_forbidden")
    expires = ""
    if values["id_expires"]:
        try:
            expires = date.fromisoformat(values["id_expires"]).isoformat()
        except ValueError:
            errors["id_expires"] = t("sale.error.bad_date")
    if len(values["evidence_ref"]) > 100:
        errors["evidence_ref"] = t("sale.error.too_long", maxLength=100)
    candidate = replace(
        draft,
        id_type=values["id_type"],
        id_number=number,
        given_name=values["given_name"],
        family_name=values["family_name"],
        id_expires=expires,
        evidence=values["evidence"],
        evidence_ref=values["evidence_ref"],
    )
    if not errors:
        try:
            checked = checked_identity(candidate.person(), local_date(clock.now()))
        except DomainError as exc:
            errors = place(t, exc, SALE_FIELDS)
        else:
            candidate = replace(candidate, id_number=checked.number, id_type=checked.id_type.value)
    if errors:
        return show_step(request, actor, held, "identity", draft, values=values, errors=errors)
    return show_step(request, actor, held, candidate.next_step(), candidate)


@router.post("/outlet/sale/{rsv}/offer", response_class=HTMLResponse)
def sale_offer(rsv: str, request: Request, actor: Actor = Depends(clerk)) -> HTMLResponse:
    held = held_of(request, actor, rsv)
    form, t = form_of(request), translator(request)
    try:
        draft = unseal(form, held, actor)
    except DomainError as exc:
        return _restart(request, actor, held, exc)
    values = {"offer": text(form, "offer"), "prepayment": text(form, "prepayment")}
    errors: dict[str, str] = {}
    offer: dict[str, Any] | None = None
    if not values["offer"]:
        errors["offer"] = t("sale.error.choose_offer")
    else:
        try:
            offer = chosen_offer(offers_for(request, actor, held), values["offer"])
        except DomainError as exc:
            errors.update(place(t, exc, SALE_FIELDS))
    prepayment = 0
    if offer is not None:
        due = bill(held, offer, 0)["due_fen"]
        prepayment = due  # empty: the customer pays exactly what is due
        if values["prepayment"]:
            try:
                prepayment = yuan.parse_yuan(values["prepayment"])
            except ValueError:
                errors["prepayment"] = t("error.bad_amount")
        if "prepayment" not in errors:
            try:  # what the sale will refuse at confirm, said here, next to the field
                check_amount(prepayment, field="prepaymentFen")
            except DomainError as exc:
                errors.update(place(t, exc, SALE_FIELDS))
        if "prepayment" not in errors and prepayment < due:
            amount = t("money.yuan", amount=yuan.format_fen(due))
            errors["prepayment"] = t("sale.prepayment_too_small", amount=amount)
    if errors:
        return show_step(request, actor, held, "offer", draft, values=values, errors=errors)
    assert offer is not None
    draft = replace(draft, offer=offer["public_id"], prepayment_fen=prepayment)
    return show_step(request, actor, held, draft.next_step(), draft)


@router.post("/outlet/sale/{rsv}/change", response_class=HTMLResponse)
def sale_change(rsv: str, request: Request, actor: Actor = Depends(clerk)) -> HTMLResponse:
    """Back from the summary to one step, with what was given so far."""
    held = held_of(request, actor, rsv)
    form = form_of(request)
    try:
        draft = unseal(form, held, actor)
    except DomainError as exc:
        return _restart(request, actor, held, exc)
    step = text(form, "to")
    if step not in STEPS:
        step = draft.next_step()
    values: dict[str, str] = {"iccid": draft.iccid}
    if step == "identity":
        values = {name: str(getattr(draft, name)) for name in IDENTITY_TEXT}
    elif step == "offer":
        values = {"offer": draft.offer, "prepayment": yuan.format_fen(draft.prepayment_fen)}
    return show_step(request, actor, held, step, draft, values=values)


# --- step 4: confirm; then the order --------------------------------------------------------------


@router.post("/outlet/sale/{rsv}/confirm", response_class=HTMLResponse)
def sale_confirm(rsv: str, request: Request, actor: Actor = Depends(clerk)) -> Response:
    held = held_of(request, actor, rsv)
    form, t = form_of(request), translator(request)
    try:
        draft = unseal(form, held, actor)
    except DomainError as exc:
        return _restart(request, actor, held, exc)
    if draft.next_step() != "confirm":
        return show_step(request, actor, held, draft.next_step(), draft)
    offering_id = ids.from_public("product_offering", draft.offer)
    assert offering_id is not None  # sealed by this server
    sale = SaleRequest(
        msisdn=held.msisdn,
        iccid=draft.iccid,
        offering_id=offering_id,
        identity=draft.person(),
        prepayment_fen=draft.prepayment_fen,
        reservation_id=held.id,
    )
    try:
        result = sell(database(request), actor, sale, text(form, "key") or None)
    except DomainError as exc:
        errors = place(t, exc, SALE_FIELDS)
        step = STEP_OF_FIELD.get(next(iter(errors)), "confirm")
        if step != "confirm":
            # Back to the step that has to change; the clerk confirms again from there.
            draft = replace(draft, **CLEARS[step])
        return show_step(request, actor, held, step, draft, errors=errors, status=exc.status)
    target = f"/outlet/sale/orders/{result['orderId']}"
    if result.get("replayed"):
        target += "?replayed=1"
    return RedirectResponse(target, status_code=303)


@router.post("/outlet/sale/{rsv}/release", response_class=HTMLResponse)
def sale_release(rsv: str, request: Request, actor: Actor = Depends(clerk)) -> Response:
    held = held_of(request, actor, rsv)
    if held.status == "active":
        with contextlib.suppress(Conflict):  # ended meanwhile: nothing left to give back
            number_lifecycle.release(database(request), actor, held.id)
    return RedirectResponse("/outlet/sale?released=1", status_code=303)


@router.get("/outlet/sale/orders/{order}", response_class=HTMLResponse)
def sale_order(order: str, request: Request, actor: Actor = Depends(clerk)) -> HTMLResponse:
    """The sale's order and its line: pendingActivation until the network opens it."""
    order_id = ids.from_public("product_order", order)
    if order_id is None:
        raise NotFound("no product order with that id")
    db = database(request)
    row = subscriber_orders.get_order(db, actor.scope, order_id)
    if row["kind"] != "sale":
        raise NotFound("no sale with that id")
    line = subscriber_orders.get_product(db, actor.scope, row["subscription_id"])
    details = row["request"] or {}
    try:
        offer: dict[str, Any] | None = catalog.get_offer(db, actor.scope, line["offering_id"])
    except NotFound:
        offer = None  # retired since: the line still names it
    return page(
        request,
        "outlet/sale/done.html",
        order=row,
        order_public=ids.to_public("product_order", order_id),
        line=line,
        line_public=ids.to_public("subscription", line["id"]),
        details=details,
        offer=offer,
        outlet_float=_float(request, actor),
        replayed=request.query_params.get("replayed") == "1",
        pending=line["state"] == "pendingActivation",
    )
