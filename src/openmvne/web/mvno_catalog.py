"""The MVNO's catalog page: its offers with their cost chains, and the packages its partners
designed, awaiting the MVNO's decision.

A submitted design shows its whole cost chain (wholesale cost of the base plan and add-ons,
the per-number fee, the MVNO's margin, what each channel above the designer keeps) against
its price. Approving is the service's `decide_design(approve)` and then `publish`, so the
package goes on sale under the MVNO's brand; the service refuses a price below the chain
(the guard holds here as in the API), and the refusal is shown on the design with nothing
changed. A reject needs a reason. The partner's side (composing a package) is not here.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response

from openmvne import ids
from openmvne.domain.access import Actor
from openmvne.domain.catalog import CostChain, DesignStatus
from openmvne.errors import DomainError, InvalidInput, NotFound
from openmvne.money import format_micro_as_yuan
from openmvne.services import catalog, channels
from openmvne.web.frame import allowed, database, form_of, page, portal_router, text, translator
from openmvne.web.i18n import Translator
from openmvne.web.mvno_admin import (
    REASON_MAX,
    SHOWN,
    back_to,
    checked_reason,
    explain,
    names_of,
    public_id,
)

router = portal_router()
TASKS = ("approve", "reject", "publish", "retire")
MOVES = {
    DesignStatus.SUBMITTED.value: ("approve", "reject"),
    DesignStatus.APPROVED.value: ("publish", "retire"),
    DesignStatus.PUBLISHED.value: ("retire",),
}
# The cost chain's line labels (services/cost_chain.py, English) → this area's words.
LABELS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"wholesale voice (?P<n>\d+) min"), "mvnoadmin.cost.voice"),
    (re.compile(r"wholesale SMS (?P<n>\d+)"), "mvnoadmin.cost.sms"),
    (re.compile(r"wholesale data (?P<n>\d+) MB"), "mvnoadmin.cost.data"),
    (re.compile(r"per-number fee"), "mvnoadmin.cost.number_fee"),
    (re.compile(r"host package (?P<code>.+)"), "mvnoadmin.cost.host_package"),
    (re.compile(r"MVNO margin"), "mvnoadmin.cost.mvno_margin"),
    (re.compile(r"channel commissions \(top tier\)"), "mvnoadmin.cost.top_tier"),
    (re.compile(r"(?P<level>\w+) channel commission"), "mvnoadmin.cost.channel"),
)


def cost_label(t: Translator, label: str) -> str:
    for pattern, key in LABELS:
        found = pattern.fullmatch(label)
        if found:
            params = found.groupdict()
            if "level" in params:
                params["level"] = t(f"level.{params['level']}")
            return t(key, **params)
    return label


def chain_view(t: Translator, chain: CostChain) -> dict[str, Any]:
    return {
        "lines": [
            {"label": cost_label(t, line.label), "raw": line.label, "micro": line.micro,
             "yuan": format_micro_as_yuan(line.micro)}
            for line in chain.lines
        ],
        "price_fen": chain.price_fen,
        "cost_fen": chain.cost_fen,
        "margin_fen": chain.margin_fen,
        "inverted": chain.inverted,
    }  # fmt: skip


def _chain_or_error(t: Translator, compute: Any) -> tuple[dict[str, Any] | None, str | None]:
    try:
        return chain_view(t, compute()), None
    except DomainError as exc:  # e.g. no price list in force: the cost cannot be known
        return None, explain(t, exc)


def _catalog_page(
    request: Request,
    actor: Actor,
    *,
    status: int = 200,
    problem: dict[str, str] | None = None,
    done: str | None = None,
) -> HTMLResponse:
    db, scope, t = database(request), actor.scope, translator(request)
    offers, offer_total = catalog.list_offers(db, scope, {}, 0, SHOWN)
    names = {o["id"]: o["name"] for o in offers}
    shown_offers = []
    for offer in offers:
        chain, why = (None, None)
        if offer["status"] == "active":
            chain, why = _chain_or_error(
                t, lambda o=offer: catalog.offer_cost(db, scope, o["id"])[1]
            )
        shown_offers.append({**offer, "chain": chain, "chain_error": why})
    designs, design_total = catalog.list_designs(db, scope, {}, 0, SHOWN)
    edges: dict[uuid.UUID, dict[str, Any]] = {}
    if designs:
        rows, _ = channels.list_authorisations(db, scope, {}, 0, 2000)
        edges = {r["id"]: r for r in rows}
    parties = names_of(request, actor, (e["party_id"] for e in edges.values()))
    waiting, decided = [], []
    for design in designs:
        edge = edges.get(design["designer_id"])
        view = {
            **design,
            "public_id": ids.to_public("package_design", design["id"]),
            "designer": parties.get(edge["party_id"], "—") if edge else "—",
            "designer_level": edge["level"] if edge else None,
            "base": names.get(design["base_offering_id"], "—"),
            "addons": [names.get(uuid.UUID(a), "—") for a in design["addon_ids"]],
            "moves": MOVES.get(design["status"], ()),
        }
        if design["status"] in (DesignStatus.SUBMITTED.value, DesignStatus.APPROVED.value):
            view["chain"], view["chain_error"] = _chain_or_error(
                t, lambda d=design: catalog.design_cost(db, scope, d["id"])
            )
            waiting.append(view)
        else:
            decided.append(view)
    return page(
        request,
        "mvno/catalog.html",
        status=status,
        offers=shown_offers,
        offer_total=offer_total,
        waiting=waiting,
        decided=decided,
        design_total=design_total,
        problem=problem or {},
        done=done,
    )


@router.get("/mvno/catalog", response_class=HTMLResponse)
def catalog_page(
    request: Request, done: str = "", actor: Actor = Depends(allowed("/mvno/catalog"))
) -> HTMLResponse:
    return _catalog_page(request, actor, done=done if done in TASKS else None)


@router.post("/mvno/catalog/designs/{design_id}", response_class=HTMLResponse)
def decide(
    request: Request, design_id: str, actor: Actor = Depends(allowed("/mvno/catalog"))
) -> Response:
    form, t, db = form_of(request), translator(request), database(request)
    target = public_id("package_design", design_id)
    task, reason = text(form, "task"), text(form, "reason")
    try:
        if task not in TASKS or len(reason) > REASON_MAX:
            catalog.get_design(db, actor.scope, target)  # someone else's design: 404 first
        if task not in TASKS:
            raise InvalidInput(f"unknown action {task!r}", code="unknown_action", field="task")
        catalog.decide_design(db, actor, target, task, checked_reason(reason))
        if task == "approve":  # approved by the MVNO: on sale under its brand at once
            catalog.decide_design(db, actor, target, "publish")
    except NotFound:
        raise
    except DomainError as exc:
        problem = {
            "id": design_id,
            "field": exc.field or "",
            "message": explain(t, exc),
            "reason": reason,
        }
        if exc.code == "price_below_cost":
            problem["cost_fen"] = str(exc.details.get("costFen", ""))
        return _catalog_page(request, actor, status=exc.status, problem=problem)
    return back_to("/mvno/catalog", done=task)
