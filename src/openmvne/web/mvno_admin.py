"""The MVNO staff's working pages: number blocks and their use, the channel tree with the
MVNO's decisions (approve, suspend, reinstate, blacklist), wholesale price lists with their
review reminders, and the care SLA report. The catalog and package approvals are in
mvno_catalog.py, the dashboard in mvno_dashboard.py.

Each page reads through the services in the logged-in actor's scope; another MVNO's object is
404 (the service's own `fetch_visible`). Decisions are plain POST forms with the CSRF token;
after a decision the browser is sent back to the list (303), a refusal is shown on the list
next to the row it concerns, with nothing changed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from openmvne import clock, ids
from openmvne.db import tables
from openmvne.domain.access import Actor, ScopeKind
from openmvne.domain.channels import AuthorisationStatus, Transition, next_status
from openmvne.domain.numbers import BLOCK_SIZE
from openmvne.domain.patterns import compile_pattern
from openmvne.domain.subscribers import BUSINESS_TZ
from openmvne.errors import Conflict, DomainError, InvalidInput, NotFound
from openmvne.money import format_rate_fen
from openmvne.services import care_reports, catalog, channels, number_search, number_supply
from openmvne.services import reports as month_reports
from openmvne.web import charts, reads
from openmvne.web.charts import Series
from openmvne.web.frame import allowed, database, form_of, page, portal_router, text, translator
from openmvne.web.i18n import Translator, catalogue
from openmvne.web.public import region_name

router = portal_router()
SHOWN = 300  # rows a list page shows at most (the API pages through the rest)
# A decision's reason is kept whole: at most what its columns hold (the API's limit too).
REASON_MAX: int = min(
    tables.channel_authorisation.c.status_reason.type.length,  # type: ignore[attr-defined]
    tables.package_design.c.reason.type.length,  # type: ignore[attr-defined]
)


# --- shared by the MVNO pages ----------------------------------------------------------------


def explain(t: Translator, exc: DomainError) -> str:
    """A service's refusal in the page's language: this area's words for the codes its pages
    meet, else the portal's, else the service's own message."""
    key = f"mvnoadmin.error.{exc.code}"
    return t(key) if key in catalogue("en") else t.error(exc)


def public_id(kind: str, text_id: str) -> uuid.UUID:
    """A public id from the URL; one of the wrong kind (or not an id) is simply not found."""
    found = ids.from_public(kind, text_id)
    if found is None:
        raise NotFound(f"no {kind.replace('_', ' ')} with that id")
    return found


def names_of(
    request: Request, actor: Actor, party_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, str]:
    return reads.organisation_names(database(request), actor, party_ids)


def checked_reason(reason: str) -> str | None:
    """A decision's reason (None when not given); a longer one than its column is refused
    next to the reason field (PostgreSQL refused to store it: a 500 page)."""
    if len(reason) > REASON_MAX:
        raise InvalidInput(
            f"a reason has at most {REASON_MAX} characters", code="reason_too_long", field="reason"
        )
    return reason or None


def back_to(path: str, **query: str) -> Response:
    return RedirectResponse(f"{path}?{urlencode(query)}" if query else path, status_code=303)


# --- numbers and blocks ----------------------------------------------------------------------


def _search(request: Request, actor: Actor, pattern: str, exclude: str) -> dict[str, Any]:
    if not pattern:
        return {"pattern": "", "exclude": exclude, "found": None, "error": None}
    try:
        query = number_search.SearchQuery(pattern=compile_pattern(pattern, exclude), limit=20)
        found = number_search.search(database(request), actor, query)
    except DomainError as exc:
        return {
            "pattern": pattern,
            "exclude": exclude,
            "found": None,
            "error": explain(translator(request), exc),
        }
    return {"pattern": pattern, "exclude": exclude, "found": found, "error": None}


@router.get("/mvno/numbers", response_class=HTMLResponse)
def numbers(
    request: Request,
    pattern: str = "",
    exclude: str = "",
    actor: Actor = Depends(allowed("/mvno/numbers")),
) -> HTMLResponse:
    db, scope, t = database(request), actor.scope, translator(request)
    usage = month_reports.number_utilisation(db, scope)
    blocks, block_total = number_supply.list_blocks(db, scope, {"allocated": "true"}, 0, SHOWN)
    rights, right_total = number_supply.list_sale_rights(db, scope, {}, 0, SHOWN)
    holders = {}
    if rights:
        edges, _ = channels.list_authorisations(db, scope, {}, 0, 2000)
        names = names_of(request, actor, (e["party_id"] for e in edges))
        holders = {e["id"]: (names.get(e["party_id"], "—"), e["level"]) for e in edges}
    owners = names_of(request, actor, (b["mvno_id"] for b in blocks))
    shown_blocks = [
        {
            **b,
            "owner": owners.get(b["mvno_id"], "—"),
            "region": region_name(b["region_code"]),
            "used_pct": round(100 * b["taken_count"] / BLOCK_SIZE, 2),
        }
        for b in blocks
    ]
    shown_rights = [
        {
            **r,
            "holder": holders.get(r["holder_id"], ("—", None))[0],
            "level": holders.get(r["holder_id"], ("—", None))[1],
            "count": r["last_number"] - r["first_number"] + 1,
        }
        for r in rights
    ]
    return page(
        request,
        "mvno/numbers.html",
        usage=usage,
        usage_chart=charts.bar_chart(
            [u["segment"] for u in usage],
            [u["utilisationPct"] for u in usage],
            title=t("mvnoadmin.dash.utilisation"),
            fmt=lambda v: f"{v:g} %",
            empty=t("mvnoadmin.no_data"),
        ),
        blocks=shown_blocks,
        block_total=block_total,
        blocks_chart=charts.bar_chart(
            [b["prefix"] for b in shown_blocks[:20]],
            [b["taken_count"] for b in shown_blocks[:20]],
            title=t("mvnoadmin.numbers.taken_chart"),
            empty=t("mvnoadmin.no_data"),
        ),
        rights=shown_rights,
        right_total=right_total,
        search=_search(request, actor, pattern.strip(), exclude.strip()),
    )


# --- channels --------------------------------------------------------------------------------


def _moves(status: str) -> list[str]:
    """The decisions the domain allows from this status (its own transition table)."""
    allowed_moves = []
    for move in Transition:
        try:
            next_status(AuthorisationStatus(status), move)
        except Conflict:
            continue
        allowed_moves.append(move.value)
    return allowed_moves


def _channels_page(
    request: Request,
    actor: Actor,
    *,
    status: int = 200,
    problem: dict[str, str] | None = None,
    done: str | None = None,
) -> HTMLResponse:
    db = database(request)
    rows, total = channels.list_authorisations(db, actor.scope, {}, 0, SHOWN)
    names = names_of(request, actor, (r["party_id"] for r in rows))
    platform = actor.scope.kind is ScopeKind.PLATFORM
    mvnos = names_of(request, actor, (r["mvno_id"] for r in rows)) if platform else {}
    tree = [
        {
            **row,
            "public_id": ids.to_public("channel_authorisation", row["id"]),
            "name": names.get(row["party_id"], "—"),
            "mvno": mvnos.get(row["mvno_id"]),
            "depth": row["path"].count("/") - 2,
            "region": region_name(row["region_code"]),
            "moves": _moves(row["status"]),
        }
        for row in rows
    ]
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    return page(
        request,
        "mvno/channels.html",
        status=status,
        channels=tree,
        channel_total=total,
        counts=[(s.value, counts.get(s.value, 0)) for s in AuthorisationStatus],
        problem=problem or {},
        done=done,
    )


@router.get("/mvno/channels", response_class=HTMLResponse)
def channel_list(
    request: Request, done: str = "", actor: Actor = Depends(allowed("/mvno/channels"))
) -> HTMLResponse:
    return _channels_page(request, actor, done=done if done in set(Transition) else None)


@router.post("/mvno/channels/{auth_id}", response_class=HTMLResponse)
def channel_decide(
    request: Request, auth_id: str, actor: Actor = Depends(allowed("/mvno/channels"))
) -> Response:
    form, t = form_of(request), translator(request)
    target = public_id("channel_authorisation", auth_id)
    action, reason = text(form, "action"), text(form, "reason")
    try:
        if action not in set(Transition) or len(reason) > REASON_MAX:
            # Still 404 for someone else's channel, before saying what is wrong with the form.
            channels.get_authorisation(database(request), actor.scope, target)
        if action not in set(Transition):
            raise InvalidInput(f"unknown action {action!r}", code="unknown_action", field="action")
        channels.decide(
            database(request), actor, target, Transition(action), reason=checked_reason(reason)
        )
    except NotFound:
        raise
    except DomainError as exc:
        problem = {
            "id": auth_id,
            "field": exc.field or "",
            "message": explain(t, exc),
            "reason": reason,
        }
        return _channels_page(request, actor, status=exc.status, problem=problem)
    return back_to("/mvno/channels", done=action)


# --- wholesale price lists ---------------------------------------------------------------------


def _price_list_view(row: dict[str, Any], hosts: dict[uuid.UUID, str]) -> dict[str, Any]:
    def rate(micro: int | None) -> str:
        return format_rate_fen(micro) if micro is not None else "—"

    today = clock.now().astimezone(BUSINESS_TZ).date()
    return {
        **row,
        "public_id": ids.to_public("wholesale_price_list", row["id"]),
        "host": hosts.get(row["host_id"], "—"),
        "voice": rate(row["voice_rate"]),
        "sms": rate(row["sms_rate"]),
        "data": rate(row["data_rate"]),
        "in_force": row["valid_from"] <= today
        and (row["valid_to"] is None or today <= row["valid_to"]),
        "review_overdue": row["review_due_on"] < today,
    }


@router.get("/mvno/price-lists", response_class=HTMLResponse)
def price_lists(
    request: Request, actor: Actor = Depends(allowed("/mvno/price-lists"))
) -> HTMLResponse:
    db = database(request)
    rows, total = catalog.list_price_lists(db, actor.scope, 0, SHOWN)
    reminders = catalog.review_reminders(db, actor.scope)
    hosts = names_of(request, actor, [r["host_id"] for r in rows + reminders])
    mvnos = names_of(request, actor, [r["mvno_id"] for r in rows + reminders])
    view = [{**_price_list_view(r, hosts), "mvno": mvnos.get(r["mvno_id"], "—")} for r in rows]
    due = [{**_price_list_view(r, hosts), "mvno": mvnos.get(r["mvno_id"], "—")} for r in reminders]
    return page(request, "mvno/price_lists.html", lists=view, total=total, reminders=due)


@router.get("/mvno/price-lists/{list_id}", response_class=HTMLResponse)
def price_list(
    request: Request, list_id: str, actor: Actor = Depends(allowed("/mvno/price-lists"))
) -> HTMLResponse:
    row = catalog.get_price_list(
        database(request), actor.scope, public_id("wholesale_price_list", list_id)
    )
    names = names_of(request, actor, [row["host_id"], row["mvno_id"]])
    view = {**_price_list_view(row, names), "mvno": names.get(row["mvno_id"], "—")}
    return page(request, "mvno/price_list.html", pl=view)


# --- care SLA report ---------------------------------------------------------------------------


def _this_month() -> str:
    return f"{clock.now().astimezone(BUSINESS_TZ):%Y-%m}"


def _hours(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds / 3600:.1f}"


@router.get("/mvno/care", response_class=HTMLResponse)
def care(
    request: Request, month: str = "", actor: Actor = Depends(allowed("/mvno/care"))
) -> HTMLResponse:
    db, t = database(request), translator(request)
    month = month.strip() or _this_month()
    error = None
    teams: list[dict[str, Any]] = []
    brands: list[dict[str, Any]] = []
    try:
        teams = care_reports.by_team(db, actor, month)
        brands = care_reports.by_brand(db, actor, month)
    except InvalidInput as exc:
        error = explain(t, exc)
    types = sorted({k for team in teams for k in team["byType"]})
    names = [team["team_name"] or "—" for team in teams]
    judged = [team for team in teams if team["slaCompliancePct"] is not None]
    return page(
        request,
        "mvno/care.html",
        status=422 if error else 200,
        month=month,
        error=error,
        teams=[
            {
                **team,
                "first_h": _hours(team["medianFirstResponseS"]),
                "resolve_h": _hours(team["medianResolutionS"]),
            }
            for team in teams
        ],
        brands=brands,
        types=types,
        sla_chart=charts.bar_chart(
            [team["team_name"] or "—" for team in judged],
            [team["slaCompliancePct"] for team in judged],
            title=t("mvnoadmin.care.sla_chart"),
            fmt=lambda v: f"{v:g} %",
            empty=t("mvnoadmin.care.none_judged"),
        ),
        types_chart=charts.grouped_bars(
            names,
            [
                Series(t(f"mvnoadmin.ticket.{k}"), [team["byType"].get(k, 0) for team in teams])
                for k in types
            ],
            title=t("mvnoadmin.care.types_chart"),
            stacked=True,
            empty=t("mvnoadmin.no_data"),
        ),
    )
