"""Self-care log-in by number and SMS code: the code sent to a line proves the caller holds
it, and the caller becomes that line's holder in the portal.

The portal's session names a user, so the holder needs one: the individual's own user
account if they have one, else a passwordless account (role subscriber) made at their first
SMS log-in, named `sms-<individual's public id>`. Without a password it can only ever be
entered by SMS code (or by an operator setting a password later). A wrong code counts (and
may lock the code) even though the log-in fails, as for self-care tickets (care_verify).
"""

from __future__ import annotations

import uuid

from sqlalchemy import Connection, insert, select

from openmvne import clock, ids
from openmvne.db import audit
from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.domain.access import Actor
from openmvne.domain.parties import PartyStatus, Role
from openmvne.errors import DomainError, NotAuthenticated
from openmvne.services import care_verify, users
from openmvne.services.care import holder_actor
from openmvne.services.care_facts import number_facts

u = t.user_account


def _holder_user(conn: Connection, individual_id: uuid.UUID, holder: Actor) -> uuid.UUID:
    """The holder's user account (the oldest, if several), made now if they have none."""
    found = conn.execute(
        select(u.c.id, u.c.status).where(u.c.individual_id == individual_id).order_by(u.c.id)
    ).first()
    if found is not None:
        if found.status != PartyStatus.ACTIVE.value:
            raise NotAuthenticated("this user is disabled", code="user_disabled")
        return found.id  # type: ignore[no-any-return]  # Uuid column
    user_id = ids.new_id()
    username = f"sms-{ids.to_public('individual', individual_id)}"
    conn.execute(
        insert(u).values(
            id=user_id,
            username=username,
            organization_id=None,
            individual_id=individual_id,
            password_hash=None,
            status=PartyStatus.ACTIVE.value,
            created_at=clock.now(),
        )
    )
    conn.execute(insert(t.user_role).values(user_id=user_id, role=Role.SUBSCRIBER.value))
    audit.record(
        conn,
        holder,
        "user.created",
        "user",
        user_id,
        data={"username": username, "roles": [Role.SUBSCRIBER.value], "via": "smsCode"},
    )
    return user_id


def login_by_code(db: Database, msisdn: str, code: str) -> Actor:
    """The holder of a live line, proven by the code sent to it, as a portal user."""
    failure: DomainError | None = None
    user_id: uuid.UUID | None = None
    with db.write() as conn:
        facts = number_facts(conn, msisdn, live=True)
        failure = care_verify.check(conn, facts.msisdn, code)
        if failure is None:
            holder = holder_actor(facts)
            user_id = _holder_user(conn, facts.individual_id, holder)
            audit.record(
                conn,
                holder,
                "portal.sms_login",
                "user",
                user_id,
                mvno_id=facts.mvno_id,
                data={"msisdn": facts.msisdn},
            )
    if failure is not None:
        raise failure  # after the commit: the wrong try counts
    assert user_id is not None
    return users.actor_for_user(db, user_id)
