"""The portal's tests: plain HTTP on every backend, the browser (Debian's Chromium driven by
Playwright) on SQLite only."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from openmvne.api.ratelimit import TokenBucket
from openmvne.web import public, selfcare
from tests.conftest import Backend
from tests.web.portal_world import PortalWorld, Site, build_login_world, build_portal_world

CHROMIUM = "/usr/bin/chromium"
SQLITE_ONLY = (
    "browser tests run on SQLite only: the pages' database work is the services', which the "
    "HTTP tests of the same rules exercise on PostgreSQL too"
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives headless Chromium (make browser)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        if (
            item.get_closest_marker("browser")
            and callspec is not None
            and callspec.params.get("backend") == "postgres"
        ):
            item.add_marker(pytest.mark.skip(reason=SQLITE_ONLY))


@pytest.fixture(autouse=True)
def fresh_address_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test's visitors come from 127.0.0.1 to a server that lives across tests: each
    test starts with the pages' per-address buckets full (the same limits, new state), as a
    new visitor would, so one test's log-ins never spend another's."""
    for module in (public, selfcare):
        for name, value in vars(module).items():
            if isinstance(value, TokenBucket):
                monkeypatch.setattr(module, name, TokenBucket(value.rate, value.burst))


@pytest.fixture
def login_world(backend: Backend) -> Site:
    return build_login_world(backend)


@pytest.fixture
def portal(backend: Backend) -> PortalWorld:
    return build_portal_world(backend)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One headless Chromium per module: Debian's, never a browser Playwright downloads."""
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is missing: apt-get install chromium (make browser does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        browser.close()
