"""The MVNO staff pages' world, on top of build_portal_world: P1's package submitted to M1
(the 59 yuan plan with the 1 GB pack at 99 yuan), a pending outlet request under P1, a
recharge at O1, this month settled for M1 (so the margin is known), and a platform admin
("padmin")."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from openmvne import clock, ids
from openmvne.domain.channels import ChannelLevel
from openmvne.domain.parties import OrgKind, Role
from openmvne.domain.subscribers import BUSINESS_TZ
from openmvne.services import catalog, channels, money, parties, settlement
from openmvne.services.care import TicketRequest, open_ticket
from tests.web.portal_world import PortalWorld
from tests.world import grant

DESIGN_NAME = "鸿运畅享 99"
PENDING_SHOP = "深圳东门手机店"


@dataclass
class MvnoWorld:
    portal: PortalWorld
    design: uuid.UUID  # P1's package, submitted to M1
    pending: uuid.UUID  # a pending outlet authorisation under P1
    month: str

    def public(self, kind: str, value: uuid.UUID) -> str:
        return ids.to_public(kind, value)

    def design_status(self) -> str:
        row = catalog.get_design(self.portal.db, self.portal.w.op.scope, self.design)
        return str(row["status"])

    def ticket(self, kind: str = "rechargeNotReceived") -> uuid.UUID:
        """A ticket on holder 1's line, opened at outlet O1 (routed to M1's care)."""
        row = open_ticket(
            self.portal.db,
            self.portal.w.actor["outletClerk"],
            TicketRequest(
                msisdn=self.portal.msisdn,
                ticket_type=kind,
                severity="minor",
                description="充值未到账",
            ),
        )
        return row["id"]  # type: ignore[no-any-return]

    def channel_status(self, auth: uuid.UUID) -> str:
        row = channels.get_authorisation(self.portal.db, self.portal.w.op.scope, auth)
        return str(row["status"])


def build_mvno_world(portal: PortalWorld) -> MvnoWorld:
    db, w = portal.db, portal.w
    assert portal.sw is not None
    offers = portal.sw.cw.offer
    design = catalog.create_design(
        db,
        w.actor["partnerAdmin"],
        name=DESIGN_NAME,
        base_offering_id=offers["plan"],
        addon_ids=[offers["pack"]],
        price_fen=9900,
    )
    catalog.decide_design(db, w.actor["partnerAdmin"], design["id"], "submit")
    shop = parties.create_organisation(
        db, w.op, kind=OrgKind.OUTLET, name=PENDING_SHOP, region_code="440300"
    )["id"]
    pending = grant(
        db, w.op, w.org["m1"], shop, ChannelLevel.OUTLET, "440300", w.auth["a_p1"], approve=False
    )
    money.recharge(
        db,
        w.actor["outletClerk"],
        msisdn=portal.msisdn,
        amount_fen=5000,
        channel_order_number="T-1",
        idempotency_key="t-1",
    )
    month = f"{clock.now().astimezone(BUSINESS_TZ):%Y-%m}"
    settlement.settle(db, w.op, month, mvno_id=w.org["m1"])
    portal.accounts["padmin"] = (w.org["platform"], Role.PLATFORM_ADMIN)
    return MvnoWorld(portal, design["id"], pending, month)
