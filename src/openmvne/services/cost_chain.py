"""The cost chain of a sellable offer or partner package, and the inversion alerts that
keep live prices above it when wholesale prices or commissions change."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from openmvne import clock, ids
from openmvne.db import tables as t
from openmvne.db.scoping import unscoped
from openmvne.domain import catalog as rules
from openmvne.domain.catalog import CostChain, CostLine, OfferKind, PriceModel, UnitRates, Units
from openmvne.domain.channels import ChannelLevel
from openmvne.domain.subscribers import local_date
from openmvne.errors import RuleViolation
from openmvne.money import MICRO_PER_FEN

po = t.product_offering
wpl = t.wholesale_price_list
ca = t.channel_authorisation
WHY = "the cost chain reads the MVNO's wholesale terms whoever asks"

DEFAULT_SCHEME = {
    "revenue_share_bp": {
        "national": 1000,
        "enterprise": 1000,
        "province": 800,
        "prefecture": 600,
        "outlet": 400,
    },
    "mvno_margin_bp": 1500,
    # Recharge commission by level of the recharging outlet's chain, basis points.
    "recharge_bp": {"national": 300, "province": 250, "prefecture": 200, "outlet": 150},
    # Per valid activation (domain/settlement.py's validity check), fen, by level.
    "activation_fen": {"national": 3000, "province": 2500, "prefecture": 2000, "outlet": 1500},
}


# Built once: every recharge and online-charging batch reads these (docs/architecture.md:
# statements on hot paths).
_IN_FORCE = unscoped(
    select(wpl)
    .where(
        wpl.c.mvno_id == bindparam("mvno"),
        wpl.c.host_id == bindparam("host"),
        wpl.c.valid_from <= bindparam("on"),
        (wpl.c.valid_to.is_(None)) | (wpl.c.valid_to >= bindparam("on")),
    )
    .order_by(wpl.c.valid_from.desc()),
    WHY,
)
# Lists of the pair already set to start after a day: a price is judged against them too.
_LATER_STARTS = unscoped(
    select(wpl.c.valid_from)
    .where(
        wpl.c.mvno_id == bindparam("mvno"),
        wpl.c.host_id == bindparam("host"),
        wpl.c.valid_from > bindparam("on"),
    )
    .order_by(wpl.c.valid_from),
    WHY,
)
_SCHEME = unscoped(
    select(t.commission_scheme).where(t.commission_scheme.c.mvno_id == bindparam("mvno")), WHY
)


def price_list_in_force(
    conn: Connection, mvno_id: uuid.UUID, host_id: uuid.UUID, on: date
) -> dict[str, Any] | None:
    row = conn.execute(_IN_FORCE, {"mvno": mvno_id, "host": host_id, "on": on}).mappings().first()
    return dict(row) if row else None


def scheme(conn: Connection, mvno_id: uuid.UUID) -> dict[str, Any]:
    row = conn.execute(_SCHEME, {"mvno": mvno_id}).mappings().first()
    if row is None:
        return {"mvno_id": mvno_id, **DEFAULT_SCHEME, "updated_at": None}
    # A part the MVNO never set (stored as null) is the platform's default.
    return {
        key: DEFAULT_SCHEME[key] if value is None and key in DEFAULT_SCHEME else value
        for key, value in row.items()
    }


def _rates(price_list: dict[str, Any]) -> UnitRates:
    tiers = [
        rules.RevenueTier(t_["minAnnualRevenueFen"], t_["discountBp"])
        for t_ in price_list["revenue_tiers"]
    ]
    discount = rules.tier_discount(tiers, price_list["annual_revenue_fen"])
    base = UnitRates(
        price_list["voice_rate"] or 0, price_list["sms_rate"] or 0, price_list["data_rate"] or 0
    )
    return base.discounted(discount)


def _units(offer: dict[str, Any]) -> Units:
    return Units(offer["voice_min"], offer["sms"], offer["data_mb"])


def _wholesale(
    conn: Connection, offer: dict[str, Any], units: Units, on: date
) -> tuple[list[CostLine], dict[str, Any]]:
    price_list = price_list_in_force(conn, offer["mvno_id"], offer["host_id"], on)
    if price_list is None:
        raise RuleViolation(
            "no wholesale price list is in force for this host network, so the "
            "cost cannot be known",
            code="no_price_list",
            field="hostId",
        )
    if price_list["model"] == PriceModel.PACKAGE and offer.get("host_package_code"):
        package = next(
            (p for p in price_list["host_packages"] if p["code"] == offer["host_package_code"]),
            None,
        )
        if package is None:
            raise RuleViolation(
                f"the price list has no host package {offer['host_package_code']}",
                code="unknown_host_package",
                field="hostPackageCode",
            )
        cost = package["publicPriceFen"] * (rules.BASIS_POINTS - package["discountBp"])
        lines = [
            CostLine(
                f"host package {package['code']}",
                -(-cost * MICRO_PER_FEN // rules.BASIS_POINTS),
            ),
            CostLine("per-number fee", price_list["per_number_fee_fen"] * MICRO_PER_FEN),
        ]
        return lines, price_list
    return rules.wholesale_lines(
        units, _rates(price_list), price_list["per_number_fee_fen"]
    ), price_list


def offer_chain(conn: Connection, offer: dict[str, Any], on: date | None = None) -> CostChain:
    """An MVNO offer sold through the channel tree: wholesale cost of its allowances, the
    per-number fee, and the commission the whole chain takes at the top rate."""
    on = on or local_date(clock.now())
    units = _units(offer)
    price = offer["monthly_fee_fen"] or offer.get("min_monthly_spend_fen") or 0
    if offer["kind"] == OfferKind.PAYG:
        # No fee and no allowance: judge it on a reference month of usage at its own rates.
        units = rules.PAYG_REFERENCE_MONTH
        price = rules.payg_price_fen(
            units, UnitRates(offer["voice_rate"], offer["sms_rate"], offer["data_rate"])
        )
    lines, _ = _wholesale(conn, offer, units, on)
    if offer["kind"] == OfferKind.ADDON:  # a pack rides on a line that already pays for it
        lines = [line for line in lines if line.label != "per-number fee"]
    top = max(scheme(conn, offer["mvno_id"])["revenue_share_bp"].values(), default=0)
    if offer["shared_with_channels"] and top:
        lines.append(rules.share_line("channel commissions (top tier)", price, top))
    return CostChain(price, lines)


def design_chain(conn: Connection, design: dict[str, Any], on: date | None = None) -> CostChain:
    """A partner's package: the wholesale cost of the base offer and add-ons, the per-number
    fee, the MVNO's margin, and what each channel above the designer keeps."""
    on = on or local_date(clock.now())
    offers = [_offer(conn, design["base_offering_id"])] + [
        _offer(conn, uuid.UUID(a)) for a in design["addon_ids"]
    ]
    units = Units()
    for offer in offers:
        units = units + _units(offer)
    lines, _ = _wholesale(conn, offers[0], units, on)
    terms = scheme(conn, design["mvno_id"])
    lines.append(rules.share_line("MVNO margin", design["price_fen"], terms["mvno_margin_bp"]))
    ancestors, seller = _chain_levels(conn, design["designer_id"])
    for level, kept in rules.upstream_commission_bp(terms["revenue_share_bp"], ancestors, seller):
        if kept:
            lines.append(
                rules.share_line(f"{level.value} channel commission", design["price_fen"], kept)
            )
    return CostChain(design["price_fen"], lines)


def _offer(conn: Connection, offering_id: uuid.UUID) -> dict[str, Any]:
    row = conn.execute(unscoped(select(po).where(po.c.id == offering_id), WHY)).mappings().one()
    return dict(row)


def _chain_levels(conn: Connection, auth_id: uuid.UUID) -> tuple[list[ChannelLevel], ChannelLevel]:
    row = conn.execute(unscoped(select(ca.c.path, ca.c.level).where(ca.c.id == auth_id), WHY)).one()
    ancestor_ids = [uuid.UUID(h) for h in row.path.strip("/").split("/")[:-1]]
    levels = {}
    if ancestor_ids:
        found = conn.execute(
            unscoped(select(ca.c.id, ca.c.level).where(ca.c.id.in_(ancestor_ids)), WHY)
        ).all()
        levels = {r.id: ChannelLevel(r.level) for r in found}
    return [levels[a] for a in ancestor_ids], ChannelLevel(row.level)


RATE_FIELDS = (("voice", "voiceRateFen"), ("sms", "smsRateFen"), ("data", "dataRateFen"))


def rate_below_wholesale(
    conn: Connection, offer: dict[str, Any], on: date | None = None
) -> tuple[str, str, int] | None:
    """The first per-unit retail rate (pay-as-you-go and overage) below its wholesale rate
    under the pool list in force or one already set to start later, as (service, field,
    wholesale µfen); None when every rate covers its wholesale rate."""
    on = on or local_date(clock.now())
    params = {"mvno": offer["mvno_id"], "host": offer["host_id"], "on": on}
    days = [on, *conn.execute(_LATER_STARTS, params).scalars().all()]
    lists = [price_list_in_force(conn, offer["mvno_id"], offer["host_id"], day) for day in days]
    wholesale = [_rates(pl) for pl in lists if pl is not None and pl["model"] == PriceModel.POOL]
    for name, field in RATE_FIELDS:
        dearest = max((getattr(rates, name) for rates in wholesale), default=0)
        if offer[f"{name}_rate"] < dearest:
            return name, field, dearest
    return None


def check_rates_not_below_wholesale(conn: Connection, offer: dict[str, Any]) -> None:
    """Per-unit retail rates (pay-as-you-go and overage) at or above the wholesale rates of
    today's list and of every list already set to start later."""
    below = rate_below_wholesale(conn, offer)
    if below is not None:
        name, field, wholesale = below
        raise RuleViolation(
            f"the {name} rate is below its wholesale rate",
            code="rate_below_wholesale",
            field=field,
            wholesaleMicroFen=wholesale,
        )


def _rate_inversion(
    conn: Connection, offer: dict[str, Any], on: date
) -> tuple[str, int, int] | None:
    """A retail rate below wholesale as an alert's figures: (what, price, cost) of the
    service's reference month (rules.PAYG_REFERENCE_MONTH) at the retail rate (rounded down)
    and at the wholesale rate (rounded up)."""
    below = rate_below_wholesale(conn, offer, on)
    if below is None:
        return None
    name, _, wholesale = below
    reference = rules.PAYG_REFERENCE_MONTH
    units = {"voice": reference.voice_min, "sms": reference.sms, "data": reference.data_mb}[name]
    price = units * offer[f"{name}_rate"] // MICRO_PER_FEN
    cost = -(-units * wholesale // MICRO_PER_FEN)
    return f"{name} rate below wholesale", price, cost


def chain_ahead(
    conn: Connection, item: dict[str, Any], on: date | None = None, *, design: bool = False
) -> CostChain:
    """The cost chain of an offering (or a package design) that a price must cover: today's,
    or the chain under a price list already set to start later when that one costs more.
    Nothing re-checks prices on the day a dearer list comes into force, so a price is judged
    when the list is announced."""
    on = on or local_date(clock.now())
    host_id = _offer(conn, item["base_offering_id"])["host_id"] if design else item["host_id"]

    def chain_on(day: date) -> CostChain:
        return design_chain(conn, item, day) if design else chain_for_offering(conn, item, day)

    chain = chain_on(on)
    params = {"mvno": item["mvno_id"], "host": host_id, "on": on}
    for start in conn.execute(_LATER_STARTS, params).scalars().all():
        try:
            then = chain_on(start)
        except RuleViolation:
            continue  # the later list cannot cost it (a host package it lacks)
        if then.cost_fen > chain.cost_fen:
            chain = then
    return chain


def recheck(conn: Connection, mvno_id: uuid.UUID, cause: str) -> list[uuid.UUID]:
    """Re-check every live offer and package of the MVNO; open an alert for each new
    inversion, close alerts that no longer apply. Returns the offerings newly inverted."""
    ia = t.inversion_alert
    now = clock.now()
    live = (
        conn.execute(
            unscoped(select(po).where(po.c.mvno_id == mvno_id, po.c.status == "active"), WHY)
        )
        .mappings()
        .all()
    )
    open_alerts = {
        r.offering_id: r.id
        for r in conn.execute(
            unscoped(
                select(ia.c.id, ia.c.offering_id).where(
                    ia.c.mvno_id == mvno_id, ia.c.status == "open"
                ),
                WHY,
            )
        )
    }
    newly = []
    for offer in live:
        try:
            chain = chain_ahead(conn, dict(offer), local_date(now))
        except RuleViolation:
            continue  # no price list in force: nothing to compare against
        # A per-unit rate below its wholesale rate sells that usage below cost too.
        rate = None if chain.inverted else _rate_inversion(conn, dict(offer), local_date(now))
        inverted = chain.inverted or rate is not None
        if inverted and offer["id"] not in open_alerts:
            what, price_fen, cost_fen = rate or ("", chain.price_fen, chain.cost_fen)
            conn.execute(
                insert(ia).values(
                    id=ids.new_id(),
                    mvno_id=mvno_id,
                    offering_id=offer["id"],
                    price_fen=price_fen,
                    cost_fen=cost_fen,
                    cause=(f"{cause}: {what}" if what else cause)[:200],
                    status="open",
                    created_at=now,
                    resolved_at=None,
                )
            )
            newly.append(offer["id"])
        elif not inverted and offer["id"] in open_alerts:
            conn.execute(
                update(ia)
                .where(ia.c.id == open_alerts[offer["id"]])
                .values(status="resolved", resolved_at=now)
            )
    return newly


def chain_for_offering(conn: Connection, offer: dict[str, Any], on: date) -> CostChain:
    if offer["kind"] == OfferKind.PACKAGE and offer["design_id"] is not None:
        d = t.package_design
        design = (
            conn.execute(unscoped(select(d).where(d.c.id == offer["design_id"]), WHY))
            .mappings()
            .one()
        )
        return design_chain(conn, dict(design), on)
    return offer_chain(conn, offer, on)
