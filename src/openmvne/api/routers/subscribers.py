"""Subscribers: TMF622 product orders (a sale), TMF637 products (lines), TMF629 customers,
and the line's summary and tasks (suspend, resume, report lost, replace SIM, cancel, …).
Orders move stock and money: every POST needs an Idempotency-Key header."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse
from pydantic import Field, StrictInt

from openmvne.api import presenters_subscribers as show
from openmvne.api import tmf
from openmvne.api.auth import caller, database
from openmvne.api.routing import Router
from openmvne.api.schemas import Body, TmfBody, calendar_date
from openmvne.db.engine import Database
from openmvne.domain.access import Actor
from openmvne.errors import InvalidInput
from openmvne.services import subscriber_orders as orders
from openmvne.services.subscriber_sale import Identity, SaleRequest, sell

router = Router(tags=["Subscribers"])
ORDERING = show.ORDERING
INVENTORY = show.INVENTORY
CUSTOMERS = show.CUSTOMERS
V1 = show.V1
KEY = Header(None, alias="Idempotency-Key", description="Required: makes retries safe")


class Ref(Body):
    id: str
    role: str | None = None
    href: str | None = None
    referred_type: str | None = Field(None, alias="@referredType")


class Characteristic(Body):
    name: str
    value: str | int
    valueType: str | None = None


class ProductValue(Body):
    productCharacteristic: list[Characteristic] = Field(min_length=1)


class OrderItem(TmfBody):
    id: str
    action: Literal["add"]
    productOffering: Ref
    product: ProductValue


class ValidFor(Body):
    startDateTime: datetime | None = None
    endDateTime: datetime | None = None


class Identification(Body):
    identificationType: str
    identificationId: str = Field(min_length=1, max_length=40)
    issuingAuthority: str | None = Field(None, max_length=100)
    validFor: ValidFor | None = None


class Evidence(Body):
    source: str = Field(description="reader, onlineCheck or manualForTest (test mode only)")
    reference: str | None = Field(None, max_length=100)
    photoReference: str | None = Field(None, max_length=200)


class Customer(Body):
    """The buyer, as a TMF632 Individual value."""

    role: Literal["customer"] = "customer"
    givenName: str = Field(min_length=1, max_length=100)
    familyName: str = Field(min_length=1, max_length=100)
    individualIdentification: list[Identification] = Field(min_length=1, max_length=1)
    referred_type: str | None = Field(None, alias="@referredType")
    type_: str | None = Field(None, alias="@type")


class SaleOrder(TmfBody):
    externalId: str | None = Field(None, max_length=64)
    channel: list[Ref] = Field(default_factory=list, description="Platform operators: the outlet")
    productOrderItem: list[OrderItem] = Field(min_length=1, max_length=1)
    relatedParty: list[Customer] = Field(min_length=1, max_length=1)
    realNameEvidence: Evidence
    prepaymentFen: StrictInt = Field(
        description="Paid by the customer: covers the number fee and first month; the rest "
        "is the opening balance"
    )


class Task(Body):
    reason: str | None = Field(None, max_length=300)
    identification: Identification | None = None
    givenName: str | None = Field(None, max_length=100)
    familyName: str | None = Field(None, max_length=100)
    evidence: Evidence | None = None
    iccid: str | None = Field(None, description="replaceSim: the new card")
    offeringId: str | None = Field(None, description="addService / removeService: the add-on")


def _expiry(identification: Identification) -> date | None:
    valid = identification.validFor
    if valid is None or valid.endDateTime is None:
        return None
    return calendar_date(valid.endDateTime)


def _identity(
    identification: Identification, given: str, family: str, evidence: Evidence
) -> Identity:
    return Identity(
        id_type=identification.identificationType,
        number=identification.identificationId,
        given_name=given,
        family_name=family,
        expires_on=_expiry(identification),
        evidence_source=evidence.source,
        evidence_reference=evidence.reference,
        photo_reference=evidence.photoReference,
    )


def _characteristics(item: OrderItem) -> dict[str, str]:
    found = {c.name: str(c.value) for c in item.product.productCharacteristic}
    for name in ("msisdn", "iccid"):
        if not found.get(name):
            raise InvalidInput(
                f"productCharacteristic '{name}' is required",
                code="required",
                field=f"productOrderItem.0.product.productCharacteristic.{name}",
            )
    return found


def _order_answer(
    db: Database, actor: Actor, result: dict[str, Any], request: Request
) -> JSONResponse:
    row = orders.get_order(db, actor.scope, tmf.path_id("product_order", result["orderId"]))
    shown = show.product_order(row, tmf.base_url(request))
    headers = {
        "Location": shown["href"],
        "Idempotent-Replayed": "true" if result.get("replayed") else "false",
    }
    return JSONResponse(tmf.compact(shown), status_code=201, headers=headers)


@router.post(
    f"{ORDERING}/productOrder",
    status_code=201,
    summary="Sell a line: number, card, offer and the customer's identity in one order",
)
def create_order(
    body: SaleOrder,
    request: Request,
    idempotency_key: str | None = KEY,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    item = body.productOrderItem[0]
    chars = _characteristics(item)
    buyer = body.relatedParty[0]
    outlet = body.channel[0].id if body.channel else None
    sale = SaleRequest(
        msisdn=chars["msisdn"],
        iccid=chars["iccid"],
        offering_id=tmf.body_id(
            "product_offering", item.productOffering.id, "productOrderItem.0.productOffering.id"
        ),
        identity=_identity(
            buyer.individualIdentification[0],
            buyer.givenName,
            buyer.familyName,
            body.realNameEvidence,
        ),
        prepayment_fen=body.prepaymentFen,
        reservation_id=tmf.body_id(
            "number_reservation",
            chars.get("reservationId"),
            "productOrderItem.0.product.productCharacteristic.reservationId",
        ),
        outlet_id=tmf.body_id("organization", outlet, "channel.0.id"),
        external_id=body.externalId,
    )
    return _order_answer(db, actor, sell(db, actor, sale, idempotency_key), request)


@router.get(f"{ORDERING}/productOrder", summary="Product orders in your scope")
def list_orders(
    request: Request,
    params: tmf.ListParams = Depends(tmf.list_params),
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    rows, total = orders.list_orders(db, actor.scope, params.filters, params.offset, params.limit)
    base = tmf.base_url(request)
    return tmf.list_response([show.product_order(r, base) for r in rows], total, params)


@router.get(f"{ORDERING}/productOrder/{{order_id}}", summary="Retrieve a product order")
def get_order(
    order_id: str,
    request: Request,
    fields: str | None = None,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    row = orders.get_order(db, actor.scope, tmf.path_id("product_order", order_id))
    return tmf.item_response(show.product_order(row, tmf.base_url(request)), fields)


@router.get(f"{INVENTORY}/product", summary="Lines (products) in your scope")
def list_products(
    request: Request,
    params: tmf.ListParams = Depends(tmf.list_params),
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    rows, total = orders.list_products(db, actor.scope, params.filters, params.offset, params.limit)
    base = tmf.base_url(request)
    return tmf.list_response([show.product(r, base) for r in rows], total, params)


@router.get(f"{INVENTORY}/product/{{product_id}}", summary="Retrieve a line (product)")
def get_product(
    product_id: str,
    request: Request,
    fields: str | None = None,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    row = orders.get_product(db, actor.scope, tmf.path_id("subscription", product_id))
    return tmf.item_response(show.product(row, tmf.base_url(request)), fields)


@router.get(f"{CUSTOMERS}/customer", summary="Customers (line holders) in your scope")
def list_customers(
    request: Request,
    params: tmf.ListParams = Depends(tmf.list_params),
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    tmf.refuse_filters(params)
    rows, total = orders.list_customers(db, actor.scope, params.offset, params.limit)
    base = tmf.base_url(request)
    return tmf.list_response([show.customer(r, base) for r in rows], total, params)


@router.get(f"{CUSTOMERS}/customer/{{customer_id}}", summary="Retrieve a customer")
def get_customer(
    customer_id: str,
    request: Request,
    fields: str | None = None,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    row = orders.get_customer(db, actor.scope, tmf.path_id("individual", customer_id))
    return tmf.item_response(show.customer(row, tmf.base_url(request)), fields)


@router.get(f"{V1}/subscribers/{{msisdn}}", summary="A line's number and card information")
def subscriber(
    msisdn: str,
    request: Request,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    view = orders.summary(db, actor, msisdn)
    return JSONResponse(show.summary(view, tmf.base_url(request)))


@router.get(
    f"{V1}/subscribers/{{msisdn}}/identity",
    summary="The holder's full ID number (the MVNO only; every read is audited)",
)
def identity(
    msisdn: str, actor: Actor = Depends(caller), db: Database = Depends(database)
) -> JSONResponse:
    return JSONResponse(orders.reveal_id(db, actor, msisdn), headers={"Cache-Control": "no-store"})


@router.post(
    f"{V1}/subscribers/{{msisdn}}/tasks/{{task}}",
    status_code=201,
    summary="Order a task on a line: suspend, resume, reportLost, found, cancel, replaceSim, "
    "addService, removeService; the MVNO also operatorBar/Clear, realNameMissing/Registered, "
    "overLimit/limitResolved",
)
def run_task(
    msisdn: str,
    task: str,
    body: Task,
    request: Request,
    idempotency_key: str | None = KEY,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    holder = None
    if body.identification is not None:
        if body.evidence is None:
            raise InvalidInput(
                "say how the ID was read (evidence.source)", code="required", field="evidence"
            )
        # The names are checked against the stored record by the ID alone.
        holder = _identity(
            body.identification, body.givenName or "-", body.familyName or "-", body.evidence
        )
    if task == "replaceSim":
        if body.iccid is None or holder is None:
            raise InvalidInput(
                "replaceSim needs the new card (iccid) and the holder's identification",
                code="required",
                field="iccid" if body.iccid is None else "identification",
            )
        result = orders.replace_sim(
            db, actor, msisdn, iccid=body.iccid, holder=holder, idempotency_key=idempotency_key
        )
    elif task in ("addService", "removeService"):
        offering = tmf.body_id("product_offering", body.offeringId, "offeringId")
        if offering is None:
            raise InvalidInput("name the add-on (offeringId)", code="required", field="offeringId")
        result = orders.change_service(
            db,
            actor,
            msisdn,
            offering_id=offering,
            add=task == "addService",
            idempotency_key=idempotency_key,
        )
    else:
        result = orders.run_task(
            db,
            actor,
            msisdn,
            task,
            holder=holder,
            reason=body.reason,
            idempotency_key=idempotency_key,
        )
    return _order_answer(db, actor, result, request)
