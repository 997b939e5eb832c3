"""The outlet sale's tests' world: build_portal_world's (clerk at O1 with 18 blank cards, a
float, M1's plans, numbers with sale rights) plus what a pretty number needs: a
pretty-number plan (99 yuan a month, 24 months) that meets grade A's minimum spend; and
clerks at another outlet of the same MVNO (O2) and at another MVNO's outlet (R)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from openmvne.db import tables as t
from openmvne.db.scoping import unscoped
from openmvne.domain.catalog import OfferKind
from openmvne.domain.parties import Role
from openmvne.services import catalog, money, number_lifecycle, sims
from tests.catalog_world import TEN_FEN
from tests.web.portal_world import PortalWorld

DRAFT = re.compile(r'name="draft" value="([^"]+)"')
KEY = re.compile(r'name="key" value="([^"]+)"')
RESERVATION = re.compile(r"/outlet/sale/(rsv_[0-9A-Z]+)")
PRETTY_PLAN = "靓号 99元"


@dataclass
class SaleWorld:
    portal: PortalWorld
    pretty_plan: uuid.UUID

    @property
    def db(self) -> Any:
        return self.portal.db

    def float_fen(self, outlet: str = "o1") -> int:
        fen: int = money.float_of(self.db, self.portal.w.op, self.portal.w.org[outlet])[
            "balanceFen"
        ]
        return fen

    def number_state(self, msisdn: str) -> str | None:
        state: str | None = number_lifecycle.describe(self.db, self.portal.w.op, msisdn)["state"]
        return state

    def card_state(self, iccid: str) -> str:
        state: str = sims.get_card(self.db, self.portal.w.op.scope, iccid)["state"]
        return state

    def lines_of(self, msisdn: str) -> list[dict[str, Any]]:
        sub = t.subscription
        stmt = unscoped(select(sub).where(sub.c.msisdn == msisdn), "test: the number's lines")
        with self.db.read() as conn:
            return [dict(r) for r in conn.execute(stmt).mappings()]

    def one_off_fen(self, msisdn: str) -> int:
        fen: int = number_lifecycle.describe(self.db, self.portal.w.op, msisdn)["one_off_fen"]
        return fen


def build_sale_world(portal: PortalWorld) -> SaleWorld:
    w = portal.w
    assert portal.sw is not None
    offer = catalog.create_offer(
        portal.db,
        w.op,
        brand_id=portal.sw.cw.brand["m1"],
        host_id=w.org["host"],
        kind=OfferKind.PRETTY_NUMBER_PLAN,
        name=PRETTY_PLAN,
        terms={
            **TEN_FEN,
            "monthly_fee_fen": 9900,
            "min_monthly_spend_fen": 9900,
            "term_months": 24,
            "data_mb": 4096,
            "voice_min": 100,
        },
    )
    portal.accounts.update(
        clerk_o2=(w.org["o2"], Role.OUTLET_CLERK), clerk_r=(w.org["r"], Role.OUTLET_CLERK)
    )
    return SaleWorld(portal, offer["id"])


def draft_of(html: str) -> str:
    found = DRAFT.search(html)
    assert found, html
    return found.group(1)


def key_of(html: str) -> str:
    found = KEY.search(html)
    assert found, html
    return found.group(1)
