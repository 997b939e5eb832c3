"""The routers' quick rejection (api/routing.py) changes nothing a client sees: every
route is still found, a wrong method is still 405, a missing slash still redirects."""

from __future__ import annotations

import importlib
import pkgutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn
from fastapi import FastAPI

from openmvne.api import routers
from openmvne.api.routing import Router
from openmvne.web import gateway, pages


def _app() -> tuple[FastAPI, Router]:
    first, second = Router(), Router(prefix="/c")

    @first.get("/a/{x}")
    def a(x: int) -> dict[str, int]:
        return {"a": x}

    @first.post("/a/b")
    def ab() -> dict[str, str]:
        return {"ab": "posted"}

    @second.get("/d/")
    def d() -> dict[str, str]:
        return {"d": "slash"}

    app = FastAPI()
    app.include_router(first)
    app.include_router(second)
    return app, second


@contextmanager
def _served(app: FastAPI) -> Iterator[httpx.Client]:
    """The app on a free port (real HTTP, as the other API tests), and a client for it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", log_config=None)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(5)


def test_routes_are_found_in_any_router() -> None:
    app, _ = _app()
    with _served(app) as client:
        assert client.get("/a/7").json() == {"a": 7}
        assert client.post("/a/b").json() == {"ab": "posted"}
        assert client.get("/c/d/").json() == {"d": "slash"}
        assert client.get("/nowhere").status_code == 404
        assert client.get("/a").status_code == 404  # a start of a path is not a path


def test_a_wrong_method_is_405_and_a_missing_slash_redirects() -> None:
    app, _ = _app()
    with _served(app) as client:
        assert client.delete("/a/7").status_code == 405
        redirected = client.get("/c/d")  # httpx does not follow redirects unless asked
        assert redirected.status_code == 307
        assert redirected.headers["location"].endswith("/c/d/")


def test_a_route_added_after_the_router_was_included_is_found() -> None:
    app, second = _app()
    with _served(app) as client:
        assert client.get("/c/e").status_code == 404  # seen, and its starts remembered

        @second.get("/e")
        def e() -> dict[str, str]:
            return {"e": "late"}

        assert client.get("/c/e").json() == {"e": "late"}


def test_every_router_of_the_app_rejects_quickly() -> None:
    found = [pages.router, gateway.router]
    for info in pkgutil.iter_modules(routers.__path__):
        found.append(importlib.import_module(f"{routers.__name__}.{info.name}").router)
    assert len(found) > 10
    assert all(isinstance(router, Router) for router in found)
