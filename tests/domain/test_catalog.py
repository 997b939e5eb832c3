"""Catalog arithmetic: exact rates, discounts, review dates, commissions, cost chains."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openmvne.domain import catalog as rules
from openmvne.domain.catalog import CostChain, CostLine, UnitRates, Units
from openmvne.domain.channels import ChannelLevel
from openmvne.errors import DomainError
from openmvne.money import MICRO_PER_FEN, format_micro_as_yuan, micro_to_fen_up, parse_rate_fen


@pytest.mark.parametrize(
    ("text", "micro"), [("10", 10_000_000), ("7.3", 7_300_000), ("0.000001", 1), ("1.2", 1_200_000)]
)
def test_rates_are_exact_integers(text: str, micro: int) -> None:
    assert parse_rate_fen(text) == micro


@pytest.mark.parametrize("text", ["0.0000001", "-1", "1e3", "abc", "", "1.2.3", "0x10"])
def test_bad_rates_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_rate_fen(text)


def test_tiers_and_discounts() -> None:
    tiers = [
        rules.RevenueTier(0, 0),
        rules.RevenueTier(1_000, 1000),
        rules.RevenueTier(5_000, 2000),
    ]
    assert rules.tier_discount(tiers, 999) == 0
    assert rules.tier_discount(tiers, 1_000) == 1000
    assert rules.tier_discount(tiers, 10_000) == 2000
    # 1.2 fen less 33.33 % is 0.80004 fen: rounded up to the µfen, never down.
    assert UnitRates(3, 3, 1_200_000).discounted(3333) == UnitRates(3, 3, 800_040)
    assert UnitRates(1, 1, 1).discounted(5000) == UnitRates(1, 1, 1)


def test_pool_prices_must_stay_below_the_host_average() -> None:
    average = UnitRates(9_000_000, 6_000_000, 7_300_000)
    rules.check_pool_below_average(UnitRates(6_000_000, 4_000_000, 1_200_000), average)
    with pytest.raises(DomainError) as caught:
        rules.check_pool_below_average(UnitRates(6_000_000, 4_000_000, 7_300_000), average)
    assert caught.value.field == "dataRateFen"


def test_review_dates() -> None:
    start = date(2016, 1, 1)
    assert rules.review_due(start, rules.PriceModel.PACKAGE, None) == date(2017, 1, 1)
    # Pool mode: within a month of the host's annual results, if that comes sooner.
    assert rules.review_due(start, rules.PriceModel.POOL, date(2016, 3, 20)) == date(2016, 4, 20)
    assert rules.review_due(date(2016, 2, 29), rules.PriceModel.PACKAGE, None) == date(2017, 2, 28)


def test_validity_overlap() -> None:
    assert rules.validity_overlaps(date(2016, 1, 1), None, date(2017, 1, 1), None)
    assert not rules.validity_overlaps(date(2016, 1, 1), date(2016, 12, 31), date(2017, 1, 1), None)
    assert rules.validity_overlaps(date(2016, 1, 1), date(2016, 12, 31), date(2016, 12, 31), None)


def test_each_tier_keeps_the_difference() -> None:
    scheme = {"national": 1000, "province": 800, "prefecture": 600, "outlet": 400}
    kept = rules.upstream_commission_bp(
        scheme, [ChannelLevel.NATIONAL, ChannelLevel.PROVINCE], ChannelLevel.PREFECTURE
    )
    assert kept == [(ChannelLevel.NATIONAL, 200), (ChannelLevel.PROVINCE, 200)]
    assert rules.upstream_commission_bp(scheme, [], ChannelLevel.NATIONAL) == []


def test_a_price_below_the_chain_is_refused_with_the_breakdown() -> None:
    chain = CostChain(4000, [CostLine("wholesale data", 4_000_000_001)])
    assert chain.cost_fen == 4001  # one µfen over 4,000 fen costs a whole fen more
    with pytest.raises(DomainError) as caught:
        rules.check_not_inverted(chain, "test")
    assert caught.value.code == "price_below_cost"
    assert caught.value.details["breakdown"] == [
        {"label": "wholesale data", "amountMicroFen": 4_000_000_001}
    ]


@given(
    st.integers(0, 10_000),
    st.integers(0, 10_000),
    st.integers(0, 100_000),
    st.integers(0, 50_000_000),
    st.integers(0, 50_000_000),
    st.integers(0, 50_000_000),
    st.integers(0, 10_000),
    st.integers(0, 10**7),
    st.integers(0, 9999),
)
def test_cost_chain_arithmetic_is_exact(
    voice: int, sms: int, data: int, rv: int, rs: int, rd: int, fee: int, price: int, share: int
) -> None:
    lines = rules.wholesale_lines(Units(voice, sms, data), UnitRates(rv, rs, rd), fee)
    lines.append(rules.share_line("commission", price, share))
    chain = CostChain(price, lines)
    total_micro = (
        voice * rv
        + sms * rs
        + data * rd
        + fee * MICRO_PER_FEN
        + price * MICRO_PER_FEN * share // 10_000
    )
    assert all(isinstance(line.micro, int) for line in lines)
    assert chain.cost_fen == micro_to_fen_up(total_micro)
    assert chain.cost_fen * MICRO_PER_FEN >= total_micro > (chain.cost_fen - 1) * MICRO_PER_FEN
    assert chain.inverted == (price < chain.cost_fen)


def test_money_validation() -> None:
    assert rules.require_fen(5900, "priceFen") == 5900
    for bad in (59.0, -1, True, "5900", 10**13):
        with pytest.raises(DomainError):
            rules.require_fen(bad, "priceFen")


def test_display_of_micro_fen() -> None:
    assert format_micro_as_yuan(3_686_400_000) == "36.8640"
    assert format_micro_as_yuan(1) == "0.0000"
