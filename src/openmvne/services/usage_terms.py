"""What rating needs to know about lines: which line a number is, and each line's terms for a
billing period (offer rates, allowances with add-ons and rollover, what was used already,
the MVNO's wholesale rates). Read inside the rating transaction, after its locks."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from operator import attrgetter
from typing import Any

from sqlalchemy import Connection, bindparam, select

from openmvne.db import bulk_read
from openmvne.db import tables as t
from openmvne.db.scoping import unscoped
from openmvne.domain.rating import Terms
from openmvne.domain.settlement import add_months, month_bounds
from openmvne.domain.subscribers import LineState
from openmvne.services import cost_chain

WHY = "rating reads every line its records name"
CHUNK = 5_000
RATEABLE = [
    s.value
    for s in LineState
    if s not in (LineState.PENDING, LineState.FAILED, LineState.CANCELLED)
]


def in_order(ids_: Iterable[uuid.UUID]) -> list[uuid.UUID]:
    """Ids sorted as UUIDs sort, by their integer: several times faster than UUID.__lt__."""
    return sorted(ids_, key=attrgetter("int"))


@dataclass
class Line:
    id: uuid.UUID
    msisdn: str
    mvno_id: uuid.UUID
    host_id: uuid.UUID
    offering_id: uuid.UUID
    state: str
    activated_at: datetime | None = None


def lines_for(conn: Connection, msisdns: list[str]) -> tuple[dict[str, Line], dict[str, str]]:
    """The live line of each number, and for the others why their records are refused."""
    sub = t.subscription
    found: dict[str, Line] = {}
    seen_states: dict[str, str] = {}
    rows = bulk_read.rows_where_in(
        conn,
        [sub.c.id, sub.c.msisdn, sub.c.mvno_id, sub.c.host_id, sub.c.offering_id, sub.c.state,
         sub.c.activated_at],
        sub.c.msisdn,
        msisdns,
        why=WHY,
        repeated=("mvno_id", "host_id", "offering_id"),
    )  # fmt: skip
    rateable = set(RATEABLE)
    for row in rows:
        if row[5] in rateable:
            found[row[1]] = Line(*row)
        else:
            seen_states.setdefault(row[1], row[5])
    refused = {}
    for msisdn in msisdns:
        if msisdn in found:
            continue
        state = seen_states.get(msisdn)
        refused[msisdn] = (
            "unknown subscriber"
            if state is None
            else "line cancelled"
            if state == LineState.CANCELLED.value
            else f"line {state}"
        )
    return found, refused


# Built once: online charging reads the offers every batch (docs/architecture.md:
# statements on hot paths). A line has one offer, a batch a handful.
_OFFERS = unscoped(
    select(t.product_offering).where(t.product_offering.c.id.in_(bindparam("ids", expanding=True))),
    WHY,
)


def _offers(conn: Connection, ids_: Iterable[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    wanted = in_order(set(ids_))
    out: dict[uuid.UUID, dict[str, Any]] = {}
    for start in range(0, len(wanted), CHUNK):
        rows = conn.execute(_OFFERS, {"ids": wanted[start : start + CHUNK]}).mappings()
        out.update({r["id"]: dict(r) for r in rows})
    return out


def _addons(
    conn: Connection, line_ids: list[uuid.UUID], periods: list[str]
) -> dict[tuple[uuid.UUID, str], tuple[int, int, int]]:
    """Allowances of the add-on packs each line held in each period: (voice s, SMS, data
    KB). A pack counts in every period its time on the line overlaps (a pack is bought for
    the month: it ends at the month's end, or earlier when closed)."""
    ss, po = t.subscription_service, t.product_offering
    out: dict[tuple[uuid.UUID, str], tuple[int, int, int]] = {}
    if not periods:
        return out
    bounds = {p: month_bounds(p) for p in periods}
    first = min(b[0] for b in bounds.values())
    last = max(b[1] for b in bounds.values())
    for start in range(0, len(line_ids), CHUNK):
        rows = conn.execute(
            unscoped(
                select(
                    ss.c.subscription_id, ss.c.started_at, ss.c.ended_at,
                    po.c.voice_min, po.c.sms, po.c.data_mb,
                )
                .join(po, po.c.id == ss.c.offering_id)
                .where(
                    bulk_read.any_of(conn, ss.c.subscription_id, line_ids[start : start + CHUNK]),
                    ss.c.started_at < last,
                    ss.c.ended_at.is_(None) | (ss.c.ended_at > first),
                ),
                WHY,
            )
        ).all()  # fmt: skip
        for row in rows:
            for period, (begin, end) in bounds.items():
                if row.started_at < end and (row.ended_at is None or row.ended_at > begin):
                    key = (row.subscription_id, period)
                    v, s, d = out.get(key, (0, 0, 0))
                    out[key] = (v + row.voice_min * 60, s + row.sms, d + row.data_mb * 1024)
    return out


def _wholesale(
    conn: Connection, pairs: set[tuple[uuid.UUID, uuid.UUID]], period: str
) -> dict[tuple[uuid.UUID, uuid.UUID], tuple[int, int, int]]:
    """The price list in force on the period's first day, per (MVNO, host)."""
    first = date(int(period[:4]), int(period[5:]), 1)
    out = {}
    for mvno, host in pairs:
        row = cost_chain.price_list_in_force(conn, mvno, host, first)
        # Package-model lists have no unit rates: their cost is the package price (settlement).
        out[(mvno, host)] = (
            (row["voice_rate"] or 0, row["sms_rate"] or 0, row["data_rate"] or 0)
            if row
            else (0, 0, 0)
        )
    return out


def previous_period(period: str) -> str:
    return add_months(period, -1)


def period_rows(
    conn: Connection, keys: list[tuple[uuid.UUID, str]]
) -> dict[tuple[uuid.UUID, str], dict[str, Any]]:
    up = t.usage_period
    wanted = set(keys)
    periods = sorted({p for _, p in keys})
    columns = list(up.c)
    names = [c.name for c in columns]
    rows = bulk_read.rows_where_in(
        conn,
        columns,
        up.c.subscription_id,
        in_order({line_id for line_id, _ in keys}),
        why=WHY,
        also=(up.c.period, periods),
        repeated=("mvno_id", "period"),
    )
    out: dict[tuple[uuid.UUID, str], dict[str, Any]] = {}
    for values in rows:
        r = dict(zip(names, values, strict=True))
        if (r["subscription_id"], r["period"]) in wanted:
            out[(r["subscription_id"], r["period"])] = r
    return out


def _opened(conn: Connection, line_ids: set[uuid.UUID]) -> dict[uuid.UUID, datetime]:
    """When each line was opened (lines never opened are left out)."""
    if not line_ids:
        return {}
    sub = t.subscription
    rows = bulk_read.rows_where_in(
        conn, [sub.c.id, sub.c.activated_at], sub.c.id, in_order(line_ids), why=WHY
    )
    return {line_id: opened for line_id, opened in rows if opened is not None}


@dataclass
class LineTerms:
    line: Line
    period: str
    terms: Terms
    existing: dict[str, Any] | None  # the usage_period row, when the period was rated before
    allowances: tuple[int, int, int, int]  # voice s, SMS, data KB, of which rollover KB


Span = tuple[datetime, datetime | None]


def barrings(conn: Connection, lines: Iterable[Line]) -> dict[uuid.UUID, tuple[Span, ...]]:
    """Each line's spans barred for missing real-name registration, in time order (nearly
    always none)."""
    rnb = t.real_name_barring
    rows = bulk_read.rows_where_in(
        conn,
        [rnb.c.subscription_id, rnb.c.since, rnb.c.until],
        rnb.c.subscription_id,
        in_order({line.id for line in lines}),
        why=WHY,
    )
    spans: dict[uuid.UUID, list[Span]] = {}
    for line_id, since, until in sorted(rows, key=lambda r: (r[0].int, r[1])):
        spans.setdefault(line_id, []).append((since, until))
    return {line_id: tuple(found) for line_id, found in spans.items()}


def terms_for(
    conn: Connection,
    lines: dict[str, Line],
    keys: list[tuple[str, str]],
    *,
    fresh: bool = False,
) -> dict[tuple[str, str], LineTerms]:
    """Terms per (msisdn, period). `fresh`: as if nothing of the period was rated (rerating)."""
    offers = _offers(conn, (line.offering_id for line in lines.values()))
    barred = barrings(conn, lines.values())
    by_key = [(lines[m].id, p) for m, p in keys]
    existing = period_rows(conn, by_key)
    # A period already rated keeps its allowances in its row: packs and last month's rollover
    # matter only for the periods met for the first time (online charging's steady state
    # reads neither).
    new = [(line_id, p) for line_id, p in by_key if (line_id, p) not in existing]
    addons = _addons(conn, in_order({line_id for line_id, _ in new}), sorted({p for _, p in new}))
    before_of = {p: previous_period(p) for p in {p for _, p in keys}}
    previous = period_rows(conn, [(line_id, before_of[p]) for line_id, p in new])
    # A line that used nothing last month has no row for it: all its plan data is unused.
    offer_of = {line.id: offers[line.offering_id] for line in lines.values()}
    idle = _opened(
        conn,
        {
            line_id
            for line_id, p in new
            if offer_of[line_id]["rollover_data"] and (line_id, before_of[p]) not in previous
        },
    )
    wholesale: dict[tuple[uuid.UUID, uuid.UUID, str], tuple[int, int, int]] = {}
    for period in sorted({p for _, p in keys}):
        pairs = {(lines[m].mvno_id, lines[m].host_id) for m, p in keys if p == period}
        for (mvno, host), rates in _wholesale(conn, pairs, period).items():
            wholesale[(mvno, host, period)] = rates
    out = {}
    for msisdn, period in keys:
        line = lines[msisdn]
        offer = offers[line.offering_id]
        row = existing.get((line.id, period))
        if row is not None:
            allow = (
                row["voice_allow_s"],
                row["sms_allow"],
                row["data_allow_kb"],
                row["rollover_kb"],
            )
        else:
            rollover = 0
            before = previous.get((line.id, before_of[period]))
            plan_kb = offer["data_mb"] * 1024
            if offer["rollover_data"] and before is not None:
                rollover = min(plan_kb, max(0, before["data_allow_kb"] - before["data_used_kb"]))
            elif offer["rollover_data"] and (opened := idle.get(line.id)) is not None:
                # Open before this period began: last month's plan went wholly unused.
                rollover = plan_kb if opened < month_bounds(period)[0] else 0
            extra = addons.get((line.id, period), (0, 0, 0))
            allow = (
                offer["voice_min"] * 60 + extra[0],
                offer["sms"] + extra[1],
                offer["data_mb"] * 1024 + extra[2] + rollover,
                rollover,
            )
        used = row if (row is not None and not fresh) else None
        w = wholesale[(line.mvno_id, line.host_id, period)]
        terms = Terms(
            voice_rate=offer["voice_rate"],
            sms_rate=offer["sms_rate"],
            data_rate=offer["data_rate"],
            voice_incr_s=offer["voice_increment_s"] or 60,
            data_incr_kb=offer["data_increment_kb"] or 1,
            term_voice_free=bool(offer["terminating_voice_free"]),
            cap_kb=offer["data_cap_mb"] * 1024 if offer["data_cap_mb"] is not None else None,
            voice_allow_s=allow[0],
            sms_allow=allow[1],
            data_allow_kb=allow[2],
            no_charge_spans=barred.get(line.id, ()),
            voice_used_s=used["voice_used_s"] if used else 0,
            sms_used=used["sms_used"] if used else 0,
            data_used_kb=used["data_used_kb"] if used else 0,
            data_over_kb=used["data_over_kb"] if used else 0,
            w_voice=w[0],
            w_sms=w[1],
            w_data=w[2],
        )
        out[(msisdn, period)] = LineTerms(line, period, terms, row, allow)
    return out


def lines_of_period(conn: Connection, period: str) -> dict[str, Line]:
    """The lines that had usage rated in a period, whatever they are now (a number recycled
    since then still bills its old holder for that period)."""
    up, sub = t.usage_period, t.subscription
    rows = conn.execute(
        unscoped(
            select(
                sub.c.id, sub.c.msisdn, sub.c.mvno_id, sub.c.host_id, sub.c.offering_id, sub.c.state
            )
            .join(up, up.c.subscription_id == sub.c.id)
            .where(up.c.period == period),
            WHY,
        )
    ).all()
    return {
        r.msisdn: Line(r.id, r.msisdn, r.mvno_id, r.host_id, r.offering_id, r.state) for r in rows
    }
