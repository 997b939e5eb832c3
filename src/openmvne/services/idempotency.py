"""Idempotency keys (architecture.md §3): same key and same request → the original result;
same key, different request → 422; the key is claimed in the transaction of the effect,
so an effect and its key commit together or not at all."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from openmvne import clock, ids
from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.domain.access import Actor
from openmvne.errors import Conflict, InvalidInput, RuleViolation

ik = t.idempotency_key


def request_hash(operation: str, request: dict[str, Any]) -> str:
    canonical = json.dumps({"op": operation, **request}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def caller_of(actor: Actor) -> str:
    return str(actor.user_id or actor.party_id)


def checked_key(key: str | None) -> str:
    if not key or len(key) > 200 or not key.isprintable():
        raise InvalidInput(
            "send an Idempotency-Key (1-200 printable characters)",
            code="idempotency_key_required",
            field="Idempotency-Key",
        )
    return key


def _stored(conn: Connection, caller: str, key: str) -> Any:
    return conn.execute(select(ik).where(ik.c.caller == caller, ik.c.key == key)).mappings().first()


def replay(row: Any, digest: str) -> dict[str, Any]:
    if row["request_sha256"] != digest:
        raise RuleViolation(
            "this idempotency key was used for a different request",
            code="idempotency_key_reused",
            field="Idempotency-Key",
        )
    if row["result"] is None:
        raise Conflict(
            "a request with this idempotency key is still in flight; retry",
            code="request_in_flight",
            field="Idempotency-Key",
        )
    result: dict[str, Any] = dict(row["result"])
    result["replayed"] = True
    return result


def run_once(
    db: Database,
    actor: Actor,
    key: str | None,
    operation: str,
    request: dict[str, Any],
    effect: Callable[[Connection], dict[str, Any]],
) -> dict[str, Any]:
    """Run `effect` once per (caller, key). Its result must be JSON-serialisable."""
    key = checked_key(key)
    caller, digest = caller_of(actor), request_hash(operation, request)
    with db.read() as conn:
        row = _stored(conn, caller, key)
    if row is not None:
        return replay(row, digest)
    try:
        with db.write() as conn:
            claim = ids.new_id()
            conn.execute(
                insert(ik).values(
                    id=claim,
                    caller=caller,
                    key=key,
                    operation=operation,
                    request_sha256=digest,
                    result=None,
                    created_at=clock.now(),
                )
            )
            result = effect(conn)
            conn.execute(update(ik).where(ik.c.id == claim).values(result=result))
            return {**result, "replayed": False}
    except IntegrityError as exc:
        if "idempotency_key" not in str(exc.orig):
            raise
    # Another request with this key committed first, while we waited: answer as it did.
    with db.read() as conn:
        row = _stored(conn, caller, key)
    if row is None:  # pragma: no cover - the conflicting claim was rolled back; let them retry
        raise Conflict(
            "a request with this idempotency key is in flight; retry",
            code="request_in_flight",
            field="Idempotency-Key",
        )
    return replay(row, digest)
