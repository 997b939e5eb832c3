"""Settlement: runs per month, TMF678 customer bills with their applied rates, reports."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request
from fastapi.responses import JSONResponse
from pydantic import Field

from openmvne import ids
from openmvne.api import tmf
from openmvne.api.auth import caller, database
from openmvne.api.presenters import _iso
from openmvne.api.routing import Router
from openmvne.api.schemas import Body
from openmvne.db.engine import Database
from openmvne.domain.access import Actor
from openmvne.services import reports, settlement

router = Router(tags=["Settlement"])
BILLS = "/tmf-api/customerBillManagement/v4"
V1 = "/openmvne/v1"


class RunCreate(Body):
    month: str = Field(pattern=r"^\d{4}-\d{2}$")
    mvnoId: str | None = None
    close: bool = False


def _run(row: dict[str, Any], base: str) -> dict[str, Any]:
    public = ids.to_public("settlement_run", row["id"])
    return {
        "id": public,
        "href": f"{base}{V1}/settlementRuns/{public}",
        "@type": "SettlementRun",
        "month": row["month"],
        "mvnoId": ids.to_public("organization", row["mvno_id"]),
        "status": row["status"],
        "digest": row["digest"],
        "runs": row["runs"],
        "documents": row["documents"],
        "closedDate": _iso(row["closed_at"]),
    }


def _bill(row: dict[str, Any], base: str) -> dict[str, Any]:
    public = ids.to_public("customer_bill", row["id"])
    return {
        "id": public,
        "href": f"{base}{BILLS}/customerBill/{public}",
        "@type": "CustomerBill",
        "billNo": f"{row['month']}-{public[-8:]}",
        "category": "wholesale",
        "state": row["state"],
        "billingPeriod": {"startDateTime": f"{row['month']}-01", "endDateTime": None},
        "amountDue": {"unit": "fen", "value": row["amount_fen"]},
        "relatedParty": [
            {"id": ids.to_public("organization", row["host_id"]), "role": "billIssuer"},
            {"id": ids.to_public("organization", row["mvno_id"]), "role": "customer"},
        ],
        "appliedCustomerBillingRate": {
            "href": f"{base}{BILLS}/appliedCustomerBillingRate?bill.id={public}"
        },
    }


@router.post(
    f"{V1}/settlementRuns",
    status_code=201,
    summary="Run (or close) a month's settlement: wholesale bills, commissions, margin",
)
def create_run(
    body: RunCreate,
    request: Request,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    rows = settlement.settle(
        db,
        actor,
        body.month,
        mvno_id=tmf.body_id("organization", body.mvnoId, "mvnoId"),
        close=body.close,
    )
    base = tmf.base_url(request)
    return JSONResponse([_run(r, base) for r in rows], status_code=201)


@router.get(f"{V1}/settlementRuns", summary="Settlement runs in your scope")
def list_runs(
    request: Request,
    params: tmf.ListParams = Depends(tmf.list_params),
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    tmf.refuse_filters(params)
    rows, total = settlement.list_runs(db, actor.scope, params.offset, params.limit)
    base = tmf.base_url(request)
    return tmf.list_response([_run(r, base) for r in rows], total, params)


@router.get(f"{BILLS}/customerBill", summary="Wholesale bills (TMF678) in your scope")
def list_bills(
    request: Request,
    params: tmf.ListParams = Depends(tmf.list_params),
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    tmf.refuse_filters(params)
    rows, total = settlement.list_bills(db, actor.scope, params.offset, params.limit)
    base = tmf.base_url(request)
    return tmf.list_response([_bill(r, base) for r in rows], total, params)


@router.get(f"{BILLS}/customerBill/{{bill_id}}", summary="A wholesale bill (TMF678)")
def get_bill(
    bill_id: str,
    request: Request,
    fields: str | None = None,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    row = settlement.get_bill(db, actor.scope, tmf.path_id("customer_bill", bill_id))
    return tmf.item_response(_bill(row, tmf.base_url(request)), fields)


@router.get(
    f"{BILLS}/appliedCustomerBillingRate",
    summary="A bill's lines: usage by service, rounding, per-number fees (TMF678)",
)
def applied_rates(
    request: Request,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    bill_id = request.query_params.get("bill.id", "")
    row = settlement.get_bill(db, actor.scope, tmf.path_id("customer_bill", bill_id))
    items = [
        {
            "id": f"{bill_id}-{n}",
            "@type": "AppliedCustomerBillingRate",
            "name": item["service"],
            "type": "usage" if item["service"] in ("voice", "sms", "data") else "recurring",
            "bill": {"id": bill_id},
            "characteristic": [
                {"name": "quantity", "value": item["quantity"]},
                {"name": "unit", "value": item["unit"]},
            ],
            "taxExcludedAmount": {"unit": "fen", "value": item["amountFen"]},
        }
        for n, item in enumerate(row["lines"], start=1)
    ]
    return JSONResponse(tmf.compact(items), headers={"X-Result-Count": str(len(items))})


@router.get(f"{V1}/reports/{{name}}", summary="A report in your scope")
def report(
    name: str, actor: Actor = Depends(caller), db: Database = Depends(database)
) -> JSONResponse:
    rows = reports.run(db, actor.scope, name)
    return JSONResponse(rows, headers={"X-Result-Count": str(len(rows))})
