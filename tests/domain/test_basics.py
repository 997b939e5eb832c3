"""ids, money, regions, clock: the small modules everything leans on."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openmvne import clock, ids, money
from openmvne.domain import regions
from openmvne.errors import InvalidInput


@given(st.uuids())
def test_public_ids_round_trip(value: uuid.UUID) -> None:
    text = ids.to_public("organization", value)
    assert text.startswith("org_")
    assert len(text) == 30
    assert ids.from_public("organization", text) == value
    assert ids.from_public("individual", text) is None  # wrong kind


@given(st.uuids(), st.uuids())
def test_public_ids_sort_like_uuids(a: uuid.UUID, b: uuid.UUID) -> None:
    assert (ids.encode(a) < ids.encode(b)) == (a.int < b.int)


@pytest.mark.parametrize(
    "text",
    ["org_", "org_!!!!!!!!!!!!!!!!!!!!!!!!!!", "org_" + "Z" * 26, "nothing", "org_" + "0" * 25],
)
def test_malformed_public_ids(text: str) -> None:
    assert ids.from_public("organization", text) is None


def test_new_ids_are_time_ordered_v7() -> None:
    first, second = ids.new_id(), ids.new_id()
    assert first.version == 7
    assert first < second


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_fen_round_trips_through_yuan(amount_fen: int) -> None:
    assert money.parse_yuan(money.format_fen(amount_fen)) == amount_fen


@pytest.mark.parametrize(
    ("text", "fen"), [("59", 5900), ("0.1", 10), ("12.34", 1234), ("-0.05", -5), (" 3.5 ", 350)]
)
def test_parse_yuan(text: str, fen: int) -> None:
    assert money.parse_yuan(text) == fen


@pytest.mark.parametrize("text", ["1.234", "abc", "", "1,00", "1e3", "0.1.2"])
def test_parse_yuan_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        money.parse_yuan(text)


def test_regions_from_the_national_table() -> None:
    shenzhen = regions.lookup("440300")
    assert shenzhen is not None
    assert (shenzhen.name, shenzhen.province_name, shenzhen.level) == (
        "深圳市",
        "广东省",
        regions.RegionLevel.PREFECTURE,
    )
    guangdong = regions.lookup("440000")
    assert guangdong is not None
    assert guangdong.contains(shenzhen)
    assert not shenzhen.contains(guangdong)
    assert regions.lookup("440305") is not None
    assert regions.lookup("440305").name == "南山区"  # type: ignore[union-attr]
    assert regions.lookup("999999") is None
    assert regions.lookup("44030") is None
    assert len(regions.provinces()) == 34


def test_abolished_regions_are_refused_with_their_year() -> None:
    with pytest.raises(InvalidInput) as caught:
        regions.require_current("110103")  # 崇文区, merged into 东城区 in 2010
    assert caught.value.code == "region_abolished"
    assert "2010" in caught.value.message


def test_clock_is_aware_utc_and_freezable() -> None:
    assert clock.now().tzinfo is not None
    at = datetime(2026, 1, 1, tzinfo=UTC)
    with clock.frozen(at):
        assert clock.now() == at
    assert clock.now() != at
    with pytest.raises(ValueError), clock.frozen(datetime(2026, 1, 1)):  # noqa: DTZ001
        pass
