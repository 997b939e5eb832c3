"""The audit trail: one row per mutation, written in the mutation's own transaction."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Connection, insert

from openmvne import clock, ids
from openmvne.db import tables as t
from openmvne.domain.access import Actor
from openmvne.logs import request_id_var

_INSERT = insert(t.audit_event)  # built once: audit rows are on every hot path


def record(
    conn: Connection,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: uuid.UUID,
    *,
    mvno_id: uuid.UUID | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """Write an audit event. `data` must never hold personal ID numbers or secrets."""
    conn.execute(
        _INSERT,
        {
            "id": ids.new_id(),
            "at": clock.now(),
            "actor_user_id": actor.user_id,
            "actor_username": actor.username,
            "actor_party_id": actor.party_id,
            "action": action,
            "object_type": object_type,
            "object_id": object_id,
            "mvno_id": mvno_id,
            "data": data or {},
            "request_id": request_id_var.get(),
        },
    )
