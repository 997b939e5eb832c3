"""Identity documents (domain.md §4): ID numbers checked, other documents' formats, masks."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.cn import ric

from openmvne.domain.identity import (
    RIC_KINDS,
    CheckedId,
    EvidenceSource,
    IdType,
    age_on,
    check_id,
    manual_entry_allowed,
    mask_id,
    mask_name,
    parse_id_type,
    ric_check_char,
)
from openmvne.errors import InvalidInput

TODAY = date(2025, 6, 1)
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)  # GB 11643's table, 2^(17-i) mod 11
KNOWN_REGIONS = ("110101", "310101", "440300")  # in stdnum's table for every year


def check_char(first17: str) -> str:
    """ISO 7064 MOD 11-2, written from the standard's table, independently of the module."""
    return "10X98765432"[sum(int(c) * w for c, w in zip(first17, WEIGHTS, strict=True)) % 11]


def make_id(region: str = "110101", birth: str = "19800101", seq: str = "007") -> str:
    first17 = region + birth + seq
    return first17 + check_char(first17)


def assert_refused(
    id_type: IdType | str,
    number: str,
    code: str,
    *,
    field: str = "identification.number",
    expires_on: date | None = None,
) -> None:
    with pytest.raises(InvalidInput) as info:
        check_id(id_type, number, today=TODAY, expires_on=expires_on)
    assert (info.value.code, info.value.field) == (code, field)
    assert info.value.status == 400


# --- the check character -------------------------------------------------------------------


@given(st.from_regex(r"[0-9]{17}", fullmatch=True))
def test_check_char_agrees_with_the_module_and_stdnum(first17: str) -> None:
    assert check_char(first17) == ric_check_char(first17) == ric.calc_check_digit(first17 + "0")


def test_check_char_of_a_published_example() -> None:
    assert make_id("360426", "19910101", "007") == "360426199101010071"


# --- 18-character numbers ------------------------------------------------------------------


def test_a_valid_id_is_accepted_with_its_birth_date() -> None:
    number = make_id("110101", "19800101", "007")
    assert check_id(IdType.RESIDENT, number, today=TODAY) == CheckedId(
        IdType.RESIDENT, number, date(1980, 1, 1), ()
    )


@pytest.mark.parametrize("kind", sorted(RIC_KINDS))
def test_every_18_character_kind_uses_the_resident_rules(kind: IdType) -> None:
    assert check_id(kind, make_id(), today=TODAY).birth_date == date(1980, 1, 1)
    assert_refused(kind, make_id()[:-1] + "Z", "id_format")
    assert_refused(kind, "110101800101007", "id_first_generation")


def test_first_generation_15_digit_ids_are_refused() -> None:
    assert_refused(IdType.RESIDENT, "110101800101007", "id_first_generation")
    assert_refused(IdType.RESIDENT, " 110101 800101 007 ", "id_first_generation")


@pytest.mark.parametrize(
    "number",
    [
        "",
        "11010119800101007",  # 17
        "1101011980010100712",  # 19
        "11010119800101X071",  # X not last
        "A10101198001010071",
        "１１０１０１１９８００１０１００７１",  # full-width digits
        "١١٠١٠١١٩٨٠٠١٠١٠٠٧١",  # Arabic-Indic digits: isdigit() says yes
        "110101198001010071\n0",
    ],
)
def test_malformed_ids_are_refused(number: str) -> None:
    assert_refused(IdType.RESIDENT, number, "id_format")


def test_a_wrong_check_character_is_refused() -> None:
    good = make_id()
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    assert_refused(IdType.RESIDENT, bad, "id_checksum")


@pytest.mark.parametrize(
    "birth",
    [
        "19800230",  # 30 February
        "19801301",  # month 13
        "19800100",  # day 0
        "00000101",  # year 0
        "18991231",  # before 1900
        (TODAY + timedelta(days=1)).strftime("%Y%m%d"),  # tomorrow
        "20990101",
    ],
)
def test_impossible_birth_dates_are_refused(birth: str) -> None:
    """The check character is recomputed, so only the date is wrong."""
    assert_refused(IdType.RESIDENT, make_id(birth=birth), "id_birth_date")


def test_born_today_and_on_1900_01_01_are_accepted() -> None:
    for birth in (TODAY, date(1900, 1, 1)):
        checked = check_id(IdType.RESIDENT, make_id(birth=birth.strftime("%Y%m%d")), today=TODAY)
        assert checked.birth_date == birth


def test_lower_case_x_is_accepted_and_upper_cased() -> None:
    number = next(n for n in (make_id(seq=f"{s:03}") for s in range(1000)) if n[-1] == "X")
    checked = check_id(IdType.RESIDENT, number.lower(), today=TODAY)
    assert checked.number == number
    assert checked.number.endswith("X")


def test_spaces_are_stripped() -> None:
    number = make_id()
    spaced = f"  {number[:6]} {number[6:14]} {number[14:]}\t"
    assert check_id(IdType.RESIDENT, spaced, today=TODAY).number == number


def test_an_unknown_region_is_a_warning_not_an_error() -> None:
    number = make_id(region="990101")
    checked = check_id(IdType.RESIDENT, number, today=TODAY)
    assert checked.number == number
    assert checked.warnings == ("unknown region code 990101",)


def test_a_region_stdnum_crashes_on_is_only_a_warning() -> None:
    """110001: stdnum's table has the province but no county, and it raises KeyError."""
    number = make_id(region="110001")
    with pytest.raises(KeyError):
        ric.get_birth_place(number)
    checked = check_id(IdType.RESIDENT, number, today=TODAY)
    assert checked.warnings == ("unknown region code 110001",)


def test_a_region_stdnum_dates_later_than_the_birth_is_only_a_warning() -> None:
    """stdnum says 德安县 (360426) starts after 1970; it is older. Warn, accept."""
    with pytest.raises(ric.ValidationError):
        ric.validate(make_id(region="360426", birth="19700101"))
    checked = check_id(IdType.RESIDENT, make_id(region="360426", birth="19700101"), today=TODAY)
    assert checked.warnings == ("unknown region code 360426",)


def test_an_expired_document_is_refused() -> None:
    yesterday = TODAY - timedelta(days=1)
    assert_refused(
        IdType.RESIDENT,
        make_id(),
        "id_expired",
        field="identification.expiresOn",
        expires_on=yesterday,
    )
    assert_refused(
        IdType.PASSPORT,
        "E12345678",
        "id_expired",
        field="identification.expiresOn",
        expires_on=yesterday,
    )
    assert check_id(IdType.RESIDENT, make_id(), today=TODAY, expires_on=TODAY).warnings == ()


# --- types and other documents -------------------------------------------------------------


def test_types_parse_from_their_wire_names() -> None:
    for kind in IdType:
        assert parse_id_type(kind.value) is kind
    assert check_id("residentId", make_id(), today=TODAY).id_type is IdType.RESIDENT


@pytest.mark.parametrize("text", ["", "resident", "RESIDENTID", "idCard", "passport2"])
def test_unknown_types_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_id_type(text)
    assert (info.value.code, info.value.field) == ("id_type_unknown", "identification.type")
    assert_refused(text, make_id(), "id_type_unknown", field="identification.type")


ACCEPTED = [
    (IdType.MILITARY, "123456", "123456"),
    (IdType.MILITARY, "军字第2001988", "军字第2001988"),
    (IdType.MILITARY, "ab12345678cd", "AB12345678CD"),
    (IdType.ARMED_POLICE, "武字0012345", "武字0012345"),
    (IdType.HK_MACAU_PERMIT, "H12345678", "H12345678"),
    (IdType.HK_MACAU_PERMIT, "m1234567890", "M1234567890"),
    (IdType.TAIWAN_PERMIT, "12345678", "12345678"),
    (IdType.TAIWAN_PERMIT, "1234567890", "1234567890"),
    (IdType.PASSPORT, "E12345678", "E12345678"),
    (IdType.PASSPORT, " g1234 5678 ", "G12345678"),
    (IdType.PASSPORT, "A1234", "A1234"),
    (IdType.OTHER, "外国人永久居留证-ABC", "外国人永久居留证-ABC"),
    (IdType.OTHER, "ab/12", "AB/12"),
]
REFUSED = [
    (IdType.MILITARY, "12345"),
    (IdType.MILITARY, "1234567890123"),
    (IdType.MILITARY, "2001988军"),
    (IdType.MILITARY, "12345-78"),
    (IdType.ARMED_POLICE, ""),
    (IdType.HK_MACAU_PERMIT, "A12345678"),
    (IdType.HK_MACAU_PERMIT, "H123456789"),
    (IdType.HK_MACAU_PERMIT, "H1234567"),
    (IdType.TAIWAN_PERMIT, "1234567"),
    (IdType.TAIWAN_PERMIT, "123456789"),
    (IdType.TAIWAN_PERMIT, "T1234567"),
    (IdType.PASSPORT, "E123"),
    (IdType.PASSPORT, "E12345678901234567"),
    (IdType.PASSPORT, "E1234567ı"),  # dotless i upper-cases to I: must not sneak in
    (IdType.PASSPORT, "E12345-678"),
    (IdType.OTHER, "abc"),
    (IdType.OTHER, "a" * 31),
    (IdType.OTHER, "ab cd"),
    (IdType.OTHER, "ab\x00cd"),
]


@pytest.mark.parametrize(("kind", "number", "normalised"), ACCEPTED)
def test_other_documents_accepted(kind: IdType, number: str, normalised: str) -> None:
    assert check_id(kind, number, today=TODAY) == CheckedId(kind, normalised, None, ())


@pytest.mark.parametrize(("kind", "number"), REFUSED)
def test_other_documents_refused(kind: IdType, number: str) -> None:
    assert_refused(kind, number, "id_format")


def test_every_type_has_cases() -> None:
    covered = {k for k, *_ in ACCEPTED} | {k for k, _ in REFUSED} | RIC_KINDS
    assert covered == set(IdType)


# --- masks, age, evidence ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("360424198001010071", "3604**********0071"),
        ("H12345678", "H123*5678"),
        ("12345678", "1******8"),
        ("A1234", "A***4"),
        ("123", "1*3"),
        ("12", "**"),
        ("", ""),
    ],
)
def test_mask_id(number: str, masked: str) -> None:
    assert mask_id(number) == masked


@given(st.text(min_size=3))
def test_mask_id_keeps_the_length_and_hides_the_middle(number: str) -> None:
    text = number.strip()
    masked = mask_id(number)
    assert len(masked) == len(text)
    keep = 4 if len(text) > 8 else 1
    if len(text) >= 3:
        assert masked[keep:-keep] == "*" * (len(text) - 2 * keep)


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("张三", "张*"),
        ("欧阳娜娜", "欧***"),
        ("John Smith", "J*** S****"),
        ("阿里木·买买提", "阿**·买**"),
        ("", ""),
    ],
)
def test_mask_name(name: str, masked: str) -> None:
    assert mask_name(name) == masked


def test_age_on() -> None:
    birth = date(2007, 6, 2)
    assert age_on(birth, date(2025, 6, 1)) == 17
    assert age_on(birth, date(2025, 6, 2)) == 18
    leap = date(2004, 2, 29)
    assert age_on(leap, date(2022, 2, 28)) == 17
    assert age_on(leap, date(2022, 3, 1)) == 18


def test_manual_entry_only_in_test_mode() -> None:
    assert not manual_entry_allowed(EvidenceSource.MANUAL_FOR_TEST, test_mode=False)
    assert manual_entry_allowed(EvidenceSource.MANUAL_FOR_TEST, test_mode=True)
    for source in (EvidenceSource.READER, EvidenceSource.ONLINE_CHECK):
        assert manual_entry_allowed(source, test_mode=False)
        assert manual_entry_allowed(source, test_mode=True)


# --- fuzz ------------------------------------------------------------------------------------


def check_or_refuse(kind: IdType, number: str) -> CheckedId | None:
    """Anything but InvalidInput escaping fails the test."""
    try:
        return check_id(kind, number, today=TODAY)
    except InvalidInput:
        return None


@settings(deadline=None, max_examples=300)
@given(st.sampled_from(IdType), st.text())
def test_any_text_is_checked_or_refused(kind: IdType, number: str) -> None:
    check_or_refuse(kind, number)


@given(st.text())
def test_any_type_text_is_parsed_or_refused(text: str) -> None:
    try:
        parse_id_type(text)
    except InvalidInput as e:
        assert e.code == "id_type_unknown"


@settings(deadline=None, max_examples=300)
@given(
    st.from_regex(r"[0-9]{6}", fullmatch=True),
    st.one_of(
        st.from_regex(r"[0-9]{8}", fullmatch=True),
        st.dates(date(1900, 1, 1), TODAY).map(lambda d: d.strftime("%Y%m%d")),
    ),
    st.from_regex(r"[0-9]{3}", fullmatch=True),
)
def test_near_valid_ids_are_checked_or_refused(region: str, birth: str, seq: str) -> None:
    """Right check character, any region and date: reaches stdnum's region lookup."""
    number = make_id(region, birth, seq)
    checked = check_or_refuse(IdType.RESIDENT, number)
    if checked is not None:
        assert checked.number == number
        assert checked.birth_date is not None
        assert checked.birth_date.strftime("%Y%m%d") == birth


@settings(deadline=None)
@given(st.from_regex(r"[0-9Xx ]{14,19}", fullmatch=True))
def test_near_valid_strings_are_checked_or_refused(number: str) -> None:
    check_or_refuse(IdType.RESIDENT, number)


@settings(deadline=None)
@given(
    st.sampled_from(KNOWN_REGIONS),
    st.dates(date(1930, 1, 1), date(2010, 12, 31)),
    st.integers(0, 999),
)
def test_generated_valid_ids_pass_and_round_trip(region: str, birth: date, seq: int) -> None:
    number = make_id(region, birth.strftime("%Y%m%d"), f"{seq:03}")
    checked = check_id(IdType.RESIDENT, number.lower(), today=TODAY)
    assert checked == CheckedId(IdType.RESIDENT, number, birth, ())
    assert age_on(checked.birth_date, TODAY) == age_on(birth, TODAY)
    masked = mask_id(checked.number)
    assert masked[:4] == number[:4]
    assert masked[-4:] == number[-4:]
    assert masked[4:14] == "*" * 10
