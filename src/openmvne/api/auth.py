"""Who is calling: a Bearer API token on every API request."""

from __future__ import annotations

from fastapi import Request

from openmvne.db.engine import Database
from openmvne.domain.access import Actor
from openmvne.errors import NotAuthenticated
from openmvne.services import users


def database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def caller(request: Request) -> Actor:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated("send an API token: Authorization: Bearer <token>")
    return users.actor_from_token(database(request), token.strip())
