"""Records on the wire: one schema, Arrow IPC messages, and the split by partition.

A message is one Arrow IPC stream (schema + record batches) of a few thousand records of one
partition: decoding is zero-copy, and a worker concatenates a micro-batch's messages into
one table for `usage.rate_table` without touching a record in Python.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from openmvne.errors import InvalidInput
from openmvne.services.usage import (
    COLUMNS,
    CSV_OPTIONS,
    OPTIONAL,
    PARTITIONS,
    instant,
    whole_number,
)

SCHEMA = pa.schema(
    [
        ("node_id", pa.string()),
        ("seq", pa.int64()),
        ("msisdn", pa.string()),
        ("type", pa.string()),
        ("start_time", pa.timestamp("us", "UTC")),
        ("quantity", pa.int64()),
        ("direction", pa.string()),
        ("province", pa.string()),
        ("partial_seq", pa.int64()),
    ]
)
assert tuple(SCHEMA.names) == COLUMNS
RECORDS_PER_MESSAGE = 4_000
HEADER_RECORDS = "Openmvne-Records"

# Whatever the source holds is cast here the way the rater casts a file (usage.PARSE_SQL):
# a value that does not parse becomes NULL, and the rater quarantines the record with the
# reason a file would have given it (bad sequence number, bad start time, ...).
_CASTS = {
    "node_id": "CAST(node_id AS VARCHAR)",
    "seq": whole_number("seq"),
    "msisdn": "CAST(msisdn AS VARCHAR)",
    "type": "CAST(type AS VARCHAR)",
    "start_time": instant("start_time"),
    "quantity": whole_number("quantity"),
    "direction": "CAST(direction AS VARCHAR)",
    "province": "CAST(province AS VARCHAR)",
    # An empty one is a whole record (NULL, 0 to the rater); one that is no whole number is
    # -1, which the rater quarantines (bad partial sequence) as it would in a file.
    "partial_seq": (
        f"CASE WHEN partial_seq IS NOT NULL THEN COALESCE({whole_number('partial_seq')}, -1) END"
    ),
}


def _check_columns(names: Sequence[str], what: str) -> None:
    missing = [c for c in COLUMNS if c not in names and c not in OPTIONAL]
    if missing:
        raise InvalidInput(
            f"{what} lacks the column(s) {', '.join(missing)}",
            code="missing_columns",
            field="files",
        )


def normalise(table: pa.Table) -> pa.Table:
    """The records in the wire schema (typed tables pass through, text is parsed)."""
    _check_columns(table.column_names, "the usage table")
    if all(
        name in table.column_names and table.schema.field(name).type == field.type
        for name, field in zip(SCHEMA.names, SCHEMA, strict=True)
    ):
        return table.select(list(SCHEMA.names)).cast(SCHEMA)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("incoming", table)
    columns = ", ".join(
        f"{_CASTS[c]} AS {c}" if c in table.column_names else f"NULL AS {c}" for c in COLUMNS
    )
    return _arrow(con, f"SELECT {columns} FROM incoming").cast(SCHEMA)  # noqa: S608  # our column names


def _arrow(con: duckdb.DuckDBPyConnection, sql: str) -> pa.Table:
    table = con.sql(sql).to_arrow_table()
    assert table is not None
    return table


def read_files(paths: Sequence[Path]) -> pa.Table:
    """Usage files (CSV or Parquet, docs/usage-records.md) as one table in the wire schema."""
    parts = []
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for path in paths:
        if not path.exists():
            raise InvalidInput(f"no such file: {path}", code="file_missing", field="files")
        quoted = str(path).replace("'", "''")
        if path.suffix.lower() in (".parquet", ".pq"):
            source = f"read_parquet('{quoted}')"
        else:
            source = f"read_csv('{quoted}', {CSV_OPTIONS})"
        try:
            table = _arrow(con, f"SELECT * FROM {source}")  # noqa: S608  # quoted path
        except duckdb.Error as exc:
            raise InvalidInput(
                f"{path.name} is not a readable CSV or Parquet file", code="bad_file", field="files"
            ) from exc
        _check_columns(table.column_names, path.name)
        parts.append(normalise(table))
    return pa.concat_tables(parts) if parts else SCHEMA.empty_table()


def partitions_of(msisdn: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """`usage.partition_of` for a whole column: int(msisdn) % 16. A number that is not digits
    (the rater quarantines it) goes to partition 0."""
    text = pc.fill_null(msisdn, "")
    digits = pc.match_substring_regex(text, "^[0-9]{1,18}$")
    # 10^4 is a multiple of 16: the last four digits decide the remainder.
    tail = pc.utf8_slice_codeunits(pc.if_else(digits, text, "0"), start=-4)
    numbers = pc.cast(tail, pa.int64()).to_numpy(zero_copy_only=False)
    flags = digits.to_numpy(zero_copy_only=False).astype(bool)
    return np.where(flags, numbers % PARTITIONS, 0).astype(np.int64)


@dataclass(frozen=True)
class Message:
    partition: int
    records: int
    payload: bytes

    @property
    def msg_id(self) -> str:
        """The message's identity for JetStream's duplicate window: its content hash, so the
        same records published again in the same messages are stored once."""
        return hashlib.blake2b(self.payload, digest_size=16).hexdigest()


def encode(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, SCHEMA) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def decode(payload: bytes) -> pa.Table:
    with pa.ipc.open_stream(payload) as reader:
        table = reader.read_all()
    if table.schema != SCHEMA:
        table = normalise(table)
    return table


def split(
    table: pa.Table, *, per_message: int = RECORDS_PER_MESSAGE, max_bytes: int = 1 << 20
) -> Iterator[Message]:
    """The records by partition, in their order within a partition, as messages of at most
    `per_message` records and `max_bytes` bytes."""
    table = normalise(table)
    if table.num_rows == 0:
        return
    parts = partitions_of(table.column("msisdn"))
    order = np.argsort(parts, kind="stable")
    ordered = table.take(pa.array(order))
    counts = np.bincount(parts, minlength=PARTITIONS)
    offset = 0
    for partition, count in enumerate(counts.tolist()):
        for start in range(0, count, per_message):
            size = min(per_message, count - start)
            yield from _fit(partition, ordered.slice(offset + start, size), max_bytes)
        offset += count


def _fit(partition: int, chunk: pa.Table, max_bytes: int) -> Iterator[Message]:
    payload = encode(chunk)
    if len(payload) <= max_bytes or chunk.num_rows == 1:
        yield Message(partition, chunk.num_rows, payload)
        return
    half = chunk.num_rows // 2
    yield from _fit(partition, chunk.slice(0, half), max_bytes)
    yield from _fit(partition, chunk.slice(half), max_bytes)
