"""The portal's frame, shared by every page.

Each page route is a `PortalRoute`: before the handler it loads the session cookie (expiring
it when idle), picks the language and, on a POST, refuses the request with a 403 page unless
the form carries the session's CSRF token (and with a 400 page a query or form carrying a NUL
character, which no field takes); after it, errors become pages (log-in needed: a
redirect to the log-in page; a DomainError: a page with its status) and the refreshed session
cookie and the security headers go out. Handlers read the posted form from
`request.state.form` and render with `page()`.

Which role opens which page lives in PAGES, and the navigation is built from the same table,
so a link is shown exactly when its page would open.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from sqlalchemy.exc import NoResultFound
from starlette.datastructures import FormData
from starlette.responses import HTMLResponse, RedirectResponse, Response

from openmvne import __version__, clock, money
from openmvne.api.routing import Router
from openmvne.config import Settings
from openmvne.db.engine import Database
from openmvne.domain.access import Actor
from openmvne.domain.parties import Role
from openmvne.domain.subscribers import BUSINESS_TZ, local_date
from openmvne.errors import DomainError, Forbidden, NotAuthenticated
from openmvne.services import users
from openmvne.web import i18n, session
from openmvne.web.i18n import Translator
from openmvne.web.session import PortalSession

TEMPLATES = Path(__file__).with_name("templates")
STATIC = Path(__file__).with_name("static")

# Page → (its navigation label, the roles that may open it). Scope still decides the data.
PAGES: dict[str, tuple[str, tuple[Role, ...]]] = {
    "/outlet": ("nav.outlet", (Role.OUTLET_CLERK,)),
    "/outlet/sale": ("sale.nav", (Role.OUTLET_CLERK,)),
    "/outlet/ticket": ("outletticket.nav", (Role.OUTLET_CLERK,)),
    "/mvno": ("nav.mvno", (Role.MVNO_ADMIN, Role.PLATFORM_ADMIN)),
    "/mvno/dashboard": ("mvnoadmin.nav.dashboard", (Role.MVNO_ADMIN, Role.PLATFORM_ADMIN)),
    "/mvno/numbers": ("mvnoadmin.nav.numbers", (Role.MVNO_ADMIN, Role.PLATFORM_ADMIN)),
    "/mvno/channels": ("mvnoadmin.nav.channels", (Role.MVNO_ADMIN, Role.PLATFORM_ADMIN)),
    "/mvno/catalog": ("mvnoadmin.nav.catalog", (Role.MVNO_ADMIN, Role.PLATFORM_ADMIN)),
    "/mvno/price-lists": ("mvnoadmin.nav.price_lists", (Role.MVNO_ADMIN, Role.PLATFORM_ADMIN)),
    "/mvno/care": ("mvnoadmin.nav.care", (Role.MVNO_ADMIN, Role.PLATFORM_ADMIN)),
    "/me": ("nav.me", (Role.SUBSCRIBER,)),
    "/partner": ("partner.nav", (Role.PARTNER_ADMIN,)),
    # A partner's administrator also sees its care teams' queue (issue: the partner's pages).
    "/care": ("care.nav", (Role.CARE_AGENT, Role.PARTNER_ADMIN)),
    "/me/tickets": ("self.nav.tickets", (Role.SUBSCRIBER,)),
}
PUBLIC_NAV = (("/lookup", "nav.lookup"),)
LANGUAGE_NAMES = {"zh-CN": "中文", "en": "English"}

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",  # pages carry the session's CSRF token
}


def _format_msisdn(msisdn: str) -> str:
    return f"{msisdn[:3]} {msisdn[3:7]} {msisdn[7:]}" if len(msisdn) == 11 else msisdn


def _local_time(at: datetime | str) -> str:
    """An instant as the business time zone's wall clock (Asia/Shanghai), to the minute."""
    moment = datetime.fromisoformat(at) if isinstance(at, str) else at
    return f"{moment.astimezone(BUSINESS_TZ):%Y-%m-%d %H:%M}"


templates = Jinja2Templates(directory=TEMPLATES)
templates.env.filters["yuan"] = money.format_fen
templates.env.filters["msisdn"] = _format_msisdn
templates.env.filters["local_date"] = local_date
templates.env.filters["local_time"] = _local_time


class LoginRequired(Exception):
    """The page needs a logged-in user; the frame sends the visitor to the log-in page."""


@dataclass(frozen=True)
class NavItem:
    href: str
    label: str
    current: bool


def now_s() -> int:
    return int(clock.now().timestamp())


def database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def translator(request: Request) -> Translator:
    return Translator(request.state.lang)


def form_of(request: Request) -> FormData:
    form: FormData = request.state.form
    return form


def text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def may_open(actor: Actor | None, path: str) -> bool:
    return actor is not None and actor.has(*PAGES[path][1])


def home_of(actor: Actor) -> str:
    """The role's home page: the first page it may open, else the general welcome."""
    return next((path for path in PAGES if may_open(actor, path)), "/home")


def nav_for(actor: Actor | None, here: str) -> list[NavItem]:
    links = [(path, label) for path, (label, _) in PAGES.items() if may_open(actor, path)]
    links += PUBLIC_NAV
    if actor is not None and home_of(actor) == "/home":
        links.insert(0, ("/home", "nav.home"))
    return [NavItem(href, label, here == href) for href, label in links]


def _actor_of_user(db: Database, user_id: uuid.UUID) -> Actor | None:
    try:
        # The API's own path from a user to an Actor (party, its kind, roles, active).
        return users.actor_for_user(db, user_id)
    except (NotAuthenticated, NoResultFound):
        return None  # disabled or removed since the log-in


def maybe_actor(request: Request) -> Actor | None:
    """The logged-in user as an Actor, or None. A user disabled since ends the session."""
    if getattr(request.state, "actor_loaded", False):
        found: Actor | None = request.state.actor
        return found
    current: PortalSession = request.state.session
    actor = None
    if current.user_id is not None:
        actor = _actor_of_user(database(request), current.user_id)
        if actor is None:
            request.state.session = PortalSession.anonymous()
    request.state.actor = actor
    request.state.actor_loaded = True
    return actor


def current_actor(request: Request) -> Actor:
    actor = maybe_actor(request)
    if actor is None:
        raise LoginRequired
    return actor


def allowed(path: str) -> Callable[[Request], Actor]:
    """A dependency: the logged-in Actor if its role may open `path` (else 403 or log-in)."""
    roles = PAGES[path][1]

    def dependency(request: Request) -> Actor:
        actor = current_actor(request)
        if not actor.has(*roles):
            raise Forbidden("your role may not open this page", code="page_forbidden")
        return actor

    return dependency


def is_htmx(request: Request) -> bool:
    """An htmx request wanting a part of a page (restoring history wants the whole page)."""
    headers = request.headers
    return (
        headers.get("hx-request") == "true" and headers.get("hx-history-restore-request") != "true"
    )


def page(request: Request, name: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    lang: str = request.state.lang
    actor: Actor | None = getattr(request.state, "actor", None)
    here = request.url.path
    base = {
        "lang": lang,
        "t": Translator(lang),
        "csrf": request.state.session.csrf,
        "user": actor,
        "nav": nav_for(actor, here),
        "here": page_url(request),
        "languages": LANGUAGE_NAMES,
        "version": __version__,
        "htmx": is_htmx(request),
    }
    return templates.TemplateResponse(request, name, {**base, **context}, status_code=status)


def form_errors(t: Translator, exc: DomainError, fields: Mapping[str, str]) -> dict[str, str]:
    """A service's error, placed next to the form field it names (or at the top: `_form`)."""
    return {fields.get(exc.field or "", "_form"): t.error(exc)}


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    t = translator(request)
    key = f"error.title.{status}"
    title = t(key) if key in i18n.catalogue(i18n.FALLBACK) else t("error.title")
    response = page(request, "error.html", status=status, title=title, message=message)
    if is_htmx(request):  # a partial request: show the page whole rather than in a corner
        response.headers["HX-Retarget"] = "body"
        response.headers["HX-Reswap"] = "innerHTML"
    return response


def safe_next(target: str | None, default: str = "/home") -> str:
    """A local path to go to after log-in: never another site (`//host`, `/\\host`)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    return target


def page_url(request: Request) -> str:
    """Where this request's page lives, to come back to (after log-in, a language switch)."""
    if request.method == "GET":
        return request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return "/" + request.url.path.strip("/").split("/")[0]  # a form's action: its page


def _carries_nul(request: Request) -> bool:
    """A NUL character in the query or the posted form: no field takes one, and PostgreSQL
    cannot store or even compare text holding it (the query failed: a 500)."""
    values = [value for _, value in request.query_params.multi_items()]
    form: FormData | None = getattr(request.state, "form", None)
    if form is not None:
        values += [value for _, value in form.multi_items() if isinstance(value, str)]
    return any("\x00" in value for value in values)


def _to_login(request: Request) -> Response:
    query = {"next": page_url(request)}
    if request.state.session.expired:
        query["expired"] = "1"
    target = f"/login?{urlencode(query)}"
    if is_htmx(request):
        return Response(status_code=200, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


async def _guarded(
    run: Callable[[Request], Coroutine[Any, Any, Response]], request: Request
) -> Response:
    try:
        return await run(request)
    except LoginRequired:
        return _to_login(request)
    except DomainError as exc:
        return error_page(request, exc.status, translator(request).error(exc))


class PortalRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        run = super().get_route_handler()

        async def handle(request: Request) -> Response:
            settings = settings_of(request)
            request.state.session = session.load(request, settings, now_s())
            request.state.lang = i18n.choose(
                request.cookies.get(i18n.LANG_COOKIE), request.headers.get("accept-language")
            )
            if request.method == "POST":
                request.state.form = await request.form()
                if not request.state.session.csrf_matches(request.state.form.get("csrf")):
                    response: Response = error_page(request, 403, translator(request)("error.csrf"))
                elif _carries_nul(request):
                    response = error_page(request, 400, translator(request)("error.nul_character"))
                else:
                    response = await _guarded(run, request)
            elif _carries_nul(request):
                response = error_page(request, 400, translator(request)("error.nul_character"))
            else:
                response = await _guarded(run, request)
            session.save(response, request.state.session, settings)
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            return response

        return handle


def portal_router() -> Router:
    return Router(include_in_schema=False, route_class=PortalRoute)
