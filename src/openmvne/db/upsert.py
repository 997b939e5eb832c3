"""Insert a row unless one with the same key exists: get-or-create without a race."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert


def insert_ignore(
    conn: Connection, table: Table, values: Mapping[str, Any], key: Sequence[str]
) -> None:
    """INSERT … ON CONFLICT DO NOTHING. On PostgreSQL a concurrent insert of the same key
    is waited for, then this one does nothing: read the row afterwards either way."""
    make = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    conn.execute(make(table).values(**values).on_conflict_do_nothing(index_elements=list(key)))
