"""Request bodies of the catalog. Money is StrictInt fen (a float is refused, not rounded);
rates are strings in fen with up to six decimals."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import Field, StrictBool, StrictInt

from openmvne.api.schemas import Body
from openmvne.domain.catalog import OfferKind, PriceModel

Fen = StrictInt


class BrandCreate(Body):
    name: str = Field(min_length=1, max_length=100)
    mvnoId: str | None = None
    hotline: str | None = Field(None, max_length=32)
    website: str | None = Field(None, max_length=200)
    highlights: list[str] = Field(default_factory=list)
    serviceChannels: list[dict[str, str]] = Field(default_factory=list)


class BrandPatch(Body):
    name: str | None = Field(None, min_length=1, max_length=100)
    hotline: str | None = Field(None, max_length=32)
    website: str | None = Field(None, max_length=200)
    highlights: list[str] | None = None
    serviceChannels: list[dict[str, str]] | None = None


class Rates(Body):
    voiceRateFen: str = Field(description="fen per minute, up to six decimals")
    smsRateFen: str = Field(description="fen per message")
    dataRateFen: str = Field(description="fen per MB")


class RevenueTierIn(Body):
    minAnnualRevenueFen: Fen = Field(ge=0)
    discountBp: StrictInt = Field(ge=0, le=9999)


class HostPackageIn(Body):
    code: str = Field(min_length=1, max_length=40)
    name: str
    publicPriceFen: Fen = Field(ge=0)
    discountBp: StrictInt = Field(ge=0, le=9999)


class PriceListCreate(Body):
    hostId: str | None = None
    mvnoId: str
    model: PriceModel
    validFrom: date
    validTo: date | None = None
    rates: Rates | None = None
    revenueTiers: list[RevenueTierIn] = Field(default_factory=list)
    annualRevenueFen: Fen = Field(0, ge=0)
    hostPackages: list[HostPackageIn] = Field(default_factory=list)
    perNumberFeeFen: Fen = Field(0, ge=0)


class PriceListEnd(Body):
    validTo: date


class HostAverageCreate(Body):
    hostId: str | None = None
    year: StrictInt
    rates: Rates
    resultsPublishedOn: date | None = None


class SchemeSet(Body):
    revenueShareBp: dict[str, StrictInt]
    mvnoMarginBp: StrictInt
    # Left out: the platform's defaults (docs/settlement.md).
    rechargeBp: dict[str, StrictInt] | None = None
    activationFen: dict[str, StrictInt] | None = None


class Allowance(Body):
    voiceMinutes: StrictInt = Field(0, ge=0)
    sms: StrictInt = Field(0, ge=0)
    dataMb: StrictInt = Field(0, ge=0)


class OfferingCreate(Body):
    name: str = Field(min_length=1, max_length=100)
    description: str | None = Field(None, max_length=500)
    offerType: OfferKind
    brandId: str
    hostId: str
    monthlyFeeFen: Fen = Field(0, ge=0)
    allowance: Allowance = Allowance()
    rates: Rates | None = Field(None, description="pay-as-you-go and overage rates")
    voiceIncrementSeconds: StrictInt = 60
    dataIncrementKb: StrictInt = 1
    dataCapMb: StrictInt | None = None
    rolloverData: StrictBool = False
    terminatingVoiceFree: StrictBool = True
    validityDays: StrictInt | None = None
    minMonthlySpendFen: Fen | None = None
    termMonths: StrictInt | None = None
    hostPackageCode: str | None = None
    sharedWithChannels: StrictBool = True
    type_: str | None = Field(None, alias="@type")


class OfferingPatch(Body):
    lifecycleStatus: str


class DesignCreate(Body):
    name: str = Field(min_length=1, max_length=100)
    baseOfferingId: str
    addonIds: list[str] = Field(default_factory=list)
    priceFen: Fen = Field(ge=0)
    designerId: str | None = Field(None, description="Your channel, if you hold several")


class DesignPatch(Body):
    name: str | None = Field(None, min_length=1, max_length=100)
    priceFen: Fen | None = Field(None, ge=0)


class Task(Body):
    reason: str | None = Field(None, max_length=500)


def as_terms(body: OfferingCreate, rates: dict[str, int]) -> dict[str, Any]:
    return {
        "description": body.description,
        "monthly_fee_fen": body.monthlyFeeFen,
        "voice_min": body.allowance.voiceMinutes,
        "sms": body.allowance.sms,
        "data_mb": body.allowance.dataMb,
        **rates,
        "voice_increment_s": body.voiceIncrementSeconds,
        "data_increment_kb": body.dataIncrementKb,
        "data_cap_mb": body.dataCapMb,
        "rollover_data": body.rolloverData,
        "terminating_voice_free": body.terminatingVoiceFree,
        "validity_days": body.validityDays,
        "min_monthly_spend_fen": body.minMonthlySpendFen,
        "term_months": body.termMonths,
        "host_package_code": body.hostPackageCode,
        "shared_with_channels": body.sharedWithChannels,
    }
