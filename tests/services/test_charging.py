"""Online charging: reserve, update, terminate, expiry, idempotence, exhaustion."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from openmvne import clock
from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.db.scoping import unscoped
from openmvne.errors import Conflict, DomainError, NotFound
from openmvne.services import charging, ledger, subscriber_orders
from tests.subscribers_world import SubscribersWorld, build_subscribers

NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)


@pytest.fixture
def sw(db: Database) -> SubscribersWorld:
    with clock.frozen(NOW - timedelta(days=3)):
        world = build_subscribers(db)
        world.payg, _ = world.sale(db, seq=1, offer="payg", prepayment_fen=1_000)  # type: ignore[attr-defined]
        world.plan, _ = world.sale(db, seq=2, offer="plan", prepayment_fen=10_000)  # type: ignore[attr-defined]
        world.settle(db)
    return world


def view(db: Database, sw: SubscribersWorld, msisdn: str) -> dict[str, Any]:
    return subscriber_orders.summary(db, sw.w.actor["mvnoAdmin"], msisdn)


def available(db: Database, sw: SubscribersWorld, msisdn: str) -> int:
    return int(view(db, sw, msisdn)["balance"].available)


def test_reserve_use_and_release_on_balance(db: Database, sw: SubscribersWorld) -> None:
    network = sw.w.actor["hostAdmin"]
    line = sw.payg  # type: ignore[attr-defined]
    with clock.frozen(NOW):
        opened = charging.initial(
            db, network, session_key="s1", msisdn=line, kind="voice", requested=300
        )
        assert opened["resultCode"] == charging.SUCCESS
        assert opened["grantedUnits"] == 300
        # Five minutes at 0.10 CNY are held: 50 fen.
        assert available(db, sw, line) == 1_000 - 50
        again = charging.initial(
            db, network, session_key="s1", msisdn=line, kind="voice", requested=300
        )
        assert again["replayed"] is True
        assert available(db, sw, line) == 1_000 - 50
        more = charging.update_session(
            db, network, session_key="s1", number=1, used=125, requested=120
        )
        # 125 s used: three started minutes, 30 fen; two more minutes held.
        assert more["grantedUnits"] == 120
        assert available(db, sw, line) == 1_000 - 30 - 20
        with pytest.raises(Conflict) as err:
            charging.update_session(db, network, session_key="s1", number=3, used=0, requested=0)
        assert err.value.code == "request_out_of_order"
        ended = charging.terminate(db, network, session_key="s1", number=2, used=59)
        assert ended["resultCode"] == charging.SUCCESS
        assert available(db, sw, line) == 1_000 - 40
        assert charging.terminate(db, network, session_key="s1", number=2, used=59)["replayed"]
        with pytest.raises(DomainError) as reused:
            charging.terminate(db, network, session_key="s1", number=2, used=60)
        assert reused.value.code == "request_number_reused"
    with db.read() as conn:
        assert not ledger.audit_ledger(conn)


def test_allowance_first_then_money(db: Database, sw: SubscribersWorld) -> None:
    network = sw.w.actor["hostAdmin"]
    line = sw.plan  # type: ignore[attr-defined]
    before = available(db, sw, line)
    with clock.frozen(NOW):
        # The plan has 100 minutes: 6,000 s come from the allowance, the rest from money.
        opened = charging.initial(
            db, network, session_key="p1", msisdn=line, kind="voice", requested=6_060
        )
        assert opened["grantedUnits"] == 6_060
        assert available(db, sw, line) == before - 10
        # A second session sees the allowance already reserved by the first.
        second = charging.initial(
            db, network, session_key="p2", msisdn=line, kind="voice", requested=60
        )
        assert second["grantedUnits"] == 60
        assert available(db, sw, line) == before - 20
        charging.terminate(db, network, session_key="p1", number=1, used=6_000)
        charging.terminate(db, network, session_key="p2", number=1, used=60)
    # The allowance covered p1 wholly; p2 found none left: one minute charged.
    assert available(db, sw, line) == before - 10


def test_exhaustion_refuses_and_bars_the_line(db: Database, sw: SubscribersWorld) -> None:
    network = sw.w.actor["hostAdmin"]
    line = sw.payg  # type: ignore[attr-defined]
    with clock.frozen(NOW):
        big = charging.initial(
            db, network, session_key="x1", msisdn=line, kind="voice", requested=10**6
        )
        # 1,000 fen buys 100 minutes, no more.
        assert big["grantedUnits"] == 6_000
        charging.terminate(db, network, session_key="x1", number=1, used=6_000)
        assert available(db, sw, line) == 0
        refused = charging.initial(
            db, network, session_key="x2", msisdn=line, kind="voice", requested=60
        )
    assert refused["resultCode"] == charging.CREDIT_LIMIT_REACHED
    assert refused["grantedUnits"] == 0
    assert view(db, sw, line)["line"]["state"] == "arrearsOutBarred"
    with clock.frozen(NOW):
        barred = charging.initial(
            db, network, session_key="x3", msisdn=line, kind="voice", requested=60
        )
    assert barred["resultCode"] == charging.END_USER_SERVICE_DENIED


def test_forgotten_sessions_expire_once(db: Database, sw: SubscribersWorld) -> None:
    network = sw.w.actor["hostAdmin"]
    line = sw.payg  # type: ignore[attr-defined]
    with clock.frozen(NOW):
        charging.initial(
            db, network, session_key="e1", msisdn=line, kind="data", requested=10 * 2**20
        )
    assert available(db, sw, line) == 1_000 - 100
    with clock.frozen(NOW + timedelta(minutes=4)):
        assert charging.expire(db) == 0
    with clock.frozen(NOW + timedelta(minutes=6)):
        assert charging.expire(db) == 1
        assert charging.expire(db) == 0
        with pytest.raises(Conflict):
            charging.terminate(db, network, session_key="e1", number=1, used=100)
    assert available(db, sw, line) == 1_000
    with db.read() as conn:
        state = conn.execute(unscoped(select(t.charging_session.c.state), "test")).scalar()
        assert state == "expired"
        assert not ledger.audit_ledger(conn)


def test_only_the_lines_network_charges_it(db: Database, sw: SubscribersWorld) -> None:
    line = sw.payg  # type: ignore[attr-defined]
    with clock.frozen(NOW):
        with pytest.raises(DomainError) as outlet:
            charging.initial(
                db, sw.w.actor["outletClerk"], session_key="o", msisdn=line, kind="sms", requested=1
            )
        assert outlet.value.code == "role_required"
        with pytest.raises(NotFound):
            charging.initial(
                db, sw.w.actor["hostAdmin"], session_key="n", msisdn="17199999999", kind="sms",
                requested=1,
            )  # fmt: skip
