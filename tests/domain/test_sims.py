"""ICCID, IMSI and card-state rules."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum import imsi as stdnum_imsi

from openmvne.domain.numbers import HostNetwork
from openmvne.domain.sims import (
    ICCID_ISSUERS,
    IMSI_MNC,
    CardLine,
    CardState,
    check_card_move,
    host_problems,
    iccid_problem,
    imsi_problem,
    make_iccid,
)
from openmvne.errors import Conflict


@given(st.sampled_from(sorted(ICCID_ISSUERS)), st.integers(0, 10**13 - 1))
def test_generated_iccids_are_valid(issuer: str, serial: int) -> None:
    iccid = make_iccid(issuer, serial)
    assert len(iccid) == 20
    assert iccid_problem(iccid) is None
    wrong = iccid[:-1] + str((int(iccid[-1]) + 1) % 10)
    assert iccid_problem(wrong) == "bad ICCID check digit"


@pytest.mark.parametrize(
    ("iccid", "problem"),
    [
        ("8986011234", "an ICCID is 19-20 characters 0-9/A-F"),
        (make_iccid("898612", 5), "unknown ICCID issuer 898612"),
        ("1234567890123456789", "not a Chinese ICCID (89 86 …)"),
        ("898601123456789012G", "an ICCID is 19-20 characters 0-9/A-F"),
    ],
)
def test_bad_iccids(iccid: str, problem: str) -> None:
    assert iccid_problem(iccid) == problem


def test_legacy_iccids_are_accepted_without_a_check_digit() -> None:
    assert iccid_problem("8986011234567890ABC") is None  # 19 characters, hexadecimal


def test_imsi_rules_agree_with_stdnum() -> None:
    """Our MNC table (domain.md §2) agrees with python-stdnum's, except 04: stdnum still names
    its first holder (Global Star), while the design notes give it to China Mobile."""
    for mnc, host in IMSI_MNC.items():
        if mnc == "04":
            continue
        imsi = f"460{mnc}1234567890"
        assert imsi_problem(imsi) is None
        operator = stdnum_imsi.info(imsi).get("operator", "")
        expected = {
            HostNetwork.MOBILE: "Mobile",
            HostNetwork.UNICOM: "Unicom",
            HostNetwork.TELECOM: "Telecom",
        }[host]
        assert expected in operator, (mnc, operator)
    assert imsi_problem("46012") is not None
    assert imsi_problem("460991234567890") == "unknown MNC 99"


def test_identifiers_must_belong_to_the_host() -> None:
    line = CardLine(2, make_iccid("898601", 1), "460011234567890", "0" * 32, "", "blank", "", "")
    assert host_problems(line, HostNetwork.UNICOM) == []
    telecom = host_problems(line, HostNetwork.TELECOM)
    assert len(telecom) == 2


def test_card_states() -> None:
    check_card_move(CardState.IN_STOCK, CardState.SOLD, "x")
    check_card_move(CardState.ACTIVE, CardState.LOST, "x")
    with pytest.raises(Conflict):
        check_card_move(CardState.DESTROYED, CardState.ACTIVE, "x")
    with pytest.raises(Conflict):
        check_card_move(CardState.IN_STOCK, CardState.ACTIVE, "x")


@given(st.text(alphabet="0123456789", min_size=2, max_size=22))
def test_our_luhn_agrees_with_stdnum(digits: str) -> None:
    from stdnum import luhn

    from openmvne.domain.sims import luhn_valid

    assert luhn_valid(digits) == luhn.is_valid(digits)
