"""Selling lines and running their lifecycle, against real databases and the simulated
host network."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from openmvne import ids
from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.db.scoping import unscoped
from openmvne.services import ledger, money, subscriber_orders
from tests.subscribers_world import SubscribersWorld, build_subscribers


@pytest.fixture
def sw(db: Database) -> SubscribersWorld:
    return build_subscribers(db)


def one(db: Database, table: Any, **where: Any) -> dict[str, Any]:
    with db.read() as conn:
        stmt = select(table).where(*(table.c[k] == v for k, v in where.items()))
        return dict(conn.execute(unscoped(stmt, "test")).mappings().one())


def line_of(db: Database, msisdn: str) -> dict[str, Any]:
    with db.read() as conn:
        stmt = (
            select(t.subscription)
            .where(t.subscription.c.msisdn == msisdn)
            .order_by(t.subscription.c.id.desc())
        )
        return dict(conn.execute(unscoped(stmt, "test")).mappings().first() or {})


def order(db: Database, result: dict[str, str]) -> dict[str, Any]:
    return one(db, t.product_order, id=ids.from_public("product_order", result["orderId"]))


def float_of(db: Database, sw: SubscribersWorld, outlet: str = "o1") -> int:
    return int(money.float_of(db, sw.w.op, sw.w.org[outlet])["availableFen"])


def test_sale_completes_when_the_network_opens_the_line(db: Database, sw: SubscribersWorld) -> None:
    before = float_of(db, sw)
    msisdn, result = sw.sale(db, prepayment_fen=10_000)
    placed = order(db, result)
    assert placed["state"] == "inProgress"
    assert line_of(db, msisdn)["state"] == "pendingActivation"
    assert one(db, t.number, msisdn=msisdn)["state"] == "assigned"
    sw.settle(db)
    assert order(db, result)["state"] == "completed"
    line = line_of(db, msisdn)
    assert line["state"] == "active"
    assert line["network_level"] == "open"
    assert line["network_in_sync"] is True
    assert one(db, t.number, msisdn=msisdn)["state"] == "inUse"
    assert one(db, t.sim_card, iccid=line["iccid"])["state"] == "active"
    assert sw.network.line(msisdn)["status"] == "open"  # type: ignore[index]
    # The customer paid 100 yuan: 59 for the first month, the rest is the balance.
    assert float_of(db, sw) == before - 10_000
    view = subscriber_orders.summary(db, sw.w.actor["mvnoAdmin"], msisdn)
    assert view["balance"].available == 10_000 - 5_900
    assert view["holder"]["maskedId"].startswith("4403")
    assert "*" in view["holder"]["maskedId"]
    with db.read() as conn:
        assert not ledger.audit_ledger(conn)
