"""Running the vectorised rating statement (domain/rating.py) on DuckDB over Arrow tables."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC
from operator import attrgetter

import duckdb
import pyarrow as pa

from openmvne.domain.rating import (
    ENGINE_SQL,
    FOREVER,
    GROUPS_SQL,
    LINE_TOTALS_SQL,
    Rated,
    Record,
    Terms,
    period_of,
)

SPANS = "no_charge_spans"  # a table of its own: `barring`
TERMS_FIELDS = [f.name for f in fields(Terms) if f.name != SPANS]
BOOL_FIELDS = {f.name for f in fields(Terms) if f.type in (bool, "bool")}
RECORD_FIELDS = [f.name for f in fields(Record)]
RATED_COLUMNS = [
    *RECORD_FIELDS,
    "period",
    "units",
    "in_allowance",
    "overage",
    "billed_overage",
    "charge_exact",
    "wholesale_exact",
]


def records_table(records: list[Record]) -> pa.Table:
    columns = {name: [getattr(r, name) for r in records] for name in RECORD_FIELDS}
    table = pa.table(
        {
            **columns,
            "start_time": pa.array(columns["start_time"], pa.timestamp("us", tz="UTC")),
            "seq": pa.array(columns["seq"], pa.int64()),
            "quantity": pa.array(columns["quantity"], pa.int64()),
            "partial_seq": pa.array(columns["partial_seq"], pa.int64()),
        }
    )
    return table.append_column("period", pa.array([period_of(r.start_time) for r in records]))


def terms_table(terms: dict[tuple[str, str], Terms]) -> pa.Table:
    keys = list(terms)
    get = attrgetter(*TERMS_FIELDS)
    # One tuple per line and period, turned into columns at C speed (50,000 lines a batch).
    columns = list(zip(*map(get, terms.values()), strict=True)) or [() for _ in TERMS_FIELDS]
    data: dict[str, object] = {
        "msisdn": [k[0] for k in keys],
        "period": [k[1] for k in keys],
    }
    for name, values in zip(TERMS_FIELDS, columns, strict=True):
        data[name] = pa.array(values, pa.bool_() if name in BOOL_FIELDS else pa.int64())
    return pa.table(data)


BARRING_SCHEMA = pa.schema(
    [
        ("msisdn", pa.string()),
        ("period", pa.string()),
        ("since", pa.timestamp("us", tz="UTC")),
        ("until", pa.timestamp("us", tz="UTC")),
    ]
)


def barring_table(terms: dict[tuple[str, str], Terms]) -> pa.Table:
    """The spans in which the lines were barred for missing real-name registration, a row
    each, beside each (msisdn, period) they belong to (nearly always none)."""
    rows = [
        {"msisdn": msisdn, "period": period, "since": since, "until": until or FOREVER}
        for (msisdn, period), term in terms.items()
        for since, until in term.no_charge_spans
    ]
    return pa.Table.from_pylist(rows, schema=BARRING_SCHEMA)


def _loaded(
    records: list[Record], terms: dict[tuple[str, str], Terms]
) -> duckdb.DuckDBPyConnection:
    """A connection with the inputs registered and their `groups` table made."""
    con = duckdb.connect()
    con.register("records", records_table(records))
    con.register("terms", terms_table(terms))
    con.register("barring", barring_table(terms))
    con.execute(f"CREATE TABLE groups AS {GROUPS_SQL}")
    return con


def rate_vectorised(records: list[Record], terms: dict[tuple[str, str], Terms]) -> list[Rated]:
    """The engine on in-memory inputs (tests and the benchmark's equality check)."""
    rows = _loaded(records, terms).execute(ENGINE_SQL).fetchall()
    out = []
    for row in rows:
        values = dict(zip(RATED_COLUMNS, row, strict=True))
        record = Record(**{name: values[name] for name in RECORD_FIELDS})
        record = Record(**{**record.__dict__, "start_time": record.start_time.astimezone(UTC)})
        out.append(
            Rated(
                record,
                values["period"],
                values["units"],
                values["in_allowance"],
                values["overage"],
                values["billed_overage"],
                int(values["charge_exact"]),
                int(values["wholesale_exact"]),
            )
        )
    return out


def line_totals(
    records: list[Record], terms: dict[tuple[str, str], Terms]
) -> dict[tuple[str, str], tuple[int, ...]]:
    """LINE_TOTALS_SQL on in-memory inputs, by (msisdn, period): records, voice seconds,
    SMS, data KB, data KB over the allowance, exact charge, exact wholesale cost."""
    rows = _loaded(records, terms).execute(LINE_TOTALS_SQL).fetchall()
    return {(row[0], row[1]): tuple(int(v) for v in row[2:]) for row in rows}
