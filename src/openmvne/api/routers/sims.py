"""SIM cards: batches (import), stock transfers, stock, card states, card sleeves, and the
cards as TMF639 resources."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.templating import Jinja2Templates
from pydantic import Field

from openmvne import ids, money
from openmvne.api import tmf
from openmvne.api.auth import caller, database
from openmvne.api.presenters import sim_resource
from openmvne.api.routing import Router
from openmvne.api.schemas import Body
from openmvne.db.engine import Database
from openmvne.domain.access import Actor
from openmvne.domain.sims import CardState
from openmvne.errors import InvalidInput, NotFound
from openmvne.services import catalog, sims

router = Router(tags=["SIM cards"])
V1 = "/openmvne/v1"
RESOURCE = "/tmf-api/resourceInventoryManagement/v4"
templates = Jinja2Templates(directory=Path(__file__).parent.parent.parent / "web" / "templates")
templates.env.filters["yuan"] = money.format_fen


class BatchCreate(Body):
    name: str = Field(min_length=1, max_length=100)
    hostId: str
    mvnoId: str | None = None
    csv: str = Field(description="The factory file: " + ",".join(sims.COLUMNS))


class Span(Body):
    first: str
    last: str


class TransferCreate(Body):
    toId: str | None = Field(None, description="Receiving channel (chn_…); none: the MVNO")
    fromId: str | None = Field(None, description="Your channel, if you hold several")
    mvnoId: str | None = None
    iccids: list[str] = Field(default_factory=list)
    ranges: list[Span] = Field(default_factory=list)


class CardPatch(Body):
    state: CardState


def _batch(row: dict[str, Any], base: str) -> dict[str, Any]:
    public = ids.to_public("sim_batch", row["id"])
    return {
        "id": public,
        "href": f"{base}{V1}/simBatches/{public}",
        "@type": "SimBatch",
        "name": row["name"],
        "mvnoId": ids.to_public("organization", row["mvno_id"]),
        "hostId": ids.to_public("organization", row["host_id"]),
        "cardCount": row["card_count"],
    }


def _transfer(row: dict[str, Any], base: str) -> dict[str, Any]:
    public = ids.to_public("stock_transfer", row["id"])
    return {
        "id": public,
        "href": f"{base}{V1}/stockTransfers/{public}",
        "@type": "StockTransfer",
        "mvnoId": ids.to_public("organization", row["mvno_id"]),
        "fromId": ids.to_public("organization", row["from_party_id"]),
        "toId": ids.to_public("organization", row["to_party_id"]),
        "cardCount": row["card_count"],
        "by": row["by_user"],
        "createdAt": row["created_at"].isoformat(),
    }


@router.post(f"{V1}/simBatches", status_code=201, summary="Import a card factory file")
def create_batch(
    body: BatchCreate,
    request: Request,
    skipInvalid: bool = Query(False, description="Import the good lines"),
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    row = sims.import_batch(
        db,
        actor,
        mvno_id=tmf.body_id("organization", body.mvnoId, "mvnoId"),
        host_id=tmf.body_id("organization", body.hostId, "hostId"),
        name=body.name,
        lines=sims.read_lines(body.csv),
        skip_invalid=skipInvalid,
    )
    shown = _batch(row, tmf.base_url(request))
    shown["rejects"] = row["rejects"]
    return JSONResponse(shown, status_code=201, headers={"Location": shown["href"]})


@router.get(f"{V1}/simBatches/{{batch_id}}", summary="Retrieve a card batch")
def get_batch(
    batch_id: str,
    request: Request,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    row = sims.get_batch(db, actor.scope, tmf.path_id("sim_batch", batch_id))
    return JSONResponse(_batch(row, tmf.base_url(request)))


def _sleeves(
    request: Request,
    db: Database,
    actor: Actor,
    cards: list[dict[str, Any]],
    offering: str | None,
    title: str,
) -> HTMLResponse:
    if not cards:
        raise NotFound("no cards to print")
    brands, _ = catalog.list_brands(db, actor.scope, 0, 1000)
    brand = next((b for b in brands if b["mvno_id"] == cards[0]["mvno_id"]), None)
    if brand is None:
        raise InvalidInput("the MVNO has no brand to print", code="no_brand")
    offer = (
        catalog.get_offer(db, actor.scope, tmf.path_id("product_offering", offering))
        if offering
        else None
    )
    return templates.TemplateResponse(
        request, "sleeves.html", {"cards": cards, "brand": brand, "offer": offer, "title": title}
    )


@router.get(
    f"{V1}/simBatches/{{batch_id}}/sleeves",
    response_class=HTMLResponse,
    summary="Print-ready card sleeves for a batch (放卡)",
)
def batch_sleeves(
    batch_id: str,
    request: Request,
    offeringId: str | None = None,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> HTMLResponse:
    row = sims.get_batch(db, actor.scope, tmf.path_id("sim_batch", batch_id))
    cards = sims.cards_of(db, actor.scope, batch_id=row["id"])
    return _sleeves(request, db, actor, cards, offeringId, row["name"])


@router.post(
    f"{V1}/stockTransfers",
    status_code=201,
    summary="Move cards to a child channel or back to the parent",
)
def create_transfer(
    body: TransferCreate,
    request: Request,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    row = sims.transfer(
        db,
        actor,
        mvno_id=tmf.body_id("organization", body.mvnoId, "mvnoId"),
        to_auth_id=tmf.body_id("channel_authorisation", body.toId, "toId"),
        from_auth_id=tmf.body_id("channel_authorisation", body.fromId, "fromId"),
        iccids=body.iccids,
        ranges=[(s.first, s.last) for s in body.ranges],
    )
    shown = _transfer(row, tmf.base_url(request))
    return JSONResponse(shown, status_code=201, headers={"Location": shown["href"]})


@router.get(f"{V1}/stockTransfers/{{transfer_id}}", summary="Retrieve a stock transfer")
def get_transfer(
    transfer_id: str,
    request: Request,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    row = sims.get_transfer(db, actor.scope, tmf.path_id("stock_transfer", transfer_id))
    return JSONResponse(_transfer(row, tmf.base_url(request)))


@router.get(
    f"{V1}/stockTransfers/{{transfer_id}}/sleeves",
    response_class=HTMLResponse,
    summary="Print-ready card sleeves for a transfer",
)
def transfer_sleeves(
    transfer_id: str,
    request: Request,
    offeringId: str | None = None,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> HTMLResponse:
    row = sims.get_transfer(db, actor.scope, tmf.path_id("stock_transfer", transfer_id))
    cards = sims.cards_of(db, actor.scope, iccids=row["iccids"])
    return _sleeves(request, db, actor, cards, offeringId, f"transfer {transfer_id}")


@router.get(f"{V1}/simStock", summary="Cards per holder and state, in your scope")
def sim_stock(actor: Actor = Depends(caller), db: Database = Depends(database)) -> JSONResponse:
    return JSONResponse(
        [
            {
                "holderId": ids.to_public("organization", r["holder_party_id"]),
                "state": r["state"],
                "count": r["count"],
            }
            for r in sims.stock(db, actor.scope)
        ]
    )


@router.get(f"{V1}/simCards", summary="SIM cards in your scope (TMF639 shape)")
def list_cards(
    request: Request,
    params: tmf.ListParams = Depends(tmf.list_params),
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    rows, total = sims.list_cards(db, actor.scope, params.filters, params.offset, params.limit)
    base = tmf.base_url(request)
    return tmf.list_response([sim_resource(r, base) for r in rows], total, params)


@router.patch(
    f"{V1}/simCards/{{iccid}}",
    summary="Change a card's state (faulty, lost, …)",
    dependencies=[Depends(tmf.require_patch_media_type)],
)
def patch_card(
    iccid: str,
    body: CardPatch,
    request: Request,
    actor: Actor = Depends(caller),
    db: Database = Depends(database),
) -> JSONResponse:
    row = sims.change_state(db, actor, iccid, body.state)
    return JSONResponse(sim_resource(row, tmf.base_url(request)))
