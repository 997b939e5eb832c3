"""The partner's home (`/partner`): its channel subtree and each channel's authorisation
state; its cards on hand and the transfers in and out, with a form moving a batch or a range
down to a sub-channel; the package designer, which shows the cost chain live as the partner
composes (htmx on change: wholesale cost, the MVNO's floor, the price), refuses a price
below cost next to the price field with the breakdown, and submits a fair one for the
MVNO's approval; the partner's designs and their state; and commission statements per month.

Everything goes through the services the API uses, in the partner's scope (its subtree).
"""

from __future__ import annotations

import re
import secrets
import uuid
from datetime import date
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse

from openmvne import clock, ids
from openmvne import money as yuan
from openmvne.domain.access import Actor
from openmvne.domain.catalog import CostChain, OfferKind
from openmvne.domain.channels import AuthorisationStatus
from openmvne.domain.sims import CardState
from openmvne.domain.subscribers import local_date
from openmvne.errors import DomainError, InvalidInput
from openmvne.services import catalog, channels, money, sims
from openmvne.web import i18n, reads
from openmvne.web.frame import (
    allowed,
    database,
    form_of,
    is_htmx,
    page,
    portal_router,
    text,
    translator,
)
from openmvne.web.i18n import Translator
from openmvne.web.public import region_name

router = portal_router()
partner = allowed("/partner")
SHOWN = 200
MONTHS_SHOWN = 3
MICRO = 1_000_000
TRANSFER_FIELDS = {"toId": "toId", "iccids": "iccids", "ranges": "first", "fromId": "toId"}
DESIGN_FIELDS = {
    "name": "designName",
    "baseOfferingId": "base",
    "priceFen": "price",
    "amount": "price",
}
ICCID_SPLIT = re.compile(r"[\s,;]+")
SHARE = re.compile(r"(MVNO margin|(\w+) channel commission)")


def message(t: Translator, exc: DomainError) -> str:
    key = f"partner.err.{exc.code}"
    return t(key) if key in i18n.catalogue(i18n.FALLBACK) else t.error(exc)


def _errors(t: Translator, exc: DomainError, fields: dict[str, str]) -> dict[str, str]:
    field = exc.field or ""
    if field.startswith("addonIds"):
        return {"addon": message(t, exc)}
    return {fields.get(field, "_form"): message(t, exc)}


# --- reads ---------------------------------------------------------------------------------


def _tree(request: Request, actor: Actor) -> list[dict[str, Any]]:
    """The partner's own edges and its subtree, top first (the scope is the subtree)."""
    db = database(request)
    rows, _ = channels.list_authorisations(db, actor.scope, {}, 0, SHOWN)
    names = reads.organisation_names(db, actor, (r["party_id"] for r in rows))
    top = min((r["path"].count("/") for r in rows), default=0)
    return [
        {
            **row,
            "public_id": ids.to_public("channel_authorisation", row["id"]),
            "name": names.get(row["party_id"], "—"),
            "depth": row["path"].count("/") - top,
            "region": region_name(row["region_code"]),
            "own": row["party_id"] == actor.party_id,
        }
        for row in rows
    ]


def _children(tree: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Approved channels right below one of the partner's own: where its cards may go."""
    own = {row["id"] for row in tree if row["own"]}
    return [
        row
        for row in tree
        if row["parent_id"] in own and row["status"] == AuthorisationStatus.APPROVED.value
    ]


def _stock(request: Request, actor: Actor) -> list[dict[str, Any]]:
    db = database(request)
    rows = sims.stock(db, actor.scope)
    names = reads.organisation_names(db, actor, (r["holder_party_id"] for r in rows))
    order = [s.value for s in CardState]
    found = [
        {
            **row,
            "name": names.get(row["holder_party_id"], "—"),
            "own": row["holder_party_id"] == actor.party_id,
        }
        for row in rows
    ]
    return sorted(
        found,
        key=lambda r: (
            not r["own"],
            r["name"],
            order.index(r["state"]) if r["state"] in order else 99,
        ),
    )


def _transfers(request: Request, actor: Actor) -> list[dict[str, Any]]:
    """The latest card transfers into or out of the partner's subtree."""
    db = database(request)
    rows = sims.latest_transfers(db, actor.scope)
    names = reads.organisation_names(
        db, actor, [r["from_party_id"] for r in rows] + [r["to_party_id"] for r in rows]
    )
    upstream = translator(request)("partner.upstream")  # above the partner: not its to see
    return [
        {
            **r,
            "from_name": names.get(r["from_party_id"], upstream),
            "to_name": names.get(r["to_party_id"], upstream),
            "outgoing": r["from_party_id"] == actor.party_id,
            "first": min(r["iccids"]) if r["iccids"] else "",
            "last": max(r["iccids"]) if r["iccids"] else "",
        }
        for r in rows
    ]


def _offers(request: Request, actor: Actor) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """What the MVNO shares with channels: base plans and add-ons to compose from."""
    rows, _ = catalog.list_offers(database(request), actor.scope, {}, 0, SHOWN)
    shared = [
        {**r, "public_id": ids.to_public("product_offering", r["id"])}
        for r in rows
        if r["design_id"] is None and r["designer_id"] is None
    ]
    brands = {
        b["id"]: b["name"] for b in catalog.list_brands(database(request), actor.scope, 0, SHOWN)[0]
    }
    for offer in shared:  # a partner of several MVNOs sees each one's plans: say whose
        offer["label"] = f"{offer['name']} · {brands.get(offer['brand_id'], '—')}"
    bases = [r for r in shared if r["kind"] not in (OfferKind.ADDON, OfferKind.PACKAGE)]
    addons = [r for r in shared if r["kind"] == OfferKind.ADDON]
    return bases, addons


def _designs(request: Request, actor: Actor) -> list[dict[str, Any]]:
    rows, _ = catalog.list_designs(database(request), actor.scope, {}, 0, SHOWN)
    rows.sort(key=lambda r: r["created_at"], reverse=True)
    return [{**r, "public_id": ids.to_public("package_design", r["id"])} for r in rows]


def _months(today: date, count: int) -> list[str]:
    months = []
    year, month = today.year, today.month
    for _ in range(count):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return months


def _commissions(request: Request, actor: Actor) -> list[dict[str, Any]]:
    """Commission statements per channel, one table per month (latest first)."""
    db = database(request)
    found = []
    for month in _months(local_date(clock.now()), MONTHS_SHOWN):
        rows = money.commission_statement(db, actor, month)
        names = reads.organisation_names(
            db, actor, [r["party_id"] for r in rows] + [r["mvno_id"] for r in rows]
        )
        found.append(
            {
                "month": month,
                "rows": [
                    {
                        **r,
                        "name": names.get(r["party_id"], "—"),
                        "mvno": names.get(r["mvno_id"], "—"),
                    }
                    for r in rows
                ],
                "total_fen": sum(r["amount_fen"] for r in rows),
            }
        )
    return found


# --- the cost chain as the page shows it ------------------------------------------------------


def _fen_up(micro: int) -> int:
    return -(-micro // MICRO)


def _label(t: Translator, label: str) -> str:
    for pattern, key in (
        (r"wholesale voice (\d+) min", "partner.line.voice"),
        (r"wholesale SMS (\d+)", "partner.line.sms"),
        (r"wholesale data (\d+) MB", "partner.line.data"),
        (r"host package (.+)", "partner.line.host_package"),
    ):
        found = re.fullmatch(pattern, label)
        if found:
            return t(key, n=found.group(1))
    if label == "per-number fee":
        return t("partner.line.number_fee")
    if label == "MVNO margin":
        return t("partner.line.mvno_margin")
    found = re.fullmatch(r"(\w+) channel commission", label)
    if found:
        return t("partner.line.commission", level=t(f"level.{found.group(1)}"))
    return label


def breakdown(t: Translator, chain: CostChain) -> dict[str, Any]:
    """Wholesale cost, the shares taken from the price, the cost at this price, the price,
    and the lowest price the MVNO accepts (shares are a fixed part of the price, so the
    floor is wholesale ÷ (1 − their rate), to the fen)."""
    wholesale = [line for line in chain.lines if not SHARE.fullmatch(line.label)]
    shares = [line for line in chain.lines if SHARE.fullmatch(line.label)]
    wholesale_micro = sum(line.micro for line in wholesale)
    floor: int | None = None
    if chain.price_fen > 0:
        rate = sum(line.micro for line in shares) // chain.price_fen  # µfen per fen of price
        if rate < MICRO:
            floor = -(-wholesale_micro // (MICRO - rate))
    return {
        "lines": [
            {"label": _label(t, line.label), "fen": _fen_up(line.micro), "share": line in shares}
            for line in chain.lines
        ],
        "wholesale_fen": _fen_up(wholesale_micro),
        "cost_fen": chain.cost_fen,
        "price_fen": chain.price_fen,
        "margin_fen": chain.margin_fen,
        "floor_fen": floor,
        "inverted": chain.inverted,
    }


def _below(t: Translator, chain: CostChain) -> str:
    return t(
        "partner.below_cost",
        price=yuan.format_fen(chain.price_fen),
        cost=yuan.format_fen(chain.cost_fen),
    )


def _design_values(request: Request) -> dict[str, Any]:
    form = form_of(request)
    return {
        "designName": text(form, "designName"),
        "base": text(form, "base"),
        "addon": [a for a in form.getlist("addon") if isinstance(a, str) and a],
        "price": text(form, "price"),
    }


def _parsed(values: dict[str, Any]) -> tuple[uuid.UUID, list[uuid.UUID], int]:
    base = ids.from_public("product_offering", values["base"])
    if base is None:
        raise InvalidInput("choose a base plan", code="required", field="baseOfferingId")
    addons = []
    for i, raw in enumerate(values["addon"]):
        addon = ids.from_public("product_offering", raw)
        if addon is None:
            raise InvalidInput("no such add-on", code="required", field=f"addonIds.{i}")
        addons.append(addon)
    try:
        price = yuan.parse_yuan(values["price"])
    except ValueError as exc:
        raise InvalidInput(str(exc), code="bad_amount", field="priceFen") from exc
    if price <= 0:
        raise InvalidInput("a price above zero", code="bad_amount", field="priceFen")
    return base, addons, price


def _preview(request: Request, actor: Actor, values: dict[str, Any]) -> CostChain:
    base, addons, price = _parsed(values)
    return catalog.preview_design(
        database(request),
        actor,
        base_offering_id=base,
        addon_ids=addons,
        price_fen=price,
    )


# --- pages ---------------------------------------------------------------------------------


def _show(
    request: Request,
    actor: Actor,
    *,
    status: int = 200,
    failed: str | None = None,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    done: dict[str, Any] | None = None,
    cost: dict[str, Any] | None = None,
) -> HTMLResponse:
    tree = _tree(request, actor)
    children = _children(tree)
    bases, addons = _offers(request, actor)
    return page(
        request,
        "partner/page.html",
        status=status,
        tree=tree,
        children=children,
        child_options=[(c["public_id"], f"{c['name']} ({c['region'] or '—'})") for c in children],
        base_options=[(b["public_id"], b["label"]) for b in bases],
        stock=_stock(request, actor),
        transfers=_transfers(request, actor),
        bases=bases,
        addons=addons,
        designs=_designs(request, actor),
        commissions=_commissions(request, actor),
        failed=failed,
        errors=errors or {},
        values=values or {},
        done=done,
        cost=cost,
        design_key=secrets.token_urlsafe(18),  # one per drawn form: a resend is a replay
    )


@router.get("/partner", response_class=HTMLResponse)
def partner_home(request: Request, actor: Actor = Depends(partner)) -> HTMLResponse:
    return _show(request, actor)


@router.post("/partner/transfer", response_class=HTMLResponse)
def transfer(request: Request, actor: Actor = Depends(partner)) -> HTMLResponse:
    form, t = form_of(request), translator(request)
    values = {
        "toId": text(form, "toId"),
        "iccids": text(form, "iccids"),
        "first": text(form, "first"),
        "last": text(form, "last"),
    }
    errors: dict[str, str] = {}
    children = {c["public_id"]: c for c in _children(_tree(request, actor))}
    child = children.get(values["toId"])
    if child is None:
        errors["toId"] = t("partner.choose_channel")
    iccids = [i for i in ICCID_SPLIT.split(values["iccids"]) if i]
    ranges = []
    if values["first"] or values["last"]:
        if not (values["first"] and values["last"]):
            errors["first"] = t("partner.range_both")
        else:
            ranges.append((values["first"], values["last"]))
    if not iccids and not ranges and "first" not in errors:
        errors["iccids"] = t("partner.cards_needed")
    if errors or child is None:
        return _show(request, actor, status=422, failed="transfer", errors=errors, values=values)
    try:
        result = sims.transfer(
            database(request),
            actor,
            mvno_id=child["mvno_id"],
            to_auth_id=child["id"],
            iccids=iccids,
            ranges=ranges,
            from_auth_id=child["parent_id"],
        )
    except DomainError as exc:
        return _show(
            request,
            actor,
            status=422 if exc.status in (400, 404) else exc.status,
            failed="transfer",
            errors=_errors(t, exc, TRANSFER_FIELDS),
            values=values,
        )
    done = {"kind": "transfer", "count": result["card_count"], "to": child["name"]}
    return _show(request, actor, done=done)


@router.post("/partner/designs/check", response_class=HTMLResponse)
def design_check(request: Request, actor: Actor = Depends(partner)) -> HTMLResponse:
    """The live cost chain (htmx asks on every change): the breakdown, or what is missing."""
    t = translator(request)
    values = _design_values(request)
    cost: dict[str, Any] | None = None
    problem = None
    errors: dict[str, str] = {}
    if values["base"] and values["price"]:
        try:
            chain = _preview(request, actor, values)
        except DomainError as exc:
            problem = message(t, exc)
        else:
            cost = breakdown(t, chain)
            if chain.inverted:
                errors["price"] = _below(t, chain)
    context: dict[str, Any] = {
        "cost": cost,
        "problem": problem,
        "values": values,
        "errors": errors,
    }
    if is_htmx(request):
        return page(request, "partner/_cost.html", **context)
    return _show(request, actor, values=values, cost=cost, failed="design", errors=errors)


@router.post("/partner/designs", response_class=HTMLResponse)
def design_submit(request: Request, actor: Actor = Depends(partner)) -> HTMLResponse:
    """Refused below cost (nothing saved, the breakdown beside the price); else saved and
    submitted for the MVNO's approval."""
    t = translator(request)
    values = _design_values(request)
    errors: dict[str, str] = {}
    if not values["designName"]:
        errors["designName"] = t("error.required")
    if not values["base"]:
        errors["base"] = t("error.required")
    if not values["price"]:
        errors["price"] = t("error.required")
    db = database(request)
    cost: dict[str, Any] | None = None
    if not errors:
        try:
            chain = _preview(request, actor, values)
            cost = breakdown(t, chain)
            if chain.inverted:
                errors["price"] = _below(t, chain)
            else:
                base, addons, price = _parsed(values)
                catalog.submit_new_design(
                    db,
                    actor,
                    name=values["designName"],
                    base_offering_id=base,
                    addon_ids=addons,
                    price_fen=price,
                    idempotency_key=text(form_of(request), "key") or None,
                )
        except DomainError as exc:
            errors.update(_errors(t, exc, DESIGN_FIELDS))
    if errors:
        return _show(
            request, actor, status=422, failed="design", errors=errors, values=values, cost=cost
        )
    return _show(request, actor, done={"kind": "design", "name": values["designName"]})
