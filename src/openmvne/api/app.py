"""The ASGI application: API routers, the portal, error mapping, request context, metrics."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import anyio.to_thread
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from openmvne import __version__
from openmvne.api import openapi_doc, problems
from openmvne.api.middleware import Metrics, RequestContext
from openmvne.api.routers import (
    care,
    catalog,
    channels,
    money,
    numbers,
    party,
    party_role,
    platform,
    settlement,
    sims,
    subscribers,
    usage,
)
from openmvne.config import Settings, get_settings
from openmvne.db.engine import Database
from openmvne.network import wiring
from openmvne.network.provisioning import HostProvisioning
from openmvne.services import care as care_service
from openmvne.services import charging, lifecycle, number_lifecycle, provisioning
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


async def _provision_forever(db: Database, network: HostProvisioning, every_s: float) -> None:
    """Send the outbox to the host network and record its answers."""
    while True:
        await asyncio.sleep(every_s)
        try:
            await run_in_threadpool(provisioning.dispatch, db, network)
        except Exception:
            log.exception("provisioning round failed; will try again")


async def _lifecycle_forever(db: Database, every_s: float) -> None:
    """The same step as `mvne lifecycle tick`: safe alongside it."""
    while True:
        await asyncio.sleep(every_s)
        try:
            done = await run_in_threadpool(lifecycle.tick, db)
            done["chargingSessionsExpired"] = await run_in_threadpool(charging.expire, db)
            escalated = await run_in_threadpool(care_service.escalate_breaches, db)
            done["ticketsEscalated"] = escalated["breached"]
            if any(done.values()):
                log.info("lifecycle step %s", done)
        except Exception:
            log.exception("lifecycle step failed; will try again")


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Handlers are plain functions run in threads; bound them to what the database serves.
    anyio.to_thread.current_default_thread_limiter().total_tokens = app.state.worker_threads
    settings: Settings = app.state.settings
    tasks = [
        asyncio.create_task(_sweep_forever(app.state.db)),
        asyncio.create_task(
            _provision_forever(app.state.db, app.state.network, settings.provisioning_interval_s)
        ),
        asyncio.create_task(_lifecycle_forever(app.state.db, settings.lifecycle_interval_s)),
    ]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()


def app_from_environment() -> FastAPI:
    """The app of one of several server processes (`mvne serve --workers N`)."""
    from openmvne import heap, logs

    settings = get_settings()
    logs.configure(settings.log_format, settings.log_level)
    app = create_app(settings)
    heap.settle_server()
    return app


def create_app(
    settings: Settings | None = None,
    db: Database | None = None,
    network: HostProvisioning | None = None,
) -> FastAPI:
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
    app.state.settings = settings
    app.state.network = network or wiring.from_settings(settings)
    app.state.metrics = Metrics()
    problems.install(app)
    openapi_doc.install(app)
    for router in (
        # The routers that outlets and the network call at high rates first: routes are
        # matched in order.
        money.router,
        usage.router,
        platform.router,
        party.router,
        party_role.router,
        channels.router,
        numbers.router,
        catalog.router,
        sims.router,
        subscribers.router,
        care.router,
        settlement.router,
    ):
        app.include_router(router)
    app.include_router(pages.router)  # the portal: Jinja2 + htmx pages, sessions, CSRF
    app.mount("/static", StaticFiles(directory=pages.STATIC), name="static")
    app.include_router(gateway.router)  # the fake payment gateway, for demos and tests
    app.add_middleware(RequestContext, metrics=app.state.metrics)
    return app
