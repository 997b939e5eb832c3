"""Identity documents for real-name registration (domain.md §4): check, normalise, mask.

Pure: stdlib, `stdnum` and `openmvne.errors` only. Every refusal is an `InvalidInput` with
a stable code, whatever string comes in; nothing else may escape `check_id`.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from stdnum.cn import ric

from openmvne.errors import InvalidInput

NUMBER_FIELD = "identification.number"
TYPE_FIELD = "identification.type"
EXPIRES_FIELD = "identification.expiresOn"


class IdType(StrEnum):
    RESIDENT = "residentId"  # 居民身份证, 18 chars GB 11643
    TEMPORARY_RESIDENT = "temporaryResidentId"  # 临时身份证: same number as the resident ID
    HOUSEHOLD_REGISTER = "householdRegister"  # 户口簿 (minors): same 18-char number
    MILITARY = "militaryId"  # 军官证
    ARMED_POLICE = "armedPoliceId"  # 武警警官证
    HK_MACAU_PERMIT = "hkMacauPermit"  # 港澳居民来往内地通行证
    TAIWAN_PERMIT = "taiwanPermit"  # 台湾居民来往大陆通行证
    PASSPORT = "passport"
    OTHER = "other"


class EvidenceSource(StrEnum):
    READER = "reader"  # the ID card reader (chip)
    ONLINE_CHECK = "onlineCheck"  # the national online verification
    MANUAL_FOR_TEST = "manualForTest"  # typed in by hand: test mode only


@dataclass(frozen=True)
class CheckedId:
    id_type: IdType
    number: str  # normalised: stripped, upper-case (trailing x -> X)
    birth_date: date | None  # from the number for the 18-digit kinds, else None
    warnings: tuple[str, ...]  # doubts that do not refuse, e.g. "unknown region code 990101"


RIC_KINDS = frozenset({IdType.RESIDENT, IdType.TEMPORARY_RESIDENT, IdType.HOUSEHOLD_REGISTER})

# Explicit [0-9] and [A-Za-z], never \d or \w: those accept Arabic-Indic or full-width digits,
# which int() would then happily read. Checked before upper-casing, so that no non-ASCII
# letter can turn into an ASCII one ("ı".upper() == "I").
_RIC = re.compile(r"[0-9]{17}[0-9Xx]")
_FORMATS: dict[IdType, re.Pattern[str]] = {
    # An optional Chinese prefix (e.g. 军, 南字), then 6-12 letters or digits.
    IdType.MILITARY: re.compile(r"[\u4e00-\u9fff]{0,8}[A-Za-z0-9]{6,12}"),
    IdType.ARMED_POLICE: re.compile(r"[\u4e00-\u9fff]{0,8}[A-Za-z0-9]{6,12}"),
    IdType.HK_MACAU_PERMIT: re.compile(r"[HMhm][0-9]{8}(?:[0-9]{2})?"),
    IdType.TAIWAN_PERMIT: re.compile(r"[0-9]{8}(?:[0-9]{2})?"),
    IdType.PASSPORT: re.compile(r"[A-Za-z0-9]{5,17}"),
    IdType.OTHER: re.compile(r"\S{4,30}"),
}
_ASCII_UPPER = str.maketrans(string.ascii_lowercase, string.ascii_uppercase)
_EARLIEST_BIRTH = date(1900, 1, 1)
_NAME_PART = re.compile(r"[^\s·・•]+")  # words of a name; Chinese minority names use a middle dot


def parse_id_type(text: str) -> IdType:
    try:
        return IdType(text.strip())
    except ValueError:
        raise InvalidInput(
            f"Unknown identification type {text!r}", code="id_type_unknown", field=TYPE_FIELD
        ) from None


def check_id(
    id_type: IdType | str, number: str, *, today: date, expires_on: date | None = None
) -> CheckedId:
    """Check a document number; raise InvalidInput, or return it normalised with any warnings."""
    kind = id_type if isinstance(id_type, IdType) else parse_id_type(id_type)
    if kind in RIC_KINDS:
        checked = _check_ric(kind, number, today)
    else:
        text = number.strip() if kind is IdType.OTHER else "".join(number.split())
        if not _FORMATS[kind].fullmatch(text) or not text.isprintable():
            raise _bad(f"Not a valid {kind} number", "id_format")
        checked = CheckedId(kind, text.translate(_ASCII_UPPER), None, ())
    if expires_on is not None and expires_on < today:
        raise InvalidInput(
            f"The document expired on {expires_on.isoformat()}",
            code="id_expired",
            field=EXPIRES_FIELD,
        )
    return checked


def _check_ric(kind: IdType, number: str, today: date) -> CheckedId:
    text = "".join(number.split())
    if len(text) == 15 and text.isascii() and text.isdigit():
        raise _bad("First-generation (15-digit) ID numbers are not accepted", "id_first_generation")
    if not _RIC.fullmatch(text):
        raise _bad("An ID number is 17 digits and a digit or X", "id_format")
    text = text.upper()
    if text[17] != ric_check_char(text[:17]):
        raise _bad("The ID number's check character is wrong", "id_checksum")
    try:
        birth = date(int(text[6:10]), int(text[10:12]), int(text[12:14]))
    except ValueError:
        raise _bad("The ID number's birth date is not a date", "id_birth_date") from None
    if not _EARLIEST_BIRTH <= birth <= today:
        raise _bad("The ID number's birth date is out of range", "id_birth_date")
    # Only a warning: stdnum's region table misses codes, refuses districts in years before it
    # thinks they existed (it rejects 360426 for 1970) and raises other than ValidationError
    # on some entries. Region codes also survive district reforms; the number stays valid.
    warnings: tuple[str, ...] = ()
    try:
        ric.get_birth_place(text)
    except Exception:
        warnings = (f"unknown region code {text[:6]}",)
    return CheckedId(kind, text, birth, warnings)


def ric_check_char(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character of 17 ASCII digits (GB 11643)."""
    total = sum(int(c) * pow(2, 17 - i, 11) for i, c in enumerate(first17))
    value = (12 - total % 11) % 11
    return "X" if value == 10 else str(value)


def _bad(message: str, code: str) -> InvalidInput:
    return InvalidInput(message, code=code, field=NUMBER_FIELD)


def mask_id(number: str) -> str:
    """Keep the first and last 4 (1 if 8 or fewer), star the rest; the length is kept."""
    text = number.strip()
    if len(text) <= 2:
        return "*" * len(text)
    keep = 4 if len(text) > 8 else 1
    return text[:keep] + "*" * (len(text) - 2 * keep) + text[-keep:]


def mask_name(name: str) -> str:
    """Keep the first character of each word: "张三" -> "张*", "John Smith" -> "J*** S****"."""
    return _NAME_PART.sub(lambda m: m.group()[0] + "*" * (len(m.group()) - 1), name)


def age_on(birth: date, today: date) -> int:
    """Whole years; a 29 February birthday comes on 1 March in other years."""
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def manual_entry_allowed(source: EvidenceSource, *, test_mode: bool) -> bool:
    """Real-name evidence comes from a card reader or the online check; typing is for tests."""
    return source is not EvidenceSource.MANUAL_FOR_TEST or test_mode
