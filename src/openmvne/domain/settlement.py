"""Monthly settlement rules (domain.md §3, §7): months, the activation validity check,
activation commission, revenue share and clawback terms ([defaults], all per-MVNO later)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from openmvne.errors import InvalidInput

# A line is "valid" when it shows at least 10 minutes of voice or 30 MB of data in each of
# its first three months; its activation commission is paid in the fourth.
VALID_VOICE_S = 10 * 60
VALID_DATA_KB = 30 * 1024
VALIDITY_MONTHS = 3
# What the MVNO pays per valid activation is in its commission scheme (activation_fen, by
# level; each tier keeps its amount less its child's, as with rates).
# Revenue share is paid on a line's spend in its first 12 months.
REVENUE_SHARE_MONTHS = 12
# A line cancelled, or barred for missing real-name registration, within 6 months of its
# activation gives its activation commission back.
CLAWBACK_MONTHS = 6
BEIJING_HOURS = 8


def check_month(month: str) -> str:
    """A month as the platform writes it, YYYY-MM (two digits: months are compared as text),
    between 2000 and 2100: a year past 9999 has no datetime."""
    match = re.fullmatch(r"(\d{4})-(\d{2})", month)
    if not match or not 1 <= int(match.group(2)) <= 12 or not 2000 <= int(match.group(1)) <= 2100:
        raise InvalidInput("a month is YYYY-MM", code="bad_month", field="month")
    return month


def add_months(month: str, n: int) -> str:
    year, mon = int(month[:4]), int(month[5:])
    total = year * 12 + (mon - 1) + n
    return f"{total // 12:04d}-{total % 12 + 1:02d}"


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """The month's first instant and the next month's, in UTC (Beijing calendar)."""
    year, mon = int(month[:4]), int(month[5:])
    start = datetime(year, mon, 1, tzinfo=UTC) - timedelta(hours=BEIJING_HOURS)
    nxt = add_months(month, 1)
    end = datetime(int(nxt[:4]), int(nxt[5:]), 1, tzinfo=UTC) - timedelta(hours=BEIJING_HOURS)
    return start, end


def month_of(at: datetime) -> str:
    return (at.astimezone(UTC) + timedelta(hours=BEIJING_HOURS)).strftime("%Y-%m")


def passes_validity(months: list[tuple[int, int]]) -> bool:
    """`months`: (voice seconds, data KB) used in each of the line's first three months."""
    return len(months) == VALIDITY_MONTHS and all(
        voice >= VALID_VOICE_S or data >= VALID_DATA_KB for voice, data in months
    )


def share_fen(spend_fen: int, rate_bp: int) -> int:
    """A share of money, rounded down: the channel is never paid a fen not earned."""
    return spend_fen * rate_bp // 10_000
