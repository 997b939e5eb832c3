"""Care on top of the subscribers world:

- M1's main team (its own desk, with the careAgent user), P1's Guangdong team (brand
  m1-brand in 440000, agent p1Agent) and P2's Zhejiang team (m1-brand in 330000, p2Agent);
- one routing rule: m1-brand × Guangdong × any type → P1's team;
- `line()` sells and opens an M1 line in Shenzhen; `m2_line()` an M2 line at outlet R.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import update

from openmvne import ids
from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.domain.access import Actor
from openmvne.domain.parties import OrgKind, Role
from openmvne.network.simulator import SimulatedHostNetwork
from openmvne.services import care_teams, number_lifecycle, number_supply, users
from openmvne.services.care import TicketRequest, open_ticket
from openmvne.services.care_teams import AreaIn
from openmvne.services.subscriber_sale import SaleRequest, sell
from tests.numbers_world import block_range
from tests.subscribers_world import PLAIN_RULES, SubscribersWorld, build_subscribers, person


@dataclass
class CareWorld:
    sw: SubscribersWorld
    team: dict[str, uuid.UUID] = field(default_factory=dict)
    route: dict[str, uuid.UUID] = field(default_factory=dict)
    holder: dict[str, int] = field(default_factory=dict)  # msisdn → the seq of its holder
    seq: int = 100

    @property
    def w(self) -> Any:
        return self.sw.w

    def actor(self, who: str) -> Actor:
        return self.w.actor[who]  # type: ignore[no-any-return]

    def line(self, db: Database) -> str:
        """A new active M1 line (Shenzhen, 440300), held by a new person."""
        self.seq += 1
        msisdn, _ = self.sw.sale(db, seq=self.seq)
        self.sw.settle(db)
        self.holder[msisdn] = self.seq
        return msisdn

    def m2_line(self, db: Database) -> str:
        """A new active M2 line sold at outlet R (Shenzhen)."""
        w = self.w
        clerk = Actor(None, "r-clerk", w.org["r"], OrgKind.OUTLET, frozenset({Role.OUTLET_CLERK}))
        block = self.sw.nw.m2_blocks[0]
        if "m2_right" not in self.route:
            right = number_supply.grant_sale_right(
                db, w.op, holder_id=w.auth["b_q"], numbers=block_range(block)
            )
            self.route["m2_right"] = right["id"]
        offset = 3000 + self.seq
        while True:
            offset += 7
            msisdn = self.sw.nw.number(block, offset)
            _, price = PLAIN_RULES.price(msisdn)
            if price.one_off_fen == 0 and price.min_monthly_fen == 0:
                break
        self.seq += 1
        reservation = number_lifecycle.reserve(db, clerk, [msisdn])
        sell(
            db,
            clerk,
            SaleRequest(
                msisdn=msisdn,
                iccid=self.sw.r_cards.pop(0),
                offering_id=self.sw.cw.offer["m2plan"],
                identity=person(self.seq),
                prepayment_fen=10_000,
                reservation_id=reservation["id"],
            ),
            f"sale-{msisdn}",
        )
        self.sw.settle(db)
        self.holder[msisdn] = self.seq
        return msisdn

    def ticket(
        self,
        db: Database,
        msisdn: str,
        kind: str = "complaint",
        *,
        who: str = "outletClerk",
        severity: str = "minor",
        description: str = "信号差，打不通电话",
        actor: Actor | None = None,
    ) -> dict[str, Any]:
        return open_ticket(
            db,
            actor or self.actor(who),
            TicketRequest(
                msisdn=msisdn, ticket_type=kind, severity=severity, description=description
            ),
        )


def add_agent(db: Database, cw: CareWorld, username: str, party: uuid.UUID) -> None:
    w = cw.w
    users.add_user(
        db,
        w.op,
        username=username,
        party_id=party,
        roles=frozenset({Role.CARE_AGENT}),
        password=None,
    )
    w.token[username] = users.create_token(db, w.op, username)
    w.actor[username] = users.actor_from_token(db, w.token[username])


def _brand_blocks(db: Database, cw: CareWorld) -> None:
    """The numbers world allocates blocks before the catalog world adds brands, so its
    blocks have none; give each block its MVNO's brand, as an allocation after the brand
    would have."""
    blk = t.number_block
    with db.write() as conn:
        for mvno in ("m1", "m2"):
            conn.execute(
                update(blk)
                .where(blk.c.mvno_id == cw.w.org[mvno])
                .values(brand_id=cw.sw.cw.brand[mvno])
            )


def build_care(db: Database, network: SimulatedHostNetwork | None = None) -> CareWorld:
    cw = CareWorld(build_subscribers(db, network))
    _brand_blocks(db, cw)
    w = cw.w
    admin = cw.actor("mvnoAdmin")
    brand = cw.sw.cw.brand["m1"]
    add_agent(db, cw, "p1Agent", w.org["p1"])
    add_agent(db, cw, "p2Agent", w.org["p2"])
    add_agent(db, cw, "p1Agent2", w.org["p1"])  # in no team
    cw.team["main"] = care_teams.create_team(
        db, admin, name="星河客服中心", owner_id=None, areas=[], main=True
    )["id"]
    cw.team["p1"] = care_teams.create_team(
        db, admin, name="广东鸿运客服", owner_id=w.org["p1"], areas=[AreaIn(brand, "440000")]
    )["id"]
    cw.team["p2"] = care_teams.create_team(
        db, admin, name="浙江鸿运客服", owner_id=w.org["p2"], areas=[AreaIn(brand, "330000")]
    )["id"]
    for team, agent in (("main", "careAgent"), ("p1", "p1Agent"), ("p2", "p2Agent")):
        care_teams.add_member(db, admin, cw.team[team], w.actor[agent].user_id)
    cw.route["gd"] = care_teams.create_route(
        db,
        admin,
        team_id=cw.team["p1"],
        brand_id=brand,
        region_code="440000",
        ticket_type=None,
    )["id"]
    return cw


def public(kind: str, value: uuid.UUID) -> str:
    return ids.to_public(kind, value)
