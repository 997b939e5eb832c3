"""TMF632 Party Management v4: /organization and /individual."""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.responses import JSONResponse, Response

from openmvne.api import presenters, tmf
from openmvne.api.auth import caller, database
from openmvne.api.routing import Router
from openmvne.api.schemas import (
    IndividualCreate,
    IndividualPatch,
    OrganizationCreate,
    OrganizationPatch,
)
from openmvne.db.engine import Database
from openmvne.domain.access import Actor
from openmvne.services import parties

router = Router(prefix=presenters.PARTY, tags=["TMF632 Party"])

_ORG_PATCH = {
    "name": "name",
    "tradingName": "trading_name",
    "regionCode": "region_code",
    "status": "status",
}
_IND_PATCH = {"givenName": "given_name", "familyName": "family_name", "status": "status"}


@router.get("/organization", summary="List organizations")
def list_organizations(
    request: Request,
    params: tmf.ListParams = Depends(tmf.list_params),
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    rows, total = parties.list_organisations(
        db, actor.scope, params.filters, params.offset, params.limit
    )
    base = tmf.base_url(request)
    return tmf.list_response([presenters.organisation(r, base) for r in rows], total, params)


@router.post("/organization", status_code=201, summary="Register an organization")
def create_organization(
    body: OrganizationCreate,
    request: Request,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    row = parties.create_organisation(
        db,
        actor,
        kind=body.organizationType,
        name=body.name,
        partner_type=body.partnerType,
        trading_name=body.tradingName,
        region_code=body.regionCode,
        legal_representative_id=tmf.body_id(
            "individual", body.legalRepresentativeId, "legalRepresentativeId"
        ),
        network_code=body.networkCode,
    )
    return tmf.created_response(presenters.organisation(row, tmf.base_url(request)))


@router.get("/organization/{org_id}", summary="Retrieve an organization")
def get_organization(
    org_id: str,
    request: Request,
    fields: str | None = None,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    row = parties.get_organisation(db, actor.scope, tmf.path_id("organization", org_id))
    return tmf.item_response(presenters.organisation(row, tmf.base_url(request)), fields)


@router.patch(
    "/organization/{org_id}",
    summary="Update an organization (JSON merge patch)",
    dependencies=[Depends(tmf.require_patch_media_type)],
)
def patch_organization(
    org_id: str,
    body: OrganizationPatch,
    request: Request,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    changes = {
        _ORG_PATCH[k]: v for k, v in body.model_dump(exclude_unset=True).items() if k in _ORG_PATCH
    }
    if "status" in changes and changes["status"] is not None:
        changes["status"] = changes["status"].value
    row = parties.update_organisation(db, actor, tmf.path_id("organization", org_id), changes)
    return tmf.item_response(presenters.organisation(row, tmf.base_url(request)))


@router.delete("/organization/{org_id}", status_code=204, summary="Delete an organization")
def delete_organization(
    org_id: str, actor: Actor = Depends(caller), db: Database = Depends(database)
) -> Response:
    parties.delete_organisation(db, actor, tmf.path_id("organization", org_id))
    return tmf.no_content()


@router.get("/individual", summary="List individuals")
def list_individuals(
    request: Request,
    params: tmf.ListParams = Depends(tmf.list_params),
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    rows, total = parties.list_individuals(
        db, actor.scope, params.filters, params.offset, params.limit
    )
    base = tmf.base_url(request)
    return tmf.list_response([presenters.individual(r, base) for r in rows], total, params)


@router.post("/individual", status_code=201, summary="Register an individual")
def create_individual(
    body: IndividualCreate,
    request: Request,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    row = parties.create_individual(
        db,
        actor,
        given_name=body.givenName,
        family_name=body.familyName,
        mvno_id=tmf.body_id("organization", body.mvnoId, "mvnoId"),
    )
    return tmf.created_response(presenters.individual(row, tmf.base_url(request)))


@router.get("/individual/{person_id}", summary="Retrieve an individual")
def get_individual(
    person_id: str,
    request: Request,
    fields: str | None = None,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    row = parties.get_individual(db, actor.scope, tmf.path_id("individual", person_id))
    return tmf.item_response(presenters.individual(row, tmf.base_url(request)), fields)


@router.patch(
    "/individual/{person_id}",
    summary="Update an individual (JSON merge patch)",
    dependencies=[Depends(tmf.require_patch_media_type)],
)
def patch_individual(
    person_id: str,
    body: IndividualPatch,
    request: Request,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    changes = {
        _IND_PATCH[k]: v for k, v in body.model_dump(exclude_unset=True).items() if k in _IND_PATCH
    }
    if "status" in changes and changes["status"] is not None:
        changes["status"] = changes["status"].value
    row = parties.update_individual(db, actor, tmf.path_id("individual", person_id), changes)
    return tmf.item_response(presenters.individual(row, tmf.base_url(request)))


@router.delete("/individual/{person_id}", status_code=204, summary="Delete an individual")
def delete_individual(
    person_id: str, actor: Actor = Depends(caller), db: Database = Depends(database)
) -> Response:
    parties.delete_individual(db, actor, tmf.path_id("individual", person_id))
    return tmf.no_content()
