"""Channel placement and status rules (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openmvne.domain import regions
from openmvne.domain.channels import (
    SEAT_HOLDING,
    AuthorisationStatus,
    ChannelLevel,
    ParentEdge,
    Transition,
    check_placement,
    next_status,
)
from openmvne.domain.parties import OrgKind
from openmvne.errors import Conflict, DomainError

GD = regions.lookup("440000")
SZ = regions.lookup("440300")
HZ = regions.lookup("330100")
PROVINCE_GD = ParentEdge(ChannelLevel.PROVINCE, GD, AuthorisationStatus.APPROVED)


def test_outlet_under_its_province() -> None:
    check_placement(
        party_kind=OrgKind.OUTLET, level=ChannelLevel.OUTLET, region=SZ, parent=PROVINCE_GD
    )


@pytest.mark.parametrize(
    ("kind", "level", "region", "parent", "code"),
    [
        (OrgKind.MVNO, ChannelLevel.PROVINCE, GD, None, "party_not_a_channel"),
        (OrgKind.PARTNER, ChannelLevel.OUTLET, SZ, None, "level_mismatch"),
        (OrgKind.OUTLET, ChannelLevel.PROVINCE, GD, None, "level_mismatch"),
        (OrgKind.PARTNER, ChannelLevel.NATIONAL, GD, None, "region_not_allowed"),
        (OrgKind.PARTNER, ChannelLevel.PROVINCE, None, None, "region_required"),
        (OrgKind.PARTNER, ChannelLevel.PROVINCE, SZ, None, "region_level_mismatch"),
        (OrgKind.PARTNER, ChannelLevel.PREFECTURE, GD, None, "region_level_mismatch"),
        (OrgKind.OUTLET, ChannelLevel.OUTLET, HZ, PROVINCE_GD, "region_outside_parent"),
        (OrgKind.PARTNER, ChannelLevel.PROVINCE, GD, PROVINCE_GD, "level_not_below_parent"),
        (
            OrgKind.OUTLET,
            ChannelLevel.OUTLET,
            SZ,
            ParentEdge(ChannelLevel.PROVINCE, GD, AuthorisationStatus.BLACKLISTED),
            "parent_blacklisted",
        ),
    ],
)
def test_placement_refusals(kind, level, region, parent, code) -> None:
    with pytest.raises(DomainError) as caught:
        check_placement(party_kind=kind, level=level, region=region, parent=parent)
    assert caught.value.code == code


@given(st.lists(st.sampled_from(list(Transition)), max_size=12))
def test_status_machine(transitions: list[Transition]) -> None:
    """Blacklisted is final; only approve leaves pending for approved; every refused step
    leaves the status as it was."""
    status = AuthorisationStatus.PENDING
    for transition in transitions:
        before = status
        try:
            status = next_status(status, transition)
        except Conflict:
            assert status == before
            continue
        if before is AuthorisationStatus.BLACKLISTED:
            pytest.fail("left blacklisted")
        if status is AuthorisationStatus.APPROVED:
            assert transition in (Transition.APPROVE, Transition.REINSTATE)
    assert AuthorisationStatus.PENDING not in SEAT_HOLDING
