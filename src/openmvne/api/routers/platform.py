"""Health, metrics and token log-in."""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from openmvne.api.auth import database
from openmvne.api.routing import Router
from openmvne.api.schemas import TokenRequest
from openmvne.db.engine import Database
from openmvne.services import users

router = Router(tags=["Platform"])


@router.get("/healthz", summary="Liveness")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(request: Request) -> Response:
    data = generate_latest(request.app.state.metrics.registry)
    return Response(data, media_type=CONTENT_TYPE_LATEST)


@router.post(
    "/openmvne/v1/tokens", status_code=201, summary="Log in: exchange a password for a token"
)
def create_token(body: TokenRequest, db: Database = Depends(database)) -> JSONResponse:
    token = users.token_for_password(db, body.username, body.password, body.name)
    return JSONResponse({"token": token, "tokenType": "Bearer"}, status_code=201)
