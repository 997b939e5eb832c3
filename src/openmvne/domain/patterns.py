"""Number search patterns, compiled to positional constraints a search can enumerate fast.

Accepted forms (digits, `?` for any one digit):
- `*8888`, `*5?0`        ends with
- `1701*`                starts with
- `171??520???`          all eleven positions
- `*168*`                contains
- `ends 520`, `starts 1701`, `contains 168`   the same, in words
Any other use of `*` is refused; so is a pattern no resale number can match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from openmvne.domain.numbers import RESALE_NETWORK_CODES
from openmvne.errors import InvalidInput

LENGTH = 11
Positional = tuple[int | None, ...]  # eleven entries: a digit or None (any)

_BODY = re.compile(r"^[0-9?]+$")
_WORDS = {"ends": "*{}", "starts": "{}*", "contains": "*{}*"}


@dataclass(frozen=True)
class Pattern:
    text: str
    alternatives: tuple[Positional, ...]  # a number matches if any alternative does
    exclude: frozenset[int]

    def matches(self, national: str) -> bool:
        digits = [int(c) for c in national]
        if self.exclude.intersection(digits):
            return False
        return any(
            all(want is None or want == got for want, got in zip(alt, digits, strict=True))
            for alt in self.alternatives
        )


def _positional(body: str, start: int) -> Positional:
    cells: list[int | None] = [None] * LENGTH
    for i, c in enumerate(body):
        cells[start + i] = None if c == "?" else int(c)
    return tuple(cells)


def _fits_resale(alt: Positional) -> bool:
    return any(
        all(alt[i] is None or alt[i] == int(code[i]) for i in range(3))
        for code in RESALE_NETWORK_CODES
    )


def compile_pattern(text: str | None, exclude: str = "", field: str = "pattern") -> Pattern:
    raw = (text or "*").strip()
    words = raw.split()
    if len(words) == 2 and words[0] in _WORDS:
        raw = _WORDS[words[0]].format(words[1])
    # ASCII digits only: str.isdigit() also takes '¹' and '²', which int() refuses.
    if any(c not in "0123456789" for c in exclude.replace(",", "")):
        raise InvalidInput(
            "exclude lists digits, e.g. 4 or 47", code="bad_exclude", field="excludeDigits"
        )
    excluded = frozenset(int(c) for c in exclude if c != ",")

    def bad(why: str, code: str = "pattern_malformed") -> InvalidInput:
        return InvalidInput(f"pattern {text!r}: {why}", code=code, field=field)

    if raw == "*":
        alternatives: list[Positional] = [tuple([None] * LENGTH)]
    elif raw.startswith("*") and raw.endswith("*") and len(raw) > 2:
        body = raw[1:-1]
        if not _BODY.match(body):
            raise bad("use digits and ? between the stars")
        if len(body) > LENGTH:
            raise bad("longer than a number", "pattern_cannot_match")
        alternatives = [_positional(body, s) for s in range(LENGTH - len(body) + 1)]
    elif raw.startswith("*"):
        body = raw[1:]
        if not _BODY.match(body):
            raise bad("use digits and ? after the star")
        if len(body) > LENGTH:
            raise bad("longer than a number", "pattern_cannot_match")
        alternatives = [_positional(body, LENGTH - len(body))]
    elif raw.endswith("*"):
        body = raw[:-1]
        if not _BODY.match(body):
            raise bad("use digits and ? before the star")
        if len(body) > LENGTH:
            raise bad("longer than a number", "pattern_cannot_match")
        alternatives = [_positional(body, 0)]
    else:
        if not _BODY.match(raw):
            raise bad("use digits, ? and a leading or trailing *")
        if len(raw) != LENGTH:
            raise bad(
                f"a full pattern has {LENGTH} positions, this has {len(raw)}",
                "pattern_cannot_match",
            )
        alternatives = [_positional(raw, 0)]
    alternatives = [
        alt
        for alt in alternatives
        if _fits_resale(alt) and not excluded.intersection(d for d in alt if d is not None)
    ]
    if not alternatives:
        raise bad(
            "no resale number (162, 165, 167, 170, 171) can match it with those digits excluded",
            "pattern_cannot_match",
        )
    return Pattern(text or "*", tuple(alternatives), excluded)
