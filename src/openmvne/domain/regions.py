"""GB/T 2260 administrative division codes (行政区划代码), from python-stdnum's table.

A region code has 6 digits: province (2) + prefecture (2) + county (2). `440000` is a
province, `440300` a prefecture-level city, `440305` a district. Names prefixed `[-2010]`
in the table were abolished in that year; `[1983-]` ones created then.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from stdnum import numdb

from openmvne.errors import InvalidInput

_VALIDITY = re.compile(r"^\[(\d{4})?-(\d{4})?\]")


class RegionLevel(StrEnum):
    PROVINCE = "province"
    PREFECTURE = "prefecture"
    COUNTY = "county"


@dataclass(frozen=True)
class Region:
    code: str
    name: str
    province_name: str
    level: RegionLevel
    abolished_in: int | None

    def contains(self, other: Region) -> bool:
        """Whether `other` lies inside this region (a region contains itself)."""
        if self.level is RegionLevel.PROVINCE:
            return other.code[:2] == self.code[:2]
        if self.level is RegionLevel.PREFECTURE:
            return other.code[:4] == self.code[:4]
        return other.code == self.code


def _level(code: str) -> RegionLevel:
    if code.endswith("0000"):
        return RegionLevel.PROVINCE
    if code.endswith("00"):
        return RegionLevel.PREFECTURE
    return RegionLevel.COUNTY


@lru_cache(maxsize=4096)
def lookup(code: str) -> Region | None:
    """The region for a 6-digit code, or None when the table does not know it."""
    if not re.fullmatch(r"\d{6}", code):
        return None
    parts = numdb.get("cn/loc").info(code)
    if len(parts) < 2 or "province" not in parts[0][1] or "county" not in parts[1][1]:
        return None
    province = _current_name(parts[0][1]["province"])[0]
    name, abolished_in = _current_name(parts[1][1]["county"])
    return Region(code, name, province, _level(code), abolished_in)


def _current_name(raw: str) -> tuple[str, int | None]:
    """Pick today's name from a history like '南头区办事处,[1990-]南山区'.

    Returns the current name and None, or the last name and the year it was abolished.
    """
    last_name, last_end = raw, None
    for entry in raw.split(","):
        match = _VALIDITY.match(entry)
        end = int(match.group(2)) if match and match.group(2) else None
        name = entry[match.end() :] if match else entry
        if end is None:
            return name, None
        if last_end is None or end > last_end:
            last_name, last_end = name, end
    return last_name, last_end


def require_current(code: str, field: str = "regionCode") -> Region:
    """A region that exists today; anything else is a 400 naming the field."""
    region = lookup(code)
    if region is None:
        raise InvalidInput(
            f"{code!r} is not a GB/T 2260 region code", code="region_unknown", field=field
        )
    if region.abolished_in is not None:
        raise InvalidInput(
            f"region {code} ({region.name}) was abolished in {region.abolished_in}",
            code="region_abolished",
            field=field,
        )
    return region


def provinces() -> list[Region]:
    found = (lookup(f"{p:02d}0000") for p in range(11, 83))
    return [r for r in found if r is not None and r.abolished_in is None]
