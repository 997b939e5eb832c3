"""Usage: TMF635 rated usage, allowance buckets, consumption by day, rating batches, and
online charging sessions for the host network."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import Field, StrictInt

from openmvne import ids
from openmvne.api import tmf
from openmvne.api.auth import caller, database
from openmvne.api.presenters import _iso
from openmvne.api.routing import Router
from openmvne.api.schemas import Body
from openmvne.db.engine import Database
from openmvne.domain.access import Actor
from openmvne.domain.parties import Role
from openmvne.domain.rating import DENOMINATOR
from openmvne.services import charging, usage

router = Router(tags=["Usage"])
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
        [tmf.compact(_usage(r, base)) for r in rows],
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
    tmf.refuse_filters(params)
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


class ChargingStart(Body):
    sessionId: str = Field(min_length=1, max_length=128)
    msisdn: str
    serviceType: str = Field(description="voice, sms or data")
    requestedUnits: StrictInt = Field(description="seconds, messages or bytes")
    direction: str = "mo"


class ChargingUpdate(Body):
    requestNumber: StrictInt
    usedUnits: StrictInt
    requestedUnits: StrictInt = 0


class ChargingEnd(Body):
    requestNumber: StrictInt
    usedUnits: StrictInt


def _charging(result: dict[str, Any], status: int = 200) -> JSONResponse:
    headers = {"Idempotent-Replayed": "true" if result.pop("replayed", False) else "false"}
    return JSONResponse(result, status_code=status, headers=headers)


@router.post(
    f"{V1}/chargingSessions",
    status_code=201,
    summary="Online charging, initial request: open a session and reserve units (Gy CCR-I)",
)
async def charging_start(
    body: ChargingStart, actor: Actor = Depends(caller), db: Database = Depends(database)
) -> JSONResponse:
    # Async: the request waits for its batch's commit on the event loop, not in a thread.
    ask = charging.initial_ask(
        actor, body.sessionId, body.msisdn, body.serviceType, body.requestedUnits, body.direction
    )
    result = await charging.answer(db, ask)
    response = _charging(result, 201)
    response.headers["Location"] = f"{V1}/chargingSessions/{body.sessionId}"
    return response


@router.post(
    f"{V1}/chargingSessions/{{session_id}}/update",
    summary="Online charging, update: charge what was used, reserve more (Gy CCR-U)",
)
async def charging_update(
    session_id: str,
    body: ChargingUpdate,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    ask = charging.step_ask(
        actor, session_id, body.requestNumber, body.usedUnits, body.requestedUnits, final=False
    )
    return _charging(await charging.answer(db, ask))


@router.post(
    f"{V1}/chargingSessions/{{session_id}}/terminate",
    summary="Online charging, termination: charge what was used, release the rest (Gy CCR-T)",
)
async def charging_end(
    session_id: str,
    body: ChargingEnd,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    ask = charging.step_ask(actor, session_id, body.requestNumber, body.usedUnits, 0, final=True)
    return _charging(await charging.answer(db, ask))


@router.get(f"{V1}/chargingSessions/{{session_id}}", summary="A charging session")
def charging_get(
    session_id: str, actor: Actor = Depends(caller), db: Database = Depends(database)
) -> JSONResponse:
    row = charging.get_session(db, actor, session_id)
    return JSONResponse(
        {
            "sessionId": row["session_key"],
            "msisdn": row["msisdn"],
            "serviceType": row["type"],
            "state": row["state"],
            "usedUnits": row["used_units"],
            "lastRequestNumber": row["last_request"],
            "expiresAt": _iso(row["expires_at"]),
        }
    )
