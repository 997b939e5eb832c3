"""The provisioning outbox against a host network that times out, loses responses, turns
commands away and refuses them: every line is opened exactly once, a refused opening undoes
the whole sale, an unanswered command gives up after MAX_ATTEMPTS, duplicate acks change
nothing, and two dispatchers at once still open each line once."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from openmvne import clock, ids
from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.db.scoping import unscoped
from openmvne.network.provisioning import (
    Ack,
    Command,
    ProvisioningRequest,
    ProvisioningTimeout,
    ProvisioningUnavailable,
)
from openmvne.network.simulator import SIMULATED_REJECTION, SimulatedHostNetwork
from openmvne.services import ledger, money, outbox, provisioning
from tests.subscribers_world import SubscribersWorld, Timeline, build_subscribers

# Longer than the ack timeout and the longest backoff: every open command is due again.
ROUND = max(provisioning.ACK_TIMEOUT, timedelta(seconds=60)) + timedelta(seconds=1)
BUSY = "host network busy (simulated)"
NO_ANSWER = "no response from host network (simulated)"
LOST = "response lost after processing (simulated)"


class WatchedNetwork(SimulatedHostNetwork):
    """The simulator, counting how each submit went (to show the failures really happened)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.outcomes: Counter[str] = Counter()

    def submit(self, request: ProvisioningRequest) -> None:
        try:
            super().submit(request)
        except (ProvisioningTimeout, ProvisioningUnavailable) as exc:
            self.outcomes[str(exc)] += 1
            raise
        self.outcomes["taken"] += 1


@pytest.fixture
def timeline() -> Iterator[Timeline]:
    line = Timeline(clock.now())
    yield line
    line.close()


def rows(db: Database, table: Any, **where: Any) -> list[dict[str, Any]]:
    with db.read() as conn:
        stmt = select(table).where(*(table.c[k] == v for k, v in where.items()))
        return [dict(r) for r in conn.execute(unscoped(stmt, "test")).mappings()]


def one(db: Database, table: Any, **where: Any) -> dict[str, Any]:
    found = rows(db, table, **where)
    assert len(found) == 1, found
    return found[0]


def open_commands(db: Database) -> int:
    with db.read() as conn:
        stmt = (
            select(func.count())
            .select_from(t.provisioning_command)
            .where(t.provisioning_command.c.state.in_(outbox.OPEN_STATES))
        )
        return int(conn.execute(unscoped(stmt, "test")).scalar_one())


def drain_until_quiet(
    db: Database, network: SimulatedHostNetwork, timeline: Timeline, rounds: int = 100
) -> int:
    """Dispatch, and move time on past every timeout and backoff, until no command is open;
    returns how many rounds it took."""
    for n in range(1, rounds + 1):
        provisioning.drain(db, network)
        if open_commands(db) == 0:
            return n
        timeline.advance(ROUND)
    raise AssertionError(f"{open_commands(db)} commands still open after {rounds} rounds")


def order_of(db: Database, result: dict[str, str]) -> dict[str, Any]:
    return one(db, t.product_order, id=ids.from_public("product_order", result["orderId"]))


def float_of(db: Database, sw: SubscribersWorld) -> int:
    return int(money.float_of(db, sw.w.op, sw.w.org["o1"])["availableFen"])


def ledger_clean(db: Database) -> bool:
    with db.read() as conn:
        return not ledger.audit_ledger(conn)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_flaky_network_opens_every_line_exactly_once(
    db: Database, timeline: Timeline, seed: int
) -> None:
    network = WatchedNetwork(
        seed=seed, timeout_rate=0.5, lost_response_rate=0.3, unavailable_rate=0.2
    )
    sw = build_subscribers(db, network)
    sold = [sw.sale(db, seq=i) for i in range(8)]
    rounds = drain_until_quiet(db, network, timeline)
    for msisdn, result in sold:
        assert order_of(db, result)["state"] == "completed", msisdn
        line = one(db, t.subscription, msisdn=msisdn)
        assert (line["state"], line["network_level"], line["network_in_sync"]) == (
            "active",
            "open",
            True,
        )
        assert network.applied[(msisdn, Command.OPEN_LINE)] == 1
        assert network.line(msisdn)["status"] == "open"  # type: ignore[index]
        assert one(db, t.number, msisdn=msisdn)["state"] == "inUse"
        assert one(db, t.sim_card, id=line["sim_id"])["state"] == "active"
        (command,) = rows(db, t.provisioning_command, subscription_id=line["id"])
        assert command["state"] == outbox.ACKNOWLEDGED
        assert command["network_ref"]
    assert sum(network.applied.values()) == len(sold)  # nothing but the openings
    assert open_commands(db) == 0
    # The run really went through every failure, and needed retries to get through.
    assert all(network.outcomes[k] for k in (BUSY, NO_ANSWER, LOST)), network.outcomes
    assert network.submissions > len(sold)
    assert rounds > 1
    assert ledger_clean(db)


def test_a_refused_opening_undoes_the_whole_sale(db: Database) -> None:
    network = SimulatedHostNetwork(seed=5, reject_rate=1.0)
    sw = build_subscribers(db, network)
    iccid = sw.o1_cards[0]
    card_before = one(db, t.sim_card, iccid=iccid)
    float_before = float_of(db, sw)
    msisdn, result = sw.sale(db, seq=1)
    assert float_of(db, sw) == float_before - 10_000
    sw.settle(db)
    placed = order_of(db, result)
    assert placed["state"] == "failed"
    assert placed["failure_reason"] == SIMULATED_REJECTION
    line = one(db, t.subscription, msisdn=msisdn)
    assert line["state"] == "failed"
    assert line["network_level"] == "none"
    assert rows(db, t.number, msisdn=msisdn) == []  # back in stock
    card = one(db, t.sim_card, iccid=iccid)
    assert (card["state"], card["msisdn"], card["holder_party_id"]) == (
        "inStock",
        None,
        sw.w.org["o1"],
    )
    assert card["holder_auth_id"] == card_before["holder_auth_id"]
    assert float_of(db, sw) == float_before
    assert network.line(msisdn) is None
    assert sum(network.applied.values()) == 0
    assert open_commands(db) == 0
    assert ledger_clean(db)
    # Nothing of it remains: the same number and card sell again once the network agrees.
    network.reject_rate = 0.0
    again, result = sw.sale(db, seq=1, number=msisdn, iccid=iccid, key="again")
    sw.settle(db)
    assert order_of(db, result)["state"] == "completed"
    assert network.applied[(again, Command.OPEN_LINE)] == 1


def test_a_command_that_is_never_answered_fails_after_max_attempts(
    db: Database, timeline: Timeline
) -> None:
    network = SimulatedHostNetwork(seed=9, timeout_rate=1.0)
    sw = build_subscribers(db, network)
    float_before = float_of(db, sw)
    msisdn, result = sw.sale(db, seq=1)
    line_id = one(db, t.subscription, msisdn=msisdn)["id"]
    for attempt in range(1, provisioning.MAX_ATTEMPTS):
        provisioning.dispatch(db, network)
        provisioning.dispatch(db, network)  # not due again before its backoff
        (command,) = rows(db, t.provisioning_command, subscription_id=line_id)
        assert (command["attempts"], command["state"]) == (attempt, outbox.PENDING)
        assert order_of(db, result)["state"] == "inProgress"
        timeline.advance(ROUND)
    provisioning.dispatch(db, network)
    (command,) = rows(db, t.provisioning_command, subscription_id=line_id)
    assert (command["attempts"], command["state"]) == (provisioning.MAX_ATTEMPTS, outbox.FAILED)
    assert network.submissions == provisioning.MAX_ATTEMPTS
    failed = order_of(db, result)
    assert failed["state"] == "failed"
    assert str(provisioning.MAX_ATTEMPTS) in failed["failure_reason"]
    assert one(db, t.subscription, msisdn=msisdn)["state"] == "failed"
    assert rows(db, t.number, msisdn=msisdn) == []
    assert float_of(db, sw) == float_before
    timeline.advance(ROUND)
    provisioning.drain(db, network)
    assert network.submissions == provisioning.MAX_ATTEMPTS  # given up for good
    assert open_commands(db) == 0
    assert ledger_clean(db)


class AnswersTooLate(SimulatedHostNetwork):
    """Says nothing to the first MAX_ATTEMPTS - 1 sends; applies the last one but loses its
    response, so the platform gives up on a command the network did carry out."""

    def __init__(self) -> None:
        super().__init__(seed=1)
        self.calls = 0

    def submit(self, request: ProvisioningRequest) -> None:
        self.calls += 1
        if self.calls < provisioning.MAX_ATTEMPTS:
            raise ProvisioningTimeout("no response (scripted)")
        super().submit(request)
        if self.calls == provisioning.MAX_ATTEMPTS:
            raise ProvisioningTimeout("response lost (scripted)")


def test_an_opening_applied_after_the_platform_gave_up_is_closed_again(
    db: Database, timeline: Timeline
) -> None:
    network = AnswersTooLate()
    sw = build_subscribers(db, network)
    msisdn, result = sw.sale(db, seq=1)
    drain_until_quiet(db, network, timeline)
    assert order_of(db, result)["state"] == "failed"
    assert one(db, t.subscription, msisdn=msisdn)["state"] == "failed"
    assert rows(db, t.number, msisdn=msisdn) == []
    # The network did open it: the platform must not leave a line it does not know of open
    # there (nobody pays for it, and the number could never be opened for a new buyer).
    assert network.applied[(msisdn, Command.OPEN_LINE)] == 1
    assert network.line(msisdn)["status"] == "closed"  # type: ignore[index]
    again, resold = sw.sale(db, seq=2, number=msisdn, key="again")
    drain_until_quiet(db, network, timeline)
    assert order_of(db, resold)["state"] == "completed"
    assert network.line(again)["status"] == "open"  # type: ignore[index]
    assert ledger_clean(db)


def state_of_everything(db: Database, msisdn: str) -> dict[str, Any]:
    line = one(db, t.subscription, msisdn=msisdn)
    with db.read() as conn:
        transfers = conn.execute(
            unscoped(select(func.count()).select_from(t.ledger_transfer), "test")
        ).scalar_one()
    return {
        "line": line,
        "orders": rows(db, t.product_order, subscription_id=line["id"]),
        "commands": rows(db, t.provisioning_command, subscription_id=line["id"]),
        "number": rows(db, t.number, msisdn=msisdn),
        "card": one(db, t.sim_card, id=line["sim_id"]),
        "transfers": transfers,
    }


def test_a_duplicate_ack_changes_nothing(db: Database, timeline: Timeline) -> None:
    network = SimulatedHostNetwork(seed=3)
    sw = build_subscribers(db, network)
    msisdn, _ = sw.sale(db, seq=1)
    sw.settle(db)
    before = state_of_everything(db, msisdn)
    (command,) = before["commands"]
    assert command["state"] == outbox.ACKNOWLEDGED
    timeline.advance(timedelta(minutes=5))  # any change would show in updated_at
    txn = str(command["id"])
    assert provisioning.record_acks(db, [Ack(txn, ok=True, network_ref="again")]) == 0
    # A late refusal of a command already acknowledged must not undo the sale either.
    assert provisioning.record_acks(db, [Ack(txn, ok=False, reason="late no")]) == 0
    # And the network's own repeat (a retry of a known transaction re-sends its ack).
    request = ProvisioningRequest(
        txn, command["host_network"], Command.OPEN_LINE, msisdn, command["imsi"], command["iccid"]
    )
    network.submit(request)
    assert provisioning.dispatch(db, network)["acknowledged"] == 0
    assert provisioning.record_acks(db, [Ack("not-a-uuid", ok=True)]) == 0
    assert state_of_everything(db, msisdn) == before
    assert network.applied[(msisdn, Command.OPEN_LINE)] == 1


def test_two_dispatchers_at_once_open_each_line_once(db: Database) -> None:
    network = WatchedNetwork(seed=4, lost_response_rate=0.5)
    sw = build_subscribers(db, network)
    sold = [sw.sale(db, seq=i) for i in range(10)]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def dispatcher() -> None:
        barrier.wait()
        try:
            for _ in range(30):
                provisioning.dispatch(db, network)
                if open_commands(db) == 0:
                    return
        except BaseException as exc:  # the test reports whatever went wrong
            errors.append(exc)

    threads = [threading.Thread(target=dispatcher) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    # Lost responses leave commands waiting out their backoff; time moves, one finishes.
    with clock.frozen(clock.now() + ROUND):
        provisioning.drain(db, network)
    assert open_commands(db) == 0
    for msisdn, result in sold:
        assert network.applied[(msisdn, Command.OPEN_LINE)] == 1
        assert order_of(db, result)["state"] == "completed"
        line = one(db, t.subscription, msisdn=msisdn)
        assert (line["state"], line["network_in_sync"]) == ("active", True)
    assert sum(network.applied.values()) == len(sold)
    assert network.outcomes[LOST] > 0
    assert ledger_clean(db)
