"""Pretty numbers (靓号): a grade from rules on the last 4-8 digits, a price per grade.

A grade is a pure function of the number and the MVNO's rule table: nothing is stored per
number. Rules are checked in table order; the first (highest) that matches gives the grade.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any

from openmvne.errors import InvalidInput

NORMAL = "N"


def _same_tail(tail: str, n: int) -> bool:
    return len(set(tail[-n:])) == 1


def _run(tail: str, n: int, step: int) -> bool:
    digits = [int(c) for c in tail[-n:]]
    return all(b - a == step for a, b in itertools.pairwise(digits))


def _shape(tail: str, shape: str) -> bool:
    """`AABB`-style: equal letters are equal digits, different letters different digits."""
    last = tail[-len(shape) :]
    seen: dict[str, str] = {}
    for letter, digit in zip(shape, last, strict=True):
        if seen.setdefault(letter, digit) != digit:
            return False
    return len(set(seen.values())) == len(seen)


def _year(tail: str) -> bool:
    year = int(tail[-4:])
    return 1950 <= year <= 2030


# Detector vocabulary: name -> (parameter pattern, test on the last 8 digits).
def detect(rule: str, tail8: str) -> bool:
    kind, _, arg = rule.partition(":")
    match kind:
        case "same":
            return _same_tail(tail8, int(arg))
        case "runUp":
            return _run(tail8, int(arg), 1)
        case "runDown":
            return _run(tail8, int(arg), -1)
        case "shape":
            return _shape(tail8, arg)
        case "endsWith":
            return tail8.endswith(arg)
        case "year":
            return _year(tail8)
    raise InvalidInput(f"unknown rule {rule!r}", code="rule_unknown", field="rules")


RULE_SYNTAX = re.compile(
    r"^(same:[3-8]|runUp:[3-8]|runDown:[3-8]|shape:[A-D]{4,8}|endsWith:\d{1,8}|year)$"
)


@dataclass(frozen=True)
class GradePrice:
    one_off_fen: int
    min_monthly_fen: int
    min_months: int


@dataclass(frozen=True)
class PrettyRules:
    rules: tuple[tuple[str, str], ...]  # (rule, grade), best first
    prices: dict[str, GradePrice]
    four_discount_pct: int  # off the one-off price when the last 8 digits hold a 4

    def grade(self, national: str) -> str:
        tail = national[-8:]
        for rule, grade in self.rules:
            if detect(rule, tail):
                return grade
        return NORMAL

    def price(self, national: str) -> tuple[str, GradePrice]:
        grade = self.grade(national)
        base = self.prices.get(grade, self.prices[NORMAL])
        if "4" in national[-8:] and self.four_discount_pct:
            one_off = base.one_off_fen * (100 - self.four_discount_pct) // 100
            base = GradePrice(one_off, base.min_monthly_fen, base.min_months)
        return grade, base


DEFAULT_RULES: tuple[tuple[str, str], ...] = (
    ("same:6", "S"),
    ("same:5", "S"),
    ("runUp:5", "S"),
    ("same:4", "A"),
    ("runUp:4", "B"),
    ("runDown:4", "B"),
    ("shape:AABB", "B"),
    ("shape:ABAB", "B"),
    ("same:3", "C"),
    ("shape:ABBA", "C"),
    ("shape:AAAB", "C"),
    ("endsWith:520", "C"),
    ("endsWith:521", "C"),
    ("endsWith:168", "C"),
    ("endsWith:88", "D"),
    ("endsWith:66", "D"),
    ("year", "D"),
)

DEFAULT_PRICES: dict[str, GradePrice] = {
    "S": GradePrice(200_000, 19_900, 24),
    "A": GradePrice(80_000, 9_900, 24),
    "B": GradePrice(30_000, 5_900, 12),
    "C": GradePrice(10_000, 3_900, 12),
    "D": GradePrice(3_000, 0, 0),
    NORMAL: GradePrice(0, 0, 0),
}

DEFAULT = PrettyRules(DEFAULT_RULES, DEFAULT_PRICES, four_discount_pct=50)


def from_json(data: dict[str, Any] | None) -> PrettyRules:
    if not data:
        return DEFAULT
    return PrettyRules(
        rules=tuple((r["rule"], r["grade"]) for r in data["rules"]),
        prices={
            g: GradePrice(p["oneOffFen"], p["minMonthlyFen"], p["minMonths"])
            for g, p in data["prices"].items()
        },
        four_discount_pct=int(data["fourDiscountPct"]),
    )


def to_json(rules: PrettyRules) -> dict[str, Any]:
    return {
        "rules": [{"rule": r, "grade": g} for r, g in rules.rules],
        "prices": {
            g: {
                "oneOffFen": p.one_off_fen,
                "minMonthlyFen": p.min_monthly_fen,
                "minMonths": p.min_months,
            }
            for g, p in rules.prices.items()
        },
        "fourDiscountPct": rules.four_discount_pct,
    }


def validate(data: dict[str, Any]) -> PrettyRules:
    """Check a rule table sent by an MVNO; every fault names its place."""
    rules = data.get("rules")
    prices = data.get("prices")
    if not isinstance(rules, list) or not isinstance(prices, dict):
        raise InvalidInput(
            "give rules (a list) and prices (by grade)", code="required", field="rules"
        )
    for i, entry in enumerate(rules):
        if not isinstance(entry, dict) or not RULE_SYNTAX.match(str(entry.get("rule", ""))):
            raise InvalidInput(
                f"rule {i}: one of same:N, runUp:N, runDown:N, shape:AABB, endsWith:DIGITS, year",
                code="rule_unknown",
                field=f"rules.{i}.rule",
            )
        if entry.get("grade") not in prices:
            raise InvalidInput(
                f"rule {i}: grade {entry.get('grade')!r} has no price",
                code="grade_unpriced",
                field=f"rules.{i}.grade",
            )
    if NORMAL not in prices:
        raise InvalidInput(
            f"prices need the normal grade {NORMAL!r}",
            code="grade_unpriced",
            field=f"prices.{NORMAL}",
        )
    for grade, price in prices.items():
        for key in ("oneOffFen", "minMonthlyFen", "minMonths"):
            value = price.get(key) if isinstance(price, dict) else None
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise InvalidInput(
                    f"{key} of grade {grade} is a whole number >= 0",
                    code="bad_price",
                    field=f"prices.{grade}.{key}",
                )
    discount = data.get("fourDiscountPct", 0)
    if not isinstance(discount, int) or not 0 <= discount <= 100:
        raise InvalidInput(
            "fourDiscountPct is 0..100", code="bad_discount", field="fourDiscountPct"
        )
    return from_json({**data, "fourDiscountPct": discount})
