"""The channel tree of one MVNO: authorisations, their levels, regions, exclusivity, statuses.

An authorisation is an edge: the MVNO authorises a party under a parent authorisation
(or directly under itself), at a level, for a region. Rules (domain.md §3):
- only the MVNO approves; a parent's wish only creates a pending request;
- at most one exclusive channel per (MVNO, level, region);
- a blacklisted party cannot be authorised again by that MVNO;
- a child sits deeper than its parent and inside the parent's region.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from openmvne.domain.parties import OrgKind
from openmvne.domain.regions import Region, RegionLevel
from openmvne.errors import Conflict, InvalidInput, RuleViolation


class ChannelLevel(StrEnum):
    NATIONAL = "national"
    ENTERPRISE = "enterprise"
    PROVINCE = "province"
    PREFECTURE = "prefecture"
    OUTLET = "outlet"


# Depth in the tree: a child's depth must be greater than its parent's.
DEPTH = {
    ChannelLevel.NATIONAL: 1,
    ChannelLevel.ENTERPRISE: 1,
    ChannelLevel.PROVINCE: 2,
    ChannelLevel.PREFECTURE: 3,
    ChannelLevel.OUTLET: 4,
}

# The region granularity each level is authorised for (None: nationwide, no region).
REGION_LEVEL: dict[ChannelLevel, frozenset[RegionLevel] | None] = {
    ChannelLevel.NATIONAL: None,
    ChannelLevel.ENTERPRISE: None,
    ChannelLevel.PROVINCE: frozenset({RegionLevel.PROVINCE}),
    ChannelLevel.PREFECTURE: frozenset({RegionLevel.PREFECTURE}),
    ChannelLevel.OUTLET: frozenset({RegionLevel.PREFECTURE, RegionLevel.COUNTY}),
}


class AuthorisationStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    SUSPENDED = "suspended"
    BLACKLISTED = "blacklisted"


class Transition(StrEnum):
    APPROVE = "approve"
    SUSPEND = "suspend"
    REINSTATE = "reinstate"
    BLACKLIST = "blacklist"


_TRANSITIONS: dict[Transition, tuple[frozenset[AuthorisationStatus], AuthorisationStatus]] = {
    Transition.APPROVE: (frozenset({AuthorisationStatus.PENDING}), AuthorisationStatus.APPROVED),
    Transition.SUSPEND: (frozenset({AuthorisationStatus.APPROVED}), AuthorisationStatus.SUSPENDED),
    Transition.REINSTATE: (
        frozenset({AuthorisationStatus.SUSPENDED}),
        AuthorisationStatus.APPROVED,
    ),
    Transition.BLACKLIST: (
        frozenset(
            {
                AuthorisationStatus.PENDING,
                AuthorisationStatus.APPROVED,
                AuthorisationStatus.SUSPENDED,
            }
        ),
        AuthorisationStatus.BLACKLISTED,
    ),
}

# Statuses in which an exclusive authorisation holds its seat. A pending request does not
# (it would let anyone squat a region by asking); a suspended one keeps it until cleared.
SEAT_HOLDING = frozenset({AuthorisationStatus.APPROVED, AuthorisationStatus.SUSPENDED})


def next_status(current: AuthorisationStatus, transition: Transition) -> AuthorisationStatus:
    allowed_from, target = _TRANSITIONS[transition]
    if current not in allowed_from:
        raise Conflict(
            f"cannot {transition.value} an authorisation that is {current.value}",
            code="invalid_transition",
            field="status",
        )
    return target


@dataclass(frozen=True)
class ParentEdge:
    """What the rules need to know about the parent authorisation."""

    level: ChannelLevel
    region: Region | None
    status: AuthorisationStatus


def check_placement(
    *,
    party_kind: OrgKind,
    level: ChannelLevel,
    region: Region | None,
    parent: ParentEdge | None,
) -> None:
    """Whether a party of this kind may sit at this level, in this region, under this parent."""
    if party_kind not in (OrgKind.PARTNER, OrgKind.OUTLET):
        raise InvalidInput(
            f"a {party_kind.value} cannot be a channel", code="party_not_a_channel", field="partyId"
        )
    if (party_kind is OrgKind.OUTLET) != (level is ChannelLevel.OUTLET):
        raise InvalidInput(
            "outlets sit at the outlet level and only outlets do",
            code="level_mismatch",
            field="level",
        )
    allowed = REGION_LEVEL[level]
    if allowed is None and region is not None:
        raise InvalidInput(
            f"a {level.value} channel is nationwide and has no region",
            code="region_not_allowed",
            field="regionCode",
        )
    if allowed is not None:
        if region is None:
            raise InvalidInput(
                f"a {level.value} channel needs a region",
                code="region_required",
                field="regionCode",
            )
        if region.level not in allowed:
            raise InvalidInput(
                f"{region.code} is a {region.level.value} code; a {level.value} channel needs "
                + " or ".join(sorted(r.value for r in allowed)),
                code="region_level_mismatch",
                field="regionCode",
            )
    if parent is None:
        return
    if parent.status is AuthorisationStatus.BLACKLISTED:
        raise RuleViolation(
            "the parent channel is blacklisted", code="parent_blacklisted", field="parentId"
        )
    if DEPTH[level] <= DEPTH[parent.level]:
        raise InvalidInput(
            f"a {level.value} channel cannot sit under a {parent.level.value} channel",
            code="level_not_below_parent",
            field="level",
        )
    if parent.region is not None and (region is None or not parent.region.contains(region)):
        raise RuleViolation(
            f"the region must lie inside the parent's region {parent.region.code}",
            code="region_outside_parent",
            field="regionCode",
        )


def check_parent_approved_for_approval(parent_status: AuthorisationStatus | None) -> None:
    """A channel is approved only under an approved parent (or directly under the MVNO)."""
    if parent_status is not None and parent_status is not AuthorisationStatus.APPROVED:
        raise RuleViolation(
            f"the parent channel is {parent_status.value}; approve it first",
            code="parent_not_approved",
            field="parentId",
        )
