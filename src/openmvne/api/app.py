"""The ASGI application: API routers, the portal, error mapping, request context, metrics."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import anyio.to_thread
from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from openmvne import __version__
from openmvne.api import problems
from openmvne.api.middleware import Metrics, RequestContext
from openmvne.api.routers import (
    catalog,
    channels,
    money,
    numbers,
    party,
    party_role,
    platform,
    sims,
)
from openmvne.config import Settings, get_settings
from openmvne.db.engine import Database
from openmvne.services import number_lifecycle
from openmvne.web import gateway, pages

log = logging.getLogger("openmvne.sweeper")
SWEEP_EVERY_S = 60.0


async def _sweep_forever(db: Database) -> None:
    """Release expired reservations and end quarantines in the background. Correctness does
    not depend on it (expiry is checked on every reservation); it keeps searches fresh."""
    while True:
        await asyncio.sleep(SWEEP_EVERY_S)
        try:
            done = await run_in_threadpool(number_lifecycle.sweep, db)
            if any(done.values()):
                log.info("swept %s", done)
        except Exception:
            log.exception("sweep failed; will try again")


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Handlers are plain functions run in threads; bound them to what the database serves.
    anyio.to_thread.current_default_thread_limiter().total_tokens = app.state.worker_threads
    task = asyncio.create_task(_sweep_forever(app.state.db))
    try:
        yield
    finally:
        task.cancel()


def create_app(settings: Settings | None = None, db: Database | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="OpenMVNE",
        version=__version__,
        description=(
            "The platform for mobile virtual network operators, their channels and outlets. "
            "TM Forum Open APIs under /tmf-api, platform extensions under /openmvne/v1. "
            "Authenticate with `Authorization: Bearer <token>` (POST /openmvne/v1/tokens)."
        ),
        lifespan=_lifespan,
    )
    app.state.db = db or Database(
        settings.database_url,
        lock_timeout_s=settings.lock_timeout_s,
        pool_size=settings.worker_threads + 2,
    )
    app.state.worker_threads = settings.worker_threads
    app.state.metrics = Metrics()
    problems.install(app)
    for router in (
        platform.router,
        party.router,
        party_role.router,
        channels.router,
        numbers.router,
        catalog.router,
        money.router,
        sims.router,
    ):
        app.include_router(router)
    app.include_router(pages.router)
    app.include_router(gateway.router)  # the fake payment gateway, for demos and tests
    app.add_middleware(RequestContext, metrics=app.state.metrics)
    return app
