"""The ledger against real databases: recharge, charges, holds, idempotency, append-only,
the check, and a Hypothesis state machine against a plain reference model."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError

from openmvne import ids
from openmvne.db.engine import Database
from openmvne.errors import Conflict, DomainError, NotFound
from openmvne.services import idempotency, money, recharges
from openmvne.services.recharges import Recharge
from tests.batches import race
from tests.conftest import Backend
from tests.money_world import MoneyWorld, build_money


@pytest.fixture
def mw(db: Database) -> MoneyWorld:
    return build_money(db)


def test_cross_brand_recharge_moves_float_to_balance(mw: MoneyWorld, db: Database) -> None:
    w = mw.nw.w
    clerk = w.actor["outletClerk"]  # O1 sits in M1's tree, and recharges M2's line too
    for line in (mw.line1, mw.line2):
        result = money.recharge(
            db,
            clerk,
            msisdn=line,
            amount_fen=3000,
            channel_order_number=f"o-{line}",
            idempotency_key=f"k-{line}",
        )
        assert result["replayed"] is False
    assert money.float_of(db, clerk, None)["balanceFen"] == 4000
    assert money.balance_of(db, w.actor["mvnoAdmin"], mw.line1)["balanceFen"] == 3000
    assert money.balance_of(db, w.actor["mvno2Admin"], mw.line2)["balanceFen"] == 3000
    with pytest.raises(NotFound):  # the outlet never sees a subscriber's balance
        money.balance_of(db, clerk, mw.line1)
    assert money.check(db) == []


def test_recharge_retries_and_reuse(mw: MoneyWorld, db: Database) -> None:
    clerk = mw.nw.w.actor["outletClerk"]
    args = {"msisdn": mw.line1, "amount_fen": 5000, "channel_order_number": "A-1"}
    first = money.recharge(db, clerk, **args, idempotency_key="key-1")
    again = money.recharge(db, clerk, **args, idempotency_key="key-1")
    assert again["replayed"] is True
    assert again["rechargeId"] == first["rechargeId"]
    by_order = money.recharge(db, clerk, **args, idempotency_key="key-2")  # same order number
    assert by_order["rechargeId"] == first["rechargeId"]
    with pytest.raises(DomainError) as reused:
        money.recharge(db, clerk, **{**args, "amount_fen": 6000}, idempotency_key="key-1")
    assert reused.value.code == "idempotency_key_reused"
    with pytest.raises(DomainError) as order:
        money.recharge(db, clerk, **{**args, "amount_fen": 6000}, idempotency_key="key-3")
    assert order.value.code == "order_number_reused"
    assert money.balance_of(db, mw.nw.w.actor["mvnoAdmin"], mw.line1)["balanceFen"] == 5000


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"amount_fen": 0}, "bad_amount"),
        ({"amount_fen": -5}, "bad_amount"),
        ({"amount_fen": 10**9}, "bad_amount"),
        ({"amount_fen": 20_000}, "insufficient_funds"),
        ({"msisdn": "17199990000"}, "unknown_number"),
        ({"msisdn": "1719999"}, "msisdn_malformed"),
    ],
)
def test_bad_recharges_move_nothing(mw: MoneyWorld, db: Database, change: dict, code: str) -> None:
    clerk = mw.nw.w.actor["outletClerk"]
    args = {"msisdn": mw.line1, "amount_fen": 1000, "channel_order_number": "B-1", **change}
    with pytest.raises(DomainError) as caught:
        money.recharge(db, clerk, **args, idempotency_key="bad")
    assert caught.value.code == code
    assert money.float_of(db, clerk, None)["balanceFen"] == 10_000
    assert money.check(db) == []


def test_a_line_not_in_service_cannot_be_recharged(mw: MoneyWorld, db: Database) -> None:
    clerk = mw.nw.w.actor["outletClerk"]
    idle = mw.nw.number(mw.nw.m1_blocks[0], 2)
    with pytest.raises(DomainError) as caught:
        money.recharge(
            db, clerk, msisdn=idle, amount_fen=1000, channel_order_number="C", idempotency_key="c"
        )
    assert caught.value.code == "line_not_in_service"


def test_holds_resolve_exactly_once(mw: MoneyWorld, db: Database) -> None:
    w = mw.nw.w
    clerk, mvno = w.actor["outletClerk"], w.actor["mvnoAdmin"]
    money.recharge(
        db, clerk, msisdn=mw.line1, amount_fen=1000, channel_order_number="H", idempotency_key="h"
    )
    held = money.hold(
        db, mvno, msisdn=mw.line1, amount_fen=600, seconds=60, idempotency_key="hold-1"
    )
    assert money.balance_of(db, mvno, mw.line1)["availableFen"] == 400
    with pytest.raises(DomainError) as short:
        money.charge(
            db, mvno, msisdn=mw.line1, amount_fen=500, reason="x", idempotency_key="charge-1"
        )
    assert short.value.code == "insufficient_funds"
    import uuid

    hold_id = uuid.UUID(held["holdId"])
    money.resolve(db, mvno, hold_id, post_fen=250, idempotency_key="post-1")
    with pytest.raises(Conflict):
        money.resolve(db, mvno, hold_id, post_fen=None, idempotency_key="void-1")
    found = money.balance_of(db, mvno, mw.line1)
    assert (found["balanceFen"], found["availableFen"], found["heldFen"]) == (750, 750, 0)
    assert money.check(db) == []


def test_transfers_are_append_only_in_the_database(mw: MoneyWorld, db: Database) -> None:
    for statement in ("UPDATE ledger_transfer SET amount_fen = 1", "DELETE FROM ledger_transfer"):
        with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
            conn.execute(text(statement))


def test_the_check_finds_tampering(mw: MoneyWorld, db: Database) -> None:
    assert money.check(db) == []
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE ledger_account SET credits_posted = credits_posted + 1 "
                "WHERE kind = 'outletFloat'"
            )
        )
    problems = money.check(db)
    assert any("outletFloat" in p for p in problems)
    assert any("sum to 1 fen" in p for p in problems)


class LedgerMachine(RuleBasedStateMachine):
    """Random recharges, charges, holds, posts, voids and expiries, checked after every step
    against a plain model: balance, held amount, Σ = 0, nothing negative."""

    backend: Backend

    @initialize()
    def start(self) -> None:
        self.backend.clean()
        self.db = self.backend.db
        self.mw = build_money(self.db)
        self.mvno = self.mw.nw.w.actor["mvnoAdmin"]
        self.clerk = self.mw.nw.w.actor["outletClerk"]
        self.model = {"float": 10_000, "balance": 0, "held": {}}
        self.n = 0

    def _key(self) -> str:
        self.n += 1
        return f"k{self.n}"

    @rule(amount=st.integers(1, 4000))
    def recharge(self, amount: int) -> None:
        try:
            money.recharge(
                self.db,
                self.clerk,
                msisdn=self.mw.line1,
                amount_fen=amount,
                channel_order_number=self._key(),
                idempotency_key=self._key(),
            )
        except DomainError as exc:
            assert exc.code == "insufficient_funds"
            assert amount > self.model["float"]
            return
        self.model["float"] -= amount
        self.model["balance"] += amount

    @rule(amount=st.integers(1, 3000))
    def charge(self, amount: int) -> None:
        available = self.model["balance"] - sum(self.model["held"].values())
        try:
            money.charge(
                self.db,
                self.mvno,
                msisdn=self.mw.line1,
                amount_fen=amount,
                reason="usage",
                idempotency_key=self._key(),
            )
        except DomainError as exc:
            assert exc.code == "insufficient_funds"
            assert amount > available
            return
        assert amount <= available
        self.model["balance"] -= amount

    @rule(amount=st.integers(1, 2000))
    def hold(self, amount: int) -> None:
        available = self.model["balance"] - sum(self.model["held"].values())
        try:
            held = money.hold(
                self.db,
                self.mvno,
                msisdn=self.mw.line1,
                amount_fen=amount,
                seconds=60,
                idempotency_key=self._key(),
            )
        except DomainError as exc:
            assert exc.code == "insufficient_funds"
            assert amount > available
            return
        self.model["held"][held["holdId"]] = amount

    @rule(data=st.data(), void=st.booleans())
    def settle(self, data: st.DataObject, void: bool) -> None:
        if not self.model["held"]:
            return
        import uuid

        hold_id = data.draw(st.sampled_from(sorted(self.model["held"])))
        amount = self.model["held"].pop(hold_id)
        post = None if void else data.draw(st.integers(1, amount))
        money.resolve(
            self.db, self.mvno, uuid.UUID(hold_id), post_fen=post, idempotency_key=self._key()
        )
        self.model["balance"] -= post or 0
        with pytest.raises(Conflict):  # a hold resolves once
            money.resolve(
                self.db, self.mvno, uuid.UUID(hold_id), post_fen=None, idempotency_key=self._key()
            )

    @invariant()
    def agrees_with_the_model(self) -> None:
        if not hasattr(self, "mw"):
            return
        found = (
            money.balance_of(self.db, self.mvno, self.mw.line1)
            if self.model["balance"] or self.model["held"]
            else {"balanceFen": 0, "heldFen": 0}
        )
        assert found["balanceFen"] == self.model["balance"]
        assert found["heldFen"] == sum(self.model["held"].values())
        assert money.float_of(self.db, self.clerk, None)["balanceFen"] == self.model["float"]
        assert money.check(self.db) == []


def test_ledger_state_machine(backend: Backend) -> None:
    if backend.name != "sqlite":
        pytest.skip("the model is backend-independent; SQLite keeps it fast")
    LedgerMachine.backend = backend
    runner = LedgerMachine.TestCase
    runner.settings = settings(
        max_examples=12,
        stateful_step_count=15,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    runner().runTest()


def test_a_voided_hold_moves_nothing(mw: MoneyWorld, db: Database) -> None:
    """Found by the state machine: a void's record must not count as a posted movement."""
    import uuid

    w = mw.nw.w
    money.recharge(
        db,
        w.actor["outletClerk"],
        msisdn=mw.line1,
        amount_fen=1,
        channel_order_number="V",
        idempotency_key="v",
    )
    held = money.hold(
        db, w.actor["mvnoAdmin"], msisdn=mw.line1, amount_fen=1, seconds=60, idempotency_key="vh"
    )
    money.resolve(
        db, w.actor["mvnoAdmin"], uuid.UUID(held["holdId"]), post_fen=None, idempotency_key="vv"
    )
    assert money.balance_of(db, w.actor["mvnoAdmin"], mw.line1)["balanceFen"] == 1
    assert money.check(db) == []


def test_recharge_commission_down_the_outlets_chain(mw: MoneyWorld, db: Database) -> None:
    """O1 sits under P1 under N in M1's tree: on 100 yuan, with the default scheme (3 % in
    all), the outlet keeps 1.5 %, the province 1 %, the national contractor 0.5 %. An outlet
    outside the MVNO's tree (M2's line) earns the outlet rate alone."""
    from sqlalchemy import select

    from openmvne.db import tables as t
    from openmvne.db.scoping import unscoped

    w = mw.nw.w
    clerk = w.actor["outletClerk"]
    money.recharge(
        db,
        clerk,
        msisdn=mw.line1,
        amount_fen=10_000,
        channel_order_number="K1",
        idempotency_key="k1",
    )
    money.pay_float(db, w.op, outlet_id=w.org["o1"], amount_fen=10_000, idempotency_key="f2")
    money.recharge(
        db,
        clerk,
        msisdn=mw.line2,
        amount_fen=10_000,
        channel_order_number="K2",
        idempotency_key="k2",
    )
    la = t.ledger_account
    with db.read() as conn:
        earned = {
            (r.mvno_id, r.owner_id): r.credits_posted
            for r in conn.execute(
                unscoped(select(la).where(la.c.kind == "channelCommission"), "test")
            )
        }
    assert earned == {
        (w.org["m1"], w.org["o1"]): 150,
        (w.org["m1"], w.org["p1"]): 100,
        (w.org["m1"], w.org["n"]): 50,
        (w.org["m2"], w.org["o1"]): 150,
    }
    assert money.check(db) == []


def _ask(mw: MoneyWorld, key: str, order: str, fen: int, msisdn: str | None = None) -> Recharge:
    clerk = mw.nw.w.actor["outletClerk"]
    request = {"msisdn": msisdn or mw.line1, "amount": fen, "order": order, "outlet": "None"}
    return Recharge(
        clerk,
        msisdn or mw.line1,
        fen,
        order,
        key,
        None,
        idempotency.request_hash("recharge", request),
        None,
    )


def test_the_longest_order_number_recharges_beside_others_in_one_batch(
    mw: MoneyWorld, db: Database
) -> None:
    """A 64-character order number (the longest allowed) names the transfers it moved: the
    reference, with the outlet, fits its column, so the batch it shares commits whole (a
    longer reference failed the whole batch on PostgreSQL, which checks lengths)."""
    longest = "L" * 64
    out = recharges.run_batch(db, [_ask(mw, "k1", longest, 1000), _ask(mw, "k2", "short", 2000)])
    assert [isinstance(o, dict) for o in out] == [True, True]
    clerk, admin = mw.nw.w.actor["outletClerk"], mw.nw.w.actor["mvnoAdmin"]
    assert money.balance_of(db, admin, mw.line1)["balanceFen"] == 3000
    outlet = ids.to_public("organization", clerk.party_id)
    assert len(f"{outlet}:{longest}") <= 100
    references = {t["reference"] for t in money.list_transfers(db, admin, {}, 0, 100)[0]}
    assert {f"{outlet}:{longest}", f"{outlet}:short"} <= references
    assert money.check(db) == []


def test_one_batch_answers_each_recharge_as_if_alone(mw: MoneyWorld, db: Database) -> None:
    """A batch is one transaction, but each recharge succeeds or fails on its own, in order:
    a key or order repeated in the batch is a retry, the float runs out part-way."""
    asks = [
        _ask(mw, "k1", "o1", 4000),
        _ask(mw, "k1", "o1", 4000),  # a retry of the first: same answer
        _ask(mw, "k2", "o1", 4000),  # the same order under another key: same answer
        _ask(mw, "k3", "o1", 999),  # the same order, another amount
        _ask(mw, "k1", "o9", 100),  # the same key, another request
        _ask(mw, "k4", "o4", 100, msisdn="17199990000"),  # nobody's number
        _ask(mw, "k5", "o5", 5000),  # 6,000 fen of float left: fits
        _ask(mw, "k6", "o6", 2000),  # 1,000 left: refused
        _ask(mw, "k7", "o7", 1000, msisdn=mw.line2),  # another MVNO's line, exactly the rest
    ]
    out = recharges.run_batch(db, asks)
    first = out[0]
    assert isinstance(first, dict)
    assert first["replayed"] is False
    assert out[1] == {**first, "replayed": True}
    assert out[2] == first
    codes = [o.code if isinstance(o, DomainError) else None for o in out]
    assert codes == [
        None,
        None,
        None,
        "order_number_reused",
        "idempotency_key_reused",
        "unknown_number",
        None,
        "insufficient_funds",
        None,
    ]
    clerk = mw.nw.w.actor["outletClerk"]
    assert money.float_of(db, clerk, None)["balanceFen"] == 0
    assert money.balance_of(db, mw.nw.w.actor["mvnoAdmin"], mw.line1)["balanceFen"] == 9000
    assert money.balance_of(db, mw.nw.w.actor["mvno2Admin"], mw.line2)["balanceFen"] == 1000
    assert money.check(db) == []
    # Later, alone: the stored key and order answer; the refused one may be tried again.
    assert money.recharge(
        db,
        clerk,
        msisdn=mw.line1,
        amount_fen=4000,
        channel_order_number="o1",
        idempotency_key="k2",
    ) == {**first, "replayed": True}
    [again] = recharges.run_batch(db, [_ask(mw, "k6", "o6", 2000)])
    assert isinstance(again, DomainError)  # refused again: the float is empty
    assert again.code == "insufficient_funds"


def test_batches_of_two_processes_race_for_keys_and_orders(mw: MoneyWorld, db: Database) -> None:
    """Two engines (as two server processes) run batches of the same 40 recharges at once:
    each is made once, and both answer every one with the same recharge."""
    other = Database(db.url)
    asks = [_ask(mw, f"race-{n}", f"race-{n}", 100) for n in range(40)]
    a, b = race(recharges.run_batch, db, other, asks)
    other.dispose()
    assert all(isinstance(x, dict) for x in a + b), [x for x in a + b if not isinstance(x, dict)]
    assert [x["rechargeId"] for x in a] == [x["rechargeId"] for x in b]  # type: ignore[index]
    clerk = mw.nw.w.actor["outletClerk"]
    assert money.float_of(db, clerk, None)["balanceFen"] == 10_000 - 40 * 100
    assert money.check(db) == []


def test_a_float_spent_before_a_batch_locks_it_is_decided_again(
    mw: MoneyWorld, db: Database
) -> None:
    """A batch decides against balances read without a lock and locks the accounts last.
    Here another process's batch spends most of the float in between: the accounts' CHECK
    refuses the first batch's overdraft, and it runs again, locking first, so what no
    longer fits is refused and nothing is lost or doubled."""
    if db.dialect != "postgresql":
        pytest.skip("SQLite has one writer: nothing can come in between")
    # The accounts exist already: a batch that opens one holds its row until it commits.
    assert isinstance(recharges.run_batch(db, [_ask(mw, "first", "first", 1000)])[0], dict)
    other = Database(db.url)  # as a second server process
    spent: list[list[Any]] = []
    locks: list[str] = []

    def spend_first(
        conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> None:
        if statement.startswith("SELECT 1 FROM ledger_account"):
            locks.append(statement)  # the batch is about to lock its accounts
            if len(locks) == 1:
                spent.append(recharges.run_batch(other, [_ask(mw, "there", "there", 6000)]))

    event.listen(db.engine, "before_cursor_execute", spend_first)
    try:
        out = recharges.run_batch(db, [_ask(mw, "a", "a", 2000), _ask(mw, "b", "b", 2000)])
    finally:
        event.remove(db.engine, "before_cursor_execute", spend_first)
        other.dispose()
    assert isinstance(spent[0][0], dict)  # 6,000 of the 9,000 left went elsewhere first
    # Each try locks its accounts once (the lines' first): the first try's refused by the
    # CHECK, then the rerun's.
    assert len(locks) == 2
    assert isinstance(out[0], dict)  # 2,000 of the 3,000 left
    assert isinstance(out[1], DomainError)
    assert out[1].code == "insufficient_funds"
    clerk = mw.nw.w.actor["outletClerk"]
    assert money.float_of(db, clerk, None)["balanceFen"] == 1000
    assert money.balance_of(db, mw.nw.w.actor["mvnoAdmin"], mw.line1)["balanceFen"] == 9000
    assert money.check(db) == []
