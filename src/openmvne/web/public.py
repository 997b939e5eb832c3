"""Pages anyone may open: the landing page, the number's brand lookup, log-in and log-out,
the language switch, and /home, which sends each role to its own home page."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from openmvne.api.ratelimit import TokenBucket
from openmvne.domain import regions
from openmvne.domain.access import Actor
from openmvne.errors import DomainError
from openmvne.services import number_lookup, users
from openmvne.web import i18n
from openmvne.web.frame import (
    current_actor,
    database,
    form_errors,
    form_of,
    home_of,
    is_htmx,
    maybe_actor,
    now_s,
    page,
    portal_router,
    safe_next,
    settings_of,
    text,
    translator,
)
from openmvne.web.session import PortalSession

router = portal_router()
# Per client address, like the API's lookup; log-in per address and username.
lookup_limiter = TokenBucket(rate_per_s=5, burst=20)
login_limiter = TokenBucket(rate_per_s=0.2, burst=30)
LANGUAGE_COOKIE_S = 365 * 24 * 3600


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def region_name(code: str | None) -> str | None:
    """GB/T 2260 names are proper names: the same in every language."""
    region = regions.lookup(code) if code else None
    if region is None:
        return None
    if region.level is regions.RegionLevel.PROVINCE or region.name == region.province_name:
        return region.name
    return f"{region.province_name}{region.name}"


@router.get("/", response_class=HTMLResponse)
def landing(request: Request, actor: Actor | None = Depends(maybe_actor)) -> HTMLResponse:
    return page(request, "home.html", home=home_of(actor) if actor else None)


@router.get("/lookup", response_class=HTMLResponse)
def lookup(request: Request, actor: Actor | None = Depends(maybe_actor)) -> HTMLResponse:
    msisdn = request.query_params.get("msisdn", "").strip()
    found: dict[str, Any] | None = None
    errors: dict[str, str] = {}
    if msisdn:
        try:
            lookup_limiter.take(_client(request))
            found = number_lookup.lookup(database(request), msisdn)
        except DomainError as exc:
            errors = form_errors(translator(request), exc, {"msisdn": "msisdn"})
    context = {
        "msisdn": msisdn,
        "found": found,
        "region": region_name(found["region_code"]) if found else None,
        "errors": errors,
    }
    status = 422 if errors else 200
    name = "lookup/_lookup.html" if is_htmx(request) else "lookup/page.html"
    return page(request, name, status=status, **context)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, actor: Actor | None = Depends(maybe_actor)) -> Response:
    target = safe_next(request.query_params.get("next"))
    if actor is not None:
        return RedirectResponse(target, status_code=303)
    notice = None
    if request.query_params.get("expired") or request.state.session.expired:
        minutes = max(1, settings_of(request).portal_idle_timeout_s // 60)
        notice = translator(request)("login.expired", minutes=minutes)
    elif request.query_params.get("bye"):
        notice = translator(request)("login.bye")
    return page(request, "login.html", username="", errors={}, next=target, notice=notice)


@router.post("/login", response_class=HTMLResponse)
def login(request: Request) -> Response:
    form, t = form_of(request), translator(request)
    username = text(form, "username")
    password = form.get("password")
    password = password if isinstance(password, str) else ""
    target = safe_next(text(form, "next"))
    errors: dict[str, str] = {}
    if not username:
        errors["username"] = t("error.required")
    if not password:
        errors["password"] = t("error.required")
    actor = None
    if not errors:
        try:
            login_limiter.take(f"{_client(request)}|{username}")
            actor = users.actor_from_password(database(request), username, password)
        except DomainError as exc:  # wrong username or password: said by the password
            errors = form_errors(t, exc, {"username": "username", "": "password"})
    if actor is None or actor.user_id is None:
        return page(
            request,
            "login.html",
            status=422,
            username=username,
            errors=errors,
            next=target,
            notice=None,
        )
    request.state.session = PortalSession.logged_in(actor.user_id, now_s())
    request.state.actor, request.state.actor_loaded = actor, True
    return RedirectResponse(home_of(actor) if target == "/home" else target, status_code=303)


@router.post("/logout")
def logout(request: Request) -> Response:
    request.state.session = PortalSession.anonymous()
    request.state.actor, request.state.actor_loaded = None, True
    return RedirectResponse("/login?bye=1", status_code=303)


@router.post("/lang")
def choose_language(request: Request) -> Response:
    form = form_of(request)
    response = RedirectResponse(safe_next(text(form, "next"), "/"), status_code=303)
    chosen = text(form, "lang")
    if chosen in i18n.SUPPORTED:
        response.set_cookie(
            i18n.LANG_COOKIE,
            chosen,
            max_age=LANGUAGE_COOKIE_S,
            httponly=True,
            samesite="lax",
            secure=settings_of(request).portal_cookie_secure,
            path="/",
        )
    return response


@router.get("/home", response_class=HTMLResponse)
def home(request: Request, actor: Actor = Depends(current_actor)) -> Response:
    target = home_of(actor)
    if target != "/home":
        return RedirectResponse(target, status_code=303)
    roles = ", ".join(translator(request)(f"role.{r.value}") for r in sorted(actor.roles))
    return page(request, "welcome.html", roles=roles)
