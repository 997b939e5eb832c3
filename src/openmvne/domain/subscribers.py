"""The line's lifecycle (domain.md §5) as a pure state machine, and the rules around it.

A line's *state* is the business state; each state implies what the host network must do
with the line (`network_level`), so every transition that changes the level becomes one
provisioning command. Timers and fees are named here and run by services/lifecycle.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from openmvne.errors import Conflict

BUSINESS_TZ = ZoneInfo("Asia/Shanghai")
MAX_CARDS_PER_ID = 5  # per MVNO: six-ministry notice, 2016-09


class LineState(StrEnum):
    PENDING = "pendingActivation"  # sold; the network has not confirmed the opening yet
    ACTIVE = "active"
    ARREARS_OUT_BARRED = "arrearsOutBarred"  # 欠费单停
    ARREARS_BOTH_BARRED = "arrearsBothBarred"  # 欠费双停
    PRE_CANCELLED = "preCancelled"  # 预销户
    CANCELLED = "cancelled"  # 销户: the number goes to quarantine
    SUSPENDED = "suspended"  # 停机保号: number kept, monthly keep fee
    LOST = "lost"  # 挂失
    NON_REAL_NAME = "nonRealNameBarred"  # no fee may be charged in it
    OVER_LIMIT = "overLimitBarred"  # the ID holds more than five cards
    OPERATOR_BARRED = "operatorBarred"  # 局方停机: returns to the previous state
    FAILED = "failed"  # the network refused to open it: the sale was undone


class Event(StrEnum):
    ACTIVATED = "activated"
    ACTIVATION_FAILED = "activationFailed"
    BALANCE_EXHAUSTED = "balanceExhausted"
    TIMER = "timerExpired"
    DEBT_COVERED = "debtCovered"
    SUSPEND = "suspend"
    RESUME = "resume"
    REPORT_LOST = "reportLost"
    FOUND = "found"
    SIM_REPLACED = "simReplaced"
    REAL_NAME_MISSING = "realNameMissing"
    REGISTERED = "registered"
    OVER_LIMIT = "overLimit"
    LIMIT_RESOLVED = "limitResolved"
    OPERATOR_BAR = "operatorBar"
    OPERATOR_CLEAR = "operatorClear"
    CANCEL = "cancel"


class NetworkLevel(StrEnum):
    """What the host network does with the line (the provisioning commands' vocabulary)."""

    NONE = "none"  # not opened yet, or never
    OPEN = "open"
    OUT_BARRED = "outBarred"
    BOTH_BARRED = "bothBarred"
    CLOSED = "closed"


S = LineState
E = Event
ARREARS = frozenset({S.ARREARS_OUT_BARRED, S.ARREARS_BOTH_BARRED, S.PRE_CANCELLED})
FINAL = frozenset({S.CANCELLED, S.FAILED})
# States a barring order from outside (regulator, real-name audit, ID limit) may interrupt.
_INTERRUPTIBLE = frozenset({S.ACTIVE, S.SUSPENDED, S.LOST, *ARREARS, S.OVER_LIMIT})

_MOVES: dict[tuple[LineState, Event], LineState] = {
    (S.PENDING, E.ACTIVATED): S.ACTIVE,
    (S.PENDING, E.ACTIVATION_FAILED): S.FAILED,
    (S.ACTIVE, E.BALANCE_EXHAUSTED): S.ARREARS_OUT_BARRED,
    (S.ACTIVE, E.SUSPEND): S.SUSPENDED,
    (S.ACTIVE, E.REPORT_LOST): S.LOST,
    (S.ACTIVE, E.SIM_REPLACED): S.ACTIVE,  # a faulty card swapped on a working line
    (S.ARREARS_OUT_BARRED, E.TIMER): S.ARREARS_BOTH_BARRED,
    (S.ARREARS_BOTH_BARRED, E.TIMER): S.PRE_CANCELLED,
    (S.PRE_CANCELLED, E.TIMER): S.CANCELLED,
    (S.ARREARS_OUT_BARRED, E.DEBT_COVERED): S.ACTIVE,
    (S.ARREARS_BOTH_BARRED, E.DEBT_COVERED): S.ACTIVE,
    (S.PRE_CANCELLED, E.DEBT_COVERED): S.ACTIVE,
    # The keep fee could not be paid: the line is already barred both ways, so the arrears
    # clock starts from there.
    (S.SUSPENDED, E.BALANCE_EXHAUSTED): S.ARREARS_BOTH_BARRED,
    (S.SUSPENDED, E.RESUME): S.ACTIVE,
    (S.LOST, E.FOUND): S.ACTIVE,
    (S.LOST, E.SIM_REPLACED): S.ACTIVE,
    (S.NON_REAL_NAME, E.REGISTERED): S.ACTIVE,
    (S.OVER_LIMIT, E.LIMIT_RESOLVED): S.ACTIVE,
}
for _state in _INTERRUPTIBLE:
    _MOVES[(_state, E.REAL_NAME_MISSING)] = S.NON_REAL_NAME
    if _state is not S.OVER_LIMIT:
        _MOVES[(_state, E.OVER_LIMIT)] = S.OVER_LIMIT
for _state in (*_INTERRUPTIBLE, S.NON_REAL_NAME):
    _MOVES[(_state, E.OPERATOR_BAR)] = S.OPERATOR_BARRED
for _state in LineState:
    if _state not in FINAL and _state is not S.PENDING:
        _MOVES[(_state, E.CANCEL)] = S.CANCELLED


def next_state(state: LineState, event: Event, previous: LineState | None = None) -> LineState:
    """The state after `event`, or a Conflict naming the illegal move. Clearing an operator
    barring returns to the state it interrupted (`previous`)."""
    if state is S.OPERATOR_BARRED and event is E.OPERATOR_CLEAR:
        return previous or S.ACTIVE
    target = _MOVES.get((state, event))
    if target is None:
        raise Conflict(
            f"a line that is {state.value} cannot take '{event.value}'",
            code="line_state_conflict",
            field="state",
        )
    return target


def allowed_events(state: LineState) -> list[Event]:
    found = [e for (s, e) in _MOVES if s is state]
    if state is S.OPERATOR_BARRED:
        found.append(E.OPERATOR_CLEAR)
    return sorted(set(found))


def network_level(state: LineState) -> NetworkLevel:
    match state:
        case S.PENDING | S.FAILED:
            return NetworkLevel.NONE
        case S.ACTIVE:
            return NetworkLevel.OPEN
        case S.ARREARS_OUT_BARRED:
            return NetworkLevel.OUT_BARRED
        case S.CANCELLED:
            return NetworkLevel.CLOSED
        case _:
            return NetworkLevel.BOTH_BARRED


def remembers_previous(event: Event) -> bool:
    """Operator barring keeps the interrupted state so that clearing it can return there."""
    return event is E.OPERATOR_BAR


@dataclass(frozen=True)
class LifecyclePolicy:
    """Per-MVNO timers and fees ([defaults] from domain.md §5)."""

    out_to_both_days: int = 0  # N1
    both_to_pre_cancel_days: int = 60  # N2
    pre_cancel_to_cancel_days: int = 30  # N3
    keep_fee_fen: int = 500  # 停机保号, per month

    def timer(self, state: LineState) -> timedelta | None:
        match state:
            case S.ARREARS_OUT_BARRED:
                return timedelta(days=self.out_to_both_days)
            case S.ARREARS_BOTH_BARRED:
                return timedelta(days=self.both_to_pre_cancel_days)
            case S.PRE_CANCELLED:
                return timedelta(days=self.pre_cancel_to_cancel_days)
            case _:
                return None


def monthly_fee(state: LineState, plan_fee_fen: int, policy: LifecyclePolicy) -> int:
    """The recurring fee a line in `state` owes at the start of a month. No fee while barred
    for missing real-name registration (the law), nor while barred for any other reason
    (a choice: the MVNO does not bill a service it withholds)."""
    match state:
        case S.ACTIVE:
            return plan_fee_fen
        case S.SUSPENDED:
            return policy.keep_fee_fen
        case _:
            return 0


def local_date(at: datetime) -> date:
    return at.astimezone(BUSINESS_TZ).date()


def first_of_next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def month_start_utc(day: date) -> datetime:
    """Midnight (business time) at the start of `day`'s month, as an aware UTC instant."""
    return datetime(day.year, day.month, 1, tzinfo=BUSINESS_TZ).astimezone(UTC)


def card_region_allows(card_region: str | None, number_region: str | None) -> bool:
    """A region-bound card works only for numbers whose home region lies inside its region."""
    if card_region is None:
        return True
    if number_region is None:
        return False
    if card_region.endswith("0000"):
        return number_region[:2] == card_region[:2]
    if card_region.endswith("00"):
        return number_region[:4] == card_region[:4]
    return number_region == card_region
