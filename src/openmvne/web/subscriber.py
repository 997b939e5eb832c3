"""The subscriber's home: a summary of each of their own lines (the scope allows no other)."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse

from openmvne.domain.access import Actor
from openmvne.services import subscriber_orders
from openmvne.web.frame import allowed, database, page, portal_router

router = portal_router()
LINES_SHOWN = 20


@router.get("/me", response_class=HTMLResponse)
def my_lines(request: Request, actor: Actor = Depends(allowed("/me"))) -> HTMLResponse:
    db = database(request)
    rows, _ = subscriber_orders.list_products(db, actor.scope, {}, 0, LINES_SHOWN)
    ended = ("cancelled", "failed")
    numbers = list(dict.fromkeys(r["msisdn"] for r in rows if r["state"] not in ended))
    lines: list[dict[str, Any]] = [subscriber_orders.summary(db, actor, n) for n in numbers]
    return page(request, "me/page.html", lines=lines)
