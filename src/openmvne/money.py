"""Money is integer fen. Yuan strings exist only at the edges (input forms, display)."""

from __future__ import annotations

import re

_YUAN = re.compile(r"^(-)?(\d{1,15})(?:\.(\d{1,2}))?$")


def parse_yuan(text: str) -> int:
    """'12.3' -> 1230 fen. Refuses more than two decimals rather than rounding money."""
    match = _YUAN.match(text.strip())
    if match is None:
        raise ValueError(f"not an amount in yuan with at most two decimals: {text!r}")
    sign, whole, frac = match.groups()
    fen = int(whole) * 100 + int((frac or "0").ljust(2, "0"))
    return -fen if sign else fen


def format_fen(amount_fen: int) -> str:
    """1230 -> '12.30'."""
    sign = "-" if amount_fen < 0 else ""
    whole, frac = divmod(abs(amount_fen), 100)
    return f"{sign}{whole}.{frac:02d}"


# Rates may be fractions of a fen per unit (0.10 CNY/MB is 10 fen per 1,024 KB). They are
# integers in micro-fen (µfen): 1 fen = 1,000,000 µfen. Amounts become whole fen only at the
# end, in one of the two functions below.
MICRO_PER_FEN = 1_000_000
_RATE = re.compile(r"^(\d{1,12})(?:\.(\d+))?$")


def parse_rate_fen(text: str) -> int:
    """'7.3' (fen per unit) -> 7,300,000 µfen. Refuses negatives, floats in disguise
    (exponents) and more than six decimals rather than rounding a rate."""
    match = _RATE.match(text.strip())
    if match is None:
        raise ValueError(f"not a rate in fen with up to six decimals: {text!r}")
    whole, frac = match.groups()
    frac = frac or ""
    if len(frac) > 6:
        raise ValueError(f"{text!r} has more precision than the rate scale (six decimals)")
    return int(whole) * MICRO_PER_FEN + int(frac.ljust(6, "0"))


def format_rate_fen(micro: int) -> str:
    whole, frac = divmod(micro, MICRO_PER_FEN)
    return f"{whole}.{frac:06d}".rstrip("0").rstrip(".")


def micro_to_fen_up(micro: int) -> int:
    """A cost in µfen as whole fen, rounded up: a price must cover every fraction of cost."""
    return -(-micro // MICRO_PER_FEN)


def format_micro_as_yuan(micro: int) -> str:
    """µfen as yuan with four decimals, for display (truncated, exact digits, no float)."""
    sign = "-" if micro < 0 else ""
    whole, rest = divmod(abs(micro), 100 * MICRO_PER_FEN)
    return f"{sign}{whole}.{rest // 10_000:04d}"
