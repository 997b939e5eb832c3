"""Rows to resources: the JSON shapes the API returns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from openmvne import ids
from openmvne.domain import regions

PARTY = "/tmf-api/party/v4"
PARTY_ROLE = "/tmf-api/partyRoleManagement/v4"
OPENMVNE = "/openmvne/v1"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def _ref(kind: str, value: Any) -> str | None:
    return ids.to_public(kind, value) if value is not None else None


def _region_name(code: str | None) -> str | None:
    region = regions.lookup(code) if code else None
    if region is None:
        return None
    if region.level is regions.RegionLevel.PROVINCE or region.name == region.province_name:
        return region.name
    return f"{region.province_name}{region.name}"


def organisation(row: dict[str, Any], base: str) -> dict[str, Any]:
    public = ids.to_public("organization", row["id"])
    related = []
    if row["legal_representative_id"] is not None:
        related.append(
            {
                "id": ids.to_public("individual", row["legal_representative_id"]),
                "href": f"{base}{PARTY}/individual/"
                + ids.to_public("individual", row["legal_representative_id"]),
                "role": "legalRepresentative",
                "@referredType": "Individual",
            }
        )
    return {
        "id": public,
        "href": f"{base}{PARTY}/organization/{public}",
        "@type": "Organization",
        "name": row["name"],
        "tradingName": row["trading_name"],
        "organizationType": row["kind"],
        "partnerType": row["partner_type"],
        "isLegalEntity": True,
        "status": row["status"],
        "regionCode": row["region_code"],
        "regionName": _region_name(row["region_code"]),
        "relatedParty": related,
        "creationDate": _iso(row["created_at"]),
        "lastUpdate": _iso(row["updated_at"]),
    }


def individual(row: dict[str, Any], base: str) -> dict[str, Any]:
    public = ids.to_public("individual", row["id"])
    related = []
    if row["mvno_id"] is not None:
        related.append(
            {
                "id": ids.to_public("organization", row["mvno_id"]),
                "role": "serviceProvider",
                "@referredType": "Organization",
            }
        )
    return {
        "id": public,
        "href": f"{base}{PARTY}/individual/{public}",
        "@type": "Individual",
        "givenName": row["given_name"],
        "familyName": row["family_name"],
        # Chinese order: family name first, no space (张 + 伟 -> 张伟).
        "fullName": f"{row['family_name']}{row['given_name']}",
        "status": row["status"],
        "relatedParty": related,
        "creationDate": _iso(row["created_at"]),
        "lastUpdate": _iso(row["updated_at"]),
    }


def channel_authorisation(row: dict[str, Any], base: str) -> dict[str, Any]:
    public = ids.to_public("channel_authorisation", row["id"])
    return {
        "id": public,
        "href": f"{base}{OPENMVNE}/channelAuthorisations/{public}",
        "@type": "ChannelAuthorisation",
        "mvnoId": ids.to_public("organization", row["mvno_id"]),
        "partyId": ids.to_public("organization", row["party_id"]),
        "parentId": _ref("channel_authorisation", row["parent_id"]),
        "level": row["level"],
        "regionCode": row["region_code"],
        "regionName": _region_name(row["region_code"]),
        "exclusive": row["exclusive"],
        "plaqueNumber": row["plaque_number"],
        "status": row["status"],
        "statusReason": row["status_reason"],
        "depth": row["path"].count("/") - 1,
        "requestedBy": ids.to_public("organization", row["requested_by_party_id"]),
        "createdAt": _iso(row["created_at"]),
        "updatedAt": _iso(row["updated_at"]),
        "approvedAt": _iso(row["approved_at"]),
    }


def party_role(row: dict[str, Any], base: str) -> dict[str, Any]:
    """The same authorisation in TMF669 PartyRole shape (a channel role of a party)."""
    public = ids.to_public("channel_authorisation", row["id"])
    party = ids.to_public("organization", row["party_id"])
    mvno = ids.to_public("organization", row["mvno_id"])
    related = [{"id": mvno, "role": "authoriser", "@referredType": "Organization"}]
    if row["parent_id"] is not None:
        related.append(
            {
                "id": ids.to_public("channel_authorisation", row["parent_id"]),
                "href": f"{base}{PARTY_ROLE}/partyRole/"
                + ids.to_public("channel_authorisation", row["parent_id"]),
                "role": "parentChannel",
                "@referredType": "PartyRole",
            }
        )
    characteristic = [
        {"name": "level", "value": row["level"], "valueType": "string"},
        {"name": "exclusive", "value": row["exclusive"], "valueType": "boolean"},
    ]
    if row["region_code"] is not None:
        characteristic.append(
            {"name": "regionCode", "value": row["region_code"], "valueType": "string"}
        )
    if row["plaque_number"] is not None:
        characteristic.append(
            {"name": "plaqueNumber", "value": row["plaque_number"], "valueType": "string"}
        )
    return {
        "id": public,
        "href": f"{base}{PARTY_ROLE}/partyRole/{public}",
        "@type": "PartyRole",
        "name": f"{row['level']} channel",
        "status": row["status"],
        "statusReason": row["status_reason"],
        "engagedParty": {
            "id": party,
            "href": f"{base}{PARTY}/organization/{party}",
            "@referredType": "Organization",
        },
        "relatedParty": related,
        "characteristic": characteristic,
        "validFor": {"startDateTime": _iso(row["approved_at"])},
    }
