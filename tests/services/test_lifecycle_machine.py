"""One sold, opened line driven through random operations on the real services (tasks,
balance exhaustion, recharges at O1, SIM replacements, time passing and the lifecycle tick,
outbox drains) and compared after every step with a reference model written here from
domain.md §5, not from domain/subscribers.py.

The model's reading of §5 where the table is terse (each choice is the model's, and the
services are held to it):
- "any" means any live state. A barring is not re-entered (real-name missing on a line
  already barred for it, over-limit on an over-limit line, operator barring on an operator-
  barred line are refused: there is nothing to do, and re-barring an operator barring would
  lose the state it must return to).
- An operator barring (局方停机) outranks the other barrings: while it holds, only clearing it
  or cancelling moves the line.
- A line barred for missing real-name registration leaves that barring only by registering
  (or by an operator barring, or cancelling): an over-limit finding does not replace it, as
  resolving the limit would then open a line nobody registered.
- Balance exhaustion bars an active line outgoing; a suspended line that cannot pay its keep
  fee is already barred both ways, so it enters arrears there. Elsewhere it changes nothing.
- Arrears timers run from when the line entered the state (N1, N2, N3 = 0, 60, 30 days);
  one tick moves a line one step. "Recharge covers the debt" means the balance is more than
  the debt; the debt is then paid from it and the line is active at once. Money that came
  while an operator barring held counts when the barring is cleared back into arrears.
- A month's fee falls due on the 1st (Beijing time), for the month ahead: the plan's fee when
  active, the keep fee when suspended, nothing in any barred state. One tick charges the
  oldest month due. A fee the balance cannot pay becomes a debt and exhausts the balance.
- Cancelling moves the remaining balance to the MVNO's refundDue account; the number rests
  90 days in quarantine, then the next tick returns it to stock.
- A SIM can be replaced in any live state, once its previous replacement was confirmed by the
  network; it reopens a lost line and leaves every other state as it was.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select

from openmvne import clock
from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.db.scoping import unscoped
from openmvne.domain.ledger import AccountKind
from openmvne.domain.subscribers import LineState, network_level
from openmvne.errors import DomainError
from openmvne.network.simulator import SimulatedHostNetwork
from openmvne.services import ledger, lifecycle, money, outbox, provisioning, subscriber_orders
from tests.conftest import Backend
from tests.subscribers_world import (
    PLAIN_RULES,
    SubscribersWorld,
    Timeline,
    build_subscribers,
    person,
)

BEIJING = ZoneInfo("Asia/Shanghai")

# --- the reference model -------------------------------------------------------------------

ACTIVE, SUSPENDED, LOST = "active", "suspended", "lost"
OUT, BOTH, PRE = "arrearsOutBarred", "arrearsBothBarred", "preCancelled"
NO_REAL_NAME, OVER_LIMIT, OPERATOR = "nonRealNameBarred", "overLimitBarred", "operatorBarred"
CANCELLED = "cancelled"
ARREARS = {OUT, BOTH, PRE}
LIVE = {ACTIVE, SUSPENDED, LOST, NO_REAL_NAME, OVER_LIMIT, OPERATOR, *ARREARS}

ORDINARY = {ACTIVE, SUSPENDED, LOST, *ARREARS}  # states the "any" barrings interrupt
MOVES: dict[str, dict[str, str]] = {
    "suspend": {ACTIVE: SUSPENDED},
    "resume": {SUSPENDED: ACTIVE},
    "reportLost": {ACTIVE: LOST},
    "found": {LOST: ACTIVE},
    "realNameMissing": dict.fromkeys(ORDINARY | {OVER_LIMIT}, NO_REAL_NAME),
    "realNameRegistered": {NO_REAL_NAME: ACTIVE},
    "overLimit": dict.fromkeys(ORDINARY, OVER_LIMIT),
    "limitResolved": {OVER_LIMIT: ACTIVE},
    "operatorBar": dict.fromkeys(ORDINARY | {OVER_LIMIT, NO_REAL_NAME}, OPERATOR),
    "operatorClear": {OPERATOR: "<previous>"},
    "cancel": dict.fromkeys(LIVE, CANCELLED),
}
TIMER_DAYS = {OUT: 0, BOTH: 60, PRE: 30}
AFTER_TIMER = {OUT: BOTH, BOTH: PRE, PRE: CANCELLED}
PLAN_FEE, KEEP_FEE = 5_900, 500
QUARANTINE = timedelta(days=90)
SIM_LEVEL = {ACTIVE: "open", OUT: "outBarred", CANCELLED: "closed"}  # else bothBarred

CUSTOMER_TASKS = {"suspend", "resume", "reportLost", "found", "cancel"}
NEEDS_HOLDER = {"found", "cancel"}


def beijing_day(at: datetime) -> date:
    return at.astimezone(BEIJING).date()


def month_after(day: date) -> date:
    return date(day.year + 1, 1, 1) if day.month == 12 else date(day.year, day.month + 1, 1)


@dataclass
class Model:
    state: str
    balance: int
    next_fee_on: date
    debt: int = 0
    previous: str | None = None
    deadline: datetime | None = None
    cancelled_at: datetime | None = None
    back_in_stock: bool = False
    swap_pending: bool = False
    # The line's card was reported lost (its card follows the line), until found or replaced;
    # a new card the network has not confirmed yet is left as it is.
    card_lost: bool = False
    no_real_name_since: datetime | None = None
    no_real_name_spans: list[tuple[datetime, datetime]] = field(default_factory=list)

    def enter(self, state: str, now: datetime) -> None:
        if self.state == NO_REAL_NAME and state != NO_REAL_NAME:
            assert self.no_real_name_since is not None
            self.no_real_name_spans.append((self.no_real_name_since, now))
        if state == NO_REAL_NAME and self.state != NO_REAL_NAME:
            self.no_real_name_since = now
        self.state = state
        self.deadline = now + timedelta(days=TIMER_DAYS[state]) if state in ARREARS else None
        if state == CANCELLED:
            self.cancelled_at = now
            self.balance = 0  # refunded
        if state in ARREARS:
            self.restore_if_covered(now)

    def restore_if_covered(self, now: datetime) -> None:
        if self.state in ARREARS and self.balance > self.debt:
            self.balance -= self.debt
            self.debt = 0
            self.enter(ACTIVE, now)

    def exhausted(self, now: datetime) -> None:
        if self.state == ACTIVE:
            self.enter(OUT, now)
        elif self.state == SUSPENDED:
            self.enter(BOTH, now)

    def tick(self, now: datetime) -> None:
        if self.state in ARREARS and self.deadline is not None and self.deadline <= now:
            self.enter(AFTER_TIMER[self.state], now)
        if self.state != CANCELLED and self.next_fee_on <= beijing_day(now):
            self.next_fee_on = month_after(self.next_fee_on)
            fee = {ACTIVE: PLAN_FEE, SUSPENDED: KEEP_FEE}.get(self.state, 0)
            if fee and self.balance >= fee:
                self.balance -= fee
            elif fee:
                self.debt += fee
                self.exhausted(now)
        if self.cancelled_at is not None and now >= self.cancelled_at + QUARANTINE:
            self.back_in_stock = True


# --- the machine -------------------------------------------------------------------------------


@dataclass
class Shared:
    """What outlives one Hypothesis example: the world (built once: building it per example
    would take most of the time), and counters for unique keys, numbers and IDs. Every
    example sells its own line on a fresh number, starts at the same instant and cancels its
    line when it ends, so nothing of one example is left for the next one's ticks."""

    db: Database
    sw: SubscribersWorld
    network: SimulatedHostNetwork
    start: datetime
    keys: itertools.count[int] = field(default_factory=itertools.count)
    offsets: Any = None
    examples: int = 0

    def key(self, what: str) -> str:
        return f"m-{what}-{next(self.keys)}"

    def number(self) -> str:
        """A plain number of P1's block that no example used yet."""
        if self.offsets is None:
            self.offsets = iter(range(10_000))
        for offset in self.offsets:
            msisdn = self.sw.nw.number(self.sw.nw.m1_blocks[0], offset)
            _, price = PLAIN_RULES.price(msisdn)
            if price.one_off_fen == 0 and price.min_monthly_fen == 0:
                return msisdn
        raise AssertionError("the block ran out of plain numbers")


class LifecycleMachine(RuleBasedStateMachine):
    shared: ClassVar[Shared]

    # -- set-up and tear-down, per example --------------------------------------------------

    @initialize(prepayment=st.sampled_from([PLAN_FEE, 10_000, 30_000]))
    def sell_a_line(self, prepayment: int) -> None:
        s = self.shared
        assume(len(s.sw.o1_cards) >= 4)  # a sale and up to three replacements
        s.examples += 1
        self.db, self.sw, self.network = s.db, s.sw, s.network
        self.clerk = self.sw.w.actor["outletClerk"]
        self.mvno = self.sw.w.actor["mvnoAdmin"]
        self.timeline = Timeline(s.start)
        self.seq = 100 + s.examples % 800
        self.holder = person(self.seq)
        money.pay_float(
            self.db,
            self.sw.w.op,
            outlet_id=self.sw.w.org["o1"],
            amount_fen=100_000,
            idempotency_key=s.key("float"),
        )
        self.msisdn, _ = self.sw.sale(
            self.db, seq=self.seq, number=s.number(), key=s.key("sale"), prepayment_fen=prepayment
        )
        provisioning.drain(self.db, self.network)
        line = self.line()
        assert line["state"] == ACTIVE
        self.line_id = line["id"]
        self.replacements = 0
        self.model = Model(
            state=ACTIVE,
            balance=prepayment - PLAN_FEE,  # the first month is paid at the sale
            next_fee_on=month_after(beijing_day(s.start)),
        )
        self.fees_seen = 0
        self.state_seen = ACTIVE
        self.swept: set[str] = set()
        self.turn = 0

    def teardown(self) -> None:
        timeline = getattr(self, "timeline", None)
        if timeline is None:
            return
        try:
            # Tidy up so the next example's ticks find nothing of this one: cancel, drain.
            if self.model.state != CANCELLED:
                self.task_call("cancel", who="mvnoAdmin")
            provisioning.drain(self.db, self.network)
        except DomainError:
            pass  # tidying only; the steps already checked everything
        finally:
            timeline.close()

    # -- reading the real thing ---------------------------------------------------------------

    def now(self) -> datetime:
        return self.timeline.now

    def line(self) -> dict[str, Any]:
        sub = t.subscription
        with self.db.read() as conn:
            stmt = select(sub).where(sub.c.msisdn == self.msisdn).order_by(sub.c.id.desc())
            return dict(conn.execute(unscoped(stmt, "test")).mappings().first() or {})

    def balance(self) -> int:
        view = subscriber_orders.summary(self.db, self.mvno, self.msisdn)
        return int(view["balance"].available)

    def refund_due(self) -> int:
        with self.db.read() as conn:
            account = ledger.account(conn, AccountKind.REFUND_DUE, mvno_id=self.sw.w.org["m1"])
        return ledger.balance(account).posted

    def fees(self) -> list[dict[str, Any]]:
        la, lt = t.ledger_account, t.ledger_transfer
        with self.db.read() as conn:
            stmt = (
                select(lt)
                .join(la, la.c.id == lt.c.debit_account_id)
                .where(la.c.kind == AccountKind.SUBSCRIBER_PREPAID.value)
                .where(la.c.msisdn == self.msisdn, lt.c.code == "fee")
            )
            return [dict(r) for r in conn.execute(unscoped(stmt, "test")).mappings()]

    def footprint(self) -> dict[str, Any]:
        """What a refused request must leave exactly as it was."""
        line = self.line()
        with self.db.read() as conn:

            def count(table: Any, **where: Any) -> int:
                stmt = select(func.count()).select_from(table)
                stmt = stmt.where(*(table.c[k] == v for k, v in where.items()))
                return int(conn.execute(unscoped(stmt, "test")).scalar_one())

            return {
                "line": line,
                "orders": count(t.product_order, subscription_id=self.line_id),
                "commands": count(t.provisioning_command, subscription_id=self.line_id),
                "transfers": count(t.ledger_transfer),
                "cards": [
                    dict(r)
                    for r in conn.execute(
                        unscoped(select(t.sim_card).where(t.sim_card.c.id == line["sim_id"]), "t")
                    ).mappings()
                ],
            }

    def task_call(self, name: str, *, who: str, holder: Any = None) -> None:
        actor = self.sw.w.actor[who]
        subscriber_orders.run_task(
            self.db,
            actor,
            self.msisdn,
            name,
            holder=holder,
            reason="machine",
            idempotency_key=self.shared.key(name),
        )

    def refused(self, call: Any, codes: set[str]) -> None:
        before = self.footprint()
        with pytest.raises(DomainError) as caught:
            call()
        assert caught.value.code in codes, (caught.value.code, caught.value.message)
        assert self.footprint() == before

    # -- rules --------------------------------------------------------------------------------

    def legal(self) -> list[str]:
        return sorted(name for name, moves in MOVES.items() if self.model.state in moves)

    @rule(data=st.data(), moves=st.integers(1, 3))
    def allowed_tasks(self, data: st.DataObject, moves: int) -> None:
        """A few moves the line's state allows, one after another (cancelling, which ends
        the line's story, comes up less often than the others)."""
        for _ in range(moves):
            choices = self.legal()
            if "cancel" in choices and len(choices) > 1 and data.draw(st.integers(0, 3)):
                choices.remove("cancel")
            if not choices:
                return
            self.run_task(data.draw(st.sampled_from(choices), label="task"))
            if self.model.state not in self.swept:  # a state passed through inside the step
                self.check_refusals()

    def run_task(self, name: str) -> None:
        """A move the model allows: customer tasks at the outlet (with the holder's ID where
        the task needs it), operator orders by the MVNO."""
        who = "outletClerk" if name in CUSTOMER_TASKS else "mvnoAdmin"
        holder = self.holder if name in NEEDS_HOLDER else None
        target = MOVES[name][self.model.state]
        refund_before, balance_before = self.refund_due(), self.model.balance
        self.task_call(name, who=who, holder=holder)
        if name == "reportLost":
            self.model.card_lost = not self.model.swap_pending
        elif name == "found":
            self.model.card_lost = False
        now = self.now()
        if name == "operatorBar":
            self.model.previous = self.model.state
        if target == "<previous>":
            assert self.model.previous is not None
            target, self.model.previous = self.model.previous, None
        self.model.enter(target, now)
        if target == CANCELLED:
            # Refund on cancel: what was left on the balance is owed back to the holder.
            assert self.refund_due() - refund_before == balance_before
            assert self.balance() == 0

    @precondition(lambda self: self.model.state in (ACTIVE, SUSPENDED))
    @rule()
    def balance_runs_out(self) -> None:
        """Usage eats the balance of an active line, and the rating reports exhaustion (for
        a suspended line only once its balance really is gone)."""
        if self.model.state == ACTIVE and self.model.balance > 0:
            money.charge(
                self.db,
                self.mvno,
                msisdn=self.msisdn,
                amount_fen=self.model.balance,
                reason="usage",
                idempotency_key=self.shared.key("usage"),
            )
            self.model.balance = 0
        if self.model.balance > 0:
            return  # a suspended line uses nothing: its balance runs out only by its fees
        lifecycle_exhausted(self.db, self.line_id)
        self.model.exhausted(self.now())

    @rule(amount=st.sampled_from([1, 500, 3_000, 5_900, 8_000]))
    def recharge(self, amount: int) -> None:
        ref = self.shared.key("recharge")

        def call() -> None:
            money.recharge(
                self.db,
                self.clerk,
                msisdn=self.msisdn,
                amount_fen=amount,
                channel_order_number=ref,
                idempotency_key=ref,
            )

        if self.model.state == CANCELLED:
            self.refused(call, {"line_not_in_service"})
            return
        call()
        self.model.balance += amount
        self.model.restore_if_covered(self.now())

    @precondition(lambda self: self.replacements < 3 and self.model.state != CANCELLED)
    @rule()
    def replace_sim(self) -> None:
        iccid = self.sw.o1_cards[0]

        def call() -> None:
            subscriber_orders.replace_sim(
                self.db,
                self.clerk,
                self.msisdn,
                iccid=iccid,
                holder=self.holder,
                idempotency_key=self.shared.key("swap"),
            )

        if self.model.state == CANCELLED:
            self.refused(call, {"unknown_line"})
            return
        if self.model.swap_pending:  # the last new card is not confirmed yet
            self.refused(call, {"card_state_conflict"})
            return
        old = self.line()["sim_id"]
        call()
        self.sw.o1_cards.pop(0)
        self.replacements += 1
        self.model.swap_pending = True
        self.model.card_lost = False
        with self.db.read() as conn:
            card = t.sim_card
            stmt = select(card.c.state, card.c.msisdn).where(card.c.id == old)
            assert tuple(conn.execute(unscoped(stmt, "test")).one()) == ("replaced", None)
        assert self.line()["iccid"] == iccid
        if self.model.state == LOST:
            self.model.enter(ACTIVE, self.now())

    @rule(days=st.sampled_from([1, 9, 25, 31, 61, 91]), then_tick=st.booleans())
    def time_passes(self, days: int, then_tick: bool) -> None:
        self.timeline.advance(timedelta(days=days))
        if then_tick:
            self.tick()

    def next_deadline(self) -> datetime | None:
        """The next instant at which a tick has something to do for the line, if any."""
        m, now = self.model, self.now()
        candidates = []
        if m.state in ARREARS and m.deadline is not None:
            candidates.append(m.deadline)
        if m.cancelled_at is not None and not m.back_in_stock:
            candidates.append(m.cancelled_at + QUARANTINE)
        if m.state != CANCELLED:  # the fee day starts at midnight in Beijing
            midnight = datetime.combine(m.next_fee_on, time(0), tzinfo=BEIJING)
            candidates.append(midnight.astimezone(UTC))
        future = [c for c in candidates if c > now]
        return min(future) if future else None

    @rule(just_before=st.booleans())
    def up_to_the_next_deadline(self, just_before: bool) -> None:
        """Time moves to the very instant a timer, a quarantine or a fee falls due (or one
        second before), and the tick runs: the boundaries are where off-by-ones live."""
        at = self.next_deadline()
        if at is None:
            return
        at -= timedelta(seconds=1) if just_before else timedelta(0)
        if at > self.now():
            self.timeline.advance(at - self.now())
        self.tick()

    @rule()
    def tick(self) -> None:
        refund_before, balance_before = self.refund_due(), self.model.balance
        was = self.model.state
        lifecycle.tick(self.db)
        self.model.tick(self.now())
        if self.model.state == CANCELLED and was != CANCELLED:
            assert self.refund_due() - refund_before == balance_before

    @rule()
    def drain(self) -> None:
        provisioning.drain(self.db, self.network)
        self.model.swap_pending = False
        line = self.line()
        with self.db.read() as conn:
            pc = t.provisioning_command
            stmt = (
                select(func.count())
                .select_from(pc)
                .where(pc.c.subscription_id == self.line_id, pc.c.state.in_(outbox.OPEN_STATES))
            )
            assert conn.execute(unscoped(stmt, "test")).scalar_one() == 0
            card = dict(
                conn.execute(
                    unscoped(select(t.sim_card).where(t.sim_card.c.id == line["sim_id"]), "test")
                )
                .mappings()
                .one()
            )
        expected = SIM_LEVEL.get(self.model.state, "bothBarred")
        assert expected == network_level(LineState(line["state"])).value  # the domain agrees
        seen = self.network.line(self.msisdn)
        assert seen is not None
        assert seen["status"] == expected, (self.model.state, seen)
        assert (line["network_level"], line["network_in_sync"]) == (expected, True)
        if self.model.state == CANCELLED:
            assert (card["state"], card["msisdn"]) == ("closed", None)
            assert seen["imsi"] is None
        else:
            in_use = "reportedLost" if self.model.card_lost else "active"
            assert (card["state"], card["msisdn"]) == (in_use, self.msisdn)
            assert seen["imsi"] == card["imsi"]

    # -- invariants ---------------------------------------------------------------------------

    @invariant()
    def the_line_is_where_the_model_is(self) -> None:
        if not hasattr(self, "model"):
            return
        line = self.line()
        m = self.model
        assert line["state"] == m.state
        assert line["debt_fen"] == m.debt
        assert self.balance() == m.balance
        if m.state == OPERATOR:
            assert line["previous_state"] == m.previous
        if m.state in ARREARS:
            assert line["state_until"] == m.deadline
        if m.state != CANCELLED:
            assert line["next_fee_on"] == m.next_fee_on
        else:
            assert m.balance == 0

    @invariant()
    def illegal_moves_are_refused(self) -> None:
        if hasattr(self, "model"):
            self.check_refusals()

    def check_refusals(self) -> None:
        """The first time the line is in a state, every move that state does not allow, and
        a cancel with someone else's ID (later, one such move, in turn): each refused, and
        nothing changed."""
        before = self.footprint()
        gone = self.model.state == CANCELLED
        illegal = sorted(set(MOVES) - set(self.legal()))
        if self.model.state in self.swept:
            self.turn += 1
            illegal = [illegal[self.turn % len(illegal)]]
        self.swept.add(self.model.state)
        for name in illegal:
            who = "outletClerk" if name in CUSTOMER_TASKS else "mvnoAdmin"
            holder = self.holder if name in NEEDS_HOLDER else None
            with pytest.raises(DomainError) as caught:
                self.task_call(name, who=who, holder=holder)
            expected = "unknown_line" if gone else "line_state_conflict"
            assert caught.value.code == expected, (name, self.model.state, caught.value)
        if not gone:
            with pytest.raises(DomainError) as caught:
                self.task_call("cancel", who="outletClerk", holder=person(self.seq + 1))
            assert caught.value.code == "identity_mismatch"
        assert self.footprint() == before

    @invariant()
    def no_fee_while_barred_for_missing_real_name(self) -> None:
        if not hasattr(self, "model"):
            return
        fees = self.fees()
        if self.state_seen == NO_REAL_NAME:  # the step began in that state
            assert len(fees) == self.fees_seen, "a fee was charged while non-real-name barred"
        self.fees_seen, self.state_seen = len(fees), self.model.state
        spans = list(self.model.no_real_name_spans)
        if self.model.state == NO_REAL_NAME:
            assert self.model.no_real_name_since is not None
            spans.append((self.model.no_real_name_since, datetime.max.replace(tzinfo=UTC)))
        for fee in fees:
            assert not any(a < fee["created_at"] < b for a, b in spans), fee

    @invariant()
    def the_barrings_kept_are_the_models(self) -> None:
        """What rating frees use by (real_name_barring): each span the line spent barred for
        missing real-name registration, with its times, the current one open."""
        if not hasattr(self, "model"):
            return
        rnb = t.real_name_barring
        with self.db.read() as conn:
            stmt = select(rnb.c.since, rnb.c.until).where(rnb.c.subscription_id == self.line_id)
            rows = conn.execute(unscoped(stmt, "test")).all()
        # Spans may start and end at one frozen instant: the open one sorts last.
        kept = sorted(((a, b) for a, b in rows), key=lambda s: (s[0], s[1] is None, s[1] or s[0]))
        spans: list[tuple[datetime, datetime | None]] = list(self.model.no_real_name_spans)
        if self.model.state == NO_REAL_NAME:
            spans.append((self.model.no_real_name_since, None))  # type: ignore[arg-type]
        assert kept == spans

    @invariant()
    def the_number_rests_then_returns(self) -> None:
        if not hasattr(self, "model"):
            return
        with self.db.read() as conn:
            stmt = select(t.number.c.state).where(t.number.c.msisdn == self.msisdn)
            number = conn.execute(unscoped(stmt, "test")).scalar()
        if self.model.state != CANCELLED:
            assert number == "inUse"
        elif self.model.back_in_stock:
            assert number is None
        else:
            assert number == "quarantined"

    @invariant()
    def the_ledger_balances(self) -> None:
        if not hasattr(self, "model"):
            return
        with self.db.read() as conn:
            assert ledger.audit_ledger(conn) == []


def lifecycle_exhausted(db: Database, line_id: Any) -> None:
    with db.write() as conn:
        lifecycle.exhausted(conn, lifecycle.SYSTEM, line_id)


def test_one_line_through_its_lifecycle(backend: Backend) -> None:
    network = SimulatedHostNetwork(seed=17)
    sw = build_subscribers(backend.db, network, o1_card_count=400)
    # 10:00 in Beijing on the 10th of next month: ahead of the world's records.
    month = month_after(beijing_day(clock.now()))
    start = datetime(month.year, month.month, 10, 10, tzinfo=BEIJING).astimezone(UTC)
    machine = type(
        "LineMachine",
        (LifecycleMachine,),
        {"shared": Shared(backend.db, sw, network, start)},
    )
    run_state_machine_as_test(
        machine,
        settings=settings(
            # SQLite is the quicker backend: it takes more examples in the same time.
            max_examples=30 if backend.name == "sqlite" else 20,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        ),
    )
