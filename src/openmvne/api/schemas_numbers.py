"""Request bodies of the number resources."""

from __future__ import annotations

from typing import Any

from pydantic import Field, StrictInt, model_validator

from openmvne.api.schemas import Body


class SegmentCreate(Body):
    prefix: str = Field(description="3 or 4 digits: 171, 1704 …")
    hostId: str | None = Field(None, description="Default: the caller's host network")


class AllocationRequestCreate(Body):
    segmentId: str
    blockCount: StrictInt = Field(ge=1, le=10_000)
    regionCode: str | None = Field(None, description="Home region of the blocks (GB/T 2260)")
    mvnoId: str | None = Field(None, description="Default: the caller's MVNO")


class SaleRightCreate(Body):
    holderId: str = Field(description="The channel authorisation (chn_…) that may sell")
    blockPrefix: str | None = Field(None, description="A whole block, or give a range")
    firstNumber: str | None = None
    lastNumber: str | None = None

    @model_validator(mode="after")
    def one_way(self) -> SaleRightCreate:
        if (self.blockPrefix is None) == (self.firstNumber is None or self.lastNumber is None):
            raise ValueError("give blockPrefix, or firstNumber and lastNumber")
        return self


class ReservationCreate(Body):
    msisdns: list[str] | None = Field(None, description="Reserve exactly these numbers")
    count: StrictInt | None = Field(None, ge=1, le=20, description="Or: this many from a search")
    pattern: str | None = None
    excludeDigits: str = ""
    grade: str | None = None
    regionCode: str | None = None
    mvnoId: str | None = None

    @model_validator(mode="after")
    def one_way(self) -> ReservationCreate:
        if (self.msisdns is None) == (self.count is None):
            raise ValueError("give msisdns, or count (with search criteria)")
        return self


class NumberPolicyPatch(Body):
    # Strict: "30" and true are not numbers of days (they were stored as 30 and 1).
    utilisationThresholdPct: StrictInt | None = None
    quarantineDays: StrictInt | None = None
    reservationMinutes: StrictInt | None = None
    prettyNumberRules: dict[str, Any] | None = None


class NumberPatch(Body):
    numberState: str = Field(description="withheld, or inStock to release a withheld number")
