"""The questions everyone asks at month end, each answered in the caller's scope (an MVNO its
own business, a partner its subtree, the platform everything)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.db.scoping import scoped
from openmvne.domain import settlement as rules
from openmvne.domain.access import Scope
from openmvne.domain.numbers import NumberState
from openmvne.domain.subscribers import local_date
from openmvne.errors import NotFound

SUSPICION_SHARE = 0.2  # a channel whose lines fail the checks above this share is flagged


def _province(region: str | None) -> str:
    return f"{region[:2]}0000" if region else "unknown"


def _period(at: datetime, by: str) -> str:
    """The business month (YYYY-MM) or, `by="day"`, the business day (YYYY-MM-DD)."""
    return local_date(at).isoformat() if by == "day" else rules.month_of(at)


def activations(db: Database, scope: Scope, *, by: str = "month") -> list[dict[str, Any]]:
    sub = t.subscription
    with db.read() as conn:
        rows = conn.execute(
            scoped(
                select(sub.c.region_code, sub.c.activated_at).where(
                    sub.c.activated_at.is_not(None)
                ),
                sub,
                scope,
            )
        ).all()
    counts = Counter((_province(r.region_code), _period(r.activated_at, by)) for r in rows)
    return [{"province": p, by: m, "activations": n} for (p, m), n in sorted(counts.items())]


def recharges(db: Database, scope: Scope, *, by: str = "month") -> list[dict[str, Any]]:
    ro, o = t.recharge_order, t.organization
    with db.read() as conn:
        rows = conn.execute(
            scoped(select(ro.c.outlet_id, ro.c.amount_fen, ro.c.created_at), ro, scope)
        ).all()
        regions = dict(
            conn.execute(
                scoped(
                    select(o.c.id, o.c.region_code).where(o.c.id.in_({r.outlet_id for r in rows})),
                    o,
                    scope,
                )
            ).all()
        ) if rows else {}  # fmt: skip
    sums: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for r in rows:
        key = (_province(regions.get(r.outlet_id)), _period(r.created_at, by))
        sums[key][0] += 1
        sums[key][1] += r.amount_fen
    return [
        {"province": p, by: m, "recharges": n, "amountFen": fen}
        for (p, m), (n, fen) in sorted(sums.items())
    ]


def subscribers_by_state(db: Database, scope: Scope) -> list[dict[str, Any]]:
    sub = t.subscription
    with db.read() as conn:
        rows = conn.execute(
            scoped(select(sub.c.state, func.count()).group_by(sub.c.state), sub, scope)
        ).all()
    return [{"state": s, "lines": int(n)} for s, n in sorted(rows)]


def number_utilisation(db: Database, scope: Scope) -> list[dict[str, Any]]:
    """Per MVNO and segment: numbers allocated, in use, the share (the block-request input)."""
    blk, seg, n = t.number_block, t.number_segment, t.number
    with db.read() as conn:
        blocks = conn.execute(
            scoped(
                select(blk.c.mvno_id, seg.c.prefix, func.count())
                .join(seg, seg.c.id == blk.c.segment_id)
                .where(blk.c.mvno_id.is_not(None))
                .group_by(blk.c.mvno_id, seg.c.prefix),
                blk,
                scope,
            )
        ).all()
        used = conn.execute(
            scoped(
                select(n.c.mvno_id, seg.c.prefix, func.count())
                .join(blk, blk.c.id == n.c.block_id)
                .join(seg, seg.c.id == blk.c.segment_id)
                .where(n.c.state == NumberState.IN_USE.value)
                .group_by(n.c.mvno_id, seg.c.prefix),
                n,
                scope,
            )
        ).all()
    in_use = {(m, p): int(c) for m, p, c in used}
    out = []
    for mvno, prefix, count in sorted(blocks, key=lambda r: (str(r[0]), r[1])):
        allocated = int(count) * 10_000
        busy = in_use.get((mvno, prefix), 0)
        out.append(
            {
                "mvnoId": str(mvno),
                "segment": prefix,
                "allocated": allocated,
                "inUse": busy,
                "utilisationPct": round(100 * busy / allocated, 2),
            }
        )
    return out


def inversion_alerts(db: Database, scope: Scope) -> list[dict[str, Any]]:
    ia, po = t.inversion_alert, t.product_offering
    with db.read() as conn:
        rows = conn.execute(
            scoped(
                select(po.c.name, ia.c.price_fen, ia.c.cost_fen, ia.c.cause, ia.c.status)
                .join(po, po.c.id == ia.c.offering_id)
                .order_by(ia.c.id),
                ia,
                scope,
            )
        ).all()
    return [
        {"offer": r.name, "priceFen": r.price_fen, "costFen": r.cost_fen, "cause": r.cause,
         "status": r.status}
        for r in rows
    ]  # fmt: skip


def suspicious_channels(db: Database, scope: Scope) -> list[dict[str, Any]]:
    """Outlets whose lines are barred for missing real-name registration, or failed the
    validity check, above the threshold: the regulator's blacklist signal."""
    sub, up, o = t.subscription, t.usage_period, t.organization
    with db.read() as conn:
        lines = conn.execute(
            scoped(
                select(sub.c.id, sub.c.outlet_id, sub.c.state, sub.c.activated_at).where(
                    sub.c.activated_at.is_not(None)
                ),
                sub,
                scope,
            )
        ).all()
        usage = conn.execute(
            scoped(
                select(up.c.subscription_id, up.c.period, up.c.voice_used_s, up.c.data_used_kb),
                up,
                scope,
            )
        ).all() if lines else []  # fmt: skip
        outlets = {r.outlet_id for r in lines}
        named = scoped(select(o.c.id, o.c.name).where(o.c.id.in_(outlets)), o, scope)
        names = dict(conn.execute(named).all()) if lines else {}
    used = {(u.subscription_id, u.period): (u.voice_used_s, u.data_used_kb) for u in usage}
    tally: dict[Any, list[int]] = defaultdict(lambda: [0, 0, 0])
    for line in lines:
        first = rules.month_of(line.activated_at)
        months = [rules.add_months(first, k) for k in range(rules.VALIDITY_MONTHS)]
        entry = tally[line.outlet_id]
        entry[0] += 1
        if line.state == "nonRealNameBarred":
            entry[1] += 1
        history = [used.get((line.id, m), (0, 0)) for m in months]
        if (line.id, months[-1]) in used and not rules.passes_validity(history):
            entry[2] += 1
    out = []
    for outlet, (sold, fake, invalid) in sorted(tally.items(), key=lambda kv: str(kv[0])):
        share = (fake + invalid) / sold if sold else 0.0
        out.append(
            {
                "outletId": str(outlet),
                "outlet": names.get(outlet, ""),
                "lines": sold,
                "nonRealName": fake,
                "failedValidity": invalid,
                "share": round(share, 3),
                "flagged": share > SUSPICION_SHARE,
            }
        )
    return out


REPORTS: dict[str, Callable[[Database, Scope], list[dict[str, Any]]]] = {
    "activations": activations,
    "recharges": recharges,
    "subscribers-by-state": subscribers_by_state,
    "number-utilisation": number_utilisation,
    "inversion-alerts": inversion_alerts,
    "suspicious-channels": suspicious_channels,
}


def run(db: Database, scope: Scope, name: str) -> list[dict[str, Any]]:
    report = REPORTS.get(name)
    if report is None:
        raise NotFound(
            f"no report '{name}' (reports: {', '.join(sorted(REPORTS))})",
            code="unknown_report",
            field="name",
        )
    return report(db, scope)
