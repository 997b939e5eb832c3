"""Money: TMF654 top-up and buckets, outlet floats, charges and holds, the transfer journal.
Every money-moving call needs an Idempotency-Key header."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse
from pydantic import Field, StrictInt
from sqlalchemy import select

from openmvne import ids
from openmvne.api import tmf
from openmvne.api.auth import caller, database
from openmvne.api.routing import Router
from openmvne.api.schemas import Body
from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.db.scoping import scoped
from openmvne.domain.access import Actor
from openmvne.errors import NotFound
from openmvne.services import money, payments, recharges, vouchers

router = Router(tags=["Money"])
PREPAY = "/tmf-api/prepayBalanceManagement/v4"
V1 = "/openmvne/v1"
KEY = Header(None, alias="Idempotency-Key", description="Required: makes retries safe")


class TopupCreate(Body):
    msisdn: str
    amountFen: StrictInt = Field(description="Whole fen, more than zero")
    channelOrderNumber: str = Field(description="The outlet's own order number")
    outletId: str | None = Field(None, description="Platform operators only")


class FloatPaymentCreate(Body):
    outletId: str
    amountFen: StrictInt
    reference: str | None = Field(None, max_length=100)


class ChargeCreate(Body):
    msisdn: str
    amountFen: StrictInt
    reason: str = Field(min_length=1, max_length=100)


class HoldCreate(Body):
    msisdn: str
    amountFen: StrictInt
    seconds: StrictInt = 300


class HoldPost(Body):
    amountFen: StrictInt


def _answer(
    result: dict[str, Any], body: dict[str, Any], href: str | None = None, status: int = 201
) -> JSONResponse:
    headers = {"Idempotent-Replayed": "true" if result.get("replayed") else "false"}
    if href:
        headers["Location"] = href
    return JSONResponse(tmf.compact(body), status_code=status, headers=headers)


def _topup(result: dict[str, Any], base: str) -> dict[str, Any]:
    public = f"top_{ids.encode(uuid.UUID(result['rechargeId']))}"
    return {
        "id": public,
        "href": f"{base}{PREPAY}/topupBalance/{public}",
        "@type": "TopupBalance",
        "status": result["status"],
        # TMF654 Quantity: an amount in units (here fen), and the lines as LogicalResourceRefs.
        "amount": {"amount": result["amountFen"], "units": "fen"},
        "logicalResource": [{"id": result["msisdn"], "name": "MSISDN"}],
        "brand": result["brand"],
        # The outlet that recharged (a TMF654 ChannelRef to the outlet's organisation).
        "channel": {
            "id": ids.to_public("organization", uuid.UUID(result["outletId"])),
            "@referredType": "Organization",
        },
        "channelOrderNumber": result["channelOrderNumber"],
        "completedDate": result["completedAt"],
    }


@router.post(
    f"{PREPAY}/topupBalance",
    status_code=201,
    summary="Recharge any connected brand's number from the outlet's float",
)
async def topup(
    body: TopupCreate,
    request: Request,
    idempotency_key: str | None = KEY,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    # Async: the recharge waits for its batch's commit on the event loop, not in a thread.
    result = await recharges.recharge_async(
        db,
        actor,
        msisdn=body.msisdn,
        amount_fen=body.amountFen,
        channel_order_number=body.channelOrderNumber,
        idempotency_key=idempotency_key,
        outlet_id=tmf.body_id("organization", body.outletId, "outletId"),
    )
    shown = _topup(result, tmf.base_url(request))
    return _answer(result, shown, shown["href"])


def _order_id(text: str) -> uuid.UUID:
    prefix, _, rest = text.partition("_")
    value = ids.decode(rest) if prefix == "top" else None
    if value is None:
        raise NotFound("no such top-up")
    return value


@router.get(f"{PREPAY}/topupBalance/{{topup_id}}", summary="Retrieve a top-up")
def get_topup(
    topup_id: str,
    request: Request,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    ro = t.recharge_order
    with db.read() as conn:
        row = (
            conn.execute(scoped(select(ro).where(ro.c.id == _order_id(topup_id)), ro, actor.scope))
            .mappings()
            .first()
        )
    if row is None:
        raise NotFound("no such top-up")
    return JSONResponse(tmf.compact(_topup(row["result"], tmf.base_url(request))))


@router.get(f"{PREPAY}/bucket", summary="A line's prepaid balance (its bucket)")
def bucket(
    msisdn: str, actor: Actor = Depends(caller), db: Database = Depends(database)
) -> JSONResponse:
    found = money.balance_of(db, actor, msisdn)
    return JSONResponse(
        [
            {
                "id": f"{found['msisdn']}.prepaid",
                "@type": "BucketBalance",
                "name": "prepaid balance",
                "logicalResource": [{"id": found["msisdn"], "name": "MSISDN"}],
                "remainingValue": {"amount": found["balanceFen"], "units": "fen"},
                "reservedValue": {"amount": found["heldFen"], "units": "fen"},
                "availableFen": found["availableFen"],
                "heldFen": found["heldFen"],
            }
        ]
    )


@router.get(
    f"{V1}/rechargePreview/{{msisdn}}",
    summary="Before a recharge: the number's brand (nothing else about the line)",
)
def recharge_preview(
    msisdn: str, actor: Actor = Depends(caller), db: Database = Depends(database)
) -> JSONResponse:
    return JSONResponse(money.preview(db, actor, msisdn))


@router.post(
    f"{V1}/floatPayments",
    status_code=201,
    summary="Record an outlet's payment of float (platform operators)",
)
def float_payment(
    body: FloatPaymentCreate,
    idempotency_key: str | None = KEY,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    result = money.pay_float(
        db,
        actor,
        outlet_id=tmf.body_id("organization", body.outletId, "outletId"),
        amount_fen=body.amountFen,
        idempotency_key=idempotency_key,
        reference=body.reference,
    )
    return _answer(
        result,
        {
            "transferId": result["transferId"],
            "outletId": body.outletId,
            "amountFen": body.amountFen,
            "@type": "FloatPayment",
        },
    )


@router.get(f"{V1}/floats/{{outlet_id}}", summary="An outlet's float balance")
def float_balance(
    outlet_id: str, actor: Actor = Depends(caller), db: Database = Depends(database)
) -> JSONResponse:
    found = money.float_of(db, actor, tmf.path_id("organization", outlet_id))
    return JSONResponse(
        {
            "outletId": outlet_id,
            "balanceFen": found["balanceFen"],
            "availableFen": found["availableFen"],
        }
    )


@router.post(f"{V1}/charges", status_code=201, summary="Charge a prepaid balance")
def create_charge(
    body: ChargeCreate,
    idempotency_key: str | None = KEY,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    result = money.charge(
        db,
        actor,
        msisdn=body.msisdn,
        amount_fen=body.amountFen,
        reason=body.reason,
        idempotency_key=idempotency_key,
    )
    return _answer(result, {"transferId": result["transferId"], "amountFen": body.amountFen})


@router.post(f"{V1}/holds", status_code=201, summary="Hold part of a balance")
def create_hold(
    body: HoldCreate,
    idempotency_key: str | None = KEY,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    result = money.hold(
        db,
        actor,
        msisdn=body.msisdn,
        amount_fen=body.amountFen,
        seconds=body.seconds,
        idempotency_key=idempotency_key,
    )
    return _answer(result, {"holdId": result["holdId"], "amountFen": body.amountFen})


@router.post(f"{V1}/holds/{{hold_id}}/post", summary="Post part or all of a hold")
def post_hold(
    hold_id: str,
    body: HoldPost,
    idempotency_key: str | None = KEY,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    result = money.resolve(
        db, actor, _uuid(hold_id), post_fen=body.amountFen, idempotency_key=idempotency_key
    )
    return _answer(result, result, status=200)


@router.post(f"{V1}/holds/{{hold_id}}/void", summary="Release a hold")
def void_hold(
    hold_id: str,
    idempotency_key: str | None = KEY,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    result = money.resolve(
        db, actor, _uuid(hold_id), post_fen=None, idempotency_key=idempotency_key
    )
    return _answer(result, result, status=200)


def _uuid(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError as exc:
        raise NotFound("no hold with that id") from exc


@router.get(f"{V1}/transfers", summary="Ledger transfers in your scope (read only)")
def transfers(
    request: Request,
    params: tmf.ListParams = Depends(tmf.list_params),
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    rows, total = money.list_transfers(db, actor, params.filters, params.offset, params.limit)
    items = [
        {
            "id": str(r["id"]),
            "@type": "Transfer",
            "code": r["code"],
            "amountFen": r["amount_fen"],
            "status": r["status"],
            "reference": r["reference"],
            "pendingId": str(r["pending_id"]) if r["pending_id"] else None,
            "createdAt": r["created_at"].isoformat(),
        }
        for r in rows
    ]
    return tmf.list_response(items, total, params)


class VoucherBatchCreate(Body):
    faceValueFen: StrictInt
    count: StrictInt
    expiresOn: date
    mvnoId: str | None = None


class Distribution(Body):
    channelId: str = Field(description="The channel organisation (org_…) that receives them")


class Redemption(Body):
    msisdn: str
    pin: str


@router.post(
    f"{V1}/voucherBatches",
    status_code=201,
    summary="Create recharge vouchers; the PINs are shown once, here",
)
def create_vouchers(
    body: VoucherBatchCreate, actor: Actor = Depends(caller), db: Database = Depends(database)
) -> JSONResponse:
    made = vouchers.create_batch(
        db,
        actor,
        face_value_fen=body.faceValueFen,
        count=body.count,
        expires_on=body.expiresOn,
        mvno_id=tmf.body_id("organization", body.mvnoId, "mvnoId"),
    )
    return JSONResponse(
        {
            "id": ids.to_public("voucher_batch", made["id"]),
            "faceValueFen": made["face_value_fen"],
            "count": made["count"],
            "expiresOn": made["expires_on"].isoformat(),
            "vouchers": made["vouchers"],
        },
        status_code=201,
    )


@router.post(
    f"{V1}/voucherBatches/{{batch_id}}/distribute",
    summary="Hand a batch to a channel of the MVNO's tree",
)
def distribute_vouchers(
    batch_id: str,
    body: Distribution,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    count = vouchers.distribute(
        db,
        actor,
        tmf.path_id("voucher_batch", batch_id),
        tmf.body_id("organization", body.channelId, "channelId"),
    )
    return JSONResponse({"distributed": count})


@router.post(
    f"{V1}/voucherBatches/{{batch_id}}/sell",
    summary="Record the channel's sale (and payment) of a batch",
)
def sell_vouchers(
    batch_id: str,
    idempotency_key: str | None = KEY,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    count = vouchers.sell(db, actor, tmf.path_id("voucher_batch", batch_id), idempotency_key)
    return JSONResponse({"sold": count})


@router.post(f"{V1}/vouchers/{{serial}}/block", summary="Block a voucher")
def block_voucher(
    serial: str, actor: Actor = Depends(caller), db: Database = Depends(database)
) -> JSONResponse:
    vouchers.block(db, actor, serial)
    return JSONResponse({"serial": serial, "state": "blocked"})


@router.post(
    f"{V1}/vouchers/redeem",
    status_code=201,
    summary="Credit a line with a voucher's PIN (once; wrong PINs are limited)",
)
def redeem_voucher(
    body: Redemption,
    idempotency_key: str | None = KEY,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    result = vouchers.redeem(
        db, actor, msisdn=body.msisdn, pin=body.pin, idempotency_key=idempotency_key
    )
    return _answer(
        result,
        {"serial": result["serial"], "msisdn": result["msisdn"], "amountFen": result["amountFen"]},
    )


class PaymentOrderCreate(Body):
    msisdn: str
    amountFen: StrictInt


def _order_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "orderId": str(row["id"]),
        "msisdn": row["msisdn"],
        "amountFen": row["amount_fen"],
        "status": row["status"],
    }


@router.post(
    f"{V1}/paymentOrders",
    status_code=201,
    summary="Pay for a line's recharge through the payment gateway (redirect)",
)
def create_payment_order(
    body: PaymentOrderCreate,
    request: Request,
    idempotency_key: str | None = KEY,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    result = payments.create_order(
        db, actor, msisdn=body.msisdn, amount_fen=body.amountFen, idempotency_key=idempotency_key
    )
    shown = {key: result[key] for key in ("orderId", "msisdn", "amountFen", "status")}
    shown["redirectUrl"] = (
        f"{tmf.base_url(request)}/fake-gateway/pay/{result['orderId']}"
        f"?amountFen={result['amountFen']}"
    )
    return _answer(result, shown)


@router.get(f"{V1}/paymentOrders/{{order_id}}", summary="A payment order's status")
def get_payment_order(
    order_id: str, actor: Actor = Depends(caller), db: Database = Depends(database)
) -> JSONResponse:
    try:
        row = payments.get_order(db, actor, uuid.UUID(order_id))
    except ValueError as exc:
        raise NotFound("no such payment order") from exc
    return JSONResponse(_order_view(row))


@router.post(f"{V1}/paymentCallbacks", summary="The payment gateway's signed callback")
def payment_callback(
    payload: dict[str, Any],
    db: Database = Depends(database),
    signature: str | None = Header(None, alias="X-Signature"),
) -> JSONResponse:
    return JSONResponse(payments.callback(db, payload, signature or ""))


@router.get(
    f"{V1}/commissionStatements",
    summary="Commissions owed per channel for a month (YYYY-MM), in your scope",
)
def commission_statements(
    month: str, actor: Actor = Depends(caller), db: Database = Depends(database)
) -> JSONResponse:
    rows = money.commission_statement(db, actor, month)
    return JSONResponse(
        [
            {
                "month": month,
                "channelId": ids.to_public("organization", r["party_id"]),
                "mvnoId": ids.to_public("organization", r["mvno_id"]),
                "entries": r["entries"],
                "amountFen": r["amount_fen"],
            }
            for r in rows
        ]
    )


ACCOUNTS = "/tmf-api/accountManagement/v4"


BILLING_KINDS = ["subscriberPrepaid"]
PARTY_KINDS = ["outletFloat", "channelCommission"]


def _account_view(row: dict[str, Any], kind: str, base: str) -> dict[str, Any]:
    public = ids.to_public("ledger_account", row["id"])
    posted = row["credits_posted"] - row["debits_posted"]
    # Balances run from the account's opening: it holds every transfer since.
    since = {"startDateTime": row["created_at"].isoformat().replace("+00:00", "Z")}
    parties = [
        {
            "id": ids.to_public("organization", party),
            "name": name,
            "role": role,
            "@referredType": "Organization",
        }
        for party, name, role in (
            (row["mvno_id"], row["mvno_name"], "serviceProvider"),
            (row["owner_id"], row["owner_name"], "owner"),
        )
        if party is not None
    ]
    return {
        "id": public,
        "href": f"{base}{ACCOUNTS}/{kind[0].lower()}{kind[1:]}/{public}",
        "@type": kind,
        "accountType": row["kind"],
        "name": row["msisdn"] or row["kind"],
        "relatedParty": parties,
        "accountBalance": [
            {
                "balanceType": "posted",
                "amount": {"unit": "fen", "value": posted},
                "validFor": since,
            },
            {
                "balanceType": "held",
                "amount": {"unit": "fen", "value": row["debits_pending"]},
                "validFor": since,
            },
        ],
    }


@router.get(f"{ACCOUNTS}/billingAccount", summary="Prepaid accounts of lines (TMF666)")
def billing_accounts(
    request: Request,
    params: tmf.ListParams = Depends(tmf.list_params),
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    tmf.refuse_filters(params)
    rows, total = money.list_accounts(db, actor, BILLING_KINDS, params.offset, params.limit)
    base = tmf.base_url(request)
    return tmf.list_response(
        [_account_view(r, "BillingAccount", base) for r in rows], total, params
    )


@router.get(f"{ACCOUNTS}/billingAccount/{{account_id}}", summary="A line's prepaid account")
def billing_account(
    account_id: str,
    request: Request,
    fields: str | None = None,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    row = money.get_account(db, actor, BILLING_KINDS, tmf.path_id("ledger_account", account_id))
    return tmf.item_response(_account_view(row, "BillingAccount", tmf.base_url(request)), fields)


@router.get(
    f"{ACCOUNTS}/partyAccount",
    summary="Floats and commission accounts of outlets and channels (TMF666)",
)
def party_accounts(
    request: Request,
    params: tmf.ListParams = Depends(tmf.list_params),
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    tmf.refuse_filters(params)
    rows, total = money.list_accounts(db, actor, PARTY_KINDS, params.offset, params.limit)
    base = tmf.base_url(request)
    return tmf.list_response([_account_view(r, "PartyAccount", base) for r in rows], total, params)


@router.get(
    f"{ACCOUNTS}/partyAccount/{{account_id}}",
    summary="An outlet's float or a channel's commission account",
)
def party_account(
    account_id: str,
    request: Request,
    fields: str | None = None,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    row = money.get_account(db, actor, PARTY_KINDS, tmf.path_id("ledger_account", account_id))
    return tmf.item_response(_account_view(row, "PartyAccount", tmf.base_url(request)), fields)
