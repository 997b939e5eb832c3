"""The MVNO's dashboard: subscribers by state, activations and recharges by province, by
day and by month, number utilisation per segment, margin per offer and price-inversion alerts.

Every figure comes from the month-end reports (services/reports.py, in the caller's scope)
and the margin from the latest settlement run (services/settlement.py); the page only reads.
Each chart is server-drawn SVG (charts.py) with the same numbers in a table under it.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse

from openmvne.domain.access import Actor, ScopeKind
from openmvne.domain.subscribers import LineState
from openmvne.services import reports, settlement
from openmvne.web import charts, reads
from openmvne.web.charts import Series
from openmvne.web.frame import allowed, database, page, portal_router, translator
from openmvne.web.i18n import Translator
from openmvne.web.public import region_name

router = portal_router()
RUNS_READ = 200
DAYS_SHOWN = 60


def province_label(t: Translator, code: str) -> str:
    name = region_name(code) if code != "unknown" else None
    return name or t("mvnoadmin.unknown_region")


def _yuan(amount: float) -> str:
    return f"{amount:,.2f}"


def _states(t: Translator, rows: list[dict[str, Any]]) -> dict[str, Any]:
    order = [s.value for s in LineState]
    rows = sorted(rows, key=lambda r: order.index(r["state"]) if r["state"] in order else 99)
    labels = [t(f"state.{r['state']}") for r in rows]
    values = [r["lines"] for r in rows]
    return {
        "rows": list(zip(labels, values, [r["state"] for r in rows], strict=True)),
        "total": sum(values),
        "chart": charts.bar_chart(
            labels, values, title=t("mvnoadmin.dash.states"), empty=t("mvnoadmin.no_data")
        ),
    }


def _sales(
    t: Translator, activations: list[dict[str, Any]], recharges: list[dict[str, Any]]
) -> dict[str, Any]:
    """By province (activations, recharges, amount) and by month (the same, over time)."""
    provinces: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    months: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in activations:
        provinces[row["province"]][0] += row["activations"]
        months[row["month"]][0] += row["activations"]
    for row in recharges:
        for bucket in (provinces[row["province"]], months[row["month"]]):
            bucket[1] += row["recharges"]
            bucket[2] += row["amountFen"]
    by_province: list[tuple[str, int, int, int]] = [
        (province_label(t, p), v[0], v[1], v[2]) for p, v in sorted(provinces.items())
    ]
    by_month: list[tuple[str, int, int, int]] = [
        (m, v[0], v[1], v[2]) for m, v in sorted(months.items())
    ]
    names = [r[0] for r in by_province]
    acts, rech = t("mvnoadmin.dash.activations"), t("mvnoadmin.dash.recharges")
    return {
        "by_province": by_province,
        "by_month": by_month,
        "province_chart": charts.grouped_bars(
            names,
            [Series(acts, [r[1] for r in by_province]), Series(rech, [r[2] for r in by_province])],
            title=t("mvnoadmin.dash.by_province"),
            empty=t("mvnoadmin.no_data"),
        ),
        "amount_chart": charts.bar_chart(
            names,
            [r[3] / 100 for r in by_province],
            title=t("mvnoadmin.dash.amount_by_province"),
            fmt=_yuan,
            empty=t("mvnoadmin.no_data"),
        ),
        "month_chart": charts.line_chart(
            [r[0] for r in by_month],
            [Series(acts, [r[1] for r in by_month]), Series(rech, [r[2] for r in by_month])],
            title=t("mvnoadmin.dash.by_month"),
            empty=t("mvnoadmin.no_data"),
        ),
    }


def _daily(
    t: Translator, activations: list[dict[str, Any]], recharges: list[dict[str, Any]]
) -> dict[str, Any]:
    """Activations and recharges per business day, the last DAYS_SHOWN days up to the latest
    day with any, days without any drawn as zero."""
    days: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in activations:
        days[row["day"]][0] += row["activations"]
    for row in recharges:
        days[row["day"]][1] += row["recharges"]
        days[row["day"]][2] += row["amountFen"]
    rows: list[tuple[str, int, int, int]] = []
    if days:
        last = date.fromisoformat(max(days))
        first = max(date.fromisoformat(min(days)), last - timedelta(days=DAYS_SHOWN - 1))
        for offset in range((last - first).days + 1):
            day = (first + timedelta(days=offset)).isoformat()
            found = days.get(day, [0, 0, 0])
            rows.append((day, found[0], found[1], found[2]))
    acts, rech = t("mvnoadmin.dash.activations"), t("mvnoadmin.dash.recharges")
    return {
        "days": DAYS_SHOWN,
        "rows": [r for r in rows if r[1] or r[2]],
        "chart": charts.line_chart(
            [r[0][5:] for r in rows],  # MM-DD under the axis; the table has the full dates
            [Series(acts, [r[1] for r in rows]), Series(rech, [r[2] for r in rows])],
            title=t("mvnoadmin.dash.by_day", days=DAYS_SHOWN),
            empty=t("mvnoadmin.no_data"),
        ),
    }


def _mvno_names(request: Request, actor: Actor, ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    if actor.scope.kind is not ScopeKind.PLATFORM:
        return {}
    return reads.organisation_names(database(request), actor, ids)


def _utilisation(
    request: Request, actor: Actor, t: Translator, rows: list[dict[str, Any]]
) -> dict[str, Any]:
    names = _mvno_names(request, actor, [uuid.UUID(r["mvnoId"]) for r in rows])
    shown = []
    for row in rows:
        owner = names.get(uuid.UUID(row["mvnoId"]))
        label = f"{owner} {row['segment']}" if owner else row["segment"]
        shown.append({**row, "label": label})
    return {
        "rows": shown,
        "chart": charts.bar_chart(
            [r["label"] for r in shown],
            [r["utilisationPct"] for r in shown],
            title=t("mvnoadmin.dash.utilisation"),
            fmt=lambda v: f"{v:g} %",
            empty=t("mvnoadmin.no_data"),
        ),
    }


def _margin(request: Request, actor: Actor, t: Translator, month: str | None) -> dict[str, Any]:
    """Margin per offer from the settlement runs of one month (the latest unless chosen)."""
    runs, _ = settlement.list_runs(database(request), actor.scope, 0, RUNS_READ)
    months = sorted({r["month"] for r in runs}, reverse=True)
    chosen = month if month in months else (months[0] if months else None)
    picked = [r for r in runs if r["month"] == chosen]
    names = _mvno_names(request, actor, [r["mvno_id"] for r in picked])
    rows = []
    for run in picked:
        owner = names.get(run["mvno_id"])
        for line in run["documents"]["margin"]["byOffer"]:
            rows.append({**line, "label": f"{owner} · {line['offer']}" if owner else line["offer"]})
    labels = [r["label"] for r in rows]
    series = [
        Series(t("mvnoadmin.dash.revenue"), [r["revenueFen"] / 100 for r in rows]),
        Series(t("mvnoadmin.dash.wholesale"), [r["wholesaleFen"] / 100 for r in rows]),
        Series(t("mvnoadmin.dash.commission"), [r["commissionFen"] / 100 for r in rows]),
        Series(t("mvnoadmin.dash.margin"), [r["marginFen"] / 100 for r in rows]),
    ]
    return {
        "months": months,
        "month": chosen,
        "status": picked[0]["status"] if picked else None,
        "rows": rows,
        "chart": charts.grouped_bars(
            labels,
            series,
            title=t("mvnoadmin.dash.margin_by_offer", month=chosen or "—"),
            fmt=_yuan,
            empty=t("mvnoadmin.no_data"),
        ),
    }


@router.get("/mvno/dashboard", response_class=HTMLResponse)
def dashboard(
    request: Request,
    month: str | None = None,
    actor: Actor = Depends(allowed("/mvno/dashboard")),
) -> HTMLResponse:
    db, scope, t = database(request), actor.scope, translator(request)
    alerts = reports.inversion_alerts(db, scope)
    return page(
        request,
        "mvno/dashboard.html",
        states=_states(t, reports.subscribers_by_state(db, scope)),
        sales=_sales(t, reports.activations(db, scope), reports.recharges(db, scope)),
        daily=_daily(
            t, reports.activations(db, scope, by="day"), reports.recharges(db, scope, by="day")
        ),
        utilisation=_utilisation(request, actor, t, reports.number_utilisation(db, scope)),
        margin=_margin(request, actor, t, month),
        alerts=alerts,
        open_alerts=sum(1 for a in alerts if a["status"] == "open"),
    )
