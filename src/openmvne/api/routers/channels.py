"""/openmvne/v1/channelAuthorisations: the MVNO's channel tree (no TM Forum resource fits)."""

from __future__ import annotations

from fastapi import Body, Depends, Request
from fastapi.responses import JSONResponse

from openmvne.api import presenters, tmf
from openmvne.api.auth import caller, database
from openmvne.api.routing import Router
from openmvne.api.schemas import ChannelAuthorisationCreate, Decision
from openmvne.db.engine import Database
from openmvne.domain.access import Actor
from openmvne.domain.channels import Transition
from openmvne.services import channels

router = Router(
    prefix=f"{presenters.OPENMVNE}/channelAuthorisations", tags=["Channel authorisations"]
)


@router.get("", summary="List channel authorisations the caller may see")
def list_authorisations(
    request: Request,
    params: tmf.ListParams = Depends(tmf.list_params),
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    rows, total = channels.list_authorisations(
        db, actor.scope, params.filters, params.offset, params.limit
    )
    base = tmf.base_url(request)
    return tmf.list_response(
        [presenters.channel_authorisation(r, base) for r in rows], total, params
    )


@router.post("", status_code=201, summary="Request a channel authorisation (pending)")
def create_authorisation(
    body: ChannelAuthorisationCreate,
    request: Request,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    row = channels.request_authorisation(
        db,
        actor,
        party_id=tmf.body_id("organization", body.partyId, "partyId"),
        level=body.level,
        mvno_id=tmf.body_id("organization", body.mvnoId, "mvnoId"),
        parent_id=tmf.body_id("channel_authorisation", body.parentId, "parentId"),
        region_code=body.regionCode,
        exclusive=body.exclusive,
        plaque_number=body.plaqueNumber,
    )
    return tmf.created_response(presenters.channel_authorisation(row, tmf.base_url(request)))


@router.get("/{auth_id}", summary="Retrieve a channel authorisation")
def get_authorisation(
    auth_id: str,
    request: Request,
    fields: str | None = None,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    row = channels.get_authorisation(db, actor.scope, tmf.path_id("channel_authorisation", auth_id))
    return tmf.item_response(presenters.channel_authorisation(row, tmf.base_url(request)), fields)


@router.get("/{auth_id}/subtree", summary="This authorisation and everything below it")
def list_subtree(
    auth_id: str,
    request: Request,
    params: tmf.ListParams = Depends(tmf.list_params),
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    rows, total = channels.list_authorisations(
        db,
        actor.scope,
        params.filters,
        params.offset,
        params.limit,
        subtree_of=tmf.path_id("channel_authorisation", auth_id),
    )
    base = tmf.base_url(request)
    return tmf.list_response(
        [presenters.channel_authorisation(r, base) for r in rows], total, params
    )


def _decision_route(transition: Transition) -> None:
    def decide(
        auth_id: str,
        request: Request,
        body: Decision | None = Body(None),
        actor: Actor = Depends(caller),
        db: Database = Depends(database),
    ) -> JSONResponse:
        row = channels.decide(
            db,
            actor,
            tmf.path_id("channel_authorisation", auth_id),
            transition,
            reason=body.reason if body else None,
        )
        return tmf.item_response(presenters.channel_authorisation(row, tmf.base_url(request)))

    router.add_api_route(
        f"/{{auth_id}}/{transition.value}",
        decide,
        methods=["POST"],
        summary=f"{transition.value.capitalize()} (the MVNO's decision)",
        name=f"{transition.value}_authorisation",
    )


for _transition in Transition:
    _decision_route(_transition)
