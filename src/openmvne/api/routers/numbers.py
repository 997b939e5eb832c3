"""Number resources: segments, blocks and their allocation, sale rights, search,
reservations, the number policy, TMF639 number resources and the public brand lookup."""

from __future__ import annotations

from fastapi import Depends, Query, Request
from fastapi.responses import JSONResponse

from openmvne import clock
from openmvne.api import presenters, tmf
from openmvne.api.auth import caller, database
from openmvne.api.presenters import sim_resource
from openmvne.api.ratelimit import TokenBucket
from openmvne.api.routing import Router
from openmvne.api.schemas import Decision
from openmvne.api.schemas_numbers import (
    AllocationRequestCreate,
    NumberPatch,
    NumberPolicyPatch,
    ReservationCreate,
    SaleRightCreate,
    SegmentCreate,
)
from openmvne.db.engine import Database
from openmvne.domain.access import Actor
from openmvne.domain.numbers import BLOCK_SIZE, NumberRange, NumberState, parse_msisdn
from openmvne.domain.patterns import compile_pattern
from openmvne.errors import InvalidInput
from openmvne.services import number_lifecycle as life
from openmvne.services import number_lookup, number_search, number_supply, sims

V1 = presenters.OPENMVNE
router = Router(tags=["Numbers"])
lookup_limiter = TokenBucket(rate_per_s=5, burst=20)


@router.post(f"{V1}/numberSegments", status_code=201, summary="Register a resale segment")
def create_segment(
    body: SegmentCreate,
    request: Request,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    row = number_supply.register_segment(
        db, actor, body.prefix, tmf.body_id("organization", body.hostId, "hostId")
    )
    return tmf.created_response(presenters.segment(row, tmf.base_url(request)))


@router.get(f"{V1}/numberSegments", summary="List segments (public reference data)")
def list_segments(
    request: Request,
    params: tmf.ListParams = Depends(tmf.list_params),
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    rows = number_supply.list_segments(db)
    base = tmf.base_url(request)
    items = [presenters.segment(r, base) for r in rows]
    for name, value in params.filters.items():
        if name not in ("prefix", "hostId"):
            raise InvalidInput(
                f"cannot filter on {name!r}; filterable: prefix, hostId",
                code="unknown_filter",
                field=name,
            )
        items = [i for i in items if i[name] == value]
    page = items[params.offset : params.offset + params.limit]
    return tmf.list_response(page, len(items), params)


@router.get(f"{V1}/numberSegments/{{segment_id}}", summary="Retrieve a segment")
def get_segment(
    segment_id: str,
    request: Request,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    row = number_supply.get_segment(db, tmf.path_id("number_segment", segment_id))
    return tmf.item_response(presenters.segment(row, tmf.base_url(request)))


@router.get(f"{V1}/numberBlocks", summary="List number blocks in your scope")
def list_blocks(
    request: Request,
    params: tmf.ListParams = Depends(tmf.list_params),
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    rows, total = number_supply.list_blocks(
        db, actor.scope, params.filters, params.offset, params.limit
    )
    base = tmf.base_url(request)
    return tmf.list_response([presenters.block(r, base) for r in rows], total, params)


@router.get(f"{V1}/numberBlocks/{{prefix}}", summary="Retrieve a block by its 7-digit prefix")
def get_block(
    prefix: str, request: Request, actor: Actor = Depends(caller), db: Database = Depends(database)
) -> JSONResponse:
    row = number_supply.get_block(db, actor.scope, prefix)
    return tmf.item_response(presenters.block(row, tmf.base_url(request)))


@router.post(
    f"{V1}/blockAllocationRequests", status_code=201, summary="Ask the host network for more blocks"
)
def create_allocation_request(
    body: AllocationRequestCreate,
    request: Request,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    row = number_supply.request_blocks(
        db,
        actor,
        segment_id=tmf.body_id("number_segment", body.segmentId, "segmentId"),
        block_count=body.blockCount,
        region_code=body.regionCode,
        mvno_id=tmf.body_id("organization", body.mvnoId, "mvnoId"),
    )
    return tmf.created_response(presenters.allocation_request(row, tmf.base_url(request)))


@router.get(f"{V1}/blockAllocationRequests", summary="List block allocation requests")
def list_allocation_requests(
    request: Request,
    params: tmf.ListParams = Depends(tmf.list_params),
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    rows, total = number_supply.list_requests(
        db, actor.scope, params.filters, params.offset, params.limit
    )
    base = tmf.base_url(request)
    return tmf.list_response([presenters.allocation_request(r, base) for r in rows], total, params)


@router.get(
    f"{V1}/blockAllocationRequests/{{request_id}}", summary="Retrieve a block allocation request"
)
def get_allocation_request(
    request_id: str,
    request: Request,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    row = number_supply.get_request(
        db, actor.scope, tmf.path_id("number_allocation_request", request_id)
    )
    return tmf.item_response(presenters.allocation_request(row, tmf.base_url(request)))


@router.post(
    f"{V1}/blockAllocationRequests/{{request_id}}/grant",
    summary="Grant: allocate free blocks (the host network's decision)",
)
def grant_allocation(
    request_id: str,
    request: Request,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    row = number_supply.decide_request(
        db, actor, tmf.path_id("number_allocation_request", request_id), grant=True
    )
    return tmf.item_response(presenters.allocation_request(row, tmf.base_url(request)))


@router.post(
    f"{V1}/blockAllocationRequests/{{request_id}}/refuse",
    summary="Refuse a block request, saying why",
)
def refuse_allocation(
    request_id: str,
    body: Decision,
    request: Request,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    row = number_supply.decide_request(
        db,
        actor,
        tmf.path_id("number_allocation_request", request_id),
        grant=False,
        reason=body.reason,
    )
    return tmf.item_response(presenters.allocation_request(row, tmf.base_url(request)))


def _range(body: SaleRightCreate) -> NumberRange:
    if body.blockPrefix is not None:
        if not (
            body.blockPrefix.isascii() and body.blockPrefix.isdigit() and len(body.blockPrefix) == 7
        ):
            raise InvalidInput(
                "a block prefix has 7 digits", code="prefix_malformed", field="blockPrefix"
            )
        first = int(body.blockPrefix) * BLOCK_SIZE
        return NumberRange(first, first + BLOCK_SIZE - 1)
    assert body.firstNumber is not None
    assert body.lastNumber is not None
    return NumberRange(
        parse_msisdn(body.firstNumber, "firstNumber").value,
        parse_msisdn(body.lastNumber, "lastNumber").value,
    )


@router.post(
    f"{V1}/saleRights",
    status_code=201,
    summary="Let a channel sell a block or range (ownership stays with the MVNO)",
)
def create_sale_right(
    body: SaleRightCreate,
    request: Request,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    row = number_supply.grant_sale_right(
        db,
        actor,
        holder_id=tmf.body_id("channel_authorisation", body.holderId, "holderId"),
        numbers=_range(body),
    )
    return tmf.created_response(presenters.sale_right(row, tmf.base_url(request)))


@router.get(f"{V1}/saleRights", summary="List sale rights in your scope")
def list_sale_rights(
    request: Request,
    params: tmf.ListParams = Depends(tmf.list_params),
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    rows, total = number_supply.list_sale_rights(
        db, actor.scope, params.filters, params.offset, params.limit
    )
    base = tmf.base_url(request)
    return tmf.list_response([presenters.sale_right(r, base) for r in rows], total, params)


@router.get(f"{V1}/saleRights/{{right_id}}", summary="Retrieve sale rights")
def get_sale_right(
    right_id: str,
    request: Request,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    row = number_supply.get_sale_right(db, actor.scope, tmf.path_id("sale_right", right_id))
    return tmf.item_response(presenters.sale_right(row, tmf.base_url(request)))


@router.post(f"{V1}/saleRights/{{right_id}}/revoke", summary="Take sale rights back")
def revoke_sale_right(
    right_id: str,
    request: Request,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    row = number_supply.revoke_sale_right(db, actor, tmf.path_id("sale_right", right_id))
    return tmf.item_response(presenters.sale_right(row, tmf.base_url(request)))


def _query(
    pattern: str | None,
    exclude: str,
    grade: str | None,
    min_price: int | None,
    max_price: int | None,
    region: str | None,
    mvno: str | None,
    limit: int,
    seed: int | None,
) -> number_search.SearchQuery:
    return number_search.SearchQuery(
        pattern=compile_pattern(pattern, exclude),
        limit=limit,
        grade=grade,
        min_price_fen=min_price,
        max_price_fen=max_price,
        region_code=region,
        mvno_id=tmf.body_id("organization", mvno, "mvnoId"),
        seed=seed,
    )


@router.get(f"{V1}/availableNumbers", summary="Search numbers you may sell")
def available_numbers(
    pattern: str | None = Query(
        None, description="*8888, 1701*, 171??520???, *168*, 'ends 520', 'contains 168'"
    ),
    excludeDigits: str = Query("", description="Digits the number must not contain, e.g. 4"),
    grade: str | None = None,
    minPriceFen: int | None = Query(None, ge=0),
    maxPriceFen: int | None = Query(None, ge=0),
    regionCode: str | None = None,
    mvnoId: str | None = None,
    limit: int = Query(20, ge=1, le=100),
    seed: int | None = Query(None, description="Same seed, same sample (for tests)"),
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    query = _query(
        pattern, excludeDigits, grade, minPriceFen, maxPriceFen, regionCode, mvnoId, limit, seed
    )
    items = [presenters.available_number(i) for i in number_search.search(db, actor, query)]
    return JSONResponse(items, headers={"X-Result-Count": str(len(items))})


@router.post(
    f"{V1}/numberReservations",
    status_code=201,
    summary="Reserve numbers for a sale (30 minutes by default)",
)
def create_reservation(
    body: ReservationCreate,
    request: Request,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    if body.msisdns is not None:
        row = life.reserve(db, actor, body.msisdns)
    else:
        assert body.count is not None
        query = _query(
            body.pattern,
            body.excludeDigits,
            body.grade,
            None,
            None,
            body.regionCode,
            body.mvnoId,
            min(100, body.count * 3),
            None,
        )
        found = number_search.msisdns(number_search.search(db, actor, query))
        if len(found) < body.count:
            raise InvalidInput(
                f"only {len(found)} numbers match", code="not_enough_numbers", field="count"
            )
        row = life.reserve(db, actor, found, want=body.count)
    return tmf.created_response(presenters.reservation(row, tmf.base_url(request), clock.now()))


@router.get(f"{V1}/numberReservations", summary="List reservations in your scope")
def list_reservations(
    request: Request,
    params: tmf.ListParams = Depends(tmf.list_params),
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    rows, total = life.list_reservations(
        db, actor.scope, params.filters, params.offset, params.limit
    )
    base, now = tmf.base_url(request), clock.now()
    return tmf.list_response([presenters.reservation(r, base, now) for r in rows], total, params)


@router.get(f"{V1}/numberReservations/{{reservation_id}}", summary="Retrieve a reservation")
def get_reservation(
    reservation_id: str,
    request: Request,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    row = life.get_reservation(db, actor.scope, tmf.path_id("number_reservation", reservation_id))
    return tmf.item_response(presenters.reservation(row, tmf.base_url(request), clock.now()))


@router.post(
    f"{V1}/numberReservations/{{reservation_id}}/release",
    summary="Release reserved numbers early (the reserver or an admin)",
)
def release_reservation(
    reservation_id: str,
    request: Request,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    row = life.release(db, actor, tmf.path_id("number_reservation", reservation_id))
    return tmf.item_response(presenters.reservation(row, tmf.base_url(request), clock.now()))


@router.get(
    f"{V1}/numberLookup/{{msisdn}}",
    tags=["Public"],
    summary="Which brand is this number? (public, no log-in, rate-limited)",
)
def lookup(msisdn: str, request: Request, db: Database = Depends(database)) -> JSONResponse:
    lookup_limiter.take(request.client.host if request.client else "unknown")
    found = number_lookup.lookup(db, msisdn)
    return JSONResponse(presenters.lookup(found, tmf.base_url(request)))


@router.get(
    f"{V1}/numberPolicies/{{mvno_id}}", summary="An MVNO's number policy and pretty-number rules"
)
def get_policy(
    mvno_id: str, request: Request, actor: Actor = Depends(caller), db: Database = Depends(database)
) -> JSONResponse:
    row = number_supply.get_policy(db, actor, tmf.path_id("organization", mvno_id))
    return tmf.item_response(presenters.number_policy(row, tmf.base_url(request)))


@router.patch(
    f"{V1}/numberPolicies/{{mvno_id}}",
    summary="Change the number policy",
    dependencies=[Depends(tmf.require_patch_media_type)],
)
def patch_policy(
    mvno_id: str,
    body: NumberPolicyPatch,
    request: Request,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    names = {
        "utilisationThresholdPct": "utilisation_threshold_pct",
        "quarantineDays": "quarantine_days",
        "reservationMinutes": "reservation_minutes",
        "prettyNumberRules": "rules",
    }
    changes = {names[k]: v for k, v in body.model_dump(exclude_unset=True).items()}
    row = number_supply.update_policy(db, actor, tmf.path_id("organization", mvno_id), changes)
    return tmf.item_response(presenters.number_policy(row, tmf.base_url(request)))


@router.get(f"{V1}/prettyNumberRules", summary="The pretty-number rules and grade prices")
def get_rules(
    request: Request,
    mvnoId: str | None = None,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    row = number_supply.get_policy(db, actor, tmf.body_id("organization", mvnoId, "mvnoId"))
    return JSONResponse(row["rules"])


@router.get(
    f"{presenters.RESOURCE}/resource",
    tags=["TMF639 Resource Inventory"],
    summary="Numbers with a state of their own (reserved, sold, in use, …)",
)
def list_numbers(
    request: Request,
    params: tmf.ListParams = Depends(tmf.list_params),
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    filters = dict(params.filters)
    spec = filters.pop("resourceSpecification.id", filters.pop("resourceSpecification", "msisdn"))
    base = tmf.base_url(request)
    if spec == "sim":  # SIM cards live in the same inventory, under their own specification
        cards, count = sims.list_cards(db, actor.scope, filters, params.offset, params.limit)
        return tmf.list_response([sim_resource(c, base) for c in cards], count, params)
    if spec != "msisdn":
        raise InvalidInput(
            "resourceSpecification is msisdn or sim",
            code="bad_filter_value",
            field="resourceSpecification",
        )
    rows, total = life.list_numbers(db, actor.scope, filters, params.offset, params.limit)
    return tmf.list_response([presenters.number_resource(r, base) for r in rows], total, params)


@router.get(
    f"{presenters.RESOURCE}/resource/{{msisdn}}",
    tags=["TMF639 Resource Inventory"],
    summary="One number, idle or not, with grade and price",
)
def get_number(
    msisdn: str,
    request: Request,
    fields: str | None = None,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    if not (msisdn.isascii() and msisdn.isdigit()) or len(msisdn) != 11:  # an ICCID: a SIM card
        card = sims.get_card(db, actor.scope, msisdn)
        return tmf.item_response(sim_resource(card, tmf.base_url(request)), fields)
    item = life.describe(db, actor, msisdn)
    return tmf.item_response(presenters.number_resource(item, tmf.base_url(request)), fields)


@router.patch(
    f"{presenters.RESOURCE}/resource/{{msisdn}}",
    tags=["TMF639 Resource Inventory"],
    summary="Withhold a number from sale, or release it back to stock",
    dependencies=[Depends(tmf.require_patch_media_type)],
)
def patch_number(
    msisdn: str,
    body: NumberPatch,
    request: Request,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    if body.numberState == NumberState.WITHHELD:
        life.withhold(db, actor, msisdn)
    elif body.numberState == "inStock":
        life.unwithhold(db, actor, msisdn)
    else:
        raise InvalidInput(
            "numberState is withheld or inStock here; other states follow sales",
            code="invalid_transition",
            field="numberState",
        )
    item = life.describe(db, actor, msisdn)
    return tmf.item_response(presenters.number_resource(item, tmf.base_url(request)))
