"""Catalog on top of tests/world.py: Unicom's 2015 averages, pool price lists for M1 and
M2, a brand each, and M1's offers (a shared plan and pack, one pack kept from channels)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from openmvne.db.engine import Database
from openmvne.domain.catalog import OfferKind, PriceModel, RevenueTier, UnitRates
from openmvne.money import parse_rate_fen
from openmvne.services import catalog, parties
from tests.world import World, build

TEN_FEN = {"voice_rate": 10_000_000, "sms_rate": 10_000_000, "data_rate": 10_000_000}
POOL = UnitRates(parse_rate_fen("6"), parse_rate_fen("4"), parse_rate_fen("1.2"))


@dataclass
class CatalogWorld:
    w: World
    brand: dict[str, Any] = field(default_factory=dict)
    offer: dict[str, Any] = field(default_factory=dict)


def price_list(
    db: Database,
    cw: CatalogWorld,
    mvno: str,
    rates: UnitRates,
    start: date,
    end: date | None = None,
) -> dict[str, Any]:
    return catalog.create_price_list(
        db,
        cw.w.op,
        host_id=cw.w.org["host"],
        mvno_id=cw.w.org[mvno],
        model=PriceModel.POOL,
        valid_from=start,
        valid_to=end,
        rates=rates,
        revenue_tiers=[RevenueTier(0, 0)],
        annual_revenue_fen=0,
        host_packages=[],
        per_number_fee_fen=100,
    )


def build_catalog(db: Database, world: World | None = None) -> CatalogWorld:
    cw = CatalogWorld(world or build(db))
    op = cw.w.op
    catalog.set_host_average(
        db,
        op,
        host_id=cw.w.org["host"],
        year=2015,
        rates=UnitRates(9_000_000, 6_000_000, 7_900_000),
        results_published_on=date(2016, 3, 20),
    )
    for mvno in ("m1", "m2"):
        price_list(db, cw, mvno, POOL, date(2016, 1, 1))
        cw.brand[mvno] = parties.add_brand(db, op, cw.w.org[mvno], f"{mvno}-brand", "4000")["id"]

    def offer(key: str, kind: OfferKind, name: str, mvno: str = "m1", **terms: Any) -> None:
        cw.offer[key] = catalog.create_offer(
            db,
            op,
            brand_id=cw.brand[mvno],
            host_id=cw.w.org["host"],
            kind=kind,
            name=name,
            terms={**TEN_FEN, **terms},
        )["id"]

    offer("plan", OfferKind.PLAN, "59元 3GB", monthly_fee_fen=5900, data_mb=3072, voice_min=100)
    offer("pack", OfferKind.ADDON, "1GB 加油包", monthly_fee_fen=2000, data_mb=1024)
    offer(
        "private",
        OfferKind.ADDON,
        "内部包",
        monthly_fee_fen=2000,
        data_mb=1024,
        shared_with_channels=False,
    )
    offer("payg", OfferKind.PAYG, "随心打")
    offer("m2plan", OfferKind.PLAN, "青桐 39元", mvno="m2", monthly_fee_fen=3900, data_mb=1024)
    return cw
