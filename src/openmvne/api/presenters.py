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
        "networkCode": row["network_code"],
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
        # The ID number is never shown: only its type and mask (unmasked reads are a separate,
        # audited call for the MVNO).
        "individualIdentification": (
            [{"identificationType": row["id_type"], "identificationId": row["id_masked"]}]
            if row.get("id_masked")
            else []
        ),
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


NUMBER_STATUS = {  # our state -> TMF639 resourceStatus
    None: "available",
    "reserved": "reserved",
    "assigned": "reserved",
    "inUse": "standby",
    "quarantined": "suspended",
    "withheld": "suspended",
}
RESOURCE = "/tmf-api/resourceInventoryManagement/v4"


def segment(row: dict[str, Any], base: str) -> dict[str, Any]:
    public = ids.to_public("number_segment", row["id"])
    return {
        "id": public,
        "href": f"{base}{OPENMVNE}/numberSegments/{public}",
        "@type": "NumberSegment",
        "prefix": row["prefix"],
        "hostId": ids.to_public("organization", row["host_id"]),
        "size": row["size"],
        "blocks": row["blocks"],
        "allocatedBlocks": row["allocated_blocks"],
        "createdAt": _iso(row["created_at"]),
    }


def block(row: dict[str, Any], base: str) -> dict[str, Any]:
    return {
        "id": row["prefix"],
        "href": f"{base}{OPENMVNE}/numberBlocks/{row['prefix']}",
        "@type": "NumberBlock",
        "prefix": row["prefix"],
        "firstNumber": f"{row['first_number']:011d}",
        "lastNumber": f"{row['first_number'] + 9999:011d}",
        "segmentId": ids.to_public("number_segment", row["segment_id"]),
        "mvnoId": _ref("organization", row["mvno_id"]),
        "brandId": _ref("brand", row["brand_id"]),
        "regionCode": row["region_code"],
        "regionName": _region_name(row["region_code"]),
        "allocatedAt": _iso(row["allocated_at"]),
        "numbersWithState": row["taken_count"],
        "numbersInStock": 10_000 - row["taken_count"],
    }


def allocation_request(row: dict[str, Any], base: str) -> dict[str, Any]:
    public = ids.to_public("number_allocation_request", row["id"])
    return {
        "id": public,
        "href": f"{base}{OPENMVNE}/blockAllocationRequests/{public}",
        "@type": "BlockAllocationRequest",
        "mvnoId": ids.to_public("organization", row["mvno_id"]),
        "segmentId": ids.to_public("number_segment", row["segment_id"]),
        "blockCount": row["block_count"],
        "regionCode": row["region_code"],
        "status": row["status"],
        "reason": row["reason"],
        "grantedBlocks": row["granted_prefixes"],
        "createdAt": _iso(row["created_at"]),
        "decidedAt": _iso(row["decided_at"]),
    }


def sale_right(row: dict[str, Any], base: str) -> dict[str, Any]:
    public = ids.to_public("sale_right", row["id"])
    return {
        "id": public,
        "href": f"{base}{OPENMVNE}/saleRights/{public}",
        "@type": "SaleRight",
        "mvnoId": ids.to_public("organization", row["mvno_id"]),
        "holderId": ids.to_public("channel_authorisation", row["holder_id"]),
        "firstNumber": f"{row['first_number']:011d}",
        "lastNumber": f"{row['last_number']:011d}",
        "size": row["last_number"] - row["first_number"] + 1,
        "status": row["status"],
        "createdAt": _iso(row["created_at"]),
        "revokedAt": _iso(row["revoked_at"]),
    }


def reservation(row: dict[str, Any], base: str, now: datetime) -> dict[str, Any]:
    public = ids.to_public("number_reservation", row["id"])
    status = row["status"]
    if status == "active" and row["expires_at"] <= now:
        status = "expired"  # enforced at once, whether or not the sweeper has run
    return {
        "id": public,
        "href": f"{base}{OPENMVNE}/numberReservations/{public}",
        "@type": "NumberReservation",
        "mvnoId": ids.to_public("organization", row["mvno_id"]),
        "partyId": ids.to_public("organization", row["party_id"]),
        "numbers": row["numbers"],
        "status": status,
        "createdAt": _iso(row["created_at"]),
        "expiresAt": _iso(row["expires_at"]),
        "secondsLeft": max(0, int((row["expires_at"] - now).total_seconds()))
        if status == "active"
        else 0,
        "endedAt": _iso(row["ended_at"]),
    }


def available_number(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "msisdn": item["msisdn"],
        "grade": item["grade"],
        "oneOffPriceFen": item["one_off_fen"],
        "minMonthlySpendFen": item["min_monthly_fen"],
        "minMonths": item["min_months"],
        "mvnoId": ids.to_public("organization", item["mvno_id"]),
        "brand": item["brand"],
        "regionCode": item["region_code"],
        "regionName": _region_name(item["region_code"]),
    }


def number_resource(item: dict[str, Any], base: str) -> dict[str, Any]:
    """A number as a TMF639 logical resource; its id is the number itself."""
    state = item["state"]
    return {
        "id": item["msisdn"],
        "href": f"{base}{RESOURCE}/resource/{item['msisdn']}",
        "@type": "LogicalResource",
        "@baseType": "Resource",
        "name": item["msisdn"],
        "value": item["msisdn"],
        "resourceSpecification": {"id": "msisdn", "name": "MSISDN"},
        "resourceStatus": NUMBER_STATUS[state],
        "usageState": "active" if state == "inUse" else "idle",
        "numberState": state or "inStock",
        "stateUntil": _iso(item.get("state_until")),
        "relatedParty": [
            {
                "id": ids.to_public("organization", item["mvno_id"]),
                "role": "owner",
                "@referredType": "Organization",
            }
        ],
        # One place, as TMF639 v4 has it (a RelatedPlaceRefOrValue, not a list).
        "place": {
            "id": item["region_code"],
            "name": _region_name(item["region_code"]),
            "role": "homeRegion",
        }
        if item.get("region_code")
        else None,
        "resourceCharacteristic": [
            {"name": "grade", "value": item["grade"]},
            {"name": "oneOffPriceFen", "value": item["one_off_fen"]},
            {"name": "minMonthlySpendFen", "value": item["min_monthly_fen"]},
            {"name": "minMonths", "value": item["min_months"]},
        ]
        if "grade" in item
        else [],
    }


def lookup(item: dict[str, Any], base: str = "") -> dict[str, Any]:
    care = item["mvno_name"] is not None
    return {
        "msisdn": item["msisdn"],
        "e164": item["e164"],
        "hostNetwork": item["host_network"],
        "hostNetworkName": item["host_network_name"],
        "registered": item["registered"],
        "mvno": item["mvno_name"],
        "brand": item["brand_name"],
        "hotline": item["hotline"],
        "homeRegionCode": item["region_code"],
        "homeRegionName": _region_name(item["region_code"]),
        "inService": item["in_service"],
        # What to do next (docs/care.md): online care, where to recharge, how to open a ticket.
        "website": item.get("website"),
        "serviceChannels": item.get("service_channels", []),
        "rechargeOutlets": [
            {
                "name": outlet["name"],
                "regionCode": outlet["region_code"],
                "regionName": _region_name(outlet["region_code"]),
                "address": " ".join(
                    x for x in (_region_name(outlet["region_code"]), outlet["name"]) if x
                ),
            }
            for outlet in item.get("outlets", [])
        ],
        "openTicket": {
            "href": f"{base}/tmf-api/troubleTicket/v4/troubleTicket",
            "verificationHref": f"{base}{OPENMVNE}/careVerifications",
        }
        if care
        else None,
    }


def number_policy(row: dict[str, Any], base: str) -> dict[str, Any]:
    mvno = ids.to_public("organization", row["mvno_id"])
    return {
        "id": mvno,
        "href": f"{base}{OPENMVNE}/numberPolicies/{mvno}",
        "@type": "NumberPolicy",
        "mvnoId": mvno,
        "utilisationThresholdPct": row["utilisation_threshold_pct"],
        "quarantineDays": row["quarantine_days"],
        "reservationMinutes": row["reservation_minutes"],
        "prettyNumberRules": row["rules"],
    }


def sim_resource(row: dict[str, Any], base: str) -> dict[str, Any]:
    return {
        "id": row["iccid"],
        "href": f"{base}{RESOURCE}/resource/{row['iccid']}",
        "@type": "PhysicalResource",
        "@baseType": "Resource",
        "name": row["iccid"],
        "serialNumber": row["iccid"],
        "resourceSpecification": {"id": "sim", "name": "SIM card"},
        "resourceStatus": "available" if row["state"] == "inStock" else "reserved",
        "cardState": row["state"],
        "imsi": row["imsi"],
        "kind": row["kind"],
        "msisdn": row["msisdn"],
        "regionCode": row["region_code"],
        "batchId": ids.to_public("sim_batch", row["batch_id"]),
        "holderId": ids.to_public("organization", row["holder_party_id"]),
        "relatedParty": [
            {"id": ids.to_public("organization", row["mvno_id"]), "role": "owner"},
            {"id": ids.to_public("organization", row["holder_party_id"]), "role": "holder"},
        ],
    }
