"""Who is calling: a Bearer API token on every API request."""

from __future__ import annotations

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from openmvne.db.engine import Database
from openmvne.domain.access import Actor
from openmvne.errors import NotAuthenticated
from openmvne.services import users


def _database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def database(request: Request) -> Database:
    """The app's database. Async though it does no I/O: FastAPI runs a plain dependency in a
    worker thread, a thread hop per request for a lookup."""
    return _database(request)


def _token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated("send an API token: Authorization: Bearer <token>")
    return token.strip()


async def caller(request: Request) -> Actor:
    """Async, so a token seen in the last few seconds costs no thread (users.py keeps it);
    otherwise it is looked up in a worker thread."""
    token, db = _token(request), _database(request)
    known = users.known_token(db, token)
    if known is not None:
        return known
    return await run_in_threadpool(users.actor_from_token, db, token)


def caller_now(request: Request) -> Actor:
    """The caller, from a plain (threaded) handler that authenticates only sometimes."""
    return users.actor_from_token(_database(request), _token(request))
