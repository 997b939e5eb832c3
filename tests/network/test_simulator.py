"""The simulated host network: line rules, dedup by transaction id, and the failure modes
(late acks, refusals, timeouts before and after applying) an outbox has to survive."""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openmvne import clock
from openmvne.domain.numbers import HostNetwork
from openmvne.network.provisioning import (
    Ack,
    Command,
    HostProvisioning,
    ProvisioningRequest,
    ProvisioningTimeout,
    ProvisioningUnavailable,
)
from openmvne.network.simulator import (
    BAD_MSISDN,
    IMSI_IN_USE,
    IMSI_REQUIRED,
    LINE_EXISTS,
    NO_SUCH_LINE,
    SIMULATED_REJECTION,
    SimulatedHostNetwork,
)

HOST = HostNetwork.TELECOM
A, B, C = "17001230001", "17001230002", "17001230003"
IMSI_1, IMSI_2, IMSI_3 = "460031234500001", "460031234500002", "460031234500003"
T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def req(
    txn: str, command: Command, msisdn: str = A, imsi: str | None = None, iccid: str | None = None
) -> ProvisioningRequest:
    return ProvisioningRequest(txn, HOST, command, msisdn, imsi, iccid)


def open_line(txn: str, msisdn: str = A, imsi: str = IMSI_1) -> ProvisioningRequest:
    return req(txn, Command.OPEN_LINE, msisdn, imsi, f"8986{imsi[-15:]}")


def verdicts(net: SimulatedHostNetwork) -> dict[str, Ack]:
    acks = net.poll_acks()
    found = {ack.transaction_id: ack for ack in acks}
    assert len(found) == len(acks), "an ack was delivered twice in one poll"
    return found


def test_it_is_a_host_provisioning() -> None:
    net: HostProvisioning = SimulatedHostNetwork()
    assert net.poll_acks() == []


def test_open_bar_restore_close() -> None:
    net = SimulatedHostNetwork()
    net.submit(open_line("t1"))
    assert net.line(A) == {"host": HOST, "status": "open", "imsi": IMSI_1, "iccid": "8986" + IMSI_1}
    steps = [
        ("t2", Command.BAR_OUTGOING, "outBarred"),
        ("t3", Command.BAR_BOTH, "bothBarred"),
        ("t4", Command.RESTORE, "open"),
        ("t5", Command.BAR_BOTH, "bothBarred"),
    ]
    for txn, command, status in steps:
        net.submit(req(txn, command))
        line = net.line(A)
        assert line is not None
        assert line["status"] == status
    net.submit(req("t6", Command.CLOSE))
    assert net.line(A) == {"host": HOST, "status": "closed", "imsi": None, "iccid": None}

    acks = net.poll_acks()
    assert [a.transaction_id for a in acks] == ["t1", "t2", "t3", "t4", "t5", "t6"]
    assert all(a.ok and a.reason is None and a.network_ref for a in acks)
    assert len({a.network_ref for a in acks}) == 6
    assert net.poll_acks() == []  # each ack delivered once
    assert net.applied[(A, Command.BAR_BOTH)] == 2
    assert net.applied[(A, Command.CLOSE)] == 1
    assert net.submissions == 6


def test_the_returned_line_is_a_copy() -> None:
    net = SimulatedHostNetwork()
    net.submit(open_line("t1"))
    line = net.line(A)
    assert line is not None
    line["status"] = "closed"
    assert net.line(A) is not None
    assert net.line(A) == {**line, "status": "open"}
    assert net.line(B) is None


def test_change_sim_swaps_the_card_and_frees_the_old_imsi() -> None:
    net = SimulatedHostNetwork()
    net.submit(open_line("t1", A, IMSI_1))
    net.submit(req("t2", Command.CHANGE_SIM, A, IMSI_2, "89860002"))
    assert net.line(A) == {"host": HOST, "status": "open", "imsi": IMSI_2, "iccid": "89860002"}
    net.submit(open_line("t3", B, IMSI_1))  # the old card's IMSI is free again
    assert all(a.ok for a in net.poll_acks())


def test_closing_frees_the_imsi_and_a_closed_number_can_be_reopened() -> None:
    net = SimulatedHostNetwork()
    net.submit(open_line("t1", A, IMSI_1))
    net.submit(req("t2", Command.CLOSE, A))
    net.submit(open_line("t3", B, IMSI_1))  # IMSI freed by the close
    net.submit(open_line("t4", A, IMSI_2))  # number recycled to a new subscriber
    assert all(a.ok for a in net.poll_acks())
    line = net.line(A)
    assert line is not None
    assert (line["status"], line["imsi"]) == ("open", IMSI_2)
    assert net.applied[(A, Command.OPEN_LINE)] == 2


def test_a_duplicate_transaction_is_applied_once_and_its_ack_delivered_again() -> None:
    net = SimulatedHostNetwork()
    net.submit(open_line("t1"))
    net.submit(req("t2", Command.BAR_OUTGOING))
    net.submit(req("t2", Command.BAR_OUTGOING))  # ack still queued: not queued twice
    assert [a.transaction_id for a in net.poll_acks()] == ["t1", "t2"]
    first = net.applied.copy()

    net.submit(req("t2", Command.BAR_OUTGOING))  # the platform lost the ack: ask again
    again = net.poll_acks()
    assert len(again) == 1
    assert again[0].transaction_id == "t2"
    assert again[0].ok
    assert (
        net.applied == first == Counter({(A, Command.OPEN_LINE): 1, (A, Command.BAR_OUTGOING): 1})
    )
    assert net.poll_acks() == []


def test_the_original_ack_is_returned_even_if_the_state_changed_since() -> None:
    net = SimulatedHostNetwork()
    net.submit(open_line("t1"))
    net.submit(req("t2", Command.CLOSE))
    (ack1, _) = net.poll_acks()
    net.submit(open_line("t1"))  # would now be a fresh open of a closed number: it is not
    assert net.poll_acks() == [ack1]
    line = net.line(A)
    assert line is not None
    assert line["status"] == "closed"
    assert net.applied[(A, Command.OPEN_LINE)] == 1


def test_a_lost_response_applies_once_however_often_the_caller_retries() -> None:
    net = SimulatedHostNetwork(lost_response_rate=1.0)
    for _ in range(5):
        with pytest.raises(ProvisioningTimeout):
            net.submit(open_line("t1"))
    assert net.applied == Counter({(A, Command.OPEN_LINE): 1})
    assert net.submissions == 5
    acks = net.poll_acks()
    assert len(acks) == 1
    assert acks[0].transaction_id == "t1"
    assert acks[0].ok
    line = net.line(A)
    assert line is not None
    assert line["status"] == "open"


def test_a_timeout_before_processing_applies_nothing() -> None:
    net = SimulatedHostNetwork(timeout_rate=1.0)
    for _ in range(3):
        with pytest.raises(ProvisioningTimeout):
            net.submit(open_line("t1"))
    assert net.applied == Counter()
    assert net.poll_acks() == []
    assert net.line(A) is None
    assert net.pending_count() == 0


def test_unavailable_applies_nothing() -> None:
    net = SimulatedHostNetwork(unavailable_rate=1.0)
    with pytest.raises(ProvisioningUnavailable):
        net.submit(open_line("t1"))
    assert net.applied == Counter()
    assert net.poll_acks() == []
    assert net.line(A) is None
    assert net.submissions == 1


@pytest.mark.parametrize(
    ("setup", "request_", "reason"),
    [
        ([], req("x", Command.BAR_OUTGOING, A), NO_SUCH_LINE),
        ([], req("x", Command.RESTORE, A), NO_SUCH_LINE),
        ([], req("x", Command.CLOSE, A), NO_SUCH_LINE),
        ([], req("x", Command.CHANGE_SIM, A, IMSI_2), NO_SUCH_LINE),
        ([open_line("s1"), req("s2", Command.CLOSE)], req("x", Command.BAR_BOTH), NO_SUCH_LINE),
        ([open_line("s1"), req("s2", Command.CLOSE)], req("x", Command.CLOSE), NO_SUCH_LINE),
        ([open_line("s1")], open_line("x", A, IMSI_2), LINE_EXISTS),
        ([open_line("s1"), req("s2", Command.BAR_BOTH)], open_line("x", A, IMSI_2), LINE_EXISTS),
        ([open_line("s1", A, IMSI_1)], open_line("x", B, IMSI_1), IMSI_IN_USE),
        (
            [open_line("s1", A, IMSI_1), open_line("s2", B, IMSI_2)],
            req("x", Command.CHANGE_SIM, B, IMSI_1),
            IMSI_IN_USE,
        ),
        ([], req("x", Command.OPEN_LINE, A), IMSI_REQUIRED),
        ([open_line("s1")], req("x", Command.CHANGE_SIM, A), IMSI_REQUIRED),
        ([], open_line("x", "1700123", IMSI_1), BAD_MSISDN),
        ([], open_line("x", "1700123000a", IMSI_1), BAD_MSISDN),
        (
            [open_line("s1")],
            ProvisioningRequest("x", HostNetwork.MOBILE, Command.BAR_BOTH, A),
            NO_SUCH_LINE,
        ),
    ],
)
def test_refusals_are_final_acks_and_change_nothing(
    setup: list[ProvisioningRequest], request_: ProvisioningRequest, reason: str
) -> None:
    net = SimulatedHostNetwork()
    for step in setup:
        net.submit(step)
    assert all(a.ok for a in net.poll_acks())
    before = (net.line(A), net.line(B), net.applied.copy())

    net.submit(request_)
    assert net.poll_acks() == [Ack("x", ok=False, reason=reason)]
    assert (net.line(A), net.line(B), net.applied) == before

    net.submit(request_)  # a retry gets the same verdict back
    assert net.poll_acks() == [Ack("x", ok=False, reason=reason)]


def _reject_pattern(seed: int) -> list[bool]:
    net = SimulatedHostNetwork(seed=seed, reject_rate=0.5)
    for i in range(40):
        net.submit(open_line(f"t{i}", f"170012{i:05d}", f"46003{i:010d}"))
    acks = net.poll_acks()
    for ack in acks:
        assert ack.ok or ack.reason == SIMULATED_REJECTION
    rejected = [not a.ok for a in acks]
    assert sum(net.applied.values()) == rejected.count(False)  # refused means not applied
    return rejected


def test_simulated_rejections_are_reproducible_with_a_seed() -> None:
    first = _reject_pattern(seed=7)
    assert first == _reject_pattern(seed=7)
    assert 0 < sum(first) < 40
    assert first != _reject_pattern(seed=8)


def test_acks_wait_for_the_delay() -> None:
    delay = timedelta(seconds=30)
    net = SimulatedHostNetwork(ack_delay=delay)
    with clock.frozen(T0):
        net.submit(open_line("t1"))
        assert net.line(A) is not None  # applied at once; only the verdict is late
        assert net.poll_acks() == []
    with clock.frozen(T0 + delay - timedelta(microseconds=1)):
        net.submit(req("t2", Command.BAR_BOTH))
        assert net.poll_acks() == []
    with clock.frozen(T0 + delay):
        assert [a.transaction_id for a in net.poll_acks()] == ["t1"]
    with clock.frozen(T0 + 2 * delay):
        assert [a.transaction_id for a in net.poll_acks()] == ["t2"]
        assert net.poll_acks() == []
        assert net.pending_count() == 0


def test_a_retry_before_the_late_ack_does_not_postpone_or_duplicate_it() -> None:
    delay = timedelta(seconds=10)
    net = SimulatedHostNetwork(ack_delay=delay)
    with clock.frozen(T0):
        net.submit(open_line("t1"))
    with clock.frozen(T0 + timedelta(seconds=9)):
        net.submit(open_line("t1"))
    with clock.frozen(T0 + delay):
        assert [a.transaction_id for a in net.poll_acks()] == ["t1"]
        assert net.poll_acks() == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"timeout_rate": -0.1},
        {"lost_response_rate": 1.5},
        {"unavailable_rate": 2.0},
        {"reject_rate": -1.0},
        {"ack_delay": timedelta(seconds=-1)},
    ],
)
def test_nonsense_settings_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        SimulatedHostNetwork(**kwargs)  # type: ignore[arg-type]


def test_concurrent_submitters_apply_each_transaction_once() -> None:
    net = SimulatedHostNetwork(seed=3, lost_response_rate=0.5)
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def client(worker: int) -> None:
        try:
            barrier.wait()
            for i in range(100):
                for _ in range(2):  # every request sent twice, from every worker
                    with contextlib.suppress(ProvisioningTimeout):
                        net.submit(open_line(f"t{i}", f"170012{i:05d}", f"46003{i:010d}"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert net.submissions == 800
    assert set(net.applied.values()) == {1}
    assert len(net.applied) == 100
    acks = net.poll_acks()
    assert len(acks) == len({a.transaction_id for a in acks}) == 100
    assert all(a.ok for a in acks)


# -- a retrying client against a misbehaving network, checked against a reference model ---

MSISDNS = [A, B, C]
IMSIS = [IMSI_1, IMSI_2, IMSI_3, "460031234500004"]


class Model:
    """The line rules, written again as plainly as possible."""

    def __init__(self) -> None:
        self.lines: dict[str, dict[str, object]] = {}
        self.applied: Counter[tuple[str, Command]] = Counter()

    def _imsi_taken(self, imsi: str, msisdn: str) -> bool:
        return any(
            m != msisdn and line["status"] != "closed" and line["imsi"] == imsi
            for m, line in self.lines.items()
        )

    def verdict(self, r: ProvisioningRequest) -> str | None:
        line = self.lines.get(r.msisdn)
        live = line is not None and line["status"] != "closed"
        if r.command is Command.OPEN_LINE:
            if live:
                return LINE_EXISTS
        elif not live:
            return NO_SUCH_LINE
        if r.command in (Command.OPEN_LINE, Command.CHANGE_SIM):
            if r.imsi is None:
                return IMSI_REQUIRED
            if self._imsi_taken(r.imsi, r.msisdn):
                return IMSI_IN_USE
        return None

    def apply(self, r: ProvisioningRequest) -> None:
        self.applied[(r.msisdn, r.command)] += 1
        line = self.lines.setdefault(r.msisdn, {"host": r.host})
        status = {
            Command.OPEN_LINE: "open",
            Command.BAR_OUTGOING: "outBarred",
            Command.BAR_BOTH: "bothBarred",
            Command.RESTORE: "open",
            Command.CLOSE: "closed",
        }.get(r.command, line.get("status"))
        line["status"] = status
        if r.command in (Command.OPEN_LINE, Command.CHANGE_SIM):
            line["imsi"], line["iccid"] = r.imsi, r.iccid
        if r.command is Command.CLOSE:
            line["imsi"], line["iccid"] = None, None


commands = st.lists(
    st.tuples(
        st.sampled_from(list(Command)),
        st.sampled_from(MSISDNS),
        st.none() | st.sampled_from(IMSIS),
    ),
    min_size=1,
    max_size=30,
)
rates = st.floats(min_value=0.0, max_value=0.5)


@settings(max_examples=150, deadline=None)
@given(
    script=commands,
    seed=st.integers(0, 2**32),
    timeout_rate=rates,
    lost_response_rate=rates,
    unavailable_rate=rates,
    reject_rate=st.floats(min_value=0.0, max_value=0.3),
    delay_s=st.integers(0, 3),
)
def test_a_retrying_client_gets_everything_applied_exactly_once(
    script: list[tuple[Command, str, str | None]],
    seed: int,
    timeout_rate: float,
    lost_response_rate: float,
    unavailable_rate: float,
    reject_rate: float,
    delay_s: int,
) -> None:
    net = SimulatedHostNetwork(
        seed=seed,
        timeout_rate=timeout_rate,
        lost_response_rate=lost_response_rate,
        unavailable_rate=unavailable_rate,
        reject_rate=reject_rate,
        ack_delay=timedelta(seconds=delay_s),
    )
    model = Model()
    received: dict[str, Ack] = {}
    tick = 0
    for i, (command, msisdn, imsi) in enumerate(script):
        iccid = None if imsi is None else f"8986{imsi[-8:]}"
        request = req(f"txn-{i}", command, msisdn, imsi, iccid)
        for _attempt in range(1000):  # retry with the same id until there is a verdict
            tick += 1
            with clock.frozen(T0 + timedelta(seconds=tick)):
                with contextlib.suppress(ProvisioningTimeout, ProvisioningUnavailable):
                    net.submit(request)
                for ack in net.poll_acks():
                    assert ack.transaction_id not in received, "ack delivered twice"
                    received[ack.transaction_id] = ack
            if request.transaction_id in received:
                break
        else:  # pragma: no cover
            pytest.fail("no ack after 1000 attempts")

        ack = received[request.transaction_id]
        expected = model.verdict(request)
        if ack.reason == SIMULATED_REJECTION:
            assert expected is None  # only valid commands are rejected at random
        else:
            assert (ack.ok, ack.reason) == (expected is None, expected)
            if ack.ok:
                model.apply(request)

    assert set(received) == {f"txn-{i}" for i in range(len(script))}
    assert net.applied == model.applied
    for msisdn in MSISDNS:
        assert net.line(msisdn) == model.lines.get(msisdn)
    with clock.frozen(T0 + timedelta(days=1)):
        assert net.poll_acks() == []
    assert net.pending_count() == 0
