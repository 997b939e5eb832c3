"""A simulated host network that misbehaves like a real one, for tests and demos.

The platform's outbox and retry logic are only worth anything against the failures a real
HLR/HSS provisioning interface shows: acks that come later than the call, refusals, calls
turned away before processing, and timeouts — including the nasty one where the command
WAS applied and only the response was lost. This simulator produces all of them, seeded so
a run can be replayed, and keeps the line state so tests can check that every command was
applied exactly once however often it was retried.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, NamedTuple, TypedDict

from openmvne import clock
from openmvne.network.provisioning import (
    Ack,
    Command,
    HostNetwork,
    HostProvisioning,
    ProvisioningRequest,
    ProvisioningTimeout,
    ProvisioningUnavailable,
)

LineStatus = Literal["open", "outBarred", "bothBarred", "closed"]

SIMULATED_REJECTION = "network rejected (simulated)"
LINE_EXISTS = "line exists"
NO_SUCH_LINE = "no such line"
IMSI_IN_USE = "imsi in use"
IMSI_REQUIRED = "imsi required"
BAD_MSISDN = "msisdn must be 11 digits"


class LineState(TypedDict):
    host: HostNetwork
    status: LineStatus
    imsi: str | None
    iccid: str | None


# -- the rules, pure: shared by the in-memory and the shared (SQLite) simulator ------------


def check_settings(
    *,
    timeout_rate: float,
    lost_response_rate: float,
    unavailable_rate: float,
    reject_rate: float,
    ack_delay: timedelta,
) -> None:
    """Raise ValueError for a failure rate outside [0, 1] or a negative ack delay."""
    for name, rate in (
        ("timeout_rate", timeout_rate),
        ("lost_response_rate", lost_response_rate),
        ("unavailable_rate", unavailable_rate),
        ("reject_rate", reject_rate),
    ):
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"{name} must be between 0 and 1, not {rate}")
    if ack_delay < timedelta(0):
        raise ValueError("ack_delay must not be negative")


class Draws(NamedTuple):
    """One submit's four random draws, in the order they are taken from the PRNG."""

    unavailable: float
    timeout: float
    reject: float
    lost: float


def draw(rng: random.Random) -> Draws:
    return Draws(rng.random(), rng.random(), rng.random(), rng.random())


def refusal(
    request: ProvisioningRequest, line: LineState | None, imsi_owner: str | None
) -> str | None:
    """Why the network refuses this command, or None.

    `line` is the state of the request's number (None if the network never had it) and
    `imsi_owner` the number of the live line holding the request's IMSI (None if free).
    """
    if len(request.msisdn) != 11 or not request.msisdn.isascii() or not request.msisdn.isdigit():
        return BAD_MSISDN
    live = line is not None and line["status"] != "closed"
    if request.command == Command.OPEN_LINE:
        if live:
            return LINE_EXISTS
        return _imsi_refusal(request, imsi_owner)
    if line is None or not live or line["host"] != request.host:
        return NO_SUCH_LINE
    if request.command == Command.CHANGE_SIM:
        return _imsi_refusal(request, imsi_owner)
    return None


def _imsi_refusal(request: ProvisioningRequest, imsi_owner: str | None) -> str | None:
    if not request.imsi:
        return IMSI_REQUIRED
    if imsi_owner is not None and imsi_owner != request.msisdn:
        return IMSI_IN_USE
    return None


def line_after(request: ProvisioningRequest, line: LineState | None) -> LineState:
    """The number's line once the (accepted) command is applied; `line` is not changed."""
    command = request.command
    if command == Command.OPEN_LINE:  # new, or a closed number recycled
        return LineState(host=request.host, status="open", imsi=request.imsi, iccid=request.iccid)
    if line is None:
        raise ValueError(f"{command} needs an existing line")
    new = line.copy()
    if command == Command.BAR_OUTGOING:
        new["status"] = "outBarred"
    elif command == Command.BAR_BOTH:
        new["status"] = "bothBarred"
    elif command == Command.RESTORE:
        new["status"] = "open"
    elif command == Command.CHANGE_SIM:
        new["imsi"], new["iccid"] = request.imsi, request.iccid
    elif command == Command.CLOSE:
        new["status"], new["imsi"], new["iccid"] = "closed", None, None
    return new


@dataclass
class _Pending:
    ready_at: datetime
    seq: int


class SimulatedHostNetwork(HostProvisioning):
    """A host network's provisioning interface, in memory (lines remember their host).

    Thread-safe: one lock around every call.

    The failure rates are independent probabilities drawn from `random.Random(seed)` on
    every submit, in this order: unavailable (nothing applied), timeout before processing
    (nothing applied), simulated rejection of a valid new command (refused, not applied),
    lost response (processed — applied or refused, ack queued — but submit raises
    ProvisioningTimeout; this hits retries of known transactions too).
    """

    def __init__(
        self,
        seed: int = 0,
        timeout_rate: float = 0.0,
        lost_response_rate: float = 0.0,
        unavailable_rate: float = 0.0,
        reject_rate: float = 0.0,
        ack_delay: timedelta = timedelta(0),
    ) -> None:
        check_settings(
            timeout_rate=timeout_rate,
            lost_response_rate=lost_response_rate,
            unavailable_rate=unavailable_rate,
            reject_rate=reject_rate,
            ack_delay=ack_delay,
        )
        self.timeout_rate = timeout_rate
        self.lost_response_rate = lost_response_rate
        self.unavailable_rate = unavailable_rate
        self.reject_rate = reject_rate
        self.ack_delay = ack_delay
        # Reproducible simulation, not security: a seeded PRNG is the point.
        self._rng = random.Random(seed)  # noqa: S311
        self._lock = threading.Lock()
        self._lines: dict[str, LineState] = {}
        self._imsi_owner: dict[str, str] = {}  # IMSI -> msisdn, live lines only
        self._acks: dict[str, Ack] = {}  # every processed transaction's final ack
        self._pending: dict[str, _Pending] = {}  # acks queued, not yet delivered
        self._seq = 0  # orders acks that become ready at the same instant
        self._refs = 0
        # What actually happened, for tests: applications per (msisdn, command), and calls.
        self.applied: Counter[tuple[str, Command]] = Counter()
        self.submissions = 0

    # -- the interface -----------------------------------------------------------------

    def submit(self, request: ProvisioningRequest) -> None:
        with self._lock:
            self.submissions += 1
            unavailable, timeout, reject, lost = draw(self._rng)
            if unavailable < self.unavailable_rate:
                raise ProvisioningUnavailable("host network busy (simulated)")
            if timeout < self.timeout_rate:
                raise ProvisioningTimeout("no response from host network (simulated)")
            if request.transaction_id in self._acks:  # a retry: never apply twice
                if request.transaction_id not in self._pending:
                    self._queue(request.transaction_id)
            else:
                self._process(request, rejected_at_random=reject < self.reject_rate)
            if lost < self.lost_response_rate:
                raise ProvisioningTimeout("response lost after processing (simulated)")

    def poll_acks(self) -> list[Ack]:
        with self._lock:
            now = clock.now()
            ready = sorted(
                (p.ready_at, p.seq, txn) for txn, p in self._pending.items() if p.ready_at <= now
            )
            for _, _, txn in ready:
                del self._pending[txn]
            return [self._acks[txn] for _, _, txn in ready]

    # -- inspection for tests ----------------------------------------------------------

    def line(self, msisdn: str) -> LineState | None:
        """A copy of the line's state, or None if the network never had the number."""
        with self._lock:
            state = self._lines.get(msisdn)
            return None if state is None else state.copy()

    def pending_count(self) -> int:
        """Acks queued and not yet delivered (ready or not)."""
        with self._lock:
            return len(self._pending)

    # -- internals (called with the lock held) -----------------------------------------

    def _process(self, request: ProvisioningRequest, *, rejected_at_random: bool) -> None:
        """Decide on a new transaction, apply it if accepted, and queue its ack."""
        problem = self._check(request)
        if problem is None and rejected_at_random:
            problem = SIMULATED_REJECTION
        if problem is None:
            self._apply(request)
            self._refs += 1
            ref = f"{request.host}-{self._refs:08d}"
            ack = Ack(request.transaction_id, ok=True, network_ref=ref)
        else:
            ack = Ack(request.transaction_id, ok=False, reason=problem)
        self._acks[request.transaction_id] = ack
        self._queue(request.transaction_id)

    def _queue(self, transaction_id: str) -> None:
        self._seq += 1
        self._pending[transaction_id] = _Pending(clock.now() + self.ack_delay, self._seq)

    def _check(self, request: ProvisioningRequest) -> str | None:
        """Why the network refuses this command against the current state, or None."""
        owner = self._imsi_owner.get(request.imsi) if request.imsi else None
        return refusal(request, self._lines.get(request.msisdn), owner)

    def _apply(self, request: ProvisioningRequest) -> None:
        msisdn = request.msisdn
        old = self._lines.get(msisdn)
        new = line_after(request, old)
        self.applied[(msisdn, request.command)] += 1
        if old is not None and old["imsi"] is not None:
            self._imsi_owner.pop(old["imsi"], None)
        if new["imsi"] is not None:
            self._imsi_owner[new["imsi"]] = msisdn
        self._lines[msisdn] = new
