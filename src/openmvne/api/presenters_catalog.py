"""Catalog rows to resources: TMF620 shapes plus the platform's own."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from openmvne import ids
from openmvne.domain.catalog import CostChain
from openmvne.money import format_rate_fen

CATALOG = "/tmf-api/productCatalogManagement/v4"
V1 = "/openmvne/v1"
CATEGORY_NAMES = {
    "plan": "Monthly plans 月租套餐",
    "payAsYouGo": "Pay as you go 按量计费",
    "addon": "Add-ons 加油包与增值业务",
    "prettyNumberPlan": "Pretty-number plans 靓号资费",
    "partnerPackage": "Partner packages 合作伙伴套餐",
}
PRICE_PARTS = ("recurring", "voice", "sms", "data")


def _iso(value: datetime | date | None) -> str | None:
    if value is None:
        return None
    text = value.isoformat()
    return text.replace("+00:00", "Z")


def _ref(kind: str, value: Any) -> str | None:
    return ids.to_public(kind, value) if value is not None else None


def brand(row: dict[str, Any], base: str) -> dict[str, Any]:
    public = ids.to_public("brand", row["id"])
    return {
        "id": public,
        "href": f"{base}{V1}/brands/{public}",
        "@type": "Brand",
        "name": row["name"],
        "mvnoId": ids.to_public("organization", row["mvno_id"]),
        "hotline": row["hotline"],
        "website": row["website"],
        "highlights": row["highlights"] or [],
        "serviceChannels": row["service_channels"] or [],
    }


def price_id(offering: Any, part: str) -> str:
    return f"{ids.to_public('product_offering', offering)}.{part}"


def offering(row: dict[str, Any], base: str) -> dict[str, Any]:
    public = ids.to_public("product_offering", row["id"])
    spec = ids.to_public("product_specification", row["id"])
    prices = [
        {
            "id": price_id(row["id"], part),
            "href": f"{base}{CATALOG}/productOfferingPrice/{price_id(row['id'], part)}",
            "name": part,
        }
        for part in PRICE_PARTS
    ]
    return {
        "id": public,
        "href": f"{base}{CATALOG}/productOffering/{public}",
        "@type": "ProductOffering",
        "name": row["name"],
        "description": row["description"],
        "version": "1.0",
        "lifecycleStatus": row["status"],
        "isBundle": row["kind"] == "partnerPackage",
        "isSellable": row["status"] == "active",
        "lastUpdate": _iso(row["updated_at"]),
        "category": [
            {
                "id": row["kind"],
                "href": f"{base}{CATALOG}/category/{row['kind']}",
                "name": CATEGORY_NAMES[row["kind"]],
            }
        ],
        "productSpecification": {
            "id": spec,
            "href": f"{base}{CATALOG}/productSpecification/{spec}",
            "name": row["name"],
        },
        "productOfferingPrice": prices,
        "offerType": row["kind"],
        "mvnoId": ids.to_public("organization", row["mvno_id"]),
        "brandId": ids.to_public("brand", row["brand_id"]),
        "hostId": ids.to_public("organization", row["host_id"]),
        "monthlyFeeFen": row["monthly_fee_fen"],
        "allowance": {
            "voiceMinutes": row["voice_min"],
            "sms": row["sms"],
            "dataMb": row["data_mb"],
        },
        "rates": {
            "voiceRateFen": format_rate_fen(row["voice_rate"]),
            "smsRateFen": format_rate_fen(row["sms_rate"]),
            "dataRateFen": format_rate_fen(row["data_rate"]),
        },
        "voiceIncrementSeconds": row["voice_increment_s"],
        "dataIncrementKb": row["data_increment_kb"],
        "dataCapMb": row["data_cap_mb"],
        "rolloverData": row["rollover_data"],
        "terminatingVoiceFree": row["terminating_voice_free"],
        "validityDays": row["validity_days"],
        "minMonthlySpendFen": row["min_monthly_spend_fen"],
        "termMonths": row["term_months"],
        "hostPackageCode": row["host_package_code"],
        "sharedWithChannels": row["shared_with_channels"],
        "packageDesignId": _ref("package_design", row["design_id"]),
    }


def specification(row: dict[str, Any], base: str) -> dict[str, Any]:
    spec = ids.to_public("product_specification", row["id"])

    def char(
        name: str, value: Any, unit: str | None, value_type: str = "integer"
    ) -> dict[str, Any]:
        return {
            "name": name,
            "valueType": value_type,
            "productSpecCharacteristicValue": [
                {"value": value, **({"unitOfMeasure": unit} if unit else {})}
            ],
        }

    return {
        "id": spec,
        "href": f"{base}{CATALOG}/productSpecification/{spec}",
        "@type": "ProductSpecification",
        "name": row["name"],
        "lifecycleStatus": row["status"],
        "productSpecCharacteristic": [
            char("voiceMinutes", row["voice_min"], "min"),
            char("sms", row["sms"], "message"),
            char("dataMb", row["data_mb"], "MB"),
            char("dataCapMb", row["data_cap_mb"], "MB"),
            char("voiceIncrementSeconds", row["voice_increment_s"], "s"),
            char("dataIncrementKb", row["data_increment_kb"], "KB"),
            char("rolloverData", row["rollover_data"], None, "boolean"),
            char("terminatingVoiceFree", row["terminating_voice_free"], None, "boolean"),
        ],
    }


def offering_price(row: dict[str, Any], part: str, base: str) -> dict[str, Any]:
    public = price_id(row["id"], part)
    body: dict[str, Any] = {
        "id": public,
        "href": f"{base}{CATALOG}/productOfferingPrice/{public}",
        "@type": "ProductOfferingPrice",
        "name": f"{row['name']} {part}",
        "lifecycleStatus": row["status"],
    }
    if part == "recurring":
        body.update(
            priceType="recurring",
            recurringChargePeriodType="month",
            price={"unit": "fen", "value": row["monthly_fee_fen"]},
        )
    else:
        unit = {"voice": "min", "sms": "message", "data": "MB"}[part]
        body.update(
            priceType="usage",
            unitOfMeasure={"amount": 1, "units": unit},
            price={"unit": "microFen", "value": row[f"{part}_rate"]},
        )
    return body


def price_list(row: dict[str, Any], base: str) -> dict[str, Any]:
    public = ids.to_public("wholesale_price_list", row["id"])
    rates = None
    if row["voice_rate"] is not None:
        rates = {
            "voiceRateFen": format_rate_fen(row["voice_rate"]),
            "smsRateFen": format_rate_fen(row["sms_rate"]),
            "dataRateFen": format_rate_fen(row["data_rate"]),
        }
    return {
        "id": public,
        "href": f"{base}{V1}/wholesalePriceLists/{public}",
        "@type": "WholesalePriceList",
        "hostId": ids.to_public("organization", row["host_id"]),
        "mvnoId": ids.to_public("organization", row["mvno_id"]),
        "model": row["model"],
        "validFrom": _iso(row["valid_from"]),
        "validTo": _iso(row["valid_to"]),
        "rates": rates,
        "revenueTiers": row["revenue_tiers"],
        "annualRevenueFen": row["annual_revenue_fen"],
        "hostPackages": row["host_packages"],
        "perNumberFeeFen": row["per_number_fee_fen"],
        "reviewDueOn": _iso(row["review_due_on"]),
    }


def design(row: dict[str, Any], base: str) -> dict[str, Any]:
    public = ids.to_public("package_design", row["id"])
    return {
        "id": public,
        "href": f"{base}{V1}/packageDesigns/{public}",
        "@type": "PackageDesign",
        "name": row["name"],
        "mvnoId": ids.to_public("organization", row["mvno_id"]),
        "designerId": ids.to_public("channel_authorisation", row["designer_id"]),
        "baseOfferingId": ids.to_public("product_offering", row["base_offering_id"]),
        "addonIds": [ids.to_public("product_offering", uuid.UUID(a)) for a in row["addon_ids"]],
        "priceFen": row["price_fen"],
        "status": row["status"],
        "reason": row["reason"],
        "offeringId": _ref("product_offering", row["offering_id"]),
    }


def chain(subject: str, value: CostChain) -> dict[str, Any]:
    return {
        "@type": "CostChain",
        "subject": subject,
        "priceFen": value.price_fen,
        "costFen": value.cost_fen,
        "marginFen": value.margin_fen,
        "inverted": value.inverted,
        "breakdown": [{"label": line.label, "amountMicroFen": line.micro} for line in value.lines],
    }


def alert(row: dict[str, Any], base: str) -> dict[str, Any]:
    public = ids.to_public("inversion_alert", row["id"])
    return {
        "id": public,
        "href": f"{base}{V1}/inversionAlerts/{public}",
        "@type": "InversionAlert",
        "mvnoId": ids.to_public("organization", row["mvno_id"]),
        "offeringId": ids.to_public("product_offering", row["offering_id"]),
        "priceFen": row["price_fen"],
        "costFen": row["cost_fen"],
        "cause": row["cause"],
        "status": row["status"],
        "createdAt": _iso(row["created_at"]),
        "resolvedAt": _iso(row["resolved_at"]),
    }
