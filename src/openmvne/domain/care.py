"""After-sales care (domain.md §7) as pure rules: ticket types, priorities and SLA clocks,
the ticket state machine, routing (the most specific rule wins, else the MVNO's own team),
what an agent may do from a ticket, self-care code limits, and the monthly figures.

Nothing here touches the database; services/care*.py apply these rules.
"""

from __future__ import annotations

import re
import statistics
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypeVar

from openmvne.domain.identity import mask_id
from openmvne.domain.parties import OrgKind, Role
from openmvne.errors import Conflict, Forbidden, InvalidInput, RuleViolation


class TicketType(StrEnum):
    INFO_QUERY = "infoQuery"  # number / card information
    SERVICE_CHANGE = "serviceChange"  # open or close a service
    SIM_REPLACEMENT = "simReplacement"  # 补卡
    FAULTY_CARD = "faultyCard"
    RECHARGE_NOT_RECEIVED = "rechargeNotReceived"
    COMPLAINT = "complaint"  # a complaint, or the service desk unreachable
    OTHER = "other"


class Severity(StrEnum):
    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"


class Priority(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


RANK = {Priority.LOW: 0, Priority.MEDIUM: 1, Priority.HIGH: 2, Priority.CRITICAL: 3}


class TicketStatus(StrEnum):
    """TMF621 TroubleTicketStatusType, the subset this desk uses."""

    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "inProgress"
    PENDING = "pending"  # waiting for the customer: the SLA clock stops
    RESOLVED = "resolved"
    CLOSED = "closed"
    REJECTED = "rejected"


class Channel(StrEnum):
    """Where a ticket was opened."""

    SELF_CARE = "selfCare"  # the subscriber, verified by an SMS code or logged in
    OUTLET = "outlet"
    AGENT = "agent"
    API = "api"  # an MVNO's or the platform's own systems


T = TicketStatus
OPEN = frozenset({T.ACKNOWLEDGED, T.IN_PROGRESS, T.PENDING})
CLOCK_RUNS = frozenset({T.ACKNOWLEDGED, T.IN_PROGRESS})
FINAL = frozenset({T.CLOSED, T.REJECTED})
MOVES: dict[TicketStatus, frozenset[TicketStatus]] = {
    T.ACKNOWLEDGED: frozenset({T.IN_PROGRESS, T.REJECTED}),
    T.IN_PROGRESS: frozenset({T.PENDING, T.RESOLVED, T.REJECTED}),
    T.PENDING: frozenset({T.IN_PROGRESS, T.RESOLVED, T.REJECTED}),
    T.RESOLVED: frozenset({T.CLOSED, T.IN_PROGRESS}),  # confirmed, or reopened
    T.CLOSED: frozenset(),
    T.REJECTED: frozenset(),
}
# What the person who opened the ticket may do: answer, confirm, reopen.
REQUESTER_MOVES = frozenset(
    {(T.PENDING, T.IN_PROGRESS), (T.RESOLVED, T.CLOSED), (T.RESOLVED, T.IN_PROGRESS)}
)


E = TypeVar("E", bound=StrEnum)


def parse(enum: type[E], text: str | None, field: str) -> E:
    """An enum value from the outside, or a 400 naming the field and the allowed values."""
    try:
        return enum(text or "")
    except ValueError:
        allowed = ", ".join(e.value for e in enum)
        raise InvalidInput(
            f"{text!r} is not one of {allowed}", code=f"bad_{field}", field=field
        ) from None


def check_move(current: TicketStatus, target: TicketStatus, *, care: bool) -> None:
    """A legal move for this side (care desk or requester); else 409 or 403."""
    if target not in MOVES[current]:
        raise Conflict(
            f"a ticket cannot go from {current.value} to {target.value}",
            code="illegal_status_change",
            field="status",
            currentStatus=current.value,
        )
    if not care and (current, target) not in REQUESTER_MOVES:
        raise Forbidden(
            f"only the care desk moves a ticket from {current.value} to {target.value}",
            code="care_desk_only",
            field="status",
        )


def check_open(status: TicketStatus, what: str) -> None:
    """Actions and priority changes need a ticket still being worked."""
    if status not in OPEN:
        raise Conflict(
            f"the ticket is {status.value}: no {what} (reopen it first)",
            code="ticket_not_open",
            field="status",
        )


def check_not_final(status: TicketStatus) -> None:
    if status in FINAL:
        raise Conflict(f"the ticket is {status.value}", code="ticket_closed", field="status")


def check_reason(target: TicketStatus, reason: str | None) -> None:
    if target is T.REJECTED and not reason:
        raise InvalidInput(
            "say why the ticket is rejected", code="reason_required", field="statusChangeReason"
        )


# --- priority and SLA clocks -------------------------------------------------------------

BY_SEVERITY = {
    Severity.MINOR: Priority.MEDIUM,
    Severity.MAJOR: Priority.HIGH,
    Severity.CRITICAL: Priority.CRITICAL,
}
# Missing money and a dead card are at least high, whatever the caller says.
FLOOR = {TicketType.RECHARGE_NOT_RECEIVED: Priority.HIGH, TicketType.FAULTY_CARD: Priority.HIGH}


def default_priority(kind: TicketType, severity: Severity) -> Priority:
    """TMF621: the priority is set by the desk from the severity and the ticket type."""
    chosen, floor = BY_SEVERITY[severity], FLOOR.get(kind, Priority.LOW)
    return chosen if RANK[chosen] >= RANK[floor] else floor


def _hours(critical: int, high: int, medium: int, low: int) -> dict[Priority, int]:
    return {
        Priority.CRITICAL: critical,
        Priority.HIGH: high,
        Priority.MEDIUM: medium,
        Priority.LOW: low,
    }


# Hours to resolve, per type and priority [defaults].
SLA_HOURS: dict[TicketType, dict[Priority, int]] = {
    TicketType.INFO_QUERY: _hours(4, 8, 24, 48),
    TicketType.SERVICE_CHANGE: _hours(4, 8, 24, 48),
    TicketType.SIM_REPLACEMENT: _hours(12, 24, 48, 72),
    TicketType.FAULTY_CARD: _hours(8, 24, 48, 72),
    TicketType.RECHARGE_NOT_RECEIVED: _hours(2, 4, 8, 24),
    TicketType.COMPLAINT: _hours(8, 24, 48, 72),
    TicketType.OTHER: _hours(24, 48, 72, 120),
}


def sla_deadline(
    kind: TicketType,
    priority: Priority,
    opened_at: datetime,
    paused: timedelta = timedelta(0),
    hours: Mapping[TicketType, Mapping[Priority, int]] = SLA_HOURS,
) -> datetime:
    """When the ticket must be resolved: opened + the SLA hours + the time spent waiting for
    the customer (the clock stops while a ticket is pending)."""
    return opened_at + timedelta(hours=hours[kind][priority]) + paused


# --- routing -------------------------------------------------------------------------------


def region_prefix(code: str | None) -> str:
    """The digits a region's codes share: 44 (a province), 4403 (a city), 440305; '' for
    everywhere."""
    if code is None:
        return ""
    if code.endswith("0000"):
        return code[:2]
    if code.endswith("00"):
        return code[:4]
    return code


def region_covers(area: str | None, region: str | None) -> bool:
    """Whether `area` (None: everywhere) contains `region` (None: unknown or everywhere)."""
    if area is None:
        return True
    if region is None:
        return False
    return region.startswith(region_prefix(area))


@dataclass(frozen=True)
class Area:
    """What a team serves: one brand (None: all of the MVNO's) in one region (None: all)."""

    brand_id: uuid.UUID | None
    region_code: str | None

    def covers(self, brand_id: uuid.UUID | None, region_code: str | None) -> bool:
        """`brand_id`/`region_code` None mean 'any', which only an unrestricted area covers."""
        brand_ok = self.brand_id is None or self.brand_id == brand_id
        return brand_ok and region_covers(self.region_code, region_code)


def serves(areas: Iterable[Area], brand_id: uuid.UUID | None, region_code: str | None) -> bool:
    return any(a.covers(brand_id, region_code) for a in areas)


@dataclass(frozen=True)
class Route:
    """brand × region × ticket type → team; None in a dimension matches anything."""

    id: uuid.UUID
    team_id: uuid.UUID
    brand_id: uuid.UUID | None
    region_code: str | None
    ticket_type: TicketType | None

    def matches(self, brand_id: uuid.UUID | None, region: str | None, kind: TicketType) -> bool:
        return (
            (self.brand_id is None or self.brand_id == brand_id)
            and (self.ticket_type is None or self.ticket_type is kind)
            and region_covers(self.region_code, region)
        )

    def specificity(self) -> tuple[int, int, int, int]:
        """More dimensions named first; then the narrower region, then type, then brand."""
        named = sum(x is not None for x in (self.brand_id, self.region_code, self.ticket_type))
        return (
            named,
            len(region_prefix(self.region_code)),
            self.ticket_type is not None,
            self.brand_id is not None,
        )

    def key(self) -> str:
        """One rule per (brand, region, type) and MVNO: the database's unique key."""
        kind = self.ticket_type.value if self.ticket_type else "*"
        return f"{self.brand_id or '*'}|{self.region_code or '*'}|{kind}"


def choose_route(
    routes: Iterable[Route], brand_id: uuid.UUID | None, region: str | None, kind: TicketType
) -> Route | None:
    """The most specific matching rule (ties: the oldest, i.e. the first given); None: no
    rule matches and the ticket goes to the MVNO's own team."""
    best: Route | None = None
    for route in routes:
        if route.matches(brand_id, region, kind) and (
            best is None or route.specificity() > best.specificity()
        ):
            best = route
    return best


# --- actions from a ticket ------------------------------------------------------------------


class TicketAction(StrEnum):
    REPLACE_SIM = "replaceSim"
    ADD_SERVICE = "addService"
    REMOVE_SERVICE = "removeService"
    REPORT_LOST = "reportLost"
    TRACE_RECHARGE = "traceRecharge"
    CREDIT = "credit"


CARE_ROLES = (Role.CARE_AGENT, Role.MVNO_ADMIN, Role.PLATFORM_ADMIN)
# A new card from the MVNO's stock, and the MVNO's money: its own desk, not a partner's.
MVNO_SIDE_ONLY = frozenset({TicketAction.REPLACE_SIM, TicketAction.CREDIT})
# What a care agent may credit on one ticket without an MVNO administrator [default].
AGENT_CREDIT_LIMIT_FEN = 20_000


def check_action(action: TicketAction, kind: OrgKind | None, roles: frozenset[Role]) -> None:
    if not roles.intersection(CARE_ROLES):
        raise Forbidden(
            f"{action.value} from a ticket needs a care agent",
            code="role_required",
        )
    if action in MVNO_SIDE_ONLY and kind not in (OrgKind.MVNO, OrgKind.PLATFORM):
        raise Forbidden(
            f"{action.value} is done by the MVNO's own care desk",
            code="mvno_desk_only",
        )


def check_credit(already_fen: int, amount_fen: int, roles: frozenset[Role]) -> None:
    if roles.intersection({Role.MVNO_ADMIN, Role.PLATFORM_ADMIN}):
        return
    if already_fen + amount_fen > AGENT_CREDIT_LIMIT_FEN:
        raise RuleViolation(
            f"an agent credits at most {AGENT_CREDIT_LIMIT_FEN} fen per ticket "
            f"({already_fen} fen already); ask an MVNO administrator",
            code="credit_limit_exceeded",
            field="amountFen",
        )


# --- self-care verification codes --------------------------------------------------------

CODE_DIGITS = 6
CODE_TTL = timedelta(minutes=5)
MAX_WRONG_CODES = 5  # then the code is locked
RESEND_AFTER = timedelta(seconds=60)
MAX_SENDS_PER_HOUR = 5


def send_wait(sent_at: list[datetime], now: datetime) -> timedelta | None:
    """How long a number must wait for its next code (None: send now). `sent_at`: codes
    sent to it during the last hour."""
    recent = sorted(s for s in sent_at if now - s < timedelta(hours=1))
    if recent and now - recent[-1] < RESEND_AFTER:
        return RESEND_AFTER - (now - recent[-1])
    if len(recent) >= MAX_SENDS_PER_HOUR:
        return recent[0] + timedelta(hours=1) - now
    return None


# --- free text ------------------------------------------------------------------------------

# Resident IDs (18 characters) and first-generation IDs (15 digits), not inside a longer run
# of digits. Letters may touch them ("ID44030519…", "…001X号"): masking a stray order number
# is cheaper than keeping an ID.
_ID_NUMBER = re.compile(r"(?<![0-9])(?:[0-9]{17}[0-9Xx]|[0-9]{15})(?![0-9])")


def redact(text: str | None) -> str | None:
    """Free text keeps no ID numbers: anything shaped like one is masked."""
    if text is None:
        return None
    return _ID_NUMBER.sub(lambda m: mask_id(m.group()), text)


# --- monthly figures ------------------------------------------------------------------------


@dataclass(frozen=True)
class TicketFacts:
    ticket_type: str
    created_at: datetime
    first_response_at: datetime | None
    resolved_at: datetime | None
    due_at: datetime
    breached: bool


def _median_s(values: list[float]) -> int | None:
    return round(statistics.median(values)) if values else None


def figures(tickets: Iterable[TicketFacts]) -> dict[str, object]:
    """Tickets by type, median time to first response and to resolution (seconds), and SLA
    compliance: resolved in time ÷ (resolved in time + breached); open tickets still inside
    their deadline are not counted either way."""
    by_type: Counter[str] = Counter()
    response: list[float] = []
    resolve: list[float] = []
    met = breached = 0
    for ticket in tickets:
        by_type[ticket.ticket_type] += 1
        if ticket.first_response_at is not None:
            response.append((ticket.first_response_at - ticket.created_at).total_seconds())
        if ticket.resolved_at is not None:
            resolve.append((ticket.resolved_at - ticket.created_at).total_seconds())
        if ticket.breached:
            breached += 1
        elif ticket.resolved_at is not None and ticket.resolved_at <= ticket.due_at:
            met += 1
    judged = met + breached
    return {
        "tickets": sum(by_type.values()),
        "byType": dict(sorted(by_type.items())),
        "medianFirstResponseS": _median_s(response),
        "medianResolutionS": _median_s(resolve),
        "slaMet": met,
        "slaBreached": breached,
        "slaCompliancePct": round(100 * met / judged, 1) if judged else None,
    }


def top_problems(types: Iterable[str], top: int = 5) -> list[tuple[str, int]]:
    """The most common ticket types, most frequent first (ties by name)."""
    counted = Counter(types)
    return sorted(counted.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
