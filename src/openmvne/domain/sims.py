"""SIM cards (domain.md §2): ICCID and IMSI checks, the host network they belong to, kinds
and states. A card's secret (Ki/OPc) is imported, kept encrypted and never leaves."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from stdnum import luhn

from openmvne.domain.numbers import HostNetwork
from openmvne.errors import Conflict, RuleViolation

ICCID_ISSUERS: dict[str, HostNetwork] = {
    "898600": HostNetwork.MOBILE,
    "898602": HostNetwork.MOBILE,
    "898604": HostNetwork.MOBILE,
    "898607": HostNetwork.MOBILE,
    "898601": HostNetwork.UNICOM,
    "898606": HostNetwork.UNICOM,
    "898609": HostNetwork.UNICOM,
    "898603": HostNetwork.TELECOM,
    "898611": HostNetwork.TELECOM,
}
IMSI_MNC: dict[str, HostNetwork] = {
    "00": HostNetwork.MOBILE,
    "02": HostNetwork.MOBILE,
    "04": HostNetwork.MOBILE,
    "07": HostNetwork.MOBILE,
    "08": HostNetwork.MOBILE,
    "01": HostNetwork.UNICOM,
    "06": HostNetwork.UNICOM,
    "09": HostNetwork.UNICOM,
    "03": HostNetwork.TELECOM,
    "05": HostNetwork.TELECOM,
    "11": HostNetwork.TELECOM,
}
_ICCID = re.compile(r"^[0-9A-F]{19,20}$")
_IMSI = re.compile(r"^460\d{12}$")
_SECRET = re.compile(r"^[0-9A-Fa-f]{32}$")


class CardKind(StrEnum):
    PREBOUND = "prebound"  # 成卡: number bound at the factory
    BLANK = "blank"  # 白卡: number bound at sale


class CardState(StrEnum):
    IN_STOCK = "inStock"
    SOLD = "sold"
    ACTIVE = "active"
    REPLACED = "replaced"
    LOST = "reportedLost"
    FAULTY = "faulty"
    CLOSED = "closed"  # its line was cancelled
    DESTROYED = "destroyed"


_MOVES: dict[CardState, frozenset[CardState]] = {
    CardState.IN_STOCK: frozenset({CardState.SOLD, CardState.FAULTY, CardState.DESTROYED}),
    # Back in stock when the network refused to open the line and the sale was undone.
    CardState.SOLD: frozenset({CardState.ACTIVE, CardState.FAULTY, CardState.IN_STOCK}),
    CardState.ACTIVE: frozenset(
        {CardState.REPLACED, CardState.LOST, CardState.FAULTY, CardState.CLOSED}
    ),
    CardState.LOST: frozenset({CardState.ACTIVE, CardState.REPLACED, CardState.CLOSED}),
    CardState.CLOSED: frozenset({CardState.DESTROYED}),
    CardState.FAULTY: frozenset({CardState.REPLACED, CardState.DESTROYED}),
    CardState.REPLACED: frozenset({CardState.DESTROYED}),
    CardState.DESTROYED: frozenset(),
}


def check_card_move(current: CardState, target: CardState, iccid: str) -> None:
    if target not in _MOVES[current]:
        raise Conflict(
            f"card {iccid} is {current.value}; it cannot become {target.value}",
            code="card_state_conflict",
            field="state",
        )


# What a person may set by hand; sold, active, replaced, closed and back in stock follow
# sales and lines (a card set to active by hand could never be sold).
BY_HAND = frozenset({CardState.FAULTY, CardState.DESTROYED})


def check_set_by_hand(target: CardState) -> None:
    if target not in BY_HAND:
        raise RuleViolation(
            f"a card becomes {target.value} by a sale or its line, not by hand "
            f"(by hand: {', '.join(sorted(s.value for s in BY_HAND))})",
            code="state_not_manual",
            field="state",
        )


_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)  # a digit doubled, with its digits summed


def luhn_valid(digits: str) -> bool:
    """The Luhn check, as stdnum.luhn.is_valid but without its generality: card imports
    check millions of ICCIDs (tests hold the two to the same answers)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = ord(char) - 48
        total += _DOUBLED[digit] if position % 2 else digit
    return total % 10 == 0


def iccid_problem(iccid: str) -> str | None:
    """Why an ICCID is refused, or None. 20-digit ICCIDs carry a Luhn check digit (E.118);
    legacy 19-character or hexadecimal ones are accepted on import without one."""
    if not _ICCID.match(iccid):
        return "an ICCID is 19-20 characters 0-9/A-F"
    if not iccid.startswith("8986"):
        return "not a Chinese ICCID (89 86 …)"
    if iccid.isdigit() and len(iccid) == 20 and not luhn_valid(iccid):
        return "bad ICCID check digit"
    if iccid[:6] not in ICCID_ISSUERS:
        return f"unknown ICCID issuer {iccid[:6]}"
    return None


def imsi_problem(imsi: str) -> str | None:
    if not _IMSI.match(imsi):
        return "an IMSI is 460 + MNC (2) + MSIN (10), 15 digits"
    if imsi[3:5] not in IMSI_MNC:
        return f"unknown MNC {imsi[3:5]}"
    return None


def secret_problem(value: str, name: str) -> str | None:
    return None if _SECRET.match(value) else f"{name} is 32 hexadecimal characters"


@dataclass(frozen=True)
class CardLine:
    """One line of a card factory file, as read."""

    line_no: int
    iccid: str
    imsi: str
    ki: str
    opc: str
    kind: str
    msisdn: str
    region: str


def host_problems(line: CardLine, host: HostNetwork) -> list[str]:
    """Both identifiers must belong to the batch's host network."""
    problems = []
    if ICCID_ISSUERS.get(line.iccid[:6]) not in (None, host):
        problems.append(f"ICCID issuer {line.iccid[:6]} is not {host.value}'s")
    if IMSI_MNC.get(line.imsi[3:5]) not in (None, host):
        problems.append(f"IMSI MNC {line.imsi[3:5]} is not {host.value}'s")
    return problems


def make_iccid(issuer: str, serial: int) -> str:
    """A valid 20-digit ICCID: issuer (6) + serial (13) + Luhn check digit."""
    body = f"{issuer}{serial:013d}"
    return body + luhn.calc_check_digit(body)
