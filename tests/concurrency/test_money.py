"""Money under concurrency: no fen spent twice, no effect run twice."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from openmvne.db import tables as t
from openmvne.db.scoping import unscoped
from openmvne.errors import DomainError
from openmvne.services import money
from tests.conftest import Backend
from tests.money_world import build_money


def test_200_concurrent_debits_of_10_against_250_exactly_25_succeed(backend: Backend) -> None:
    db = backend.db
    mw = build_money(db)
    clerk, mvno = mw.nw.w.actor["outletClerk"], mw.nw.w.actor["mvnoAdmin"]
    money.recharge(
        db,
        clerk,
        msisdn=mw.line1,
        amount_fen=250,
        channel_order_number="seed",
        idempotency_key="seed",
    )

    def debit(i: int) -> str:
        try:
            money.charge(
                db,
                mvno,
                msisdn=mw.line1,
                amount_fen=10,
                reason="usage",
                idempotency_key=f"debit-{i}",
            )
            return "ok"
        except DomainError as exc:
            return exc.code

    with ThreadPoolExecutor(max_workers=16) as pool:
        outcomes = list(pool.map(debit, range(200)))
    assert outcomes.count("ok") == 25
    assert set(outcomes) <= {"ok", "insufficient_funds"}
    assert money.balance_of(db, mvno, mw.line1)["balanceFen"] == 0
    assert money.check(db) == []


def test_50_parallel_requests_with_one_key_have_one_effect(backend: Backend) -> None:
    db = backend.db
    mw = build_money(db)
    clerk = mw.nw.w.actor["outletClerk"]

    def attempt(_: int) -> str:
        result = money.recharge(
            db,
            clerk,
            msisdn=mw.line1,
            amount_fen=100,
            channel_order_number="same-order",
            idempotency_key="same-key",
        )
        return result["rechargeId"]

    with ThreadPoolExecutor(max_workers=16) as pool:
        ids_seen = set(pool.map(attempt, range(50)))
    assert len(ids_seen) == 1
    with db.read() as conn:
        recharges = conn.execute(
            unscoped(select(func.count()).select_from(t.recharge_order), "test")
        ).scalar_one()
    assert recharges == 1
    assert money.balance_of(db, mw.nw.w.actor["mvnoAdmin"], mw.line1)["balanceFen"] == 100
    assert money.float_of(db, clerk, None)["balanceFen"] == 10_000 - 100
    assert money.check(db) == []


def test_first_payments_to_new_accounts_can_race(backend: Backend) -> None:
    """Eight first recharges of a fresh line at once: its accounts open exactly once."""
    db = backend.db
    mw = build_money(db)
    clerk = mw.nw.w.actor["outletClerk"]

    def attempt(i: int) -> str:
        return money.recharge(
            db,
            clerk,
            msisdn=mw.line2,
            amount_fen=10,
            channel_order_number=f"first-{i}",
            idempotency_key=f"first-{i}",
        )["rechargeId"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert len(set(pool.map(attempt, range(8)))) == 8
    assert money.balance_of(db, mw.nw.w.actor["mvno2Admin"], mw.line2)["balanceFen"] == 80
    assert money.check(db) == []
