"""What every browser test of the portal does: open pages in fresh contexts of the shared
headless Chromium (conftest's `chromium`), and log in with a username and password."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from tests.web.portal_world import PASSWORD

Opener = Callable[..., Any]


def pages(chromium: Any, base_url: str, **defaults: Any) -> Iterator[Opener]:
    """For a fixture: `yield from pages(chromium, url)` gives open_page(locale=..., **context
    options) -> a new page in a fresh context; the contexts close when the test ends."""
    contexts: list[Any] = []

    def opener(locale: str = "en-US", **options: Any) -> Any:
        context = chromium.new_context(base_url=base_url, locale=locale, **{**defaults, **options})
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield opener
    for context in contexts:
        context.close()


def log_in(page: Any, username: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.fill("#f-username", username)
    page.fill("#f-password", password)
    page.locator("main button[type=submit]").click()
