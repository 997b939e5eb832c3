"""Catalog rules: offers and their allowances, wholesale price lists, the cost chain of a
sellable offer or partner package, and the inversion guard (domain.md §6).

All arithmetic is in integers: money in fen, unit rates in µfen (money.MICRO_PER_FEN).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum

from openmvne.domain.channels import ChannelLevel
from openmvne.errors import Conflict, InvalidInput, RuleViolation
from openmvne.money import MICRO_PER_FEN, micro_to_fen_up

BASIS_POINTS = 10_000  # percentages are basis points: 1,000 = 10 %


class OfferKind(StrEnum):
    PLAN = "plan"  # monthly package with allowances
    PAYG = "payAsYouGo"
    ADDON = "addon"  # data pack, day pack, a service such as caller ID
    PRETTY_NUMBER_PLAN = "prettyNumberPlan"  # minimum monthly spend and term for a 靓号
    PACKAGE = "partnerPackage"  # published from an approved partner design


class PriceModel(StrEnum):
    POOL = "pool"  # per-unit prices for voice, SMS and data
    PACKAGE = "package"  # host packages at a discount off their public price


class DesignStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"
    PUBLISHED = "published"
    RETIRED = "retired"


_DESIGN_MOVES = {
    "submit": ({DesignStatus.DRAFT, DesignStatus.REJECTED}, DesignStatus.SUBMITTED),
    "approve": ({DesignStatus.SUBMITTED}, DesignStatus.APPROVED),
    "reject": ({DesignStatus.SUBMITTED}, DesignStatus.REJECTED),
    "publish": ({DesignStatus.APPROVED}, DesignStatus.PUBLISHED),
    "retire": ({DesignStatus.PUBLISHED, DesignStatus.APPROVED}, DesignStatus.RETIRED),
}


def next_design_status(current: DesignStatus, task: str) -> DesignStatus:
    allowed, target = _DESIGN_MOVES[task]
    if current not in allowed:
        raise Conflict(
            f"cannot {task} a package that is {current.value}",
            code="invalid_transition",
            field="status",
        )
    return target


@dataclass(frozen=True)
class Units:
    """Quantities of the three services: minutes, messages, megabytes."""

    voice_min: int = 0
    sms: int = 0
    data_mb: int = 0

    def __add__(self, other: Units) -> Units:
        return Units(
            self.voice_min + other.voice_min, self.sms + other.sms, self.data_mb + other.data_mb
        )


@dataclass(frozen=True)
class UnitRates:
    """µfen per minute, per message, per MB."""

    voice: int
    sms: int
    data: int

    def discounted(self, discount_bp: int) -> UnitRates:
        keep = BASIS_POINTS - discount_bp
        # Exact: a discounted rate is rounded up to the µfen, never in the MVNO's favour.
        return UnitRates(*(-(-r * keep // BASIS_POINTS) for r in (self.voice, self.sms, self.data)))


@dataclass(frozen=True)
class RevenueTier:
    min_annual_revenue_fen: int
    discount_bp: int


def tier_discount(tiers: list[RevenueTier], annual_revenue_fen: int) -> int:
    """The discount of the highest tier the MVNO's annual revenue reaches (0 if none)."""
    reached = [t for t in tiers if annual_revenue_fen >= t.min_annual_revenue_fen]
    return max((t.discount_bp for t in reached), default=0)


def check_pool_below_average(rates: UnitRates, average: UnitRates) -> None:
    """Resource-pool prices must stay below the host's average unit prices (479号文)."""
    for name in ("voice", "sms", "data"):
        if getattr(rates, name) >= getattr(average, name):
            raise RuleViolation(
                f"the pool {name} price is not below the host's average unit price",
                code="pool_price_not_below_average",
                field=f"{name}RateFen",
            )


def review_due(valid_from: date, model: PriceModel, results_published_on: date | None) -> date:
    """Reviewed at least yearly; in pool mode also within a month of the host's results."""
    yearly = (
        valid_from.replace(year=valid_from.year + 1)
        if not (valid_from.month == 2 and valid_from.day == 29)
        else valid_from + timedelta(days=365)
    )
    if model is PriceModel.POOL and results_published_on is not None:
        after_results = results_published_on + timedelta(days=31)
        if after_results >= valid_from:
            return min(yearly, after_results)
    return yearly


def check_year(day: date, field_name: str) -> date:
    """A day of wholesale terms falls in 2000..2100, as settlement's months do: review dates
    are counted from it, and a year past 9999 has none."""
    if not 2000 <= day.year <= 2100:
        raise InvalidInput(
            f"{field_name} falls in the years 2000..2100", code="bad_date", field=field_name
        )
    return day


def validity_overlaps(a_from: date, a_to: date | None, b_from: date, b_to: date | None) -> bool:
    return (a_to is None or b_from <= a_to) and (b_to is None or a_from <= b_to)


@dataclass(frozen=True)
class CostLine:
    label: str
    micro: int  # µfen


@dataclass(frozen=True)
class CostChain:
    price_fen: int
    lines: list[CostLine] = field(default_factory=list)

    @property
    def cost_fen(self) -> int:
        return micro_to_fen_up(sum(line.micro for line in self.lines))

    @property
    def margin_fen(self) -> int:
        return self.price_fen - self.cost_fen

    @property
    def inverted(self) -> bool:
        return self.price_fen < self.cost_fen


# A pay-as-you-go offer has no fee and no allowance; its cost chain is judged on this month.
PAYG_REFERENCE_MONTH = Units(voice_min=100, sms=100, data_mb=1024)


def payg_price_fen(units: Units, rates: UnitRates) -> int:
    """What the reference month costs the subscriber, in whole fen (rounded down: the
    subscriber is never assumed to pay more than the rates say)."""
    micro = units.voice_min * rates.voice + units.sms * rates.sms + units.data_mb * rates.data
    return micro // MICRO_PER_FEN


def wholesale_lines(allowances: Units, rates: UnitRates, per_number_fee_fen: int) -> list[CostLine]:
    return [
        CostLine(f"wholesale voice {allowances.voice_min} min", allowances.voice_min * rates.voice),
        CostLine(f"wholesale SMS {allowances.sms}", allowances.sms * rates.sms),
        CostLine(f"wholesale data {allowances.data_mb} MB", allowances.data_mb * rates.data),
        CostLine("per-number fee", per_number_fee_fen * MICRO_PER_FEN),
    ]


def share_line(label: str, price_fen: int, share_bp: int) -> CostLine:
    """A margin or commission taken as a share of the price, in µfen (exact)."""
    return CostLine(label, price_fen * MICRO_PER_FEN * share_bp // BASIS_POINTS)


# Revenue-share commission per channel level, in basis points; each tier keeps the
# difference between its rate and its child's (domain.md §3).
LEVEL_ORDER = [
    ChannelLevel.NATIONAL,
    ChannelLevel.ENTERPRISE,
    ChannelLevel.PROVINCE,
    ChannelLevel.PREFECTURE,
    ChannelLevel.OUTLET,
]


def tier_kept_bp(scheme: dict[str, int], chain: list[ChannelLevel]) -> list[int]:
    """What each channel on a chain (top first) keeps: its rate less its child's rate; the
    last one keeps its whole rate. Rates missing from the scheme count as zero."""
    rates = [scheme.get(level.value, 0) for level in chain]
    return [
        max(0, rate - (rates[i + 1] if i + 1 < len(rates) else 0)) for i, rate in enumerate(rates)
    ]


def upstream_commission_bp(
    scheme: dict[str, int], ancestors: list[ChannelLevel], seller: ChannelLevel | None
) -> list[tuple[ChannelLevel, int]]:
    """What each ancestor of the seller keeps (the seller's own share is its margin)."""
    kept = tier_kept_bp(scheme, [*ancestors, *([seller] if seller else [])])
    return list(zip(ancestors, kept[: len(ancestors)], strict=True))


def check_not_inverted(chain: CostChain, what: str) -> None:
    if chain.inverted:
        raise RuleViolation(
            f"{what}: price {chain.price_fen} fen is below its cost chain {chain.cost_fen} fen",
            code="price_below_cost",
            field="priceFen",
            breakdown=[{"label": line.label, "amountMicroFen": line.micro} for line in chain.lines],
            costFen=chain.cost_fen,
        )


def require_fen(value: object, field_name: str) -> int:
    """Money in: a whole, non-negative number of fen; a float or a bool is refused."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(
            f"{field_name} is a whole number of fen", code="bad_money", field=field_name
        )
    if value < 0:
        raise InvalidInput(f"{field_name} cannot be negative", code="bad_money", field=field_name)
    if value > 10**12:
        raise InvalidInput(f"{field_name} is absurdly large", code="bad_money", field=field_name)
    return value
