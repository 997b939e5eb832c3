"""TMF620 Product Catalog v4 (catalog, category, productOffering, productSpecification,
productOfferingPrice) and the platform's brands, wholesale price lists, host averages,
commission schemes, partner package designs, cost chains and inversion alerts."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request
from fastapi.responses import JSONResponse

from openmvne import ids
from openmvne.api import presenters_catalog as pc
from openmvne.api import tmf
from openmvne.api.auth import caller, database
from openmvne.api.routing import Router
from openmvne.api.schemas_catalog import (
    BrandCreate,
    BrandPatch,
    DesignCreate,
    DesignPatch,
    HostAverageCreate,
    OfferingCreate,
    OfferingPatch,
    PriceListCreate,
    PriceListEnd,
    Rates,
    SchemeSet,
    Task,
    as_terms,
)
from openmvne.db.engine import Database
from openmvne.domain.access import Actor
from openmvne.domain.catalog import RevenueTier, UnitRates
from openmvne.domain.parties import OrgKind
from openmvne.errors import InvalidInput, NotFound
from openmvne.money import parse_rate_fen
from openmvne.services import catalog, parties

router = Router()
TMF = pc.CATALOG
V1 = pc.V1


def _rates(rates: Rates | None, field: str = "rates") -> UnitRates | None:
    if rates is None:
        return None
    values = []
    for name in ("voiceRateFen", "smsRateFen", "dataRateFen"):
        try:
            values.append(parse_rate_fen(getattr(rates, name)))
        except ValueError as exc:
            raise InvalidInput(str(exc), code="bad_rate", field=f"{field}.{name}") from exc
    return UnitRates(*values)


# --- TMF620 -------------------------------------------------------------------------------------


@router.get(
    f"{TMF}/productOffering", tags=["TMF620 Product Catalog"], summary="List product offerings"
)
def list_offerings(
    request: Request,
    params: tmf.ListParams = Depends(tmf.list_params),
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    rows, total = catalog.list_offers(db, actor.scope, params.filters, params.offset, params.limit)
    base = tmf.base_url(request)
    return tmf.list_response([pc.offering(r, base) for r in rows], total, params)


@router.post(
    f"{TMF}/productOffering",
    status_code=201,
    tags=["TMF620 Product Catalog"],
    summary="Create an offer (refused below its cost chain)",
)
def create_offering(
    body: OfferingCreate,
    request: Request,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    rates = _rates(body.rates) or UnitRates(0, 0, 0)
    row = catalog.create_offer(
        db,
        actor,
        brand_id=tmf.body_id("brand", body.brandId, "brandId"),
        host_id=tmf.body_id("organization", body.hostId, "hostId"),
        kind=body.offerType,
        name=body.name,
        terms=as_terms(
            body, {"voice_rate": rates.voice, "sms_rate": rates.sms, "data_rate": rates.data}
        ),
    )
    return tmf.created_response(pc.offering(row, tmf.base_url(request)))


@router.get(
    f"{TMF}/productOffering/{{offering_id}}",
    tags=["TMF620 Product Catalog"],
    summary="Retrieve a product offering",
)
def get_offering(
    offering_id: str,
    request: Request,
    fields: str | None = None,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    row = catalog.get_offer(db, actor.scope, tmf.path_id("product_offering", offering_id))
    return tmf.item_response(pc.offering(row, tmf.base_url(request)), fields)


@router.patch(
    f"{TMF}/productOffering/{{offering_id}}",
    tags=["TMF620 Product Catalog"],
    summary="Retire an offering (lifecycleStatus: retired)",
    dependencies=[Depends(tmf.require_patch_media_type)],
)
def patch_offering(
    offering_id: str,
    body: OfferingPatch,
    request: Request,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    if body.lifecycleStatus != "retired":
        raise InvalidInput(
            "only lifecycleStatus: retired can be set; prices are new offers",
            code="invalid_transition",
            field="lifecycleStatus",
        )
    row = catalog.retire_offer(db, actor, tmf.path_id("product_offering", offering_id))
    return tmf.item_response(pc.offering(row, tmf.base_url(request)))


@router.get(
    f"{TMF}/productSpecification",
    tags=["TMF620 Product Catalog"],
    summary="List product specifications",
)
def list_specs(
    request: Request,
    params: tmf.ListParams = Depends(tmf.list_params),
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    rows, total = catalog.list_offers(db, actor.scope, params.filters, params.offset, params.limit)
    base = tmf.base_url(request)
    return tmf.list_response([pc.specification(r, base) for r in rows], total, params)


@router.get(
    f"{TMF}/productSpecification/{{spec_id}}",
    tags=["TMF620 Product Catalog"],
    summary="Retrieve a product specification",
)
def get_spec(
    spec_id: str, request: Request, actor: Actor = Depends(caller), db: Database = Depends(database)
) -> JSONResponse:
    row = catalog.get_offer(db, actor.scope, tmf.path_id("product_specification", spec_id))
    return tmf.item_response(pc.specification(row, tmf.base_url(request)))


@router.get(
    f"{TMF}/productOfferingPrice/{{price_id}}",
    tags=["TMF620 Product Catalog"],
    summary="Retrieve a product offering price",
)
def get_price(
    price_id: str,
    request: Request,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    offering, _, part = price_id.rpartition(".")
    if part not in pc.PRICE_PARTS:
        raise NotFound("no such product offering price")
    row = catalog.get_offer(db, actor.scope, tmf.path_id("product_offering", offering))
    return tmf.item_response(pc.offering_price(row, part, tmf.base_url(request)))


@router.get(
    f"{TMF}/productOfferingPrice",
    tags=["TMF620 Product Catalog"],
    summary="List product offering prices",
)
def list_prices(
    request: Request,
    params: tmf.ListParams = Depends(tmf.list_params),
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    rows, total = catalog.list_offers(db, actor.scope, params.filters, params.offset, params.limit)
    base = tmf.base_url(request)
    items = [pc.offering_price(r, part, base) for r in rows for part in pc.PRICE_PARTS]
    return tmf.list_response(items, total * len(pc.PRICE_PARTS), params)


@router.get(f"{TMF}/category", tags=["TMF620 Product Catalog"], summary="List categories")
def list_categories(request: Request) -> JSONResponse:
    base = tmf.base_url(request)
    items = [
        {
            "id": key,
            "href": f"{base}{TMF}/category/{key}",
            "@type": "Category",
            "name": name,
            "isRoot": True,
            "lifecycleStatus": "active",
        }
        for key, name in pc.CATEGORY_NAMES.items()
    ]
    return JSONResponse(
        items, headers={"X-Total-Count": str(len(items)), "X-Result-Count": str(len(items))}
    )


@router.get(
    f"{TMF}/category/{{category_id}}",
    tags=["TMF620 Product Catalog"],
    summary="Retrieve a category",
)
def get_category(category_id: str, request: Request) -> JSONResponse:
    if category_id not in pc.CATEGORY_NAMES:
        raise NotFound("no such category")
    base = tmf.base_url(request)
    return JSONResponse(
        {
            "id": category_id,
            "href": f"{base}{TMF}/category/{category_id}",
            "@type": "Category",
            "name": pc.CATEGORY_NAMES[category_id],
            "isRoot": True,
            "lifecycleStatus": "active",
        }
    )


def _catalog(r: dict[str, Any], base: str) -> dict[str, Any]:
    public = ids.to_public("catalog", r["id"])
    return {
        "id": public,
        "href": f"{base}{TMF}/catalog/{public}",
        "@type": "Catalog",
        "name": f"{r['name']} catalog",
        "lifecycleStatus": "active",
        "relatedParty": [
            {
                "id": ids.to_public("organization", r["id"]),
                "role": "operator",
                "@referredType": "Organization",
            }
        ],
        "category": [
            {"id": key, "href": f"{base}{TMF}/category/{key}"} for key in pc.CATEGORY_NAMES
        ],
    }


@router.get(
    f"{TMF}/catalog", tags=["TMF620 Product Catalog"], summary="One catalog per MVNO you may see"
)
def list_catalogs(
    request: Request,
    params: tmf.ListParams = Depends(tmf.list_params),
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    tmf.refuse_filters(params)
    rows, total = parties.list_organisations(
        db, actor.scope, {"organizationType": "mvno"}, params.offset, params.limit
    )
    base = tmf.base_url(request)
    return tmf.list_response([_catalog(r, base) for r in rows], total, params)


@router.get(
    f"{TMF}/catalog/{{catalog_id}}",
    tags=["TMF620 Product Catalog"],
    summary="Retrieve an MVNO's catalog",
)
def get_catalog(
    catalog_id: str,
    request: Request,
    fields: str | None = None,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    row = parties.get_organisation(db, actor.scope, tmf.path_id("catalog", catalog_id))
    if row["kind"] != OrgKind.MVNO.value:
        raise NotFound(f"no catalog with id {catalog_id!r}")
    return tmf.item_response(_catalog(row, tmf.base_url(request)), fields)


# --- brands -------------------------------------------------------------------------------------


@router.post(f"{V1}/brands", status_code=201, tags=["Catalog"], summary="Add a brand")
def create_brand(
    body: BrandCreate,
    request: Request,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    mvno = tmf.body_id("organization", body.mvnoId, "mvnoId") or actor.party_id
    row = parties.add_brand(
        db,
        actor,
        mvno,
        body.name,
        body.hotline,
        website=body.website,
        highlights=body.highlights,
        service_channels=body.serviceChannels,
    )
    return tmf.created_response(pc.brand(row, tmf.base_url(request)))


@router.get(f"{V1}/brands", tags=["Catalog"], summary="List brands")
def list_brands(
    request: Request,
    params: tmf.ListParams = Depends(tmf.list_params),
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    tmf.refuse_filters(params)
    rows, total = catalog.list_brands(db, actor.scope, params.offset, params.limit)
    base = tmf.base_url(request)
    return tmf.list_response([pc.brand(r, base) for r in rows], total, params)


@router.get(f"{V1}/brands/{{brand_id}}", tags=["Catalog"], summary="Retrieve a brand")
def get_brand(
    brand_id: str,
    request: Request,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    row = catalog.get_brand(db, actor.scope, tmf.path_id("brand", brand_id))
    return tmf.item_response(pc.brand(row, tmf.base_url(request)))


@router.patch(
    f"{V1}/brands/{{brand_id}}",
    tags=["Catalog"],
    summary="Change a brand",
    dependencies=[Depends(tmf.require_patch_media_type)],
)
def patch_brand(
    brand_id: str,
    body: BrandPatch,
    request: Request,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    names = {
        "name": "name",
        "hotline": "hotline",
        "website": "website",
        "highlights": "highlights",
        "serviceChannels": "service_channels",
    }
    changes = {names[k]: v for k, v in body.model_dump(exclude_unset=True).items()}
    row = catalog.update_brand(db, actor, tmf.path_id("brand", brand_id), changes)
    return tmf.item_response(pc.brand(row, tmf.base_url(request)))


# --- wholesale ----------------------------------------------------------------------------------


@router.post(
    f"{V1}/hostAveragePrices",
    status_code=201,
    tags=["Wholesale"],
    summary="Record a host network's average unit prices of a year",
)
def create_average(
    body: HostAverageCreate, actor: Actor = Depends(caller), db: Database = Depends(database)
) -> JSONResponse:
    rates = _rates(body.rates)
    assert rates is not None
    row = catalog.set_host_average(
        db,
        actor,
        host_id=tmf.body_id("organization", body.hostId, "hostId"),
        year=body.year,
        rates=rates,
        results_published_on=body.resultsPublishedOn,
    )
    return JSONResponse(
        {"id": ids.to_public("host_average_price", row["id"]), "year": row["year"]}, status_code=201
    )


@router.post(
    f"{V1}/wholesalePriceLists",
    status_code=201,
    tags=["Wholesale"],
    summary="Set a wholesale price list (pool or package model)",
)
def create_price_list(
    body: PriceListCreate,
    request: Request,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    row = catalog.create_price_list(
        db,
        actor,
        host_id=tmf.body_id("organization", body.hostId, "hostId"),
        mvno_id=tmf.body_id("organization", body.mvnoId, "mvnoId"),
        model=body.model,
        valid_from=body.validFrom,
        valid_to=body.validTo,
        rates=_rates(body.rates),
        revenue_tiers=[RevenueTier(t.minAnnualRevenueFen, t.discountBp) for t in body.revenueTiers],
        annual_revenue_fen=body.annualRevenueFen,
        host_packages=[p.model_dump() for p in body.hostPackages],
        per_number_fee_fen=body.perNumberFeeFen,
    )
    return tmf.created_response(pc.price_list(row, tmf.base_url(request)))


@router.get(f"{V1}/wholesalePriceLists", tags=["Wholesale"], summary="List price lists")
def list_price_lists(
    request: Request,
    params: tmf.ListParams = Depends(tmf.list_params),
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    tmf.refuse_filters(params)
    rows, total = catalog.list_price_lists(db, actor.scope, params.offset, params.limit)
    base = tmf.base_url(request)
    return tmf.list_response([pc.price_list(r, base) for r in rows], total, params)


@router.get(
    f"{V1}/wholesalePriceLists/reviewReminders",
    tags=["Wholesale"],
    summary="Price lists whose review is due within 60 days (or overdue)",
)
def review_reminders(
    request: Request, actor: Actor = Depends(caller), db: Database = Depends(database)
) -> JSONResponse:
    base = tmf.base_url(request)
    return JSONResponse([pc.price_list(r, base) for r in catalog.review_reminders(db, actor.scope)])


@router.get(
    f"{V1}/wholesalePriceLists/{{list_id}}", tags=["Wholesale"], summary="Retrieve a price list"
)
def get_price_list(
    list_id: str, request: Request, actor: Actor = Depends(caller), db: Database = Depends(database)
) -> JSONResponse:
    row = catalog.get_price_list(db, actor.scope, tmf.path_id("wholesale_price_list", list_id))
    return tmf.item_response(pc.price_list(row, tmf.base_url(request)))


@router.get(
    f"{V1}/commissionSchemes/{{mvno_id}}", tags=["Wholesale"], summary="An MVNO's commission scheme"
)
def get_scheme(
    mvno_id: str, actor: Actor = Depends(caller), db: Database = Depends(database)
) -> JSONResponse:
    row = catalog.get_scheme(db, actor, tmf.path_id("organization", mvno_id))
    return JSONResponse(_scheme_view(mvno_id, row))


def _scheme_view(mvno_id: str, row: dict[str, Any]) -> dict[str, Any]:
    return {
        "mvnoId": mvno_id,
        "revenueShareBp": row["revenue_share_bp"],
        "mvnoMarginBp": row["mvno_margin_bp"],
        "rechargeBp": row["recharge_bp"],
        "activationFen": row["activation_fen"],
    }


@router.put(
    f"{V1}/commissionSchemes/{{mvno_id}}",
    tags=["Wholesale"],
    summary="Set the commission scheme (live prices are re-checked)",
)
def put_scheme(
    mvno_id: str, body: SchemeSet, actor: Actor = Depends(caller), db: Database = Depends(database)
) -> JSONResponse:
    row = catalog.set_scheme(
        db,
        actor,
        tmf.path_id("organization", mvno_id),
        body.revenueShareBp,
        body.mvnoMarginBp,
        recharge_bp=body.rechargeBp,
        activation_fen=body.activationFen,
    )
    return JSONResponse(_scheme_view(mvno_id, row))


# --- partner packages ----------------------------------------------------------------------------


@router.post(
    f"{V1}/packageDesigns",
    status_code=201,
    tags=["Partner packages"],
    summary="Design a package from the MVNO's offers (a draft)",
)
def create_design(
    body: DesignCreate,
    request: Request,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    row = catalog.create_design(
        db,
        actor,
        name=body.name,
        base_offering_id=tmf.body_id("product_offering", body.baseOfferingId, "baseOfferingId"),
        addon_ids=[
            tmf.body_id("product_offering", a, f"addonIds.{i}") for i, a in enumerate(body.addonIds)
        ],
        price_fen=body.priceFen,
        designer_id=tmf.body_id("channel_authorisation", body.designerId, "designerId"),
    )
    return tmf.created_response(pc.design(row, tmf.base_url(request)))


@router.get(f"{V1}/packageDesigns", tags=["Partner packages"], summary="List package designs")
def list_designs(
    request: Request,
    params: tmf.ListParams = Depends(tmf.list_params),
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    rows, total = catalog.list_designs(db, actor.scope, params.filters, params.offset, params.limit)
    base = tmf.base_url(request)
    return tmf.list_response([pc.design(r, base) for r in rows], total, params)


@router.get(
    f"{V1}/packageDesigns/{{design_id}}",
    tags=["Partner packages"],
    summary="Retrieve a package design",
)
def get_design(
    design_id: str,
    request: Request,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    row = catalog.get_design(db, actor.scope, tmf.path_id("package_design", design_id))
    return tmf.item_response(pc.design(row, tmf.base_url(request)))


@router.patch(
    f"{V1}/packageDesigns/{{design_id}}",
    tags=["Partner packages"],
    summary="Change a draft or rejected design",
    dependencies=[Depends(tmf.require_patch_media_type)],
)
def patch_design(
    design_id: str,
    body: DesignPatch,
    request: Request,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    names = {"name": "name", "priceFen": "price_fen"}
    changes = {names[k]: v for k, v in body.model_dump(exclude_unset=True).items()}
    row = catalog.update_design(db, actor, tmf.path_id("package_design", design_id), changes)
    return tmf.item_response(pc.design(row, tmf.base_url(request)))


@router.get(
    f"{V1}/packageDesigns/{{design_id}}/costChain",
    tags=["Partner packages"],
    summary="The design's cost chain, live",
)
def design_cost(
    design_id: str, actor: Actor = Depends(caller), db: Database = Depends(database)
) -> JSONResponse:
    chain = catalog.design_cost(db, actor.scope, tmf.path_id("package_design", design_id))
    return JSONResponse(pc.chain(design_id, chain))


def _task_route(task: str, summary: str) -> None:
    def run(
        design_id: str,
        request: Request,
        body: Task | None = None,
        actor: Actor = Depends(caller),
        db: Database = Depends(database),
    ) -> JSONResponse:
        row = catalog.decide_design(
            db,
            actor,
            tmf.path_id("package_design", design_id),
            task,
            reason=body.reason if body else None,
        )
        return tmf.item_response(pc.design(row, tmf.base_url(request)))

    router.add_api_route(
        f"{V1}/packageDesigns/{{design_id}}/{task}",
        run,
        methods=["POST"],
        tags=["Partner packages"],
        summary=summary,
        name=f"{task}_design",
    )


for _task, _summary in (
    ("submit", "Submit to the MVNO (refused below the cost chain)"),
    ("approve", "The MVNO approves (refused below the cost chain)"),
    ("reject", "The MVNO rejects, saying why"),
    ("publish", "The MVNO publishes it under its brand"),
    ("retire", "Withdraw from sale"),
):
    _task_route(_task, _summary)


@router.get(
    f"{V1}/costChain/{{offering_id}}",
    tags=["Catalog"],
    summary="The cost chain of an offering, with its breakdown",
)
def offering_cost(
    offering_id: str, actor: Actor = Depends(caller), db: Database = Depends(database)
) -> JSONResponse:
    _, chain = catalog.offer_cost(db, actor.scope, tmf.path_id("product_offering", offering_id))
    return JSONResponse(pc.chain(offering_id, chain))


@router.get(
    f"{V1}/inversionAlerts",
    tags=["Catalog"],
    summary="Offers and packages whose price fell below their cost chain",
)
def list_alerts(
    request: Request,
    status: str | None = None,
    params: tmf.ListParams = Depends(tmf.list_params),
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    tmf.refuse_filters(params, "status")
    rows, total = catalog.list_alerts(db, actor.scope, status, params.offset, params.limit)
    base = tmf.base_url(request)
    return tmf.list_response([pc.alert(r, base) for r in rows], total, params)


@router.patch(
    f"{V1}/wholesalePriceLists/{{list_id}}",
    tags=["Wholesale"],
    summary="End a price list (set validTo); prices themselves never change",
    dependencies=[Depends(tmf.require_patch_media_type)],
)
def end_price_list(
    list_id: str,
    body: PriceListEnd,
    request: Request,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    row = catalog.end_price_list(
        db, actor, tmf.path_id("wholesale_price_list", list_id), body.validTo
    )
    return tmf.item_response(pc.price_list(row, tmf.base_url(request)))
