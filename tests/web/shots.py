"""Screenshots of the portal's pages, written by the browser tests for people to look at.

Each browser test calls `shoot(page, "outlet-sale-confirm")` at the pages worth seeing; the PNG
goes to `test-artifacts/portal/<name>-<locale>.png` (or under OPENMVNE_TEST_ARTIFACTS).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

ARTIFACTS = Path(os.environ.get("OPENMVNE_TEST_ARTIFACTS", "test-artifacts")) / "portal"


def shoot(page: Any, name: str) -> Path:
    """A full-page screenshot of `page` named after the view and the page's language."""
    lang = page.evaluate("document.documentElement.lang") or "xx"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}-{lang}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
