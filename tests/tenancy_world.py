"""Two MVNOs with a bit of everything, for sweeping the API across tenants: the care world
(tests/care_world.py) plus users for Q, P2, R and O2 and M2's care desk, lines sold at O1 (two
holders), at O2 (P2's subtree) and at R (M2), and on each side reservations, package designs,
allocation requests, top-ups, holds, payment orders, vouchers, charging sessions, care teams,
routes and tickets.

`objects[owner][kind]` lists public ids (or numbers, ICCIDs, serials) by whose they are:
"M1" (M1's own, seen by its tree or only by the MVNO), "P1" (P1's subtree and l1, whose holder
is `holder1`), "H1b" (the other O1 line, another holder's), "P2" (P2's subtree), "M2".
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select

from openmvne import clock, ids
from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.db.scoping import unscoped
from openmvne.domain.parties import Role
from openmvne.network.simulator import SimulatedHostNetwork
from openmvne.services import money, number_lifecycle, provisioning, users
from openmvne.services.subscriber_sale import SaleRequest, sell
from tests.care_world import CareWorld, build_care
from tests.conftest import Backend
from tests.subscribers_world import _cards_to, holder_actor, person

V1 = "/openmvne/v1"
TICKETS = "/tmf-api/troubleTicket/v4/troubleTicket"


@dataclass
class TenancyWorld:
    cw: CareWorld
    objects: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    @property
    def w(self) -> Any:
        return self.cw.w

    def add(self, owner: str, kind: str, *values: Any) -> None:
        self.objects.setdefault(owner, {}).setdefault(kind, []).extend(str(v) for v in values)

    def of(self, owner: str, kind: str) -> list[str]:
        return self.objects.get(owner, {}).get(kind, [])

    def headers(self, who: str, key: str | None = None) -> dict[str, str]:
        found = {"Authorization": f"Bearer {self.w.token[who]}"}
        if key:
            found["Idempotency-Key"] = key
        return found


def _user(db: Database, tw: TenancyWorld, name: str, party: uuid.UUID, role: Role) -> None:
    w = tw.w
    users.add_user(db, w.op, username=name, party_id=party, roles=frozenset({role}), password=None)
    w.token[name] = users.create_token(db, w.op, name)
    w.actor[name] = users.actor_from_token(db, w.token[name])


def _holder(db: Database, tw: TenancyWorld, name: str, msisdn: str) -> None:
    w = tw.w
    actor = holder_actor(db, w.op, msisdn)
    w.token[name] = users.create_token(db, w.op, actor.username)
    w.actor[name] = actor


def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code < 300, (response.request.url, response.text)
    return response.json()  # type: ignore[no-any-return]


def _column(db: Database, column: Any, *where: Any) -> list[Any]:
    with db.read() as conn:
        return list(conn.execute(unscoped(select(column).where(*where), "test")).scalars())


def build_tenancy(db: Database, network: SimulatedHostNetwork, http: httpx.Client) -> TenancyWorld:
    tw = TenancyWorld(build_care(db, network))
    cw, w, sw = tw.cw, tw.w, tw.cw.sw
    pub = ids.to_public
    _user(db, tw, "qAdmin", w.org["q"], Role.PARTNER_ADMIN)
    _user(db, tw, "p2Admin", w.org["p2"], Role.PARTNER_ADMIN)
    _user(db, tw, "rClerk", w.org["r"], Role.OUTLET_CLERK)
    _user(db, tw, "o2Clerk", w.org["o2"], Role.OUTLET_CLERK)
    _user(db, tw, "m2Agent", w.org["m2"], Role.CARE_AGENT)

    line = {"P1": cw.line(db), "H1b": cw.line(db), "M2": cw.m2_line(db)}
    o2_cards = _cards_to(db, sw, "m1", range(3000, 3003), ["a_n", "a_p2", "a_o2"])
    money.pay_float(db, w.op, outlet_id=w.org["o2"], amount_fen=100_000, idempotency_key="f-o2")
    line["P2"] = sw.nw.number(sw.nw.m1_blocks[2], 2037)
    reservation = number_lifecycle.reserve(db, w.actor["o2Clerk"], [line["P2"]])
    request = SaleRequest(
        msisdn=line["P2"],
        iccid=o2_cards.pop(0),
        offering_id=sw.cw.offer["plan"],
        identity=person(400),
        prepayment_fen=10_000,
        reservation_id=reservation["id"],
    )
    sell(db, w.actor["o2Clerk"], request, f"sale-{line['P2']}")
    provisioning.drain(db, network)
    for owner, holder in (("P1", "holder1"), ("H1b", "holder1b"), ("M2", "holder2")):
        _holder(db, tw, holder, line[owner])
    _holder(db, tw, "holderO2", line["P2"])
    sub = t.subscription
    for owner, msisdn in line.items():
        tw.add(owner, "msisdn", msisdn)
        tw.add(owner, "iccid", *_column(db, sub.c.iccid, sub.c.msisdn == msisdn))
        people = _column(db, sub.c.individual_id, sub.c.msisdn == msisdn)
        tw.add(owner, "individual", *(pub("individual", p) for p in people))
        lines = _column(db, sub.c.id, sub.c.msisdn == msisdn)
        tw.add(owner, "subscription", *(pub("subscription", s) for s in lines))
        orders = _column(db, t.product_order.c.id, t.product_order.c.msisdn == msisdn)
        tw.add(owner, "product_order", *(pub("product_order", o) for o in orders))
    tw.add("P2", "iccid", o2_cards[0])
    tw.add("M2", "iccid", sw.r_cards[0])

    for owner, keys in (
        ("M1", ["m1"]),
        ("P1", ["p1"]),
        ("P2", ["p2", "o2"]),
        ("M2", ["m2", "q", "r"]),
    ):
        tw.add(owner, "organization", *(pub("organization", w.org[k]) for k in keys))
    for owner, keys in (("P1", ["a_p1", "a_o1"]), ("P2", ["a_p2", "a_o2"]), ("M2", ["b_q", "b_r"])):
        tw.add(
            owner, "channel_authorisation", *(pub("channel_authorisation", w.auth[k]) for k in keys)
        )
    tw.add("M1", "individual", pub("individual", w.person["s1"]))
    tw.add("M2", "individual", pub("individual", w.person["s2"]))
    for owner, mvno in (("M1", "m1"), ("M2", "m2")):
        org = w.org[mvno]
        tw.add(owner, "mvno", pub("organization", org))
        batches = _column(db, t.sim_batch.c.id, t.sim_batch.c.mvno_id == org)
        tw.add(owner, "sim_batch", *(pub("sim_batch", b) for b in batches))
        lists = _column(db, t.wholesale_price_list.c.id, t.wholesale_price_list.c.mvno_id == org)
        tw.add(owner, "wholesale_price_list", *(pub("wholesale_price_list", x) for x in lists))
        tw.add(owner, "brand", pub("brand", sw.cw.brand[mvno]))
    st = t.stock_transfer
    for owner, parties in (("P1", ["p1", "o1"]), ("P2", ["p2", "o2"]), ("M2", ["q", "r"])):
        moves = _column(db, st.c.id, st.c.to_party_id.in_([w.org[p] for p in parties]))
        tw.add(owner, "stock_transfer", *(pub("stock_transfer", m) for m in moves))
    for owner, edge in (("P1", "a_p1"), ("P2", "a_p2"), ("M2", "b_q")):
        rights = _column(db, t.sale_right.c.id, t.sale_right.c.holder_id == w.auth[edge])
        tw.add(owner, "sale_right", *(pub("sale_right", r) for r in rights))
    for owner, offer in (("M1", "plan"), ("M1", "pack"), ("M2", "m2plan")):
        tw.add(owner, "product_offering", pub("product_offering", sw.cw.offer[offer]))
    for owner, block in (("P1", sw.nw.m1_blocks[0]), ("P2", sw.nw.m1_blocks[2])):
        tw.add(owner, "prefix", block)
    tw.add("M2", "prefix", sw.nw.m2_blocks[0])

    for owner, clerk, block in (
        ("P1", "outletClerk", sw.nw.m1_blocks[0]),
        ("P2", "o2Clerk", sw.nw.m1_blocks[2]),
        ("M2", "rClerk", sw.nw.m2_blocks[0]),
    ):
        made = http.post(
            f"{V1}/numberReservations",
            headers=tw.headers(clerk),
            json={"msisdns": [sw.nw.number(block, 5555)]},
        )
        tw.add(owner, "number_reservation", _ok(made)["id"])
    for owner, designer, plan in (
        ("P1", "partnerAdmin", "plan"),
        ("P2", "p2Admin", "plan"),
        ("M2", "qAdmin", "m2plan"),
    ):
        body = {
            "name": f"{owner} 卡",
            "baseOfferingId": pub("product_offering", sw.cw.offer[plan]),
            "priceFen": 99_900,
        }
        design = _ok(http.post(f"{V1}/packageDesigns", headers=tw.headers(designer), json=body))
        _ok(http.post(f"{design['href']}/submit", headers=tw.headers(designer)))
        tw.add(owner, "package_design", design["id"])
    segment = _column(db, t.number_segment.c.id, t.number_segment.c.prefix == "171")[0]
    for owner, admin in (("M1", "mvnoAdmin"), ("M2", "mvno2Admin")):
        body = {"segmentId": pub("number_segment", segment), "blockCount": 1}
        made = http.post(f"{V1}/blockAllocationRequests", headers=tw.headers(admin), json=body)
        tw.add(owner, "number_allocation_request", _ok(made)["id"])

    expires = (clock.now().date() + timedelta(days=365)).isoformat()
    for owner, clerk, admin, holder, channel in (
        ("P1", "outletClerk", "mvnoAdmin", "holder1", "p1"),
        ("P2", "o2Clerk", "mvnoAdmin", "holderO2", "p2"),
        ("M2", "rClerk", "mvno2Admin", "holder2", "q"),
    ):
        msisdn = line[owner]
        body = {"msisdn": msisdn, "amountFen": 500, "channelOrderNumber": f"co-{msisdn}"}
        topup = http.post(
            "/tmf-api/prepayBalanceManagement/v4/topupBalance",
            headers=tw.headers(clerk, f"top-{msisdn}"),
            json=body,
        )
        tw.add(owner, "topup", _ok(topup)["id"])
        hold = http.post(
            f"{V1}/holds",
            headers=tw.headers(admin, f"hold-{msisdn}"),
            json={"msisdn": msisdn, "amountFen": 100},
        )
        tw.add(owner, "hold", _ok(hold)["holdId"])
        order = http.post(
            f"{V1}/paymentOrders",
            headers=tw.headers(holder, f"pay-{msisdn}"),
            json={"msisdn": msisdn, "amountFen": 1000},
        )
        tw.add(owner, "payment_order", _ok(order)["orderId"])
        body = {"faceValueFen": 5000, "count": 1, "expiresOn": expires}
        batch = _ok(http.post(f"{V1}/voucherBatches", headers=tw.headers(admin), json=body))
        _ok(
            http.post(
                f"{V1}/voucherBatches/{batch['id']}/distribute",
                headers=tw.headers(admin),
                json={"channelId": pub("organization", w.org[channel])},
            )
        )
        tw.add(owner, "voucher_batch", batch["id"])
        tw.add(owner, "voucher_serial", *(v["serial"] for v in batch["vouchers"]))
        body = {
            "sessionId": f"gy-{msisdn}",
            "msisdn": msisdn,
            "serviceType": "voice",
            "requestedUnits": 60,
        }
        _ok(http.post(f"{V1}/chargingSessions", headers=tw.headers("hostAdmin"), json=body))
        tw.add(owner, "charging_session", f"gy-{msisdn}")

    desk = _ok(
        http.post(
            f"{V1}/careTeams",
            headers=tw.headers("mvno2Admin"),
            json={"name": "青桐客服", "main": True},
        )
    )
    agent = pub("user", w.actor["m2Agent"].user_id)
    _ok(
        http.post(
            f"{V1}/careTeams/{desk['id']}/members",
            headers=tw.headers("mvno2Admin"),
            json={"userId": agent},
        )
    )
    route = http.post(
        f"{V1}/careRouting",
        headers=tw.headers("mvno2Admin"),
        json={"teamId": desk["id"], "regionCode": "440000"},
    )
    tw.add("M2", "care_team", desk["id"])
    tw.add("M2", "care_route", _ok(route)["id"])
    tw.add("M2", "user", agent)
    tw.add("M1", "care_team", pub("care_team", cw.team["main"]))
    tw.add("M1", "user", pub("user", w.actor["careAgent"].user_id))
    tw.add("P1", "care_team", pub("care_team", cw.team["p1"]))
    tw.add("P1", "care_route", pub("care_route", cw.route["gd"]))
    tw.add("P2", "care_team", pub("care_team", cw.team["p2"]))
    tw.add("P2", "user", pub("user", w.actor["p2Agent"].user_id))
    zhejiang = http.post(
        f"{V1}/careRouting",
        headers=tw.headers("mvnoAdmin"),
        json={
            "teamId": pub("care_team", cw.team["p2"]),
            "brandId": pub("brand", sw.cw.brand["m1"]),
            "regionCode": "330000",
        },
    )
    tw.add("P2", "care_route", _ok(zhejiang)["id"])
    # Every line is in Shenzhen: M1's tickets go to P1's Guangdong team, M2's to its desk.
    for owner, opener in (("P1", "outletClerk"), ("H1b", "holder1b"), ("M2", "rClerk")):
        body = {
            "description": "信号差",
            "severity": "minor",
            "ticketType": "complaint",
            "relatedEntity": [
                {"id": line[owner], "role": "affectedNumber", "@referredType": "MSISDN"}
            ],
        }
        tw.add(
            owner,
            "trouble_ticket",
            _ok(http.post(TICKETS, headers=tw.headers(opener), json=body))["id"],
        )
    # Accounts (TMF666): each line's prepaid account, each outlet's float and each channel's
    # commission account, owned as the line or the party is.
    la = t.ledger_account
    for owner, msisdn in line.items():
        accounts = _column(db, la.c.id, la.c.msisdn == msisdn)
        tw.add(owner, "ledger_account", *(pub("ledger_account", a) for a in accounts))
    for owner, keys in (("P1", ["p1", "o1"]), ("P2", ["p2", "o2"]), ("M2", ["q", "r"])):
        parties = [w.org[k] for k in keys]
        accounts = _column(db, la.c.id, la.c.owner_id.in_(parties))
        tw.add(owner, "ledger_account", *(pub("ledger_account", a) for a in accounts))
    return tw


@contextmanager
def served_tenancy(backend: Backend) -> Iterator[tuple[TenancyWorld, httpx.Client]]:
    """The world built through a real server on a clean database, and a client of it."""
    backend.clean()
    base = backend.serve()
    assert backend.app is not None
    backend.app.state.network = SimulatedHostNetwork(seed=7)
    with httpx.Client(base_url=base, timeout=30) as client:
        yield build_tenancy(backend.db, backend.app.state.network, client), client
