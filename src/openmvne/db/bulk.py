"""Bulk writes inside the caller's transaction. Inserts: COPY on PostgreSQL (about 8x faster
than batched INSERTs for a million rows; binary, where every column has a binary form here),
one prepared INSERT run over all rows on SQLite.
Updates by key: one UPDATE joined to the rows as arrays on PostgreSQL, one prepared UPDATE run
over all rows on SQLite. Values are converted by each column's own type, once per value,
without the per-row statement machinery of `conn.execute(insert(table), rows)`."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

import psycopg
from sqlalchemy import JSON, Column, Connection, Table


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    columns = list(rows[0])
    names = ", ".join(f'"{c}"' for c in columns)  # names from our own tables
    get = itemgetter(*columns) if len(columns) > 1 else lambda row: (row[columns[0]],)
    if conn.dialect.name != "postgresql":
        # Column by column: each column's conversion mapped over its values.
        values = list(zip(*map(get, rows), strict=True))
        for i, column in enumerate(columns):
            convert = to_driver(conn, table.c[column])
            if convert is not _same:
                values[i] = _converted(convert, values[i])
        marks = ", ".join("?" * len(columns))
        conn.exec_driver_sql(
            f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})',  # noqa: S608
            list(zip(*values, strict=True)),
        )
        return
    as_json = [i for i, c in enumerate(columns) if isinstance(table.c[c].type, JSON)]
    raw = conn.connection.dbapi_connection
    assert isinstance(raw, psycopg.Connection)  # PostgreSQL runs on psycopg 3 here
    types = binary_types(conn, table, columns)
    binary = " (FORMAT BINARY)" if types is not None else ""
    statement = f'COPY "{table.name}" ({names}) FROM STDIN{binary}'
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        if types is not None:
            copy.set_types(types)
        for row in rows:
            values_ = get(row)
            if as_json:
                values_ = tuple(
                    json.dumps(v) if i in as_json and v is not None else v
                    for i, v in enumerate(values_)
                )
            copy.write_row(values_)


# PostgreSQL's type for each column type of ours, for binary COPY: the server reads each
# field with the column's own binary input, so the type must be the column's exactly (an
# int8 into an int4 column is refused). A JSON column takes its JSON text as is.
_BINARY = {
    "UUID": "uuid",
    "TEXT": "text",
    "VARCHAR": "text",
    "SMALLINT": "int2",
    "INTEGER": "int4",
    "BIGINT": "int8",
    "BOOLEAN": "bool",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "DATE": "date",
    "BYTEA": "bytea",
    "JSON": "text",
}
_binary_cache: dict[tuple[Table, tuple[str, ...]], list[str] | None] = {}


def binary_types(conn: Connection, table: Table, columns: Sequence[str]) -> list[str] | None:
    """The types to COPY these columns in binary, or None when one has no binary form here
    (then COPY goes as text). Binary COPY is about 5x cheaper for the client than text: no
    value is formatted as text and escaped (50,000 rows of 18 columns: 0.5 s -> 0.1 s)."""
    key = (table, tuple(columns))  # the Table itself: two tables may share a name
    if key not in _binary_cache:
        names = [table.c[c].type.compile(dialect=conn.dialect) for c in columns]
        found = [_BINARY.get(n.split("(")[0]) for n in names]
        _binary_cache[key] = None if None in found else [f for f in found if f is not None]
    return _binary_cache[key]


def update_rows(
    conn: Connection, table: Table, keys: Sequence[str], rows: Sequence[dict[str, Any]]
) -> None:
    """Set each row's columns other than `keys` on the table row its `keys` name (every row
    has the same columns). On PostgreSQL the rows go as one binary array per column, joined
    to the table by its key: one statement, where an executemany runs one per row (a rating
    batch's 50,000 period rows: its postings' write 2.25 s -> 1.29 s)."""
    if not rows:
        return
    columns = list(rows[0])
    sets = [c for c in columns if c not in keys]
    values = list(zip(*map(itemgetter(*columns), rows), strict=True))
    for i, column in enumerate(columns):
        convert = to_driver(conn, table.c[column])
        if convert is not _same:
            values[i] = _converted(convert, values[i])
    if conn.dialect.name == "postgresql":
        types = [table.c[c].type.compile(dialect=conn.dialect) for c in columns]
        arrays = ", ".join(f"%b::{type_}[]" for type_ in types)
        names = ", ".join(f'"{c}"' for c in columns)
        assign = ", ".join(f'"{c}" = v."{c}"' for c in sets)
        match = " AND ".join(f't."{k}" = v."{k}"' for k in keys)
        conn.exec_driver_sql(
            f'UPDATE "{table.name}" AS t SET {assign} FROM unnest({arrays}) AS v({names}) '  # noqa: S608  # names of our own tables
            f"WHERE {match}",
            tuple(list(column) for column in values),
        )
        return
    assign = ", ".join(f'"{c}" = ?' for c in sets)
    match = " AND ".join(f'"{k}" = ?' for k in keys)
    order = [columns.index(c) for c in (*sets, *keys)]
    conn.exec_driver_sql(
        f'UPDATE "{table.name}" SET {assign} WHERE {match}',  # noqa: S608  # our own tables
        list(zip(*(values[i] for i in order), strict=True)),
    )


def _converted(convert: Callable[[Any], Any], column: tuple[Any, ...]) -> tuple[Any, ...]:
    """A column's values converted; a value every row shares (a batch's time, its MVNO, its
    reference) only once."""
    first = column[0]
    if first == column[-1] and column.count(first) == len(column):
        return (convert(first),) * len(column)
    return tuple(map(convert, column))


def to_driver(conn: Connection, column: Column[Any]) -> Callable[[Any], Any]:
    """What the driver takes for a value of `column` (a UUID as text on SQLite), for
    statements run through the driver (`exec_driver_sql`)."""
    process = column.type._cached_bind_processor(conn.dialect)
    return process if process is not None else _same


def _same(value: Any) -> Any:
    return value
