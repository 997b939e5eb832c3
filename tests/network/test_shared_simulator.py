"""The shared simulated host network: the in-memory simulator's behaviour case by case, the
two implementations side by side on random scripts, and one memory for every instance (and
process) that opens the same file."""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openmvne import clock
from openmvne.config import Settings
from openmvne.domain.numbers import HostNetwork
from openmvne.network import shared_simulator, wiring
from openmvne.network.provisioning import (
    Ack,
    Command,
    HostProvisioning,
    ProvisioningRequest,
    ProvisioningTimeout,
    ProvisioningUnavailable,
)
from openmvne.network.shared_simulator import SharedSimulatedHostNetwork
from openmvne.network.simulator import (
    BAD_MSISDN,
    IMSI_IN_USE,
    IMSI_REQUIRED,
    LINE_EXISTS,
    NO_SUCH_LINE,
    SIMULATED_REJECTION,
    SimulatedHostNetwork,
)
from tests.network.test_simulator import (
    HOST,
    IMSI_1,
    IMSI_2,
    IMSIS,
    MSISDNS,
    T0,
    A,
    B,
    Model,
    commands,
    open_line,
    rates,
    req,
)

Net = SimulatedHostNetwork | SharedSimulatedHostNetwork
MakeNet = Callable[..., Net]


@contextlib.contextmanager
def _factory(kind: str, directory: Path) -> Iterator[MakeNet]:
    """Makes networks of one kind; every shared one gets a file of its own."""
    files = itertools.count()
    made: list[SharedSimulatedHostNetwork] = []

    def make(**kwargs: Any) -> Net:
        if kind == "memory":
            return SimulatedHostNetwork(**kwargs)
        net = SharedSimulatedHostNetwork(directory / f"net-{next(files)}.sqlite", **kwargs)
        made.append(net)
        return net

    try:
        yield make
    finally:
        for net in made:
            net.close()


@pytest.fixture(params=["memory", "shared"])
def make_net(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MakeNet]:
    with _factory(request.param, tmp_path) as make:
        yield make


# -- the in-memory simulator's cases, against both ------------------------------------------


def test_it_is_a_host_provisioning(make_net: MakeNet) -> None:
    net: HostProvisioning = make_net()
    assert net.poll_acks() == []


def test_open_bar_restore_close(make_net: MakeNet) -> None:
    net = make_net()
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
    assert net.poll_acks() == []
    assert net.applied[(A, Command.BAR_BOTH)] == 2
    assert net.applied[(A, Command.CLOSE)] == 1
    assert net.submissions == 6


def test_the_returned_line_is_a_copy(make_net: MakeNet) -> None:
    net = make_net()
    net.submit(open_line("t1"))
    line = net.line(A)
    assert line is not None
    assert isinstance(line["host"], HostNetwork)
    line["status"] = "closed"
    assert net.line(A) == {**line, "status": "open"}
    assert net.line(B) is None


def test_change_sim_swaps_the_card_and_frees_the_old_imsi(make_net: MakeNet) -> None:
    net = make_net()
    net.submit(open_line("t1", A, IMSI_1))
    net.submit(req("t2", Command.CHANGE_SIM, A, IMSI_2, "89860002"))
    assert net.line(A) == {"host": HOST, "status": "open", "imsi": IMSI_2, "iccid": "89860002"}
    net.submit(open_line("t3", B, IMSI_1))
    assert all(a.ok for a in net.poll_acks())


def test_closing_frees_the_imsi_and_a_closed_number_can_be_reopened(make_net: MakeNet) -> None:
    net = make_net()
    net.submit(open_line("t1", A, IMSI_1))
    net.submit(req("t2", Command.CLOSE, A))
    net.submit(open_line("t3", B, IMSI_1))
    net.submit(open_line("t4", A, IMSI_2))
    assert all(a.ok for a in net.poll_acks())
    line = net.line(A)
    assert line is not None
    assert (line["status"], line["imsi"]) == ("open", IMSI_2)
    assert net.applied[(A, Command.OPEN_LINE)] == 2


def test_a_duplicate_transaction_is_applied_once_and_its_ack_delivered_again(
    make_net: MakeNet,
) -> None:
    net = make_net()
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


def test_the_original_ack_is_returned_even_if_the_state_changed_since(make_net: MakeNet) -> None:
    net = make_net()
    net.submit(open_line("t1"))
    net.submit(req("t2", Command.CLOSE))
    (ack1, _) = net.poll_acks()
    net.submit(open_line("t1"))
    assert net.poll_acks() == [ack1]
    line = net.line(A)
    assert line is not None
    assert line["status"] == "closed"
    assert net.applied[(A, Command.OPEN_LINE)] == 1


def test_a_lost_response_applies_once_however_often_the_caller_retries(make_net: MakeNet) -> None:
    net = make_net(lost_response_rate=1.0)
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


def test_a_timeout_before_processing_applies_nothing(make_net: MakeNet) -> None:
    net = make_net(timeout_rate=1.0)
    for _ in range(3):
        with pytest.raises(ProvisioningTimeout):
            net.submit(open_line("t1"))
    assert net.applied == Counter()
    assert net.poll_acks() == []
    assert net.line(A) is None
    assert net.pending_count() == 0
    assert net.submissions == 3


def test_unavailable_applies_nothing(make_net: MakeNet) -> None:
    net = make_net(unavailable_rate=1.0)
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
        ([], req("x", Command.OPEN_LINE, A, ""), IMSI_REQUIRED),
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
    make_net: MakeNet,
    setup: list[ProvisioningRequest],
    request_: ProvisioningRequest,
    reason: str,
) -> None:
    net = make_net()
    for step in setup:
        net.submit(step)
    assert all(a.ok for a in net.poll_acks())
    before = (net.line(A), net.line(B), net.applied.copy())

    net.submit(request_)
    assert net.poll_acks() == [Ack("x", ok=False, reason=reason)]
    assert (net.line(A), net.line(B), net.applied) == before

    net.submit(request_)
    assert net.poll_acks() == [Ack("x", ok=False, reason=reason)]


def _reject_pattern(make_net: MakeNet, seed: int) -> list[bool]:
    net = make_net(seed=seed, reject_rate=0.5)
    for i in range(40):
        net.submit(open_line(f"t{i}", f"170012{i:05d}", f"46003{i:010d}"))
    acks = net.poll_acks()
    for ack in acks:
        assert ack.ok or ack.reason == SIMULATED_REJECTION
    rejected = [not a.ok for a in acks]
    assert sum(net.applied.values()) == rejected.count(False)
    return rejected


def test_simulated_rejections_are_reproducible_with_a_seed(make_net: MakeNet) -> None:
    first = _reject_pattern(make_net, seed=7)
    assert first == _reject_pattern(make_net, seed=7)
    assert 0 < sum(first) < 40
    assert first != _reject_pattern(make_net, seed=8)


def test_acks_wait_for_the_delay(make_net: MakeNet) -> None:
    delay = timedelta(seconds=30)
    net = make_net(ack_delay=delay)
    with clock.frozen(T0):
        net.submit(open_line("t1"))
        assert net.line(A) is not None
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


def test_acks_ready_at_the_same_instant_come_in_submission_order(make_net: MakeNet) -> None:
    net = make_net(ack_delay=timedelta(seconds=5))
    names = ["t9", "t1", "t5", "t3"]
    with clock.frozen(T0):
        for i, txn in enumerate(names):
            net.submit(open_line(txn, f"170012{i:05d}", f"46003{i:010d}"))
    with clock.frozen(T0 + timedelta(seconds=5)):
        assert [a.transaction_id for a in net.poll_acks()] == names


def test_a_retry_before_the_late_ack_does_not_postpone_or_duplicate_it(make_net: MakeNet) -> None:
    delay = timedelta(seconds=10)
    net = make_net(ack_delay=delay)
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
def test_nonsense_settings_are_refused(make_net: MakeNet, kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        make_net(**kwargs)


def test_concurrent_submitters_apply_each_transaction_once(make_net: MakeNet) -> None:
    net = make_net(seed=3, lost_response_rate=0.5)
    errors = _run_clients(4, lambda _worker: net, requests=100, sends=2)
    assert errors == []
    assert net.submissions == 800
    assert set(net.applied.values()) == {1}
    assert len(net.applied) == 100
    acks = net.poll_acks()
    assert len(acks) == len({a.transaction_id for a in acks}) == 100
    assert all(a.ok for a in acks)


def _run_clients(
    workers: int, net_for: Callable[[int], Net], *, requests: int, sends: int
) -> list[BaseException]:
    """Every worker sends every request `sends` times; returns what the workers raised."""
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def client(worker: int) -> None:
        try:
            net = net_for(worker)
            barrier.wait()
            for i in range(requests):
                for _ in range(sends):
                    with contextlib.suppress(ProvisioningTimeout):
                        net.submit(open_line(f"t{i}", f"170012{i:05d}", f"46003{i:010d}"))
        except BaseException as exc:  # pragma: no cover - reported by the caller
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(w,)) for w in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from(["memory", "shared"]),
    script=commands,
    seed=st.integers(0, 2**32),
    timeout_rate=rates,
    lost_response_rate=rates,
    unavailable_rate=rates,
    reject_rate=st.floats(min_value=0.0, max_value=0.3),
    delay_s=st.integers(0, 3),
)
def test_a_retrying_client_gets_everything_applied_exactly_once(
    kind: str,
    script: list[tuple[Command, str, str | None]],
    seed: int,
    timeout_rate: float,
    lost_response_rate: float,
    unavailable_rate: float,
    reject_rate: float,
    delay_s: int,
) -> None:
    with tempfile.TemporaryDirectory() as directory, _factory(kind, Path(directory)) as make:
        net = make(
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
            for _attempt in range(1000):
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
                assert expected is None
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


# -- the two implementations side by side ------------------------------------------------


def _outcome(net: Net, request: ProvisioningRequest) -> str | None:
    try:
        net.submit(request)
    except (ProvisioningTimeout, ProvisioningUnavailable) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


@settings(max_examples=100, deadline=None)
@given(
    script=st.lists(
        st.tuples(
            st.sampled_from(list(Command)),
            st.sampled_from([*MSISDNS, "1700123"]),
            st.sampled_from([None, *IMSIS]),
            st.just(0) | st.integers(1, 5),  # 0: a new transaction, n: resend the nth last
            st.booleans(),  # poll afterwards
            st.integers(0, 2),  # seconds the clock moves on
        ),
        min_size=10,
        max_size=60,
    ),
    seed=st.integers(0, 2**32),
    timeout_rate=rates,
    lost_response_rate=rates,
    unavailable_rate=rates,
    reject_rate=rates,
    delay_s=st.integers(0, 3),
)
def test_the_shared_network_answers_exactly_like_the_in_memory_one(
    script: list[tuple[Command, str, str | None, int, bool, int]],
    seed: int,
    timeout_rate: float,
    lost_response_rate: float,
    unavailable_rate: float,
    reject_rate: float,
    delay_s: int,
) -> None:
    behaviour: dict[str, Any] = {
        "seed": seed,
        "timeout_rate": timeout_rate,
        "lost_response_rate": lost_response_rate,
        "unavailable_rate": unavailable_rate,
        "reject_rate": reject_rate,
        "ack_delay": timedelta(seconds=delay_s),
    }
    with tempfile.TemporaryDirectory() as directory:
        memory = SimulatedHostNetwork(**behaviour)
        shared = SharedSimulatedHostNetwork(Path(directory) / "net.sqlite", **behaviour)
        sent: list[ProvisioningRequest] = []
        now = T0
        for i, (command, msisdn, imsi, back, poll, wait) in enumerate(script):
            if back and len(sent) >= back:
                request = sent[-back]
            else:
                iccid = None if imsi is None else f"8986{imsi[-8:]}"
                request = req(f"txn-{i}", command, msisdn, imsi, iccid)
                sent.append(request)
            with clock.frozen(now):
                assert _outcome(shared, request) == _outcome(memory, request)
                if poll:
                    assert shared.poll_acks() == memory.poll_acks()
            now += timedelta(seconds=wait)
            assert shared.pending_count() == memory.pending_count()
        for msisdn in [*MSISDNS, "1700123"]:
            assert shared.line(msisdn) == memory.line(msisdn)
        assert shared.applied == memory.applied
        assert shared.submissions == memory.submissions
        with clock.frozen(now + timedelta(days=1)):
            assert shared.poll_acks() == memory.poll_acks()
        shared.close()


# -- one memory for every instance on the file ---------------------------------------------


def test_two_instances_on_one_file_are_one_network(tmp_path: Path) -> None:
    path = tmp_path / "net.sqlite"
    a = SharedSimulatedHostNetwork(path)
    b = SharedSimulatedHostNetwork(str(path))
    a.submit(open_line("t1"))
    assert b.line(A) == a.line(A)
    b.submit(req("t2", Command.BAR_OUTGOING))  # B knows the line A opened
    assert [(x.transaction_id, x.ok) for x in a.poll_acks()] == [("t1", True), ("t2", True)]
    assert b.poll_acks() == []

    b.submit(open_line("t1"))  # A's transaction, resent through B: not applied again
    (again,) = b.poll_acks()
    assert again.transaction_id == "t1"
    assert again.ok
    b.submit(open_line("t9", B, IMSI_1))  # A's card is in use, whoever asks
    assert b.poll_acks() == [Ack("t9", ok=False, reason=IMSI_IN_USE)]
    expected = Counter({(A, Command.OPEN_LINE): 1, (A, Command.BAR_OUTGOING): 1})
    assert a.applied == b.applied == expected
    assert a.submissions == b.submissions == 4
    line = a.line(A)
    assert line is not None
    assert line["status"] == "outBarred"


def test_the_network_outlives_its_instances(tmp_path: Path) -> None:
    path = tmp_path / "net.sqlite"
    SharedSimulatedHostNetwork(path).submit(open_line("t1"))
    later = SharedSimulatedHostNetwork(path)
    later.submit(req("t2", Command.CLOSE))
    assert [x.transaction_id for x in later.poll_acks()] == ["t1", "t2"]
    assert later.line(A) == {"host": HOST, "status": "closed", "imsi": None, "iccid": None}


def test_network_refs_are_unique_across_instances(tmp_path: Path) -> None:
    path = tmp_path / "net.sqlite"
    nets = [SharedSimulatedHostNetwork(path) for _ in range(3)]
    for i in range(9):
        nets[i % 3].submit(open_line(f"t{i}", f"170012{i:05d}", f"46003{i:010d}"))
    refs = [x.network_ref for x in nets[0].poll_acks()]
    assert len(refs) == len(set(refs)) == 9


def test_an_ack_is_delivered_once_to_whichever_instance_polls_first(tmp_path: Path) -> None:
    path = tmp_path / "net.sqlite"
    a, b = SharedSimulatedHostNetwork(path), SharedSimulatedHostNetwork(path)
    a.submit(open_line("t1"))
    assert [x.transaction_id for x in b.poll_acks()] == ["t1"]
    assert a.poll_acks() == []
    assert b.poll_acks() == []
    assert a.pending_count() == 0


def test_concurrent_pollers_share_the_acks_without_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "net.sqlite"
    SharedSimulatedHostNetwork(path).poll_acks()  # the file exists before the race
    feeder = SharedSimulatedHostNetwork(path)
    for i in range(60):
        feeder.submit(open_line(f"t{i}", f"170012{i:05d}", f"46003{i:010d}"))
    pollers = [SharedSimulatedHostNetwork(path) for _ in range(4)]
    barrier = threading.Barrier(4)
    got: list[list[Ack]] = [[] for _ in pollers]

    def poll(k: int) -> None:
        barrier.wait()
        for _ in range(20):
            got[k].extend(pollers[k].poll_acks())

    threads = [threading.Thread(target=poll, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    delivered = [ack.transaction_id for acks in got for ack in acks]
    assert sorted(delivered) == sorted(f"t{i}" for i in range(60))


def test_concurrent_instances_on_one_file_apply_each_transaction_once(tmp_path: Path) -> None:
    path = tmp_path / "fresh" / "net.sqlite"  # created by the racing instances themselves
    errors = _run_clients(
        4,
        lambda _worker: SharedSimulatedHostNetwork(path, seed=3, lost_response_rate=0.5),
        requests=50,
        sends=2,
    )
    assert errors == []
    net = SharedSimulatedHostNetwork(path)
    assert net.submissions == 400
    assert set(net.applied.values()) == {1}
    assert len(net.applied) == 50
    acks = net.poll_acks()
    assert len(acks) == len({a.transaction_id for a in acks}) == 50
    assert all(a.ok for a in acks)


_CHILD = """
import contextlib, sys
from openmvne.network.provisioning import Command, ProvisioningRequest, ProvisioningTimeout
from openmvne.network.shared_simulator import SharedSimulatedHostNetwork
from openmvne.domain.numbers import HostNetwork

net = SharedSimulatedHostNetwork(sys.argv[1], lost_response_rate=0.3, seed=int(sys.argv[2]))
for i in range(30):
    msisdn, imsi = f"170012{i:05d}", f"46003{i:010d}"
    for request in (
        ProvisioningRequest(f"o{i}", HostNetwork.TELECOM, Command.OPEN_LINE, msisdn, imsi),
        ProvisioningRequest(f"b{i}", HostNetwork.TELECOM, Command.BAR_BOTH, msisdn),
    ):
        for _ in range(2):
            with contextlib.suppress(ProvisioningTimeout):
                net.submit(request)
"""


def test_processes_share_one_network(tmp_path: Path) -> None:
    path = tmp_path / "net.sqlite"
    children = [
        subprocess.Popen([sys.executable, "-c", _CHILD, str(path), str(seed)]) for seed in range(3)
    ]
    assert [child.wait(timeout=60) for child in children] == [0, 0, 0]
    net = SharedSimulatedHostNetwork(path)
    assert net.submissions == 3 * 30 * 2 * 2
    # Each child opens then bars: whichever process got there first, a bar only ever
    # found a line some process had opened, and nothing was applied twice.
    assert set(net.applied.values()) == {1}
    assert len(net.applied) == 60
    for i in range(30):
        line = net.line(f"170012{i:05d}")
        assert line is not None
        assert line["status"] == "bothBarred"
    acks = net.poll_acks()
    assert len(acks) == len({a.transaction_id for a in acks}) == 60
    assert all(a.ok for a in acks)


def _bar_in_child(net: SharedSimulatedHostNetwork) -> None:
    inherited = net._local.db
    net.submit(req("t2", Command.BAR_BOTH))
    assert net._local.db is not inherited
    # the parent's connection is kept open (and unused) rather than closed in the child
    assert any(db is inherited for db in shared_simulator._held_across_fork)


def test_a_forked_child_uses_a_connection_of_its_own(tmp_path: Path) -> None:
    net = SharedSimulatedHostNetwork(tmp_path / "net.sqlite")
    net.submit(open_line("t1"))  # the parent's connection is open when it forks
    child = multiprocessing.get_context("fork").Process(target=_bar_in_child, args=(net,))
    child.start()
    child.join(timeout=30)
    assert child.exitcode == 0
    line = net.line(A)
    assert line is not None
    assert line["status"] == "bothBarred"
    assert [x.transaction_id for x in net.poll_acks()] == ["t1", "t2"]


def test_a_closed_instance_connects_again(tmp_path: Path) -> None:
    net = SharedSimulatedHostNetwork(tmp_path / "net.sqlite")
    net.submit(open_line("t1"))
    net.close()
    net.close()  # twice is harmless
    net.submit(req("t2", Command.CLOSE))
    assert [x.transaction_id for x in net.poll_acks()] == ["t1", "t2"]
    net.close()


def test_instances_with_the_same_seed_continue_one_random_stream(tmp_path: Path) -> None:
    with _factory("memory", tmp_path) as make:
        alone = _reject_pattern(make, seed=7)
    path = tmp_path / "net.sqlite"
    nets = [SharedSimulatedHostNetwork(path, seed=7, reject_rate=0.5) for _ in range(2)]
    for i in range(40):  # the same 40 submissions, alternating between two instances
        nets[i % 2].submit(open_line(f"t{i}", f"170012{i:05d}", f"46003{i:010d}"))
    assert [not a.ok for a in nets[0].poll_acks()] == alone


def test_the_file_and_its_directory_are_made_on_first_use(tmp_path: Path) -> None:
    path = tmp_path / "var" / "deeper" / "net.sqlite"
    net = SharedSimulatedHostNetwork(path)
    assert not path.parent.exists()  # making one touches nothing
    assert net.pending_count() == 0
    assert path.exists()


# -- wiring -------------------------------------------------------------------------------


def test_wiring_shares_the_network_when_a_state_path_is_set(tmp_path: Path) -> None:
    path = tmp_path / "host-network.sqlite"
    net = wiring.from_settings(
        Settings(network_state_path=str(path), network_seed=5, network_reject_rate=0.25)
    )
    assert isinstance(net, SharedSimulatedHostNetwork)
    assert (net.path, net.seed, net.reject_rate) == (path, 5, 0.25)
    assert isinstance(wiring.from_settings(Settings(network_state_path="")), SimulatedHostNetwork)


def test_the_state_path_defaults_to_var() -> None:
    assert Settings.model_fields["network_state_path"].default == "./var/host-network.sqlite"
