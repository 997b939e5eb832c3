"""Users, passwords and API tokens; turning a token or a password into an Actor.

Passwords are hashed with argon2id. An API token is `omv_<token id>.<secret>`: shown once,
stored as the SHA-256 of its 256-bit secret, revocable.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, insert, select, update

from openmvne import clock, ids
from openmvne.db import audit
from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.db.scoping import unscoped
from openmvne.domain.access import Actor
from openmvne.domain.parties import OrgKind, PartyStatus, Role, check_role_for_party
from openmvne.errors import Conflict, InvalidInput, NotAuthenticated, NotFound

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
u = t.user_account
PLATFORM_NAME = "OpenMVNE platform"
TOKEN_PREFIX = "omv_"  # noqa: S105  # a public marker, not a secret


def ensure_platform(db: Database) -> uuid.UUID:
    """The platform organisation, created on first use: the operator acts as it."""
    o = t.organization
    stmt = unscoped(select(o.c.id).where(o.c.kind == OrgKind.PLATFORM.value), "bootstrap")
    with db.write() as conn:
        found = conn.execute(stmt).scalar()
        if found is not None:
            return found  # type: ignore[no-any-return]  # Uuid column
        org_id = ids.new_id()
        now = clock.now()
        conn.execute(
            insert(o).values(
                id=org_id,
                kind=OrgKind.PLATFORM.value,
                name=PLATFORM_NAME,
                status=PartyStatus.ACTIVE.value,
                created_at=now,
                updated_at=now,
            )
        )
        return org_id


def operator(db: Database) -> Actor:
    """The CLI's actor: the operator of the installation, with the platform's full rights."""
    return Actor(
        user_id=None,
        username="operator",
        party_id=ensure_platform(db),
        party_kind=OrgKind.PLATFORM,
        roles=frozenset({Role.PLATFORM_ADMIN}),
    )


def _party_kind(conn: Connection, party_id: uuid.UUID) -> tuple[str, OrgKind | None]:
    """('organization', kind) or ('individual', None) for a party id, or NotFound."""
    o = t.organization
    kind = conn.execute(
        unscoped(select(o.c.kind).where(o.c.id == party_id), "the operator adds users anywhere")
    ).scalar()
    if kind is not None:
        return "organization", OrgKind(kind)
    i = t.individual
    stmt = unscoped(select(i.c.id).where(i.c.id == party_id), "the operator adds users anywhere")
    if conn.execute(stmt).first() is not None:
        return "individual", None
    raise NotFound("no party with that id", field="party")


def add_user(
    db: Database,
    actor: Actor,
    *,
    username: str,
    party_id: uuid.UUID,
    roles: frozenset[Role],
    password: str | None,
) -> dict[str, Any]:
    actor.require(Role.PLATFORM_ADMIN, action="add a user")
    if not username or len(username) > 64 or not username.isprintable() or " " in username:
        raise InvalidInput("a username is 1-64 characters without spaces", field="username")
    if password is not None and len(password) < 8:
        raise InvalidInput(
            "a password has at least 8 characters", code="password_too_short", field="password"
        )
    with db.write() as conn:
        column, kind = _party_kind(conn, party_id)
        for role in roles:
            check_role_for_party(role, kind)
        if conn.execute(select(u.c.id).where(u.c.username == username)).first():
            raise Conflict(f"user {username!r} exists", code="username_taken", field="username")
        user_id = ids.new_id()
        conn.execute(
            insert(u).values(
                id=user_id,
                username=username,
                organization_id=party_id if column == "organization" else None,
                individual_id=party_id if column == "individual" else None,
                password_hash=_hasher.hash(password) if password is not None else None,
                status=PartyStatus.ACTIVE.value,
                created_at=clock.now(),
            )
        )
        conn.execute(insert(t.user_role), [{"user_id": user_id, "role": r.value} for r in roles])
        audit.record(
            conn,
            actor,
            "user.created",
            "user",
            user_id,
            data={"username": username, "roles": sorted(r.value for r in roles)},
        )
        return {
            "id": user_id,
            "username": username,
            "party_id": party_id,
            "roles": sorted(r.value for r in roles),
        }


def create_token(db: Database, actor: Actor, username: str, name: str = "cli") -> str:
    """A new API token for `username`. The returned string is the only copy of the secret."""
    with db.write() as conn:
        user_id = conn.execute(select(u.c.id).where(u.c.username == username)).scalar()
        if user_id is None:
            raise NotFound(f"no user {username!r}", field="user")
        if actor.user_id != user_id:
            actor.require(Role.PLATFORM_ADMIN, action="create a token for another user")
        return _issue_token(conn, actor, user_id, name)


def _issue_token(conn: Connection, actor: Actor, user_id: uuid.UUID, name: str) -> str:
    token_id = ids.new_id()
    secret = secrets.token_urlsafe(32)
    conn.execute(
        insert(t.api_token).values(
            id=token_id,
            user_id=user_id,
            secret_sha256=_sha256(secret),
            name=name,
            created_at=clock.now(),
        )
    )
    audit.record(conn, actor, "token.created", "token", token_id, data={"name": name})
    return f"{TOKEN_PREFIX}{ids.encode(token_id)}.{secret}"


def revoke_token(db: Database, actor: Actor, token_or_id: str) -> None:
    """Revoke by the token itself or by its id (`tok_…`, as listed)."""
    if token_or_id.startswith(TOKEN_PREFIX):
        token_id = ids.decode(token_or_id[len(TOKEN_PREFIX) :].split(".", 1)[0])
    else:
        token_id = ids.from_public("token", token_or_id)
    if token_id is None:
        raise NotFound("no such token", field="token")
    with db.write() as conn:
        row = conn.execute(select(t.api_token).where(t.api_token.c.id == token_id)).first()
        if row is None or (actor.user_id != row.user_id and not actor.has(Role.PLATFORM_ADMIN)):
            raise NotFound("no such token", field="token")
        conn.execute(
            update(t.api_token).where(t.api_token.c.id == token_id).values(revoked_at=clock.now())
        )
        audit.record(conn, actor, "token.revoked", "token", token_id)
    _known_tokens.pop((db.url, token_id), None)


# A token's actor, kept for a few seconds: every API request authenticates, and a token's
# user, party and roles do not change once issued. Revoking forgets it here at once; another
# server process stops accepting a revoked token within TOKEN_CACHE_S.
TOKEN_CACHE_S = 5.0
_known_tokens: dict[tuple[str, uuid.UUID], tuple[float, str, Actor]] = {}


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _actor_for(conn: Connection, user_id: uuid.UUID) -> Actor:
    row = conn.execute(select(u).where(u.c.id == user_id)).mappings().one()
    if row["status"] != PartyStatus.ACTIVE.value:
        raise NotAuthenticated("this user is disabled")
    roles = frozenset(
        Role(r)
        for r in conn.execute(
            select(t.user_role.c.role).where(t.user_role.c.user_id == user_id)
        ).scalars()
    )
    if row["organization_id"] is not None:
        o = t.organization
        kind = conn.execute(
            unscoped(select(o.c.kind).where(o.c.id == row["organization_id"]), "own party")
        ).scalar_one()
        return Actor(user_id, row["username"], row["organization_id"], OrgKind(kind), roles)
    return Actor(user_id, row["username"], row["individual_id"], None, roles)


def actor_for_user(db: Database, user_id: uuid.UUID) -> Actor:
    """The Actor of a user id (the portal's session holds the id): party, kind, roles."""
    with db.read() as conn:
        return _actor_for(conn, user_id)


def _parse_token(token: str) -> tuple[uuid.UUID, str]:
    """(token id, SHA-256 of the secret)."""
    bad = NotAuthenticated("the token is not valid", code="invalid_token")
    if not token.startswith(TOKEN_PREFIX) or "." not in token:
        raise bad
    encoded, secret = token[len(TOKEN_PREFIX) :].split(".", 1)
    token_id = ids.decode(encoded)
    if token_id is None:
        raise bad
    return token_id, _sha256(secret)


def known_token(db: Database, token: str) -> Actor | None:
    """The token's actor if it was seen in the last TOKEN_CACHE_S seconds (no database)."""
    token_id, digest = _parse_token(token)
    known = _known_tokens.get((db.url, token_id))
    if known is None or known[0] <= time.monotonic():
        return None
    if not hmac.compare_digest(known[1], digest):
        raise NotAuthenticated("the token is not valid", code="invalid_token")
    return known[2]


def actor_from_token(db: Database, token: str) -> Actor:
    known = known_token(db, token)
    if known is not None:
        return known
    bad = NotAuthenticated("the token is not valid", code="invalid_token")
    token_id, digest = _parse_token(token)
    with db.read() as conn:
        row = (
            conn.execute(select(t.api_token).where(t.api_token.c.id == token_id)).mappings().first()
        )
        if row is None or not hmac.compare_digest(row["secret_sha256"], digest):
            raise bad
        if row["revoked_at"] is not None:
            raise NotAuthenticated("the token was revoked", code="token_revoked")
        actor = _actor_for(conn, row["user_id"])
    if len(_known_tokens) > 10_000:  # bounded: a flood of distinct tokens only costs reads
        _known_tokens.clear()
    _known_tokens[(db.url, token_id)] = (time.monotonic() + TOKEN_CACHE_S, digest, actor)
    return actor


def actor_from_password(db: Database, username: str, password: str) -> Actor:
    bad = NotAuthenticated("wrong username or password", code="invalid_credentials")
    with db.read() as conn:
        row = conn.execute(
            select(u.c.id, u.c.password_hash).where(u.c.username == username)
        ).first()
        if row is None or row.password_hash is None:
            _hasher.hash(password)  # same work either way: no user enumeration by timing
            raise bad
        try:
            _hasher.verify(row.password_hash, password)
        except (VerificationError, InvalidHashError) as exc:
            raise bad from exc
        return _actor_for(conn, row.id)


def token_for_password(db: Database, username: str, password: str, name: str) -> str:
    """Log in with a password and receive an API token (shown once)."""
    actor = actor_from_password(db, username, password)
    assert actor.user_id is not None
    with db.write() as conn:
        return _issue_token(conn, actor, actor.user_id, name)
