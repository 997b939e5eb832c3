"""Subscribers on top of the numbers and catalog worlds: M1's offers, 20 blank Unicom cards
(or `o1_card_count`) moved down the tree to outlet O1 (and 5 to M2's outlet R), floats for
O1 and R, and a simulated host network. `sale()` builds a valid sale request for a number and
a card."""

from __future__ import annotations

import csv
import io
import secrets
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from openmvne import clock
from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.db.scoping import unscoped
from openmvne.domain import pretty
from openmvne.domain.access import Actor
from openmvne.domain.identity import ric_check_char
from openmvne.domain.numbers import HostNetwork
from openmvne.domain.parties import OrgKind, Role
from openmvne.domain.sims import make_iccid
from openmvne.network.simulator import SimulatedHostNetwork
from openmvne.services import money, number_lifecycle, parties, provisioning, sims, users
from openmvne.services.subscriber_sale import Identity, SaleRequest, sell
from tests.catalog_world import CatalogWorld, build_catalog
from tests.numbers_world import NumbersWorld, build_numbers

KI = secrets.token_hex(16)
PLAIN_RULES = pretty.from_json(None)


def resident_id(seq: int, birth: str = "19800101", region: str = "440305") -> str:
    first17 = f"{region}{birth}{seq % 1000:03d}"
    return first17 + ric_check_char(first17)


def person(seq: int = 1, **changes: Any) -> Identity:
    values: dict[str, Any] = {
        "id_type": "residentId",
        "number": resident_id(seq),
        "given_name": "伟",
        "family_name": "张",
        "expires_on": date(2035, 1, 1),
        "evidence_source": "reader",
        "evidence_reference": f"reader-{seq}",
        "photo_reference": f"photo-{seq}",
    }
    values.update(changes)
    return Identity(**values)


@dataclass
class SubscribersWorld:
    nw: NumbersWorld
    cw: CatalogWorld
    network: SimulatedHostNetwork
    o1_cards: list[str] = field(default_factory=list)
    r_cards: list[str] = field(default_factory=list)
    used: int = 0

    @property
    def w(self) -> Any:
        return self.nw.w

    def free_number(self) -> str:
        """An ordinary (not pretty) number of P1's block that nobody touched yet."""
        while True:
            self.used += 1
            msisdn = self.nw.number(self.nw.m1_blocks[0], 2000 + self.used * 37)
            _, price = PLAIN_RULES.price(msisdn)
            if price.one_off_fen == 0 and price.min_monthly_fen == 0:
                return msisdn

    def card(self) -> str:
        return self.o1_cards.pop(0)

    def sale(
        self,
        db: Database,
        *,
        seq: int = 1,
        number: str | None = None,
        iccid: str | None = None,
        who: str = "outletClerk",
        prepayment_fen: int = 10_000,
        offer: str = "plan",
        holder: Identity | None = None,
        key: str | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """Reserve a number and sell it with a card; returns (msisdn, {"orderId": ...})."""
        actor = self.w.actor[who]
        msisdn = number or self.free_number()
        reservation = number_lifecycle.reserve(db, actor, [msisdn])
        request = SaleRequest(
            msisdn=msisdn,
            iccid=iccid or self.card(),
            offering_id=self.cw.offer[offer],
            identity=holder or person(seq),
            prepayment_fen=prepayment_fen,
            reservation_id=reservation["id"],
        )
        return msisdn, sell(db, actor, request, key or f"sale-{msisdn}")

    def settle(self, db: Database) -> None:
        provisioning.drain(db, self.network)


def holder_actor(db: Database, op: Actor, msisdn: str) -> Actor:
    """The holder of the number's newest line, signed in to self-care with an account of
    their own (a recycled number's earlier holder is not the one)."""
    sub = t.subscription
    stmt = (
        select(sub.c.individual_id)
        .where(sub.c.msisdn == msisdn)
        .order_by(sub.c.created_at.desc())
        .limit(1)
    )
    with db.read() as conn:
        individual = conn.execute(unscoped(stmt, "test")).scalar_one()
    name = f"holder-{individual}"
    users.add_user(
        db, op, username=name, party_id=individual, roles=frozenset({Role.SUBSCRIBER}),
        password=None,
    )  # fmt: skip
    return users.actor_from_token(db, users.create_token(db, op, name))


def card_file(serials: range, issuer: str = "898601", mnc: str = "01") -> str:
    """Blank cards; by default Unicom's (ICCID issuer 898601, IMSI MNC 01)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(sims.COLUMNS)
    for serial in serials:
        iccid = make_iccid(issuer, serial)
        writer.writerow([iccid, f"460{mnc}{serial:010d}", KI, KI, "blank", "", ""])
    return buffer.getvalue()


def _cards_to(
    db: Database,
    sw: SubscribersWorld,
    mvno: str,
    serials: range,
    hops: list[str],
    *,
    host_id: uuid.UUID | None = None,
    issuer: str = "898601",
    mnc: str = "01",
) -> list[str]:
    op = sw.w.op
    batch = sims.import_batch(
        db,
        op,
        mvno_id=sw.w.org[mvno],
        host_id=host_id or sw.w.org["host"],
        name=f"batch-{mvno}-{issuer}-{serials.start}",
        lines=sims.read_lines(card_file(serials, issuer, mnc)),
    )
    assert batch["card_count"] == len(serials)
    iccids = [make_iccid(issuer, s) for s in serials]
    previous = None
    for hop in hops:
        sims.transfer(
            db,
            op,
            mvno_id=sw.w.org[mvno],
            to_auth_id=sw.w.auth[hop],
            iccids=iccids,
            from_auth_id=previous,
        )
        previous = sw.w.auth[hop]
    return iccids


def build_subscribers(
    db: Database, network: SimulatedHostNetwork | None = None, *, o1_card_count: int = 20
) -> SubscribersWorld:
    assert 0 < o1_card_count <= 1000, "O1's serials must not run into R's (2000-2004)"
    nw = build_numbers(db)
    cw = build_catalog(db, nw.w)
    sw = SubscribersWorld(nw, cw, network or SimulatedHostNetwork(seed=7))
    sw.o1_cards = _cards_to(
        db, sw, "m1", range(1000, 1000 + o1_card_count), ["a_n", "a_p1", "a_o1"]
    )
    sw.r_cards = _cards_to(db, sw, "m2", range(2000, 2005), ["b_q", "b_r"])
    for outlet in ("o1", "r"):
        money.pay_float(
            db,
            nw.w.op,
            outlet_id=nw.w.org[outlet],
            amount_fen=1_000_000,
            idempotency_key=f"float-{outlet}",
        )
    return sw


def china_mobile_cards_at_o1(db: Database, sw: SubscribersWorld, count: int = 1) -> list[str]:
    """Cards of another host network (China Mobile: issuer 898600, MNC 00), imported for M1
    and moved down to O1 like its Unicom cards: a sale must still refuse them for a Unicom
    number."""
    mobile = parties.create_organisation(
        db, sw.w.op, kind=OrgKind.HOST_NETWORK, name="中国移动", network_code=HostNetwork.MOBILE
    )["id"]
    return _cards_to(
        db,
        sw,
        "m1",
        range(5000, 5000 + count),
        ["a_n", "a_p1", "a_o1"],
        host_id=mobile,
        issuer="898600",
        mnc="00",
    )


class Timeline:
    """A frozen clock that only moves forward, by `advance`; `close()` gives time back."""

    def __init__(self, start: datetime) -> None:
        self.now = start
        self._stack = ExitStack()
        self._stack.enter_context(clock.frozen(start))

    def advance(self, delta: timedelta) -> datetime:
        self.now += delta
        self._stack.enter_context(clock.frozen(self.now))
        return self.now

    def close(self) -> None:
        self._stack.close()
