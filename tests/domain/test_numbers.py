"""Numbers, segments, patterns and grading: pure rules."""

from __future__ import annotations

import itertools
import re

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st
from phonenumbers import carrier

from openmvne.domain.numbers import (
    HOST_BY_PREFIX,
    HOST_NAMES,
    HostNetwork,
    NumberRange,
    NumberState,
    check_move,
    check_segment_prefix,
    host_of,
    parse_msisdn,
    utilisation_allows,
)
from openmvne.domain.patterns import compile_pattern
from openmvne.domain.pretty import DEFAULT, validate
from openmvne.errors import Conflict, DomainError


@pytest.mark.parametrize("prefix", [p for p in HOST_BY_PREFIX if p[:3] in ("170", "171", "167")])
def test_host_table_agrees_with_libphonenumber(prefix: str) -> None:
    """phonenumbers knows the carrier of 170x, 171 and 167 (not 162/165): they must agree."""
    for digit in "059":
        number = prefix + digit * (11 - len(prefix))
        expected = HOST_NAMES[HOST_BY_PREFIX[prefix][0]]
        parsed = phonenumbers.parse("+86" + number)
        assert carrier.name_for_number(parsed, "en") == expected, number
        assert host_of(number) is HOST_BY_PREFIX[prefix][0]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("1710000000", "msisdn_malformed"),
        ("171000000000", "msisdn_malformed"),
        ("1710000000a", "msisdn_malformed"),
        ("", "msisdn_malformed"),
        ("13800138000", "not_a_resale_number"),
        ("27100000000", "msisdn_malformed"),
        ("171\u0660\u0660\u0660\u0660\u0660\u066001", "msisdn_malformed"),  # Arabic-Indic
        ("171\u00b9\u00b2\u00b3\u00b9\u00b2\u00b3\u00b91", "msisdn_malformed"),  # superscripts
    ],
)
def test_bad_numbers(text: str, code: str) -> None:
    with pytest.raises(DomainError) as caught:
        parse_msisdn(text)
    assert caught.value.code == code


def test_number_forms() -> None:
    m = parse_msisdn("+86 171-0001-8888")
    assert m.national == "17100018888"
    assert m.e164 == "+8617100018888"
    assert (m.block_prefix, m.offset) == ("1710001", 8888)
    assert parse_msisdn("8617100018888") == m
    # Full-width digits, as Chinese input methods type them: the same number, in ASCII.
    assert parse_msisdn("\uff11\uff17\uff11\uff10\uff10\uff10\uff11\uff18\uff18\uff18\uff18") == m


@pytest.mark.parametrize(
    ("prefix", "host", "code"),
    [
        ("170", HostNetwork.UNICOM, "prefix_shared"),
        ("17", HostNetwork.UNICOM, "prefix_malformed"),
        ("1704", HostNetwork.TELECOM, "wrong_host_network"),
        ("138", HostNetwork.MOBILE, "not_a_resale_segment"),
        ("17a", HostNetwork.UNICOM, "prefix_malformed"),
    ],
)
def test_segment_prefix_rules(prefix: str, host: HostNetwork, code: str) -> None:
    with pytest.raises(DomainError) as caught:
        check_segment_prefix(prefix, host)
    assert caught.value.code == code


def test_good_segments() -> None:
    check_segment_prefix("171", HostNetwork.UNICOM)
    check_segment_prefix("1700", HostNetwork.TELECOM)
    check_segment_prefix("1705", HostNetwork.MOBILE)
    check_segment_prefix("162", HostNetwork.TELECOM)


def test_utilisation_rule() -> None:
    assert utilisation_allows(0, 0, 60)  # the first allocation is exempt
    assert not utilisation_allows(5999, 10_000, 60)
    assert utilisation_allows(6000, 10_000, 60)
    assert utilisation_allows(0, 10_000, 0)


def test_ranges() -> None:
    a = NumberRange(17100000000, 17100009999)
    assert a.size == 10_000
    assert a.overlaps(NumberRange(17100009999, 17100010005))
    assert not a.overlaps(NumberRange(17100010000, 17100019999))
    assert list(NumberRange(17100005000, 17100015000).block_values()) == [17100000000, 17100010000]
    with pytest.raises(DomainError):
        NumberRange(2, 1)


def test_number_life() -> None:
    order = [
        None,
        NumberState.RESERVED,
        NumberState.ASSIGNED,
        NumberState.IN_USE,
        NumberState.QUARANTINED,
        None,
    ]
    for current, target in itertools.pairwise(order):
        check_move(current, target, "17100000000")
    with pytest.raises(Conflict):
        check_move(None, NumberState.IN_USE, "17100000000")
    with pytest.raises(Conflict):
        check_move(NumberState.IN_USE, None, "17100000000")


digit_or_any = st.sampled_from(list("0123456789?"))


@st.composite
def patterns(draw: st.DrawFn) -> str:
    body = "".join(draw(st.lists(digit_or_any, min_size=1, max_size=6)))
    form = draw(st.sampled_from(["*{}", "*{}*", "171{}*"]))
    return form.format(body)


def _as_regex(pattern: str) -> re.Pattern[str]:
    core = re.escape(pattern).replace(r"\?", r"\d").replace(r"\*", ".*")
    return re.compile(f"^{core}$")


@given(patterns(), st.integers(min_value=0, max_value=99_999_999), st.sampled_from(["", "4"]))
def test_pattern_matching_agrees_with_a_regex(pattern: str, tail: int, exclude: str) -> None:
    number = f"171{tail:08d}"
    try:
        compiled = compile_pattern(pattern, exclude)
    except DomainError:
        return  # a pattern that cannot match a resale number is refused up front
    expected = bool(_as_regex(pattern).match(number)) and not (exclude and exclude in number)
    assert compiled.matches(number) == expected


@pytest.mark.parametrize(
    ("pattern", "code"),
    [
        ("139*", "pattern_cannot_match"),
        ("*1234567890123", "pattern_cannot_match"),
        ("abc", "pattern_malformed"),
        ("12*34", "pattern_malformed"),
        ("1710000", "pattern_cannot_match"),
        ("*44*", "pattern_cannot_match"),
    ],
)
def test_patterns_refused(pattern: str, code: str) -> None:
    with pytest.raises(DomainError) as caught:
        compile_pattern(pattern, "4" if pattern == "*44*" else "")
    assert caught.value.code == code


def test_word_patterns() -> None:
    assert compile_pattern("ends 520").matches("17100000520")
    assert compile_pattern("contains 168").matches("17116800000")
    assert compile_pattern("starts 1710").matches("17100000520")
    assert not compile_pattern("starts 1710").matches("17110000520")


@pytest.mark.parametrize(
    ("number", "grade", "one_off_fen"),
    [
        ("17100018888", "A", 80_000),  # AAAA
        ("17100088888", "S", 200_000),  # AAAAA
        ("17100001234", "S", 100_000),  # 01234 is a five-step run; has a 4: half price
        ("17100056789", "S", 200_000),  # 56789
        ("17100002345", "B", 15_000),  # ABCD with a 4
        ("17100009876", "B", 30_000),  # DCBA
        ("17100001122", "B", 30_000),  # AABB
        ("17100001212", "B", 30_000),  # ABAB
        ("17100001221", "C", 10_000),  # ABBA
        ("17100000111", "C", 10_000),  # AAA
        ("17100003335", "C", 10_000),  # AAAB
        ("17100007520", "C", 10_000),  # tail 520
        ("17100007788", "B", 30_000),  # AABB beats tail 88
        ("17100003988", "D", 3_000),  # tail 88
        ("17100001998", "D", 3_000),  # a year
        ("17100007390", "N", 0),
    ],
)
def test_grading_agrees_with_hand_written_examples(
    number: str, grade: str, one_off_fen: int
) -> None:
    got_grade, price = DEFAULT.price(number)
    assert (got_grade, price.one_off_fen) == (grade, one_off_fen)


def test_rule_tables_are_validated() -> None:
    good = {
        "rules": [{"rule": "same:4", "grade": "A"}],
        "prices": {
            "A": {"oneOffFen": 100, "minMonthlyFen": 0, "minMonths": 0},
            "N": {"oneOffFen": 0, "minMonthlyFen": 0, "minMonths": 0},
        },
        "fourDiscountPct": 0,
    }
    table = validate(good)
    assert table.grade("17100008888") == "A"
    assert table.grade("17100008887") == "N"
    for broken, field in [
        ({**good, "rules": [{"rule": "regex:.*", "grade": "A"}]}, "rules.0.rule"),
        ({**good, "rules": [{"rule": "same:4", "grade": "Z"}]}, "rules.0.grade"),
        ({**good, "prices": {"A": good["prices"]["A"]}}, "prices.N"),
        ({**good, "fourDiscountPct": 120}, "fourDiscountPct"),
    ]:
        with pytest.raises(DomainError) as caught:
            validate(broken)
        assert caught.value.field == field


@given(
    st.sampled_from(["162", "165", "167", "170", "171"]),
    st.integers(min_value=0, max_value=99_999_999),
)
def test_block_validity_equals_libphonenumber_per_number(code: str, tail: int) -> None:
    """parse_msisdn checks validity once per block; it must agree with the full check."""
    from openmvne.domain.numbers import _valid_block

    number = f"{code}{tail:08d}"
    assert _valid_block(number[:7]) == phonenumbers.is_valid_number(
        phonenumbers.parse("+86" + number)
    )


@pytest.mark.parametrize("exclude", ["\u00b9", "4\u00b2", "\uff14", "a"])
def test_only_ascii_digits_are_excluded(exclude: str) -> None:
    """str.isdigit() takes superscripts, which int() refuses: a 500 until checked first."""
    with pytest.raises(DomainError) as caught:
        compile_pattern("*88", exclude)
    assert caught.value.code == "bad_exclude"
    assert compile_pattern("*88", "4,7") == compile_pattern("*88", "47")
