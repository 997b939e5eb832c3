"""Usage: TMF635 rated usage, allowance buckets, consumption by day, rating batches."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from openmvne import ids
from openmvne.api import tmf
from openmvne.api.auth import caller, database
from openmvne.api.presenters import _iso
from openmvne.db.engine import Database
from openmvne.domain.access import Actor
from openmvne.domain.parties import Role
from openmvne.domain.rating import DENOMINATOR
from openmvne.services import usage

router = APIRouter(tags=["Usage"])
USAGE = "/tmf-api/usageManagement/v4"
V1 = "/openmvne/v1"
PERIOD = Query(None, pattern=r"^\d{4}-\d{2}$", description="Billing month, YYYY-MM (Beijing)")


def _usage(row: dict[str, Any], base: str) -> dict[str, Any]:
    public = f"{row['node_id']}:{row['seq']}"
    return {
        "id": public,
        "href": f"{base}{USAGE}/usage/{public}",
        "@type": "Usage",
        "usageDate": _iso(row["start_time"]),
        "usageType": row["type"],
        "status": "rated",
        "usageCharacteristic": [
            {"name": "msisdn", "value": row["msisdn"]},
            {"name": "quantity", "value": row["quantity"]},
            {"name": "direction", "value": row["direction"]},
            {"name": "province", "value": row["province"]},
            {"name": "partialSequence", "value": row["partial_seq"]},
        ],
        "ratedProductUsage": [
            {
                "@type": "RatedProductUsage",
                "usageRatingTag": "billed" if row["billed_overage"] else "included",
                "ratingAmountType": "total",
                "isBilled": bool(row["billed_overage"]),
                "taxIncludedRatingAmount": {
                    "unit": "microFen",
                    "value": int(row["charge_exact"]) // DENOMINATOR,
                },
                "units": row["units"],
                "inAllowance": row["in_allowance"],
                "overage": row["overage"],
            }
        ],
        "period": row["period"],
    }


@router.get(f"{USAGE}/usage", summary="A line's rated usage in a period (TMF635)")
def list_usage(
    request: Request,
    msisdn: str,
    period: str | None = PERIOD,
    limit: int = Query(1000, ge=1, le=10_000),
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    rows = usage.rated_records(
        db, actor.scope, msisdn, period or usage.current_period(), limit=limit
    )
    base = tmf.base_url(request)
    return JSONResponse(
        [_usage(r, base) for r in rows],
        headers={"X-Result-Count": str(len(rows))},
    )


@router.get(
    f"{V1}/usageConsumption/{{msisdn}}",
    summary="Allowance buckets and usage by day (TMF677-style consumption report)",
)
def consumption(
    msisdn: str,
    period: str | None = PERIOD,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    chosen = period or usage.current_period()
    return JSONResponse(
        {
            "@type": "UsageConsumptionReport",
            "msisdn": msisdn,
            "period": chosen,
            "bucket": usage.buckets(db, actor.scope, msisdn, chosen),
            "daily": usage.daily(db, actor.scope, msisdn, chosen),
        }
    )


@router.get(f"{V1}/ratingBatches", summary="Rating batches (platform operators)")
def rating_batches(
    request: Request,
    params: tmf.ListParams = Depends(tmf.list_params),
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    actor.require(Role.PLATFORM_ADMIN, action="read rating batches")
    rows, total = usage.list_batches(db, params.offset, params.limit)
    base = tmf.base_url(request)
    items = [
        {
            "id": ids.to_public("rating_batch", r["id"]),
            "href": f"{base}{V1}/ratingBatches/{ids.to_public('rating_batch', r['id'])}",
            "@type": "RatingBatch",
            "kind": r["kind"],
            "source": r["source"],
            "period": r["period"],
            "recordsIn": r["records_in"],
            "duplicates": r["duplicates"],
            "rejected": r["rejected"],
            "rated": r["rated"],
            "chargedFen": r["charged_fen"],
            "wholesaleFen": r["wholesale_fen"],
            "creationDate": _iso(r["created_at"]),
        }
        for r in rows
    ]
    return tmf.list_response(items, total, params)
