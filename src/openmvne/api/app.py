"""The ASGI application: API routers, the portal, error mapping, request context, metrics."""

from __future__ import annotations

from fastapi import FastAPI

from openmvne import __version__
from openmvne.api import problems
from openmvne.api.middleware import Metrics, RequestContext
from openmvne.api.routers import channels, party, party_role, platform
from openmvne.config import Settings, get_settings
from openmvne.db.engine import Database
from openmvne.web import pages


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
    )
    app.state.db = db or Database(settings.database_url, lock_timeout_s=settings.lock_timeout_s)
    app.state.metrics = Metrics()
    problems.install(app)
    for router in (platform.router, party.router, party_role.router, channels.router):
        app.include_router(router)
    app.include_router(pages.router)
    app.add_middleware(RequestContext, metrics=app.state.metrics)
    return app
