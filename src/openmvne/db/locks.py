"""Explicit per-object locks for allocation and exclusivity checks.

PostgreSQL: transaction-scoped advisory locks, taken in sorted order so two writers never
deadlock, bounded by the transaction's lock_timeout (db/engine.py). SQLite: the write
transaction already holds the database's single write lock (BEGIN IMMEDIATE), so there is
nothing more to take.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import Connection, text

# Switched off only by the concurrency tests that prove the race exists without it.
enabled = True


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for a lock name (advisory locks take a bigint)."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def lock(conn: Connection, *names: str) -> None:
    if not enabled or conn.dialect.name != "postgresql":
        return
    keys = sorted({lock_key(n) for n in names})
    if len(keys) == 1:
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": keys[0]})
    elif keys:
        # One round trip for many: unnest yields the array's order, and each lock is taken
        # as its row is produced, so the locks are taken in sorted order still.
        conn.execute(
            text("SELECT count(pg_advisory_xact_lock(k)) FROM unnest(CAST(:ks AS bigint[])) AS k"),
            {"ks": keys},
        )
