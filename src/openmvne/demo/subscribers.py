"""The demo's subscribers: card batches moved down every MVNO's tree to its outlets, lines
sold at those outlets to real-name customers (some holding several cards), opened by the
simulated host network, then a realistic spread of lifecycle states."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from openmvne import ids
from openmvne.config import get_settings
from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.db.scoping import unscoped
from openmvne.domain import pretty
from openmvne.domain.access import Actor
from openmvne.domain.catalog import OfferKind
from openmvne.domain.identity import ric_check_char
from openmvne.domain.parties import OrgKind, Role
from openmvne.domain.sims import CardLine, make_iccid
from openmvne.domain.subscribers import LineState, local_date
from openmvne.errors import DomainError
from openmvne.network.provisioning import HostProvisioning
from openmvne.services import (
    catalog,
    channels,
    lifecycle,
    number_lifecycle,
    provisioning,
    sims,
    usage,
    usage_generate,
)
from openmvne.services import subscriber_orders as orders
from openmvne.services.subscriber_sale import Identity, SaleRequest, sell

# Card issuer prefix and IMSI network code of each host (domain.md §2).
CARD_CODES = {"China Unicom": ("898601", "01"), "China Telecom": ("898603", "03"),
              "China Mobile": ("898600", "00")}  # fmt: skip
FAMILY = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = ["伟", "芳", "娜", "敏", "静", "磊", "强", "洋", "艳", "杰", "军", "勇", "霞", "涛", "明"]
PLAIN = pretty.from_json(None)
SPARE_CARDS = 15  # per outlet, beyond the lines sold at seeding: the simulation sells them


@dataclass
class Outlet:
    party_id: uuid.UUID
    auth_id: uuid.UUID
    city: str
    block: str  # the block its province agent may sell


def lines_in(
    db: Database,
    *states: LineState,
    mvno_id: uuid.UUID | None = None,
    region_prefix: str | None = None,
) -> list[str]:
    """The numbers of the lines in these states (of an MVNO, in a region by its code's
    prefix: "44" is Guangdong), in number order: what the demo acts on, reproducibly."""
    sub = t.subscription
    stmt = (
        select(sub.c.msisdn)
        .where(sub.c.state.in_([s.value for s in states]))
        .order_by(sub.c.msisdn)
    )
    if mvno_id is not None:
        stmt = stmt.where(sub.c.mvno_id == mvno_id)
    if region_prefix is not None:
        stmt = stmt.where(sub.c.region_code.startswith(region_prefix))
    with db.read() as conn:
        return list(conn.execute(unscoped(stmt, "demo")).scalars())


def clerk(outlet: uuid.UUID) -> Actor:
    return Actor(None, "demo-clerk", outlet, OrgKind.OUTLET, frozenset({Role.OUTLET_CLERK}))


def _people(rng: random.Random, count: int) -> list[tuple[str, str, str]]:
    """(ID number, family name, given name); one in ten holds a second or third card."""
    people = []
    for n in range(count):
        birth = date(rng.randrange(1955, 2001), rng.randrange(1, 13), rng.randrange(1, 29))
        region = rng.choice(["440305", "330106", "510104", "320102", "370202", "420102"])
        first17 = f"{region}{birth:%Y%m%d}{n % 1000:03d}"
        people.append((first17 + ric_check_char(first17), rng.choice(FAMILY), rng.choice(GIVEN)))
    return people


def _outlets(db: Database, op: Actor, mvno: uuid.UUID) -> tuple[uuid.UUID, list[Outlet]]:
    edges, _ = channels.list_authorisations(
        db, op.scope, {"mvnoId": ids.to_public("organization", mvno)}, 0, 1000
    )
    by_id = {e["id"]: e for e in edges}
    national = next(e["id"] for e in edges if e["level"] == "national")
    b = t.number_block
    with db.read() as conn:
        rights = conn.execute(
            unscoped(
                select(t.sale_right.c.holder_id, t.sale_right.c.first_number).where(
                    t.sale_right.c.mvno_id == mvno
                ),
                "demo",
            )
        ).all()
        blocks = dict(
            conn.execute(
                unscoped(select(b.c.first_number, b.c.prefix).where(b.c.mvno_id == mvno), "demo")
            ).all()
        )
    sellable = {holder: blocks[first] for holder, first in rights}
    found = []
    for edge in edges:
        if edge["level"] != "outlet":
            continue
        province = by_id[by_id[edge["parent_id"]]["parent_id"]]
        found.append(
            Outlet(edge["party_id"], edge["id"], edge["region_code"], sellable[province["id"]])
        )
    return national, sorted(found, key=lambda o: (o.city, str(o.party_id)))


def _stock(
    db: Database,
    op: Actor,
    mvno: uuid.UUID,
    host: tuple[str, uuid.UUID],
    national: uuid.UUID,
    outlets: list[Outlet],
    per_outlet: int,
    serial_base: int,
) -> dict[uuid.UUID, list[str]]:
    """One factory batch, moved national → province → prefecture → outlet."""
    issuer, mnc = CARD_CODES[host[0]]
    each = per_outlet + SPARE_CARDS
    count = each * len(outlets)
    lines = [
        CardLine(i + 2, make_iccid(issuer, serial_base + i), f"460{mnc}{serial_base + i:010d}",
                 f"{serial_base + i:032x}", f"{serial_base + i + 1:032x}", "blank", "", "")
        for i in range(count)
    ]  # fmt: skip
    sims.import_batch(
        db, op, mvno_id=mvno, host_id=host[1], name=f"demo {serial_base}", lines=lines
    )
    iccids = [line.iccid for line in lines]
    sims.transfer(db, op, mvno_id=mvno, to_auth_id=national, iccids=iccids)
    edges = {e["id"]: e for e in channels.list_authorisations(db, op.scope, {}, 0, 2000)[0]}
    shares: dict[uuid.UUID, list[str]] = {}
    for k, outlet in enumerate(outlets):
        mine = iccids[k * each : (k + 1) * each]
        city = edges[outlet.auth_id]["parent_id"]
        province = edges[city]["parent_id"]
        previous = national
        for hop in (province, city, outlet.auth_id):
            sims.transfer(db, op, mvno_id=mvno, from_auth_id=previous, to_auth_id=hop, iccids=mine)
            previous = hop
        shares[outlet.party_id] = mine
    return shares


def populate(
    db: Database,
    op: Actor,
    mvnos: list[tuple[uuid.UUID, tuple[str, uuid.UUID]]],
    network: HostProvisioning,
    rng: random.Random,
    *,
    per_outlet: int,
    progress: Callable[[int], None] | None = None,
) -> Counter[str]:
    """Sell `per_outlet` lines at every outlet of every MVNO; returns lines by state."""
    people = _people(rng, per_outlet * 60)
    sold: list[tuple[str, Identity]] = []
    for index, (mvno, host) in enumerate(mvnos):
        national, outlets = _outlets(db, op, mvno)
        cards = _stock(db, op, mvno, host, national, outlets, per_outlet, 10_000_000 * (index + 1))
        offers, _ = catalog.list_offers(
            db, op.scope, {"mvnoId": ids.to_public("organization", mvno)}, 0, 100
        )
        plans = [o for o in offers if o["kind"] in (OfferKind.PLAN.value, OfferKind.PAYG.value)]
        for outlet in outlets:
            seller = clerk(outlet.party_id)
            for iccid in cards[outlet.party_id][:per_outlet]:  # the spares stay on the shelf
                id_number, family, given = people[rng.randrange(len(people))]
                holder = Identity(
                    "residentId", id_number, given, family, date(2036, 1, 1), "reader",
                    f"reader-{outlet.city}",
                )  # fmt: skip
                line = _sell_one(db, seller, outlet, iccid, rng.choice(plans), holder, rng)
                if line is not None:
                    sold.append((line, holder))
                if progress is not None:
                    progress(1)
    provisioning.drain(db, network)
    _age(db, op, sold, rng)
    provisioning.drain(db, network)
    with db.read() as conn:
        states = (
            conn.execute(unscoped(select(t.subscription.c.state), "demo summary")).scalars().all()
        )
    return Counter(states)


def sell_more(db: Database, op: Actor, rng: random.Random, per_mvno: int, tag: str) -> Counter[str]:
    """A day's sales: up to `per_mvno` new lines per MVNO at random outlets that still have
    cards on the shelf, to new customers. Returns {"sold": n, "refused": m}."""
    done: Counter[str] = Counter()
    mvnos = _mvnos(db)
    people = _people(rng, per_mvno * len(mvnos))
    for mvno in mvnos:
        _, outlets = _outlets(db, op, mvno)
        offers, _ = catalog.list_offers(
            db, op.scope, {"mvnoId": ids.to_public("organization", mvno)}, 0, 100
        )
        plans = [o for o in offers if o["kind"] in (OfferKind.PLAN.value, OfferKind.PAYG.value)]
        for _ in range(per_mvno):
            outlet = rng.choice(outlets)
            iccid = _on_shelf(db, mvno, outlet.party_id)
            if iccid is None or not plans:
                continue
            id_number, family, given = people[rng.randrange(len(people))]
            holder = Identity(
                "residentId", id_number, given, family, date(2036, 1, 1), "reader",
                f"reader-{outlet.city}",
            )  # fmt: skip
            sold = _sell_one(db, clerk(outlet.party_id), outlet, iccid, rng.choice(plans),
                             holder, rng, key=f"demo-sale-{tag}")  # fmt: skip
            done["sold" if sold else "refused"] += 1
    return done


def _mvnos(db: Database) -> list[uuid.UUID]:
    o = t.organization
    stmt = unscoped(select(o.c.id).where(o.c.kind == OrgKind.MVNO.value).order_by(o.c.id), "demo")
    with db.read() as conn:
        return list(conn.execute(stmt).scalars())


def _on_shelf(db: Database, mvno: uuid.UUID, outlet: uuid.UUID) -> str | None:
    """A card of this MVNO's on the outlet's shelf (an outlet sells for several MVNOs)."""
    card = t.sim_card
    stmt = unscoped(
        select(card.c.iccid)
        .where(card.c.mvno_id == mvno, card.c.holder_party_id == outlet, card.c.state == "inStock")
        .order_by(card.c.iccid)
        .limit(1),
        "demo",
    )
    with db.read() as conn:
        found: str | None = conn.execute(stmt).scalar()
        return found


def _sell_one(
    db: Database,
    clerk: Actor,
    outlet: Outlet,
    iccid: str,
    offer: dict[str, object],
    holder: Identity,
    rng: random.Random,
    *,
    key: str = "demo-sale",
) -> str | None:
    for _ in range(20):  # a free, plain number of the block
        msisdn = f"{outlet.block}{rng.randrange(10_000):04d}"
        _, price = PLAIN.price(msisdn)
        if price.one_off_fen or price.min_monthly_fen:
            continue
        try:
            reservation = number_lifecycle.reserve(db, clerk, [msisdn])
        except DomainError:
            continue
        fee = int(str(offer["monthly_fee_fen"]))
        try:
            sell(
                db,
                clerk,
                SaleRequest(
                    msisdn=msisdn,
                    iccid=iccid,
                    offering_id=uuid.UUID(str(offer["id"])),
                    identity=holder,
                    prepayment_fen=fee + rng.choice([2000, 5000, 10_000]),
                    reservation_id=reservation["id"],
                ),
                f"{key}-{msisdn}",
            )
        except DomainError:  # e.g. a sixth card for one ID: refused, as it must be
            number_lifecycle.release(db, clerk, reservation["id"])
            return None
        return msisdn
    return None


def _age(db: Database, op: Actor, sold: list[tuple[str, Identity]], rng: random.Random) -> None:
    """Some lines suspended, lost, in arrears, barred or cancelled."""
    for n, (msisdn, holder) in enumerate(sold):
        roll = rng.random()
        key = f"demo-age-{n}"
        try:
            if roll < 0.05:
                orders.run_task(db, op, msisdn, "suspend", holder=None, reason=None,
                                idempotency_key=key)  # fmt: skip
            elif roll < 0.08:
                orders.run_task(db, op, msisdn, "reportLost", holder=None, reason=None,
                                idempotency_key=key)  # fmt: skip
            elif roll < 0.14:
                _exhaust(db, op, msisdn)
            elif roll < 0.16:
                orders.run_task(db, op, msisdn, "cancel", holder=holder, reason="moving abroad",
                                idempotency_key=key)  # fmt: skip
            elif roll < 0.17:
                orders.run_task(db, op, msisdn, "realNameMissing", holder=None,
                                reason="registration audit", idempotency_key=key)  # fmt: skip
            elif roll < 0.175:
                orders.run_task(db, op, msisdn, "operatorBar", holder=None,
                                reason="fraud report", idempotency_key=key)  # fmt: skip
        except DomainError:
            continue


def _exhaust(db: Database, op: Actor, msisdn: str) -> None:
    with db.write() as conn:
        line_id = conn.execute(
            unscoped(
                select(t.subscription.c.id).where(
                    t.subscription.c.msisdn == msisdn, t.subscription.c.state == "active"
                ),
                "demo",
            )
        ).scalar()
        if line_id is not None:
            lifecycle.exhausted(conn, op, line_id)


def usage_history(db: Database, start: datetime, now: datetime, seed: int) -> dict[str, int]:
    """The days since `start` of usage for every active line, rated as one batch."""
    lines = lines_in(db, LineState.ACTIVE)
    first = local_date(start) + timedelta(days=1)  # the first whole day after the sales
    days = (local_date(now) - first).days
    if not lines or days <= 0:
        return {}
    table = usage_generate.generate(lines, days=days, start=first, seed=seed)
    result = usage.rate_table(
        db, table, lake=Path(get_settings().usage_dir), source=f"demo history {days} days"
    )
    return {
        "records": result.records_in,
        "rated": result.rated,
        "chargedFen": result.charged_fen,
        "wholesaleFen": result.wholesale_fen,
    }
