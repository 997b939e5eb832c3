"""Request bodies of the care API (TMF621 and /openmvne/v1 care resources)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field, StrictInt

from openmvne.api.schemas import Body, Instant, TmfBody


class RelatedEntityIn(Body):
    """The number the ticket is about: `{"id": "17100002037", "role": "affectedNumber",
    "@referredType": "MSISDN"}`."""

    id: str = Field(min_length=1, max_length=40)
    role: str
    name: str | None = None
    href: str | None = None
    referred_type: str = Field(alias="@referredType")
    type_: str | None = Field(None, alias="@type")


class NoteIn(Body):
    """A new note: the server records its author and date."""

    text: str = Field(min_length=1, max_length=2000)
    type_: str | None = Field(None, alias="@type")


class TroubleTicketCreate(TmfBody):
    name: str | None = Field(None, max_length=200)
    description: str = Field(min_length=1, max_length=2000)
    severity: str = Field(description="critical, major or minor")
    ticketType: str = Field(
        description="infoQuery, serviceChange, simReplacement, faultyCard, "
        "rechargeNotReceived, complaint or other"
    )
    priority: str | None = Field(None, description="Care desk only; else set from the severity")
    externalId: str | None = Field(None, max_length=64)
    relatedEntity: list[RelatedEntityIn] = Field(min_length=1, max_length=5)
    note: list[NoteIn] = Field(default_factory=list, max_length=5)


class TroubleTicketPatch(TmfBody):
    """Merge patch: a status move (with its reason), new notes (appended), a priority."""

    status: str | None = None
    statusChangeReason: str | None = Field(None, max_length=500)
    note: list[NoteIn] | None = Field(None, max_length=20)
    priority: str | None = None


class VerificationCreate(Body):
    msisdn: str = Field(min_length=1, max_length=20)


class AreaBody(Body):
    brandId: str | None = Field(None, description="None: every brand of the MVNO")
    regionCode: str | None = Field(None, description="GB/T 2260; none: everywhere")


class CareTeamCreate(Body):
    name: str = Field(min_length=1, max_length=100)
    ownerId: str | None = Field(None, description="The partner staffing it; none: the MVNO")
    mvnoId: str | None = Field(None, description="Platform operators: the MVNO")
    main: bool = Field(False, description="The MVNO's main team: fallback and escalation")
    serves: list[AreaBody] = Field(default_factory=list, max_length=100)


class CareTeamPatch(Body):
    name: str | None = Field(None, min_length=1, max_length=100)
    serves: list[AreaBody] | None = Field(None, max_length=100)


class MemberCreate(Body):
    userId: str


class CareRouteCreate(Body):
    teamId: str
    brandId: str | None = None
    regionCode: str | None = None
    ticketType: str | None = None
    mvnoId: str | None = Field(None, description="Platform operators: the MVNO")


class Identification(Body):
    identificationType: str
    identificationId: str = Field(min_length=1, max_length=40)
    validFor: dict[str, datetime | None] | None = None


class Evidence(Body):
    source: str
    reference: str | None = Field(None, max_length=100)


class TicketActionBody(Body):
    """What each action needs: replaceSim iccid + identification + evidence; addService /
    removeService offeringId; credit amountFen + reason; traceRecharge since/until."""

    reason: str | None = Field(None, max_length=300)
    iccid: str | None = None
    identification: Identification | None = None
    evidence: Evidence | None = None
    offeringId: str | None = None
    amountFen: StrictInt | None = None
    since: Instant | None = None
    until: Instant | None = None
