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
