"""Parties (TMF632): organisations of five kinds, individuals, and the users acting for them."""

from __future__ import annotations

from enum import StrEnum

from openmvne.errors import InvalidInput


class OrgKind(StrEnum):
    PLATFORM = "platform"
    HOST_NETWORK = "hostNetwork"
    MVNO = "mvno"
    PARTNER = "partner"
    OUTLET = "outlet"


class PartnerType(StrEnum):
    NATIONAL_CONTRACTOR = "nationalContractor"
    PROVINCIAL_CONTRACTOR = "provincialContractor"
    PREFECTURE_CONTRACTOR = "prefectureContractor"
    ENTERPRISE_PLATFORM = "enterprisePlatform"


class PartyStatus(StrEnum):
    ACTIVE = "active"
    CLOSED = "closed"


class Role(StrEnum):
    PLATFORM_ADMIN = "platformAdmin"
    HOST_ADMIN = "hostAdmin"
    MVNO_ADMIN = "mvnoAdmin"
    PARTNER_ADMIN = "partnerAdmin"
    OUTLET_CLERK = "outletClerk"
    CARE_AGENT = "careAgent"
    SUBSCRIBER = "subscriber"


# Which roles a user of a party of each kind may hold. A subscriber is an individual.
ROLES_BY_KIND: dict[OrgKind | None, frozenset[Role]] = {
    OrgKind.PLATFORM: frozenset({Role.PLATFORM_ADMIN, Role.CARE_AGENT}),
    OrgKind.HOST_NETWORK: frozenset({Role.HOST_ADMIN}),
    OrgKind.MVNO: frozenset({Role.MVNO_ADMIN, Role.CARE_AGENT}),
    OrgKind.PARTNER: frozenset({Role.PARTNER_ADMIN, Role.CARE_AGENT}),
    OrgKind.OUTLET: frozenset({Role.OUTLET_CLERK}),
    None: frozenset({Role.SUBSCRIBER}),  # None: the party is an individual
}

# Which kinds of organisation a role may register.
CREATABLE_KINDS: dict[Role, frozenset[OrgKind]] = {
    Role.PLATFORM_ADMIN: frozenset(OrgKind) - {OrgKind.PLATFORM},
    Role.MVNO_ADMIN: frozenset({OrgKind.PARTNER, OrgKind.OUTLET}),
    Role.PARTNER_ADMIN: frozenset({OrgKind.PARTNER, OrgKind.OUTLET}),
}


def check_role_for_party(role: Role, kind: OrgKind | None) -> None:
    if role not in ROLES_BY_KIND[kind]:
        party = "an individual" if kind is None else f"a {kind.value} organisation"
        raise InvalidInput(
            f"role {role.value} cannot belong to {party}", code="role_not_allowed", field="role"
        )


def check_organisation_shape(kind: OrgKind, partner_type: PartnerType | None) -> None:
    if kind is OrgKind.PARTNER and partner_type is None:
        raise InvalidInput(
            "a partner needs a partnerType", code="partner_type_required", field="partnerType"
        )
    if kind is not OrgKind.PARTNER and partner_type is not None:
        raise InvalidInput(
            "only partners have a partnerType", code="partner_type_not_allowed", field="partnerType"
        )
