"""The portal (Jinja2 + htmx, no JS build step): every page router, and its static files.

Public: / (landing), /lookup (a number's brand, where to recharge, how to get help), /login
(password) and /login/sms (number + SMS code), /logout, /lang. By role (frame.PAGES):
outlet clerk /outlet (float, stock, recharge), /outlet/sale (the sale flow), /outlet/ticket;
MVNO staff /mvno (lines, channel tree), /mvno/dashboard, /mvno/numbers, /mvno/channels,
/mvno/catalog (package approvals), /mvno/price-lists, /mvno/care (SLA report); partner
/partner (sub-channels, stock and transfers, package designer, commissions); care agent
/care (queue, tickets and their actions); subscriber /me (lines, balance, allowances, usage,
recharge, vouchers, SIM replacement) and /me/tickets; /home sends each role to its page.
The frame (sessions, CSRF, language, errors) is in frame.py; the messages in locales/.
"""

from __future__ import annotations

from openmvne.api.routing import Router
from openmvne.web import (
    care,
    mvno,
    mvno_admin,
    mvno_catalog,
    mvno_dashboard,
    outlet,
    outlet_sale,
    outlet_ticket,
    partner,
    public,
    selfcare,
    selfcare_tickets,
    subscriber,
)
from openmvne.web.frame import STATIC

router = Router(include_in_schema=False)
for part in (
    public,
    outlet,
    outlet_sale,
    outlet_ticket,
    mvno,
    subscriber,
    selfcare,
    selfcare_tickets,
    care,
    partner,
    mvno_dashboard,
    mvno_admin,
    mvno_catalog,
):
    router.include_router(part.router)

__all__ = ["STATIC", "router"]
