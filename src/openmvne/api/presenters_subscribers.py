"""TMF622 product orders, TMF637 products (lines), TMF629 customers and the line summary."""

from __future__ import annotations

import uuid
from typing import Any

from openmvne import ids
from openmvne.api.presenters import PARTY, _iso
from openmvne.domain.identity import mask_name
from openmvne.domain.subscribers import LineState

ORDERING = "/tmf-api/productOrderingManagement/v4"
INVENTORY = "/tmf-api/productInventory/v4"
CUSTOMERS = "/tmf-api/customerManagement/v4"
CATALOG = "/tmf-api/productCatalogManagement/v4"
V1 = "/openmvne/v1"

# TMF637 ProductStatusType for each line state; the exact state rides along as `lineState`.
PRODUCT_STATUS = {
    LineState.PENDING: "pendingActive",
    LineState.ACTIVE: "active",
    LineState.FAILED: "aborted",
    LineState.CANCELLED: "terminated",
    LineState.PRE_CANCELLED: "pendingTerminate",
}


def _party_ref(party_id: uuid.UUID, role: str) -> dict[str, Any]:
    return {
        "id": ids.to_public("organization", party_id),
        "role": role,
        "@referredType": "Organization",
    }


def product_order(row: dict[str, Any], base: str) -> dict[str, Any]:
    public = ids.to_public("product_order", row["id"])
    action = "add" if row["kind"] == "sale" else "modify"
    item: dict[str, Any] = {
        "id": "1",
        "action": action,
        "state": row["state"],
        "@type": "ProductOrderItem",
    }
    if row["subscription_id"] is not None:
        product = ids.to_public("subscription", row["subscription_id"])
        item["product"] = {
            "id": product,
            "href": f"{base}{INVENTORY}/product/{product}",
            "name": row["msisdn"],
            "@referredType": "Product",
        }
    offering = row["request"].get("offeringId")
    if offering:
        public_offer = ids.to_public("product_offering", uuid.UUID(offering))
        item["productOffering"] = {
            "id": public_offer,
            "href": f"{base}{CATALOG}/productOffering/{public_offer}",
            "@referredType": "ProductOffering",
        }
    shown: dict[str, Any] = {
        "id": public,
        "href": f"{base}{ORDERING}/productOrder/{public}",
        "@type": "ProductOrder",
        "category": row["kind"],
        "state": row["state"],
        "externalId": row["external_id"],
        "orderDate": _iso(row["created_at"]),
        "completionDate": _iso(row["completed_at"]),
        "msisdn": row["msisdn"],
        "productOrderItem": [item],
        # The requester is the platform user who placed the order (for an outlet, an MVNO
        # or the subscriber), referred to by its unique username.
        "relatedParty": [
            {
                "id": row["username"],
                "name": row["username"],
                "role": "requester",
                "@referredType": "User",
            }
        ],
        "note": [{"text": row["failure_reason"]}] if row["failure_reason"] else [],
    }
    if row["kind"] == "sale":
        request = row["request"]
        shown["orderTotalPrice"] = [
            {
                "name": "prepayment",
                "priceType": "oneTime",
                "price": {"taxIncludedAmount": {"unit": "fen", "value": request["prepaymentFen"]}},
            }
        ]
        shown["identification"] = {"type": request["idType"], "maskedId": request["idMasked"]}
    return shown


def product(row: dict[str, Any], base: str) -> dict[str, Any]:
    public = ids.to_public("subscription", row["id"])
    offer = ids.to_public("product_offering", row["offering_id"])
    customer = ids.to_public("individual", row["individual_id"])
    state = LineState(row["state"])
    return {
        "id": public,
        "href": f"{base}{INVENTORY}/product/{public}",
        "@type": "Product",
        "name": row["msisdn"],
        "status": PRODUCT_STATUS.get(state, "suspended"),
        "lineState": state.value,
        "isBundle": False,
        "isCustomerVisible": True,
        "productSerialNumber": row["msisdn"],
        "startDate": _iso(row["activated_at"]),
        "terminationDate": _iso(row["ended_at"]),
        "productOffering": {
            "id": offer,
            "href": f"{base}{CATALOG}/productOffering/{offer}",
            "@referredType": "ProductOffering",
        },
        "productCharacteristic": [
            {"name": "msisdn", "valueType": "string", "value": row["msisdn"]},
            {"name": "iccid", "valueType": "string", "value": row["iccid"]},
            {"name": "networkLevel", "valueType": "string", "value": row["network_level"]},
            {"name": "debtFen", "valueType": "integer", "value": row["debt_fen"]},
        ],
        "realizingResource": [
            {"id": row["iccid"], "name": "SIM", "@referredType": "SimCard"},
            {"id": row["msisdn"], "name": "MSISDN", "@referredType": "LogicalResource"},
        ],
        "relatedParty": [
            {
                "id": customer,
                "href": f"{base}{CUSTOMERS}/customer/{customer}",
                "role": "customer",
                "@referredType": "Customer",
            },
            _party_ref(row["outlet_id"], "seller"),
            _party_ref(row["mvno_id"], "serviceProvider"),
        ],
        "creationDate": _iso(row["created_at"]),
        "lastUpdate": _iso(row["updated_at"]),
    }


def customer(row: dict[str, Any], base: str) -> dict[str, Any]:
    public = ids.to_public("individual", row["id"])
    return {
        "id": public,
        "href": f"{base}{CUSTOMERS}/customer/{public}",
        "@type": "Customer",
        "name": mask_name(row["family_name"] + row["given_name"]),
        "status": row["status"],
        "engagedParty": {
            "id": public,
            "href": f"{base}{PARTY}/individual/{public}",
            "@referredType": "Individual",
        },
        "characteristic": [
            {"name": "idType", "value": row["id_type"]},
            {"name": "maskedId", "value": row["id_masked"]},
        ],
        "relatedParty": [_party_ref(row["mvno_id"], "serviceProvider")],
    }


def summary(view: dict[str, Any], base: str) -> dict[str, Any]:
    line, offer, brand, balance = view["line"], view["offer"], view["brand"], view["balance"]
    return {
        "msisdn": line["msisdn"],
        "state": line["state"],
        "stateSince": _iso(line["state_since"]),
        "stateUntil": _iso(line["state_until"]),
        "brand": brand["name"] if brand else None,
        "brandHotline": brand["hotline"] if brand else None,
        "holder": view["holder"],
        "offer": {
            "id": ids.to_public("product_offering", offer["id"]),
            "name": offer["name"],
            "monthlyFeeFen": offer["monthly_fee_fen"],
        },
        # Allowances per month from the offer; what is used of them arrives with [usage].
        "allowances": {
            "voiceMinutes": offer["voice_min"],
            "sms": offer["sms"],
            "dataMb": offer["data_mb"],
        },
        "balanceFen": balance.available,
        "debtFen": line["debt_fen"],
        "sim": {"iccid": line["iccid"]},
        "network": {"level": line["network_level"], "inSync": line["network_in_sync"]},
        "services": [
            {"name": s["name"], "startDate": _iso(s["started_at"])} for s in view["services"]
        ],
        "activationDate": _iso(line["activated_at"]),
        "product": {
            "id": ids.to_public("subscription", line["id"]),
            "href": f"{base}{INVENTORY}/product/{ids.to_public('subscription', line['id'])}",
        },
        "nextFeeOn": line["next_fee_on"].isoformat() if line["next_fee_on"] else None,
    }
