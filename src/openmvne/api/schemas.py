"""Request bodies. Unknown fields are refused (extra="forbid"); server-owned ones by name."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from openmvne.domain.channels import ChannelLevel
from openmvne.domain.numbers import HostNetwork
from openmvne.domain.parties import OrgKind, PartnerType, PartyStatus
from openmvne.domain.subscribers import local_date


def _in_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:00-05:00 is in the year 10000 in UTC
        raise ValueError("an instant between the years 1 and 9999 in UTC") from None


# An instant: with its offset (a time without one names no instant), kept in UTC.
Instant = Annotated[AwareDatetime, AfterValidator(_in_utc)]


def calendar_date(value: datetime) -> date:
    """The business date a sent date-time names (an ID card's expiry, say): Beijing's for an
    instant with an offset (16:00Z is the next day there), as written for one without."""
    return local_date(value) if value.tzinfo is not None else value.date()


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        # No field takes a NUL character, and PostgreSQL can neither store nor compare text
        # holding one: refused here (400 nul_character), not a failed query (a 500).
        if _has_nul(data):
            raise PydanticCustomError("nul_character", "a NUL character is not allowed")
        return data


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


class TmfBody(Body):
    """TM Forum bodies may carry the polymorphism markers; they are accepted and not stored."""

    type_: str | None = Field(None, alias="@type")
    base_type: str | None = Field(None, alias="@baseType")
    schema_location: str | None = Field(None, alias="@schemaLocation")


class OrganizationCreate(TmfBody):
    name: str = Field(min_length=1, max_length=200)
    organizationType: OrgKind  # TM Forum's attribute name
    partnerType: PartnerType | None = None
    tradingName: str | None = Field(None, max_length=200)
    regionCode: str | None = Field(None, description="GB/T 2260 code")
    legalRepresentativeId: str | None = Field(None, description="An individual's id")
    networkCode: HostNetwork | None = Field(None, description="Host networks only")


class OrganizationPatch(TmfBody):
    name: str | None = Field(None, min_length=1, max_length=200)
    tradingName: str | None = Field(None, max_length=200)
    regionCode: str | None = None
    # Status is the one state a party's manager may set (closing it); see SERVER_OWNED on create.
    status: PartyStatus | None = None


class IndividualCreate(TmfBody):
    givenName: str = Field(min_length=1, max_length=100)
    familyName: str = Field(min_length=1, max_length=100)
    mvnoId: str | None = Field(None, description="The MVNO whose customer this is")


class IndividualPatch(TmfBody):
    givenName: str | None = Field(None, min_length=1, max_length=100)
    familyName: str | None = Field(None, min_length=1, max_length=100)
    status: PartyStatus | None = None


class ChannelAuthorisationCreate(Body):
    partyId: str = Field(description="The organisation being authorised")
    level: ChannelLevel
    mvnoId: str | None = Field(None, description="Default: the caller's MVNO or the parent's")
    parentId: str | None = Field(None, description="Parent authorisation; none: under the MVNO")
    regionCode: str | None = Field(None, description="GB/T 2260 code")
    exclusive: bool = False
    plaqueNumber: str | None = Field(None, max_length=40)


class Decision(Body):
    reason: str | None = Field(None, max_length=500)


class PartyRoleRef(Body):
    id: str
    href: str | None = None
    name: str | None = None
    role: str | None = None
    referredType: str | None = Field(None, alias="@referredType")


class PartyRoleCharacteristic(Body):
    name: str
    value: str | bool
    valueType: str | None = None


class PartyRoleCreate(TmfBody):
    """TMF669 create: engagedParty + characteristics level/regionCode/exclusive/plaqueNumber,
    relatedParty with role `authoriser` (the MVNO) and/or `parentChannel` (a partyRole)."""

    name: str | None = None
    engagedParty: PartyRoleRef
    relatedParty: list[PartyRoleRef] = []
    characteristic: list[PartyRoleCharacteristic] = []


class PartyRolePatch(TmfBody):
    status: str | None = None
    statusReason: str | None = Field(None, max_length=500)


class TokenRequest(Body):
    username: str
    password: str
    name: str = "api"
