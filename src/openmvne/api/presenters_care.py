"""Care rows to resources: TMF621 trouble tickets, and the platform's care teams, routing
rules, SLA breaches, self-care verifications, action results and reports."""

from __future__ import annotations

from typing import Any

from openmvne import ids
from openmvne.api.presenters import _iso, _ref, _region_name
from openmvne.api.presenters_subscribers import INVENTORY, ORDERING

TICKETS = "/tmf-api/troubleTicket/v4"
V1 = "/openmvne/v1"


def ticket_href(base: str, ticket_id: Any) -> str:
    return f"{base}{TICKETS}/troubleTicket/{ids.to_public('trouble_ticket', ticket_id)}"


def _action_entity(event: dict[str, Any], base: str) -> dict[str, Any] | None:
    data = event["data"]
    if "orderId" in data:
        return {
            "id": data["orderId"],
            "href": f"{base}{ORDERING}/productOrder/{data['orderId']}",
            "name": event["text"],
            "role": "careAction",
            "@referredType": "ProductOrder",
        }
    if "transferId" in data:
        return {
            "id": data["transferId"],
            "name": event["text"],
            "role": "careAction",
            "@referredType": "LedgerTransfer",
        }
    return None


def ticket(row: dict[str, Any], base: str) -> dict[str, Any]:
    public = ids.to_public("trouble_ticket", row["id"])
    events = row["events"]
    changes = [
        {"status": e["status"], "changeDate": _iso(e["at"]), "changeReason": e["text"]}
        for e in events
        if e["kind"] == "status"
    ]
    notes = [
        {
            "id": ids.to_public("ticket_event", e["id"]),
            "author": e["author"],
            "date": _iso(e["at"]),
            "text": e["text"],
            "@type": "Note",
        }
        for e in events
        if e["kind"] == "note"
    ]
    related: list[dict[str, Any]] = [
        {
            "id": row["msisdn"],
            "name": row["msisdn"],
            "role": "affectedNumber",
            "@referredType": "MSISDN",
        }
    ]
    if row["subscription_id"] is not None:
        product = ids.to_public("subscription", row["subscription_id"])
        related.append(
            {
                "id": product,
                "href": f"{base}{INVENTORY}/product/{product}",
                "name": row["msisdn"],
                "role": "affectedProduct",
                "@referredType": "Product",
            }
        )
    related += [x for x in (_action_entity(e, base) for e in events if e["kind"] == "action") if x]
    team = ids.to_public("care_team", row["team_id"])
    return {
        "id": public,
        "href": ticket_href(base, row["id"]),
        "@type": "TroubleTicket",
        "name": row["name"],
        "description": row["description"],
        "severity": row["severity"],
        "priority": row["priority"],
        "ticketType": row["ticket_type"],
        "status": row["status"],
        "statusChangeDate": _iso(row["status_changed_at"]),
        "statusChangeReason": row["status_reason"],
        "statusChange": changes,
        "note": notes,
        "creationDate": _iso(row["created_at"]),
        "lastUpdate": _iso(row["updated_at"]),
        "expectedResolutionDate": _iso(row["sla_due_at"]),
        "resolutionDate": _iso(row["resolved_at"]),
        "externalId": row["external_id"],
        "channel": {"id": row["channel"], "name": row["channel"], "@referredType": "Channel"},
        "relatedEntity": related,
        "relatedParty": [
            {
                "id": team,
                "href": f"{base}{V1}/careTeams/{team}",
                "name": row["team_name"],
                "role": "careTeam",
                "@referredType": "CareTeam",
            },
            {
                "id": ids.to_public("organization", row["mvno_id"]),
                "role": "serviceProvider",
                "@referredType": "Organization",
            },
            {
                "id": row["opened_by"],
                "name": row["opened_by"],
                "role": "requester",
                "@referredType": "User",
            },
        ],
        # Platform extensions (TMF630 allows extra attributes).
        "msisdn": row["msisdn"],
        "brand": row["brand_name"],
        "homeRegionCode": row["region_code"],
        "homeRegionName": _region_name(row["region_code"]),
        "firstResponseDate": _iso(row["first_response_at"]),
        "escalated": row["escalated_at"] is not None,
        "slaBreached": row["breached"],
    }


def team(row: dict[str, Any], base: str) -> dict[str, Any]:
    public = ids.to_public("care_team", row["id"])
    return {
        "id": public,
        "href": f"{base}{V1}/careTeams/{public}",
        "@type": "CareTeam",
        "name": row["name"],
        "mvnoId": ids.to_public("organization", row["mvno_id"]),
        "ownerId": ids.to_public("organization", row["owner_party_id"]),
        "main": row["main_of"] is not None,
        "serves": [
            {
                "brandId": _ref("brand", a["brand_id"]),
                "regionCode": a["region_code"],
                "regionName": _region_name(a["region_code"]),
            }
            for a in row["areas"]
        ],
        "members": [
            {"id": ids.to_public("user", m["id"]), "username": m["username"]}
            for m in row["members"]
        ],
        "creationDate": _iso(row["created_at"]),
    }


def route(row: dict[str, Any], base: str) -> dict[str, Any]:
    public = ids.to_public("care_route", row["id"])
    return {
        "id": public,
        "href": f"{base}{V1}/careRouting/{public}",
        "@type": "CareRoute",
        "mvnoId": ids.to_public("organization", row["mvno_id"]),
        "brandId": _ref("brand", row["brand_id"]),
        "regionCode": row["region_code"],
        "regionName": _region_name(row["region_code"]),
        "ticketType": row["ticket_type"],
        "teamId": ids.to_public("care_team", row["team_id"]),
        "creationDate": _iso(row["created_at"]),
    }


def route_test(found: dict[str, Any], base: str) -> dict[str, Any]:
    return {
        "msisdn": found["msisdn"],
        "brand": found["brand_name"],
        "homeRegionCode": found["region_code"],
        "homeRegionName": _region_name(found["region_code"]),
        "ticketType": found["ticket_type"],
        "ruleId": _ref("care_route", found["rule_id"]),
        "fallback": found["fallback"],
        "team": team(found["team"], base) if found["team"] else None,
    }


def breach(row: dict[str, Any], base: str) -> dict[str, Any]:
    public = ids.to_public("care_sla_breach", row["id"])
    ticket_id = ids.to_public("trouble_ticket", row["ticket_id"])
    return {
        "id": public,
        "href": f"{base}{V1}/slaBreaches/{public}",
        "@type": "SlaBreach",
        "troubleTicket": {
            "id": ticket_id,
            "href": ticket_href(base, row["ticket_id"]),
            "@referredType": "TroubleTicket",
        },
        "msisdn": row.get("msisdn"),
        "mvnoId": ids.to_public("organization", row["mvno_id"]),
        "ticketType": row["ticket_type"],
        "priority": row["priority"],
        "teamId": ids.to_public("care_team", row["team_id"]),
        "teamName": row.get("team_name"),
        "escalatedToTeamId": ids.to_public("care_team", row["escalated_to_team_id"]),
        "escalatedToTeamName": row.get("escalated_to_name"),
        "dueDate": _iso(row["due_at"]),
        "breachDate": _iso(row["breached_at"]),
    }


def verification(found: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": ids.to_public("care_verification", found["id"]),
        "@type": "CareVerification",
        "msisdn": found["msisdn"],
        "expiresAt": _iso(found["expires_at"]),
    }


def action(result: dict[str, Any], base: str) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "id": ids.to_public("ticket_event", result["eventId"]),
        "@type": "TroubleTicketAction",
        "action": result["action"],
        "troubleTicket": {
            "id": ids.to_public("trouble_ticket", result["ticketId"]),
            "href": ticket_href(base, result["ticketId"]),
        },
    }
    if "orderId" in result:
        shown["productOrder"] = {
            "id": result["orderId"],
            "href": f"{base}{ORDERING}/productOrder/{result['orderId']}",
        }
    if "transferId" in result:
        shown["transferId"] = result["transferId"]
        shown["amountFen"] = result["amountFen"]
    if "recharges" in result:
        shown["since"] = _iso(result["since"])
        shown["until"] = _iso(result["until"])
        shown["recharges"] = [{**r, "at": _iso(r["at"])} for r in result["recharges"]]
    return shown


def team_report(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "@type": "CareTeamReport",
        "month": row["month"],
        "teamId": ids.to_public("care_team", row["team_id"]),
        "teamName": row["team_name"],
        "tickets": row["tickets"],
        "ticketsByType": row["byType"],
        "medianFirstResponseS": row["medianFirstResponseS"],
        "medianResolutionS": row["medianResolutionS"],
        "slaMet": row["slaMet"],
        "slaBreached": row["slaBreached"],
        "slaCompliancePct": row["slaCompliancePct"],
    }


def brand_report(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "@type": "CareBrandReport",
        "month": row["month"],
        "brandId": _ref("brand", row["brand_id"]),
        "brand": row["brand_name"],
        "tickets": row["tickets"],
        "topProblems": [{"ticketType": k, "tickets": n} for k, n in row["top_problems"]],
    }
