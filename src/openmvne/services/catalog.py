"""The catalog: brands, host average prices, wholesale price lists, commission schemes,
offers, and partner-designed packages with their approval flow."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy import Connection, insert, select, update

from openmvne import clock, ids
from openmvne.db import audit, locks
from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.db.listing import page
from openmvne.db.scoping import scoped, unscoped
from openmvne.domain import catalog as rules
from openmvne.domain.access import Actor, Scope, ScopeKind
from openmvne.domain.catalog import DesignStatus, OfferKind, PriceModel, UnitRates
from openmvne.domain.channels import AuthorisationStatus
from openmvne.domain.parties import OrgKind, Role
from openmvne.domain.subscribers import local_date
from openmvne.errors import Conflict, Forbidden, InvalidInput, NotFound
from openmvne.services import cost_chain, idempotency
from openmvne.services.common import (
    Filter,
    apply_filters,
    as_public_id,
    fetch_visible,
    get_one,
    list_page,
    one_of,
    refuse_removing_required,
    tenant_named,
)

o = t.organization
br = t.brand
wpl = t.wholesale_price_list
hap = t.host_average_price
po = t.product_offering
pd = t.package_design
ia = t.inversion_alert
ca = t.channel_authorisation
ADMINS = (Role.PLATFORM_ADMIN, Role.MVNO_ADMIN)

OFFER_FILTERS: dict[str, Filter] = {
    "name": (po.c.name, str),
    "lifecycleStatus": (po.c.status, one_of(("active", "retired"))),
    "offerType": (po.c.kind, lambda v: OfferKind(v).value),
    "mvnoId": (po.c.mvno_id, as_public_id("organization")),
}
ALERT_FILTERS: dict[str, Filter] = {"status": (ia.c.status, one_of(("open", "resolved")))}
DESIGN_FILTERS: dict[str, Filter] = {
    "status": (pd.c.status, lambda v: DesignStatus(v).value),
    "mvnoId": (pd.c.mvno_id, as_public_id("organization")),
}


def _mvno(conn: Connection, actor: Actor, mvno_id: uuid.UUID | None) -> uuid.UUID:
    mvno_id = tenant_named(actor, mvno_id, ScopeKind.MVNO, what="MVNO", field="mvnoId")
    if mvno_id is None:
        raise InvalidInput("name the MVNO (mvnoId)", code="required", field="mvnoId")
    row = fetch_visible(conn, o, actor.scope, mvno_id, what="MVNO", field="mvnoId")
    if row["kind"] != OrgKind.MVNO.value:
        raise InvalidInput("mvnoId must name an MVNO", code="not_an_mvno", field="mvnoId")
    return mvno_id


# --- brands ---------------------------------------------------------------------------------


def update_brand(
    db: Database, actor: Actor, brand_id: uuid.UUID, changes: Mapping[str, Any]
) -> dict[str, Any]:
    allowed = {"name", "hotline", "website", "highlights", "service_channels"}
    if set(changes) - allowed:
        raise InvalidInput(
            f"cannot change {sorted(set(changes) - allowed)}", code="field_not_patchable"
        )
    refuse_removing_required(br, changes)
    with db.write() as conn:
        row = fetch_visible(conn, br, actor.scope, brand_id, what="brand")
        actor.require(*ADMINS, action="change a brand")
        if changes.get("name") not in (None, row["name"]):
            taken = unscoped(select(br.c.id).where(br.c.name == changes["name"]), "unique")
            if conn.execute(taken).first():
                raise Conflict(f"brand {changes['name']!r} exists", code="name_taken", field="name")
        conn.execute(update(br).where(br.c.id == brand_id).values(**changes))
        audit.record(
            conn,
            actor,
            "brand.updated",
            "brand",
            brand_id,
            mvno_id=row["mvno_id"],
            data={"fields": sorted(changes)},
        )
        return fetch_visible(conn, br, actor.scope, brand_id, what="brand")


def list_brands(
    db: Database, scope: Scope, offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    with db.read() as conn:
        return page(
            conn, scoped(select(br), br, scope), order_by=[br.c.name], offset=offset, limit=limit
        )


def get_brand(db: Database, scope: Scope, brand_id: uuid.UUID) -> dict[str, Any]:
    return get_one(db, scope, br, brand_id, what="brand")


# --- host averages and wholesale price lists ----------------------------------------------------


def set_host_average(
    db: Database,
    actor: Actor,
    *,
    host_id: uuid.UUID | None,
    year: int,
    rates: UnitRates,
    results_published_on: date | None,
) -> dict[str, Any]:
    """A host network's average unit prices of a year (revenue ÷ volume, from its results)."""
    actor.require(Role.PLATFORM_ADMIN, Role.HOST_ADMIN, action="record host average prices")
    host_id = tenant_named(actor, host_id, ScopeKind.HOST, what="host network", field="hostId")
    if host_id is None:
        raise InvalidInput("name the host network", code="required", field="hostId")
    if not 2000 <= year <= 2100:
        raise InvalidInput("year is 2000..2100", code="bad_year", field="year")
    if results_published_on is not None:
        rules.check_year(results_published_on, "resultsPublishedOn")
    with db.write() as conn:
        host = fetch_visible(conn, o, actor.scope, host_id, what="host network", field="hostId")
        if host["kind"] != OrgKind.HOST_NETWORK.value:
            raise InvalidInput("hostId must name a host network", field="hostId")
        exists = conn.execute(
            select(hap.c.id).where(hap.c.host_id == host_id, hap.c.year == year)
        ).first()
        if exists:
            raise Conflict(
                f"averages for {year} are already recorded", code="already_recorded", field="year"
            )
        row: dict[str, Any] = {
            "id": ids.new_id(),
            "host_id": host_id,
            "year": year,
            "voice_rate": rates.voice,
            "sms_rate": rates.sms,
            "data_rate": rates.data,
            "results_published_on": results_published_on,
            "created_at": clock.now(),
        }
        conn.execute(insert(hap).values(**row))
        audit.record(
            conn,
            actor,
            "host_average.recorded",
            "host_average_price",
            row["id"],
            data={"year": year},
        )
        return row


def _latest_average(conn: Connection, host_id: uuid.UUID, before: date) -> dict[str, Any] | None:
    row = (
        conn.execute(
            select(hap)
            .where(hap.c.host_id == host_id, hap.c.year < before.year)
            .order_by(hap.c.year.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


def _require_discount(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput("a discount is whole basis points", code="bad_discount", field=field)
    if not 0 <= value < rules.BASIS_POINTS:
        raise InvalidInput("a discount is 0..9999 basis points", code="bad_discount", field=field)
    return value


def create_price_list(
    db: Database,
    actor: Actor,
    *,
    host_id: uuid.UUID | None,
    mvno_id: uuid.UUID,
    model: PriceModel,
    valid_from: date,
    valid_to: date | None,
    rates: UnitRates | None,
    revenue_tiers: list[rules.RevenueTier],
    annual_revenue_fen: int,
    host_packages: list[dict[str, Any]],
    per_number_fee_fen: int,
) -> dict[str, Any]:
    """The host network's wholesale terms for one MVNO, valid for a period. Every live offer
    and package of the MVNO is re-checked against it; new inversions become alerts."""
    actor.require(Role.PLATFORM_ADMIN, Role.HOST_ADMIN, action="set a wholesale price list")
    host_id = tenant_named(actor, host_id, ScopeKind.HOST, what="host network", field="hostId")
    if host_id is None:
        raise InvalidInput("name the host network", code="required", field="hostId")
    rules.check_year(valid_from, "validFrom")
    if valid_to is not None and valid_to < valid_from:
        raise InvalidInput("validTo is before validFrom", code="bad_validity", field="validTo")
    if model is PriceModel.POOL and rates is None:
        raise InvalidInput(
            "a resource-pool list needs voice, SMS and data rates",
            code="required",
            field="voiceRateFen",
        )
    if model is PriceModel.PACKAGE and not host_packages:
        raise InvalidInput(
            "a package list needs host packages", code="required", field="hostPackages"
        )
    # Whole numbers only (the API's schemas say so; a file given to the CLI may not): a
    # float discount made every rate and cost of the MVNO a float, text a 500 at each cost.
    for i, tier in enumerate(revenue_tiers):
        rules.require_fen(tier.min_annual_revenue_fen, f"revenueTiers.{i}.minAnnualRevenueFen")
        _require_discount(tier.discount_bp, f"revenueTiers.{i}.discountBp")
    for i, package in enumerate(host_packages):
        if not isinstance(package.get("code"), str) or not package["code"]:
            raise InvalidInput(
                "a host package has a code", code="required", field=f"hostPackages.{i}.code"
            )
        rules.require_fen(package.get("publicPriceFen"), f"hostPackages.{i}.publicPriceFen")
        _require_discount(package.get("discountBp"), f"hostPackages.{i}.discountBp")
    rules.require_fen(per_number_fee_fen, "perNumberFeeFen")
    rules.require_fen(annual_revenue_fen, "annualRevenueFen")
    with db.write() as conn:
        host = fetch_visible(conn, o, actor.scope, host_id, what="host network", field="hostId")
        if host["kind"] != OrgKind.HOST_NETWORK.value:
            raise InvalidInput("hostId must name a host network", field="hostId")
        mvno = conn.execute(
            unscoped(select(o.c.kind).where(o.c.id == mvno_id), "a host prices any MVNO it carries")
        ).scalar()
        if mvno != OrgKind.MVNO.value:
            raise NotFound("no MVNO with that id", field="mvnoId")
        locks.lock(conn, f"price-lists:{host_id}:{mvno_id}")
        existing = conn.execute(
            unscoped(
                select(wpl.c.valid_from, wpl.c.valid_to).where(
                    wpl.c.host_id == host_id, wpl.c.mvno_id == mvno_id
                ),
                "validity overlap",
            )
        ).all()
        for other in existing:
            if rules.validity_overlaps(valid_from, valid_to, other.valid_from, other.valid_to):
                raise Conflict(
                    f"overlaps the list valid from {other.valid_from}",
                    code="validity_overlaps",
                    field="validFrom",
                )
        average = _latest_average(conn, host_id, valid_from)
        if model is PriceModel.POOL and rates is not None and average is not None:
            rules.check_pool_below_average(
                rates, UnitRates(average["voice_rate"], average["sms_rate"], average["data_rate"])
            )
        row: dict[str, Any] = {
            "id": ids.new_id(),
            "host_id": host_id,
            "mvno_id": mvno_id,
            "model": model.value,
            "valid_from": valid_from,
            "valid_to": valid_to,
            "voice_rate": rates.voice if rates else None,
            "sms_rate": rates.sms if rates else None,
            "data_rate": rates.data if rates else None,
            "revenue_tiers": [
                {"minAnnualRevenueFen": tier.min_annual_revenue_fen, "discountBp": tier.discount_bp}
                for tier in revenue_tiers
            ],
            "annual_revenue_fen": annual_revenue_fen,
            "host_packages": host_packages,
            "per_number_fee_fen": per_number_fee_fen,
            "review_due_on": rules.review_due(
                valid_from, model, average["results_published_on"] if average else None
            ),
            "created_at": clock.now(),
        }
        conn.execute(insert(wpl).values(**row))
        audit.record(
            conn,
            actor,
            "price_list.created",
            "wholesale_price_list",
            row["id"],
            mvno_id=mvno_id,
            data={"model": model.value, "validFrom": valid_from.isoformat()},
        )
        cost_chain.recheck(conn, mvno_id, f"wholesale price list from {valid_from}")
        return row


def end_price_list(
    db: Database, actor: Actor, list_id: uuid.UUID, valid_to: date
) -> dict[str, Any]:
    """Close a price list's validity (before a new one starts). Prices are never edited."""
    with db.write() as conn:
        row = fetch_visible(conn, wpl, actor.scope, list_id, what="price list")
        actor.require(Role.PLATFORM_ADMIN, Role.HOST_ADMIN, action="end a wholesale price list")
        if valid_to < row["valid_from"] or (
            row["valid_to"] is not None and valid_to > row["valid_to"]
        ):
            raise InvalidInput(
                "validTo must fall within the list's validity", code="bad_validity", field="validTo"
            )
        conn.execute(update(wpl).where(wpl.c.id == list_id).values(valid_to=valid_to))
        audit.record(
            conn,
            actor,
            "price_list.ended",
            "wholesale_price_list",
            list_id,
            mvno_id=row["mvno_id"],
            data={"validTo": valid_to.isoformat()},
        )
        return fetch_visible(conn, wpl, actor.scope, list_id, what="price list")


def list_price_lists(
    db: Database, scope: Scope, offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    with db.read() as conn:
        return page(
            conn,
            scoped(select(wpl), wpl, scope),
            order_by=[wpl.c.valid_from],
            offset=offset,
            limit=limit,
        )


def get_price_list(db: Database, scope: Scope, list_id: uuid.UUID) -> dict[str, Any]:
    return get_one(db, scope, wpl, list_id, what="price list")


def review_reminders(db: Database, scope: Scope, within_days: int = 60) -> list[dict[str, Any]]:
    """Price lists whose review falls due within `within_days` (or is overdue)."""
    from datetime import timedelta

    horizon = local_date(clock.now()) + timedelta(days=within_days)
    with db.read() as conn:
        stmt = scoped(select(wpl).where(wpl.c.review_due_on <= horizon), wpl, scope)
        return [dict(r) for r in conn.execute(stmt.order_by(wpl.c.review_due_on)).mappings()]


# --- commission scheme ------------------------------------------------------------------------


def get_scheme(db: Database, actor: Actor, mvno_id: uuid.UUID | None) -> dict[str, Any]:
    """Every level's revenue share and the MVNO's margin: for the MVNO's and the platform's
    admins only (a channel sees what it must cover in its package's cost chain)."""
    with db.read() as conn:
        mvno = _mvno(conn, actor, mvno_id)
        actor.require(*ADMINS, action="read the commission scheme")
        return cost_chain.scheme(conn, mvno)


MAX_ACTIVATION_FEN = 100_000  # 1,000 yuan per activation: anything above is a typo


def _check_levels(amounts: Mapping[str, int], name: str, most: int, unit: str) -> None:
    from openmvne.domain.channels import ChannelLevel

    for level, value in amounts.items():
        if level not in {lv.value for lv in ChannelLevel}:
            raise InvalidInput(
                f"unknown level {level!r}", code="unknown_level", field=f"{name}.{level}"
            )
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= most:
            raise InvalidInput(
                f"an amount is 0..{most} {unit}", code="bad_share", field=f"{name}.{level}"
            )


def set_scheme(
    db: Database,
    actor: Actor,
    mvno_id: uuid.UUID | None,
    revenue_share_bp: Mapping[str, int],
    mvno_margin_bp: int,
    *,
    recharge_bp: Mapping[str, int] | None = None,
    activation_fen: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """The MVNO's commission scheme; live offers and packages are re-checked against it.
    Recharge and activation commissions left out (None) are the platform's defaults."""
    _check_levels(revenue_share_bp, "revenueShareBp", rules.BASIS_POINTS - 1, "basis points")
    _check_levels(recharge_bp or {}, "rechargeBp", rules.BASIS_POINTS - 1, "basis points")
    _check_levels(activation_fen or {}, "activationFen", MAX_ACTIVATION_FEN, "fen")
    if isinstance(mvno_margin_bp, bool) or not 0 <= mvno_margin_bp < rules.BASIS_POINTS:
        raise InvalidInput(
            "a margin is 0..9999 basis points", code="bad_share", field="mvnoMarginBp"
        )
    with db.write() as conn:
        mvno = _mvno(conn, actor, mvno_id)
        actor.require(*ADMINS, action="set the commission scheme")
        cs = t.commission_scheme
        values = {
            "revenue_share_bp": dict(revenue_share_bp),
            "mvno_margin_bp": mvno_margin_bp,
            "recharge_bp": dict(recharge_bp) if recharge_bp is not None else None,
            "activation_fen": dict(activation_fen) if activation_fen is not None else None,
            "updated_at": clock.now(),
        }
        if conn.execute(unscoped(select(cs.c.mvno_id).where(cs.c.mvno_id == mvno), "own")).first():
            conn.execute(update(cs).where(cs.c.mvno_id == mvno).values(**values))
        else:
            conn.execute(insert(cs).values(mvno_id=mvno, **values))
        audit.record(
            conn,
            actor,
            "commission_scheme.set",
            "commission_scheme",
            mvno,
            mvno_id=mvno,
            data=values | {"updated_at": None},
        )
        cost_chain.recheck(conn, mvno, "commission scheme changed")
        return cost_chain.scheme(conn, mvno)


# --- offers ---------------------------------------------------------------------------------------

OFFER_DEFAULTS: dict[str, Any] = {
    "description": None,
    "monthly_fee_fen": 0,
    "voice_min": 0,
    "sms": 0,
    "data_mb": 0,
    "voice_rate": 0,
    "sms_rate": 0,
    "data_rate": 0,
    "voice_increment_s": 60,
    "data_increment_kb": 1,
    "data_cap_mb": None,
    "rollover_data": False,
    "terminating_voice_free": True,
    "validity_days": None,
    "min_monthly_spend_fen": None,
    "term_months": None,
    "host_package_code": None,
    "shared_with_channels": True,
}
MONEY_FIELDS = {"monthly_fee_fen": "monthlyFeeFen", "min_monthly_spend_fen": "minMonthlySpendFen"}
MAX_QUANTITY = 10**9  # minutes, messages, MB, KB, days or months: anything above is a typo
COUNT_FIELDS = {
    "voice_min": "voiceMinutes",
    "sms": "sms",
    "data_mb": "dataMb",
    "data_cap_mb": "dataCapMb",
    "validity_days": "validityDays",
    "term_months": "termMonths",
}


def create_offer(
    db: Database,
    actor: Actor,
    *,
    brand_id: uuid.UUID,
    host_id: uuid.UUID,
    kind: OfferKind,
    name: str,
    terms: Mapping[str, Any],
) -> dict[str, Any]:
    """An MVNO offer. Refused when its price is below its cost chain, or when a per-unit
    retail rate is below the wholesale rate."""
    actor.require(*ADMINS, action="create an offer")
    if kind is OfferKind.PACKAGE:
        raise InvalidInput(
            "partner packages come from approved designs", code="bad_kind", field="offerType"
        )
    values = {**OFFER_DEFAULTS, **terms}
    for key, label in MONEY_FIELDS.items():
        if values[key] is not None:
            rules.require_fen(values[key], label)
    for key, label in (*COUNT_FIELDS.items(), ("data_increment_kb", "dataIncrementKb")):
        if values[key] is not None and (
            isinstance(values[key], bool)
            or not isinstance(values[key], int)
            or not 0 <= values[key] <= MAX_QUANTITY
        ):
            raise InvalidInput(
                f"{label} is a whole number 0..{MAX_QUANTITY:,}", code="bad_quantity", field=label
            )
    if values["voice_increment_s"] not in (1, 6, 60):
        raise InvalidInput(
            "voice is rated per 1, 6 or 60 seconds",
            code="bad_increment",
            field="voiceIncrementSeconds",
        )
    if values["data_increment_kb"] < 1:
        raise InvalidInput(
            "the data increment is at least 1 KB", code="bad_increment", field="dataIncrementKb"
        )
    if kind is OfferKind.PRETTY_NUMBER_PLAN and not (
        values["min_monthly_spend_fen"] and values["term_months"]
    ):
        raise InvalidInput(
            "a pretty-number plan has a minimum monthly spend and a term",
            code="required",
            field="minMonthlySpendFen",
        )
    with db.write() as conn:
        brand = fetch_visible(conn, br, actor.scope, brand_id, what="brand", field="brandId")
        host = conn.execute(unscoped(select(o.c.kind).where(o.c.id == host_id), "public")).scalar()
        if host != OrgKind.HOST_NETWORK.value:
            raise NotFound("no host network with that id", field="hostId")
        taken = unscoped(
            select(po.c.id).where(po.c.mvno_id == brand["mvno_id"], po.c.name == name),
            "names unique per MVNO",
        )
        if conn.execute(taken).first():
            raise Conflict(f"an offer named {name!r} exists", code="name_taken", field="name")
        now = clock.now()
        row: dict[str, Any] = {
            **values,
            "id": ids.new_id(),
            "mvno_id": brand["mvno_id"],
            "brand_id": brand_id,
            "host_id": host_id,
            "kind": kind.value,
            "name": name,
            "status": "active",
            "design_id": None,
            "designer_id": None,
            "created_at": now,
            "updated_at": now,
        }
        chain = cost_chain.chain_ahead(conn, row)
        rules.check_not_inverted(chain, name)
        cost_chain.check_rates_not_below_wholesale(conn, row)
        conn.execute(insert(po).values(**row))
        audit.record(
            conn,
            actor,
            "offering.created",
            "product_offering",
            row["id"],
            mvno_id=brand["mvno_id"],
            data={"name": name, "kind": kind.value},
        )
        return row


def retire_offer(db: Database, actor: Actor, offering_id: uuid.UUID) -> dict[str, Any]:
    with db.write() as conn:
        row = fetch_visible(conn, po, actor.scope, offering_id, what="offering")
        actor.require(*ADMINS, action="retire an offer")
        if row["status"] == "retired":
            raise Conflict("already retired", code="invalid_transition", field="lifecycleStatus")
        conn.execute(
            update(po)
            .where(po.c.id == offering_id)
            .values(status="retired", updated_at=clock.now())
        )
        audit.record(
            conn, actor, "offering.retired", "product_offering", offering_id, mvno_id=row["mvno_id"]
        )
        return fetch_visible(conn, po, actor.scope, offering_id, what="offering")


def list_offers(
    db: Database, scope: Scope, filters: Mapping[str, str], offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    return list_page(
        db, scope, po, filters, OFFER_FILTERS, order_by=[po.c.id], offset=offset, limit=limit
    )


def get_offer(db: Database, scope: Scope, offering_id: uuid.UUID) -> dict[str, Any]:
    return get_one(db, scope, po, offering_id, what="offering")


def offer_cost(
    db: Database, scope: Scope, offering_id: uuid.UUID
) -> tuple[dict[str, Any], rules.CostChain]:
    with db.read() as conn:
        offer = fetch_visible(conn, po, scope, offering_id, what="offering")
        return offer, cost_chain.chain_for_offering(conn, offer, local_date(clock.now()))


# --- partner package designs ----------------------------------------------------------------------


def _designer(
    conn: Connection,
    actor: Actor,
    designer_id: uuid.UUID | None,
    base_offering_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """The partner's own approved authorisation the package is designed under: the one named,
    else its channel in the MVNO of the base plan (a partner may work for several MVNOs)."""
    if actor.scope.kind is not ScopeKind.CHANNEL:
        raise Forbidden("packages are designed by partners", code="role_required")
    actor.require(Role.PARTNER_ADMIN, action="design a package")
    stmt = select(ca).where(
        ca.c.party_id == actor.party_id, ca.c.status == AuthorisationStatus.APPROVED.value
    )
    if designer_id is not None:
        stmt = stmt.where(ca.c.id == designer_id)
    rows = conn.execute(scoped(stmt, ca, actor.scope)).mappings().all()
    if designer_id is None and len(rows) > 1 and base_offering_id is not None:
        plans_mvno = conn.execute(
            unscoped(select(po.c.mvno_id).where(po.c.id == base_offering_id), "the plan's MVNO")
        ).scalar()
        # An unknown plan narrows nothing: _composable then says what is wrong with it.
        rows = [r for r in rows if r["mvno_id"] == plans_mvno] or rows
    if len(rows) != 1:
        raise InvalidInput(
            "name the channel (designerId) you design under"
            if rows
            else "you hold no approved channel to design under",
            code="designer_required",
            field="designerId",
        )
    return dict(rows[0])


def _composable(
    conn: Connection,
    actor: Actor,
    mvno_id: uuid.UUID,
    offering_id: uuid.UUID,
    field: str,
    addon: bool,
) -> dict[str, Any]:
    offer = fetch_visible(conn, po, actor.scope, offering_id, what="offer", field=field)
    if offer["mvno_id"] != mvno_id or offer["design_id"] is not None:
        raise NotFound("no offer of this MVNO that you may sell", field=field)
    is_addon = offer["kind"] == OfferKind.ADDON
    if addon != is_addon:
        raise InvalidInput(
            "add-ons go in addonIds, the base plan in baseOfferingId",
            code="bad_component",
            field=field,
        )
    return offer


def _checked_parts(
    conn: Connection,
    actor: Actor,
    designer_id: uuid.UUID | None,
    base_offering_id: uuid.UUID,
    addon_ids: list[uuid.UUID],
) -> dict[str, Any]:
    """The designer's authorisation, once the base plan and add-ons are found composable in
    its MVNO."""
    designer = _designer(conn, actor, designer_id, base_offering_id)
    mvno_id = designer["mvno_id"]
    _composable(conn, actor, mvno_id, base_offering_id, "baseOfferingId", addon=False)
    for i, addon in enumerate(addon_ids):
        _composable(conn, actor, mvno_id, addon, f"addonIds.{i}", addon=True)
    return designer


def create_design(
    db: Database,
    actor: Actor,
    *,
    name: str,
    base_offering_id: uuid.UUID,
    addon_ids: list[uuid.UUID],
    price_fen: int,
    designer_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    rules.require_fen(price_fen, "priceFen")
    with db.write() as conn:
        return _insert_design(
            conn, actor, name, base_offering_id, addon_ids, price_fen, designer_id
        )


def _insert_design(
    conn: Connection,
    actor: Actor,
    name: str,
    base_offering_id: uuid.UUID,
    addon_ids: list[uuid.UUID],
    price_fen: int,
    designer_id: uuid.UUID | None,
) -> dict[str, Any]:
    designer = _checked_parts(conn, actor, designer_id, base_offering_id, addon_ids)
    mvno_id = designer["mvno_id"]
    now = clock.now()
    row: dict[str, Any] = {
        "id": ids.new_id(),
        "mvno_id": mvno_id,
        "designer_id": designer["id"],
        "name": name,
        "base_offering_id": base_offering_id,
        "addon_ids": [str(a) for a in addon_ids],
        "price_fen": price_fen,
        "status": DesignStatus.DRAFT.value,
        "reason": None,
        "offering_id": None,
        "created_at": now,
        "updated_at": now,
    }
    conn.execute(insert(pd).values(**row))
    audit.record(
        conn,
        actor,
        "design.created",
        "package_design",
        row["id"],
        mvno_id=mvno_id,
        data={"name": name, "priceFen": price_fen},
    )
    return row


def submit_new_design(
    db: Database,
    actor: Actor,
    *,
    name: str,
    base_offering_id: uuid.UUID,
    addon_ids: list[uuid.UUID],
    price_fen: int,
    idempotency_key: str | None,
) -> dict[str, Any]:
    """Create a design and submit it for the MVNO's approval in one transaction, once per
    idempotency key (the portal's designer form): a resent form is a replay, not a second
    pending package, and a refused submit leaves no draft behind."""
    rules.require_fen(price_fen, "priceFen")
    request = {
        "name": name,
        "baseOfferingId": str(base_offering_id),
        "addonIds": [str(a) for a in addon_ids],
        "priceFen": price_fen,
    }

    def effect(conn: Connection) -> dict[str, Any]:
        row = _insert_design(conn, actor, name, base_offering_id, addon_ids, price_fen, None)
        _decide(conn, actor, row["id"], "submit", None)
        return {"designId": str(row["id"])}

    result = idempotency.run_once(db, actor, idempotency_key, "design.submitNew", request, effect)
    design = get_design(db, actor.scope, uuid.UUID(result["designId"]))
    return {**design, "replayed": result["replayed"]}


def preview_design(
    db: Database,
    actor: Actor,
    *,
    base_offering_id: uuid.UUID,
    addon_ids: list[uuid.UUID],
    price_fen: int,
    designer_id: uuid.UUID | None = None,
) -> rules.CostChain:
    """The cost chain a package would have, checked as `create_design` checks its parts;
    nothing is saved (the portal's designer shows it while the partner composes)."""
    rules.require_fen(price_fen, "priceFen")
    with db.read() as conn:
        designer = _checked_parts(conn, actor, designer_id, base_offering_id, addon_ids)
        design = {
            "mvno_id": designer["mvno_id"],
            "designer_id": designer["id"],
            "base_offering_id": base_offering_id,
            "addon_ids": [str(a) for a in addon_ids],
            "price_fen": price_fen,
        }
        return cost_chain.design_chain(conn, design)


def update_design(
    db: Database, actor: Actor, design_id: uuid.UUID, changes: Mapping[str, Any]
) -> dict[str, Any]:
    with db.write() as conn:
        row = fetch_visible(conn, pd, actor.scope, design_id, what="package design")
        actor.require(Role.PARTNER_ADMIN, action="change a package design")
        if row["status"] not in (DesignStatus.DRAFT, DesignStatus.REJECTED):
            raise Conflict(
                "only a draft or rejected design can change",
                code="invalid_transition",
                field="status",
            )
        values: dict[str, Any] = {}
        if "price_fen" in changes:
            values["price_fen"] = rules.require_fen(changes["price_fen"], "priceFen")
        if "name" in changes:
            values["name"] = changes["name"]
        conn.execute(
            update(pd).where(pd.c.id == design_id).values(**values, updated_at=clock.now())
        )
        audit.record(
            conn,
            actor,
            "design.updated",
            "package_design",
            design_id,
            mvno_id=row["mvno_id"],
            data={"fields": sorted(values)},
        )
        return fetch_visible(conn, pd, actor.scope, design_id, what="package design")


def decide_design(
    db: Database, actor: Actor, design_id: uuid.UUID, task: str, reason: str | None = None
) -> dict[str, Any]:
    """submit (the partner), approve / reject / publish / retire (the MVNO). Submitting,
    approving and publishing are refused, with the breakdown, when the price is below the
    cost chain (wholesale prices or commissions may have risen since the approval)."""
    with db.write() as conn:
        return _decide(conn, actor, design_id, task, reason)


def _decide(
    conn: Connection, actor: Actor, design_id: uuid.UUID, task: str, reason: str | None
) -> dict[str, Any]:
    row = fetch_visible(conn, pd, actor.scope, design_id, what="package design")
    if task == "submit":
        actor.require(Role.PARTNER_ADMIN, action="submit a package")
    else:
        # The MVNO decides: a partner never approves its own package.
        actor.require(*ADMINS, action=f"{task} a package")
    current = DesignStatus(row["status"])
    target = rules.next_design_status(current, task)
    if task in ("submit", "approve", "publish"):
        rules.check_not_inverted(cost_chain.chain_ahead(conn, row, design=True), row["name"])
    if task == "reject" and not reason:
        raise InvalidInput("say why the package is rejected", code="required", field="reason")
    now = clock.now()
    values: dict[str, Any] = {"status": target.value, "reason": reason, "updated_at": now}
    if task == "publish":
        values["offering_id"] = _publish(conn, row, now)
    if task == "retire" and row["offering_id"] is not None:
        conn.execute(
            update(po).where(po.c.id == row["offering_id"]).values(status="retired", updated_at=now)
        )
    conn.execute(update(pd).where(pd.c.id == design_id).values(**values))
    audit.record(
        conn,
        actor,
        f"design.{task}",
        "package_design",
        design_id,
        mvno_id=row["mvno_id"],
        data={"from": current.value, "to": target.value},
    )
    return {**row, **values}


def _publish(conn: Connection, design: dict[str, Any], now: Any) -> uuid.UUID:
    """The approved design becomes an offering under the MVNO's brand and licence."""
    base = (
        conn.execute(
            unscoped(
                select(po).where(po.c.id == design["base_offering_id"]), "the design's own parts"
            )
        )
        .mappings()
        .one()
    )
    addons = [
        conn.execute(unscoped(select(po).where(po.c.id == uuid.UUID(a)), "parts")).mappings().one()
        for a in design["addon_ids"]
    ]
    offering_id = ids.new_id()
    name = design["name"]
    if conn.execute(
        unscoped(
            select(po.c.id).where(po.c.mvno_id == design["mvno_id"], po.c.name == name), "unique"
        )
    ).first():
        raise Conflict(f"an offer named {name!r} exists", code="name_taken", field="name")
    values = {key: base[key] for key in OFFER_DEFAULTS}
    for addon in addons:
        for key in ("voice_min", "sms", "data_mb"):
            values[key] += addon[key]
    values.update(
        {
            "id": offering_id,
            "mvno_id": design["mvno_id"],
            "brand_id": base["brand_id"],
            "host_id": base["host_id"],
            "kind": OfferKind.PACKAGE.value,
            "name": name,
            "status": "active",
            "monthly_fee_fen": design["price_fen"],
            "shared_with_channels": False,
            "design_id": design["id"],
            "designer_id": design["designer_id"],
            "created_at": now,
            "updated_at": now,
            "description": "designed by a partner, sold under the MVNO's brand",
        }
    )
    conn.execute(insert(po).values(**values))
    return offering_id


def list_designs(
    db: Database, scope: Scope, filters: Mapping[str, str], offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    return list_page(
        db, scope, pd, filters, DESIGN_FILTERS, order_by=[pd.c.id], offset=offset, limit=limit
    )


def get_design(db: Database, scope: Scope, design_id: uuid.UUID) -> dict[str, Any]:
    return get_one(db, scope, pd, design_id, what="package design")


def design_cost(db: Database, scope: Scope, design_id: uuid.UUID) -> rules.CostChain:
    with db.read() as conn:
        design = fetch_visible(conn, pd, scope, design_id, what="package design")
        return cost_chain.design_chain(conn, design)


# --- alerts ---------------------------------------------------------------------------------------


def list_alerts(
    db: Database, scope: Scope, status: str | None, offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    filters = {} if status is None else {"status": status}
    stmt = apply_filters(scoped(select(ia), ia, scope), filters, ALERT_FILTERS)
    with db.read() as conn:
        return page(conn, stmt, order_by=[ia.c.id], offset=offset, limit=limit)


def correct_rates(
    db: Database,
    actor: Actor,
    offering_id: uuid.UUID,
    *,
    voice_rate: int,
    sms_rate: int,
    data_rate: int,
    reason: str,
) -> dict[str, Any]:
    """Correct an offer's overage rates (a wrong tariff entered, not a new price: prices are
    new offers). Usage already rated is put right by rerating its periods."""
    actor.require(*ADMINS, action="correct an offer's rates")
    if not reason.strip():
        raise InvalidInput("say why the rates are corrected", code="required", field="reason")
    for label, value in (("voiceRate", voice_rate), ("smsRate", sms_rate), ("dataRate", data_rate)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidInput(
                f"{label} is a whole number of µfen >= 0", code="bad_rate", field=label
            )
    with db.write() as conn:
        row = fetch_visible(conn, po, actor.scope, offering_id, what="offering")
        corrected = {**row, "voice_rate": voice_rate, "sms_rate": sms_rate, "data_rate": data_rate}
        # Judged as a new offer is: a pay-as-you-go offer's chain is priced at its rates.
        rules.check_not_inverted(cost_chain.chain_ahead(conn, corrected), row["name"])
        cost_chain.check_rates_not_below_wholesale(conn, corrected)
        conn.execute(
            update(po)
            .where(po.c.id == offering_id)
            .values(
                voice_rate=voice_rate,
                sms_rate=sms_rate,
                data_rate=data_rate,
                updated_at=clock.now(),
            )
        )
        audit.record(
            conn,
            actor,
            "offering.rates_corrected",
            "product_offering",
            offering_id,
            mvno_id=row["mvno_id"],
            data={
                "from": [row["voice_rate"], row["sms_rate"], row["data_rate"]],
                "to": [voice_rate, sms_rate, data_rate],
                "reason": reason[:200],
            },
        )
        cost_chain.recheck(conn, row["mvno_id"], "an offer's rates corrected")  # resolves alerts
        return fetch_visible(conn, po, actor.scope, offering_id, what="offering")
