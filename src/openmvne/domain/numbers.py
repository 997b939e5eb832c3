"""Mobile numbers (MSISDN), resale segments and their host networks, 10,000-number blocks,
and the number lifecycle (domain.md §1).

An 11-digit number = network code (3) + HLR code H0H1H2H3 (4) + subscriber part (4). A
7-digit prefix is a block of 10,000 numbers: the unit of allocation and home region.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

import phonenumbers

from openmvne.errors import Conflict, InvalidInput

BLOCK_SIZE = 10_000
_DIGITS = re.compile(r"^\d+$")


class HostNetwork(StrEnum):
    TELECOM = "telecom"
    MOBILE = "mobile"
    UNICOM = "unicom"


HOST_NAMES = {
    HostNetwork.TELECOM: "China Telecom",
    HostNetwork.MOBILE: "China Mobile",
    HostNetwork.UNICOM: "China Unicom",
}

# Resale-only segments (MIIT numbering tables). 170 is shared: its 4th digit decides the host.
HOST_BY_PREFIX: dict[str, tuple[HostNetwork, int]] = {
    "1700": (HostNetwork.TELECOM, 2014),
    "1701": (HostNetwork.TELECOM, 2014),
    "1702": (HostNetwork.TELECOM, 2014),
    "1703": (HostNetwork.MOBILE, 2014),
    "1705": (HostNetwork.MOBILE, 2014),
    "1706": (HostNetwork.MOBILE, 2014),
    "1704": (HostNetwork.UNICOM, 2014),
    "1707": (HostNetwork.UNICOM, 2014),
    "1708": (HostNetwork.UNICOM, 2014),
    "1709": (HostNetwork.UNICOM, 2014),
    "171": (HostNetwork.UNICOM, 2016),
    "162": (HostNetwork.TELECOM, 2017),
    "165": (HostNetwork.MOBILE, 2017),
    "167": (HostNetwork.UNICOM, 2017),
}
RESALE_NETWORK_CODES = frozenset({"162", "165", "167", "170", "171"})


def host_of(number_or_prefix: str) -> HostNetwork | None:
    """The host network of a number or prefix by the resale table, or None if not resale."""
    for length in (4, 3):
        found = HOST_BY_PREFIX.get(number_or_prefix[:length])
        if found is not None and len(number_or_prefix) >= length:
            return found[0]
    return None


@dataclass(frozen=True, order=True)
class Msisdn:
    """A validated mainland resale number, kept in its 11-digit national form."""

    national: str

    @property
    def e164(self) -> str:
        return f"+86{self.national}"

    @property
    def value(self) -> int:
        return int(self.national)

    @property
    def block_prefix(self) -> str:
        return self.national[:7]

    @property
    def offset(self) -> int:
        """Position inside its block, 0..9999."""
        return int(self.national[7:])


# Full-width digits, plus, hyphen and space, as Chinese input methods type them, are the same
# number. Other digits (superscripts, other scripts) are refused: a number is stored in ASCII.
_FULL_WIDTH = str.maketrans("０１２３４５６７８９＋－\u3000", "0123456789+- ")


def parse_msisdn(text: str, field: str = "msisdn") -> Msisdn:
    """Validate: 11 digits starting with 1 (an optional +86 / 86 prefix is accepted), a resale
    segment, and libphonenumber's own validity (not merely 'possible')."""
    raw = text.translate(_FULL_WIDTH).strip().replace(" ", "").replace("-", "")
    if raw.startswith("+86"):
        raw = raw[3:]
    elif raw.startswith("86") and len(raw) == 13:
        raw = raw[2:]
    if not re.fullmatch(r"1[0-9]{10}", raw):
        raise InvalidInput(
            f"{text!r} is not an 11-digit mobile number", code="msisdn_malformed", field=field
        )
    if host_of(raw) is None:
        raise InvalidInput(
            f"{raw} is not in a resale segment (162, 165, 167, 170, 171)",
            code="not_a_resale_number",
            field=field,
        )
    if not _valid_block(raw[:7]):
        raise InvalidInput(f"{raw} is not a valid number", code="msisdn_invalid", field=field)
    return Msisdn(raw)


@lru_cache(maxsize=65_536)
def _valid_block(prefix7: str) -> bool:
    r"""libphonenumber's validity for the numbers of one block. Its patterns for mainland
    mobile numbers constrain the leading digits and end in `\d{4}` or longer, so one check
    per 10,000-number block is the same check, at a fraction of the cost."""
    return bool(phonenumbers.is_valid_number(phonenumbers.parse(f"+86{prefix7}0000")))


def check_segment_prefix(prefix: str, host: HostNetwork, field: str = "prefix") -> None:
    """A segment is a 3-digit resale network code (not 170, which is shared) or a 4-digit
    170x prefix, and belongs to the registering host network."""
    if not _DIGITS.match(prefix) or len(prefix) not in (3, 4):
        raise InvalidInput(
            "a segment prefix is 3 or 4 digits, e.g. 171 or 1704",
            code="prefix_malformed",
            field=field,
        )
    if prefix == "170":
        raise InvalidInput(
            "170 is shared by three host networks; register 1700-1709 one by one",
            code="prefix_shared",
            field=field,
        )
    found = HOST_BY_PREFIX.get(prefix) or HOST_BY_PREFIX.get(prefix[:3])
    if found is None:
        raise InvalidInput(
            f"{prefix} is not a resale segment", code="not_a_resale_segment", field=field
        )
    if found[0] is not host:
        raise InvalidInput(
            f"{prefix} belongs to {HOST_NAMES[found[0]]}, not {HOST_NAMES[host]}",
            code="wrong_host_network",
            field=field,
        )


def segment_size(prefix: str) -> int:
    return int(10 ** (11 - len(prefix)))


def block_prefixes(segment_prefix: str) -> list[str]:
    """The 7-digit prefixes of every block in a segment, in order."""
    width = 7 - len(segment_prefix)
    return [f"{segment_prefix}{i:0{width}d}" for i in range(10**width)]


def prefixes_overlap(a: str, b: str) -> bool:
    return a.startswith(b) or b.startswith(a)


@dataclass(frozen=True)
class NumberRange:
    """An inclusive range of numbers, as integers (11-digit numbers fit easily)."""

    first: int
    last: int

    def __post_init__(self) -> None:
        if self.first > self.last:
            raise InvalidInput(
                "a range starts before it ends", code="range_reversed", field="lastNumber"
            )

    @property
    def size(self) -> int:
        return self.last - self.first + 1

    def overlaps(self, other: NumberRange) -> bool:
        return self.first <= other.last and other.first <= self.last

    def block_values(self) -> range:
        """The first numbers of the blocks this range touches."""
        start = self.first - self.first % BLOCK_SIZE
        return range(start, self.last + 1, BLOCK_SIZE)


class NumberState(StrEnum):
    """A number with no row is in stock. These are the states that need a row."""

    RESERVED = "reserved"
    ASSIGNED = "assigned"  # bound to a sale, awaiting activation
    IN_USE = "inUse"
    QUARANTINED = "quarantined"
    WITHHELD = "withheld"


IN_STOCK = "inStock"

# Allowed moves between states (None: in stock, i.e. no row).
_MOVES: dict[str | None, frozenset[str | None]] = {
    None: frozenset({NumberState.RESERVED, NumberState.WITHHELD}),
    NumberState.RESERVED: frozenset({None, NumberState.ASSIGNED}),
    NumberState.ASSIGNED: frozenset({NumberState.IN_USE, None}),
    NumberState.IN_USE: frozenset({NumberState.QUARANTINED}),
    NumberState.QUARANTINED: frozenset({None}),
    NumberState.WITHHELD: frozenset({None}),
}


def check_move(current: str | None, target: str | None, msisdn: str) -> None:
    if target not in _MOVES[current]:
        now = current or IN_STOCK
        raise Conflict(
            f"{msisdn} is {now}; it cannot become {target or IN_STOCK}",
            code="number_state_conflict",
            field="msisdn",
        )


@dataclass(frozen=True)
class NumberPolicy:
    """Per-MVNO number settings ([default]s from domain.md)."""

    utilisation_threshold_pct: int = 60
    quarantine_days: int = 90
    reservation_minutes: int = 30


def utilisation_allows(in_use: int, allocated: int, threshold_pct: int) -> bool:
    """More blocks only while in-use / allocated is at or above the threshold; the first
    allocation (nothing allocated yet) is exempt."""
    if allocated == 0:
        return True
    return in_use * 100 >= threshold_pct * allocated
