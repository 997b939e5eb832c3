"""Portal sessions: a signed, HttpOnly, SameSite=Lax cookie, checked on every request.

The cookie carries the user id (none before log-in), the issue and last-seen times and the
session's CSRF token. It is signed (itsdangerous, a key derived from the platform key unless
OPENMVNE_PORTAL_SESSION_SECRET is set), not encrypted: it holds nothing secret from its own
holder. A logged-in session ends after `portal_idle_timeout_s` without a request or
`portal_max_session_s` after log-in; the visitor then keeps an anonymous session (and its CSRF
token, so a form sent just after the end leads to the log-in page rather than a refusal).
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from starlette.requests import Request
from starlette.responses import Response

from openmvne import secrets_box
from openmvne.config import Settings

COOKIE = "openmvne_session"
_SALT = "openmvne.portal.session"


@dataclass(frozen=True)
class PortalSession:
    csrf: str
    user_id: uuid.UUID | None = None
    issued_at: int = 0  # epoch seconds of the log-in
    seen_at: int = 0  # epoch seconds of the latest request
    expired: bool = False  # this request found a logged-in session past its time (not stored)

    @classmethod
    def anonymous(cls) -> PortalSession:
        return cls(csrf=secrets.token_urlsafe(32))

    @classmethod
    def logged_in(cls, user_id: uuid.UUID, now: int) -> PortalSession:
        """A new session (new CSRF token too) for a user who just proved their password."""
        return cls(csrf=secrets.token_urlsafe(32), user_id=user_id, issued_at=now, seen_at=now)

    def csrf_matches(self, sent: object) -> bool:
        return isinstance(sent, str) and hmac.compare_digest(sent.encode(), self.csrf.encode())

    def dump(self) -> dict[str, Any]:
        return {
            "c": self.csrf,
            "u": self.user_id.hex if self.user_id else None,
            "i": self.issued_at,
            "s": self.seen_at,
        }


@lru_cache(maxsize=4)
def _serializer(secret: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt=_SALT)


def _secret(settings: Settings) -> str:
    # An HMAC of a fixed label under the platform key: stable across restarts and workers,
    # and useless for anything else.
    return settings.portal_session_secret or secrets_box.fingerprint("cookies", "portal-session")


def load(request: Request, settings: Settings, now: int) -> PortalSession:
    """The request's session, refreshed (seen now), anonymous if absent, forged or expired."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return PortalSession.anonymous()
    try:
        data = _serializer(_secret(settings)).loads(raw)
        csrf, user, issued, seen = data["c"], data["u"], int(data["i"]), int(data["s"])
        if not isinstance(csrf, str) or len(csrf) < 32:
            raise ValueError("bad token")
        user_id = uuid.UUID(hex=user) if user is not None else None
    except (BadSignature, KeyError, TypeError, ValueError):
        return PortalSession.anonymous()
    if user_id is None:
        return PortalSession(csrf=csrf)
    if now - seen > settings.portal_idle_timeout_s or now - issued > settings.portal_max_session_s:
        return PortalSession(csrf=csrf, expired=True)
    return PortalSession(csrf=csrf, user_id=user_id, issued_at=issued, seen_at=now)


def save(response: Response, session: PortalSession, settings: Settings) -> None:
    response.set_cookie(
        COOKIE,
        _serializer(_secret(settings)).dumps(session.dump()),
        httponly=True,
        samesite="lax",
        secure=settings.portal_cookie_secure,
        path="/",
    )
