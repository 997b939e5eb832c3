"""The portal (Jinja2 + htmx, no JS build step): every page router, and its static files.

Public: / (landing), /lookup (a number's brand), /login, /logout, /lang. By role: /outlet
(float, stock, recharge), /mvno (lines by state, channels), /me (the subscriber's lines),
/home (sends each role to its page). The frame (sessions, CSRF, language, errors) is in
frame.py; the messages in locales/.
"""

from __future__ import annotations

from fastapi import APIRouter

from openmvne.web import mvno, outlet, public, subscriber
from openmvne.web.frame import STATIC

router = APIRouter(include_in_schema=False)
for part in (public, outlet, mvno, subscriber):
    router.include_router(part.router)

__all__ = ["STATIC", "router"]
