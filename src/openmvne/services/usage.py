"""Batch rating: usage files (CSV or Parquet, docs/usage-records.md) rated exactly once.

One batch is one database transaction: the claim of its record ids, the lines' period
totals, the ledger postings and the batch's own row commit together, or not at all. So a
file rated twice, overlapping files and replays rate each record once, and a rater killed
mid-batch leaves nothing behind: the next run rates the whole batch.

Claims: record ids are (node id, sequence number). Each node's sequence numbers are kept as
roaring bitmaps, one per 65,536 numbers and per partition of the subscriber space, so a batch
claims millions of ids by reading and writing a few hundred small rows, and workers that own
different partitions never touch the same claim row.

Rated records are kept as Parquet files under the usage lake (`OPENMVNE_USAGE_DIR`), one
file per batch and billing period, written before the commit under a temporary name and
renamed after it; a batch whose commit happened but whose rename did not is finished by the
next run (`recover`).
"""

from __future__ import annotations

import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
from pyroaring import BitMap64
from sqlalchemy import Connection, bindparam, insert, literal, select, update

from openmvne import clock, heap, ids
from openmvne.db import bulk, bulk_read, locks
from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.db.listing import page
from openmvne.db.scoping import scoped, unscoped
from openmvne.db.upsert import insert_ignore
from openmvne.domain.access import Scope, ScopeKind
from openmvne.domain.ledger import AccountKind, TransferCode
from openmvne.domain.rating import (
    ENGINE_SQL,
    GROUPS_SQL,
    LINE_TOTALS_SQL,
    MAX_QUANTITY,
    future_limit,
    to_fen,
)
from openmvne.domain.settlement import add_months, check_month
from openmvne.domain.subscribers import local_date
from openmvne.errors import Conflict, InvalidInput, NotFound
from openmvne.services import ledger, lifecycle, usage_terms
from openmvne.services.lifecycle import SYSTEM
from openmvne.services.usage_engine import barring_table, terms_table

WHY = "rating works across every MVNO's lines"
PARTITIONS = 16
BLOCK_BITS = 16
MAX_REJECTS_KEPT = 10_000


# Every input column arrives as whatever the file holds and is cast here: a CSV (read as
# text) is parsed, a typed Parquet column passes through unchanged.
# The integer columns take whole numbers only: a cast alone rounds "1.4" to 1 (a sequence
# number made another record's id, a call's 60.4 s made 60 s). That check is made per source,
# where its type is known (`_source_columns`): an integer column is whole already, and the
# check costs about 0.5 s per 10 million records.
def whole_number(column: str) -> str:
    """SQL: the column as a BIGINT when it holds a whole number, else NULL (quarantined)."""
    return (
        f"CASE WHEN TRY_CAST({column} AS DECIMAL(38, 9)) = TRY_CAST({column} AS BIGINT) "
        f"THEN TRY_CAST({column} AS BIGINT) END"
    )


# A start time is an instant: ISO 8601 with its offset (docs/usage-records.md). Text
# without one ("2026-11-15 08:00:00", a network element's local time) was read as UTC, and a
# zone abbreviation as DuckDB guesses it ("CST": US Central, not China): hours off, across a
# month's end. So text must end its time with Z or ±hh[[:]mm]; a typed TIMESTAMP WITH TIME
# ZONE passes; a TIMESTAMP without time zone, local time of no stated zone, is refused too.
TIMESTAMPTZ = "TIMESTAMP WITH TIME ZONE"
OFFSET_RE = r"[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?(Z|[+-][0-9]{2}(:?[0-9]{2})?)\s*$"


def instant(column: str, typed: str | None = None) -> str:
    """SQL: the column as a TIMESTAMPTZ when it states its offset, else NULL (quarantined).
    With the source's type (`typed`), a column typed as instants passes as it is: the check
    of every row costs on millions of records."""
    if typed == TIMESTAMPTZ:
        return column
    return (
        f"CASE WHEN typeof({column}) = 'TIMESTAMP WITH TIME ZONE' "
        f"THEN TRY_CAST({column} AS TIMESTAMPTZ) "
        f"WHEN regexp_matches(CAST({column} AS VARCHAR), '{OFFSET_RE}') "
        f"THEN TRY_CAST({column} AS TIMESTAMPTZ) END"
    )


# Comma-separated, a line short of fields padded with NULLs: left to guess, the sniffer took
# a file with one truncated line for one of a single column.
CSV_OPTIONS = "header = true, all_varchar = true, delim = ',', null_padding = true"
PARSE_SQL = """
SELECT file_no, line_no,
  CAST(node_id AS VARCHAR) AS node_id,
  TRY_CAST(seq AS BIGINT) AS seq,
  CAST(msisdn AS VARCHAR) AS msisdn,
  lower(CAST(type AS VARCHAR)) AS type,
  TRY_CAST(start_time AS TIMESTAMPTZ) AS start_time,
  TRY_CAST(quantity AS BIGINT) AS quantity,
  lower(CAST(direction AS VARCHAR)) AS direction,
  COALESCE(CAST(province AS VARCHAR), '') AS province,
  TRY_CAST(partial_seq AS BIGINT) AS partial_seq
FROM raw
"""
# A file's node ids are at most this long; longer ones are online charging's (ONLINE_NODE).
NODE_ID_MAX = 32
# Sequence numbers are below 2**56 (docs/usage-records.md): a claim row's block keeps the
# partition above bit 40 and a sequence number's top 40 bits below it.
SEQ_LIMIT = 1 << 56
CHECK_SQL = f"""
SELECT *,
  CASE
    WHEN node_id IS NULL OR length(node_id) = 0 OR length(node_id) > {NODE_ID_MAX}
      THEN 'bad node id'
    WHEN seq IS NULL OR seq < 0 OR seq >= {SEQ_LIMIT} THEN 'bad sequence number'
    WHEN msisdn IS NULL OR NOT regexp_full_match(msisdn, '1[0-9]{{10}}') THEN 'bad MSISDN'
    WHEN type IS NULL OR type NOT IN ('voice', 'sms', 'data') THEN 'unknown type'
    WHEN start_time IS NULL THEN 'bad start time'
    WHEN start_time > $limit THEN 'start time in the future'
    WHEN quantity IS NULL OR quantity < 0 THEN 'negative or missing quantity'
    WHEN quantity > CASE type {" ".join(f"WHEN '{k}' THEN {v}" for k, v in MAX_QUANTITY.items())}
      END THEN 'quantity too large'
    WHEN direction IS NULL OR direction NOT IN ('mo', 'mt') THEN 'bad direction'
    WHEN partial_seq IS NULL OR partial_seq < 0 THEN 'bad partial sequence'
  END AS reason
FROM parsed
"""  # noqa: S608  # constant text
COLUMNS = (
    "node_id",
    "seq",
    "msisdn",
    "type",
    "start_time",
    "quantity",
    "direction",
    "province",
    "partial_seq",
)


@dataclass
class BatchResult:
    batch_id: uuid.UUID | None
    records_in: int = 0
    duplicates: int = 0
    rejected: int = 0
    rated: int = 0
    charged_fen: int = 0
    unpaid_fen: int = 0
    wholesale_fen: int = 0
    lines: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    files: list[str] = field(default_factory=list)
    late: int = 0  # records of a settled month, rated in the next open month

    def as_dict(self) -> dict[str, Any]:
        return {
            "batchId": ids.to_public("rating_batch", self.batch_id) if self.batch_id else None,
            "recordsIn": self.records_in,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "rated": self.rated,
            "chargedFen": self.charged_fen,
            "unpaidFen": self.unpaid_fen,
            "wholesaleFen": self.wholesale_fen,
            "marginFen": self.charged_fen - self.wholesale_fen,
            "lines": self.lines,
            "late": self.late,
            "rejectReasons": dict(self.reasons),
        }


def partition_of(msisdn: str) -> int:
    return int(msisdn) % PARTITIONS


def lake_dir(root: str | Path) -> Path:
    path = Path(root).resolve()  # batches record absolute paths: any process can read them
    path.mkdir(parents=True, exist_ok=True)
    return path


# --- loading ------------------------------------------------------------------------------


OPTIONAL = ("province", "partial_seq")
_WHOLE = ("seq", "quantity", "partial_seq")
_INTEGER_TYPES = frozenset(
    {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT"}
    | {"UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT"}
)


def _duckdb_type(arrow: pa.DataType) -> str:
    """The DuckDB type an Arrow column reads as, for the types `_source_columns` tells apart."""
    if pa.types.is_integer(arrow):
        return "BIGINT"
    if pa.types.is_timestamp(arrow):
        return TIMESTAMPTZ if arrow.tz else "TIMESTAMP"
    return str(arrow)


def _source_columns(types: dict[str, str]) -> str:
    """One source's columns (name: DuckDB type) as the rater reads them: an absent one NULL
    (an absent partial sequence 0: a whole record), the integer ones whole numbers or NULL
    (quarantined), checked only where the source is not typed as integers, the start time an
    instant or NULL, checked only where it is not typed as instants."""
    out = []
    for c in COLUMNS:
        typed = types.get(c)
        if typed is None:
            out.append(f"{0 if c == 'partial_seq' else 'NULL'} AS {c}")
        elif c == "start_time":
            out.append(f"{instant(c, typed)} AS {c}")
        elif c not in _WHOLE:
            out.append(c)
        else:
            value = c if typed in _INTEGER_TYPES else whole_number(c)
            if c == "partial_seq":  # an empty cell is a whole record too
                value = f"CASE WHEN {c} IS NULL THEN 0 ELSE {value} END"
            out.append(f"{value} AS {c}")
    return ", ".join(out)


def load(con: duckdb.DuckDBPyConnection, paths: Sequence[Path]) -> None:
    """Read the files into `raw` (with line numbers), however they are typed. A missing
    required column, or a file that is not CSV or Parquet, is refused whole."""
    parts = []
    for i, path in enumerate(paths):
        if not path.exists():
            raise InvalidInput(f"no such file: {path}", code="file_missing", field="files")
        quoted = str(path).replace("'", "''")
        if path.suffix.lower() in (".parquet", ".pq"):
            # The reader numbers the rows itself, in parallel; row_number() would not be.
            source = f"read_parquet('{quoted}', file_row_number = true)"
            line_no, first_line = "file_row_number", 1
        else:
            source = f"read_csv('{quoted}', {CSV_OPTIONS})"
            line_no, first_line = "row_number() OVER () - 1", 2  # after the header
        try:
            described = con.execute(f"DESCRIBE SELECT * FROM {source}")  # noqa: S608  # quoted path
            types = {row[0]: str(row[1]) for row in described.fetchall()}
        except duckdb.Error as exc:
            raise InvalidInput(
                f"{path.name} is not a readable CSV or Parquet file", code="bad_file", field="files"
            ) from exc
        missing = [c for c in COLUMNS if c not in types and c not in OPTIONAL]
        if missing:
            raise InvalidInput(
                f"{path.name} lacks the column(s) {', '.join(missing)}",
                code="missing_columns",
                field="files",
            )
        columns = _source_columns(types)
        parts.append(
            f"SELECT {i} AS file_no, {line_no} + {first_line} AS line_no, "  # noqa: S608  # numbers and quoted paths of ours
            f"{columns} FROM {source}"
        )
    try:
        _check(con, " UNION ALL BY NAME ".join(parts))
    except duckdb.Error as exc:
        raise InvalidInput(
            f"a file could not be read: {str(exc).splitlines()[0]}", code="bad_file", field="files"
        ) from exc


def _check(con: duckdb.DuckDBPyConnection, raw_sql: str) -> None:
    """Parse and check the raw records into `good`, in one pass over the input: each row's
    refusal `reason` (NULL for a good one) and its own billing `period`. Views, not tables,
    until then: materialising 10 million rows a step costs more than the checks."""
    con.execute(f"CREATE OR REPLACE VIEW raw AS {raw_sql}")
    con.execute(f"CREATE OR REPLACE VIEW parsed AS {PARSE_SQL}")
    con.execute(CALENDAR_SQL)
    con.execute(
        f"CREATE OR REPLACE TABLE good AS SELECT c.*, COALESCE(d.period, {OWN_PERIOD}) AS period "  # noqa: S608  # constant text
        f"FROM ({CHECK_SQL}) c LEFT JOIN calendar d ON d.day = {BEIJING_DAY}",
        {"limit": future_limit(clock.now())},
    )


def _claim_groups(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, int], np.ndarray]:
    """The batch's record ids, grouped by claim row (node, partition·block), as offsets."""
    claim_sql = f"""SELECT node_id, (CAST(msisdn AS BIGINT) % {PARTITIONS}) * {1 << 40}
                   + (seq >> {BLOCK_BITS}) AS block,
                   list(seq & {(1 << BLOCK_BITS) - 1}) AS offsets
            FROM good GROUP BY ALL"""  # noqa: S608  # constants of ours
    # As Arrow: each group's offsets are a slice of one array, never a Python list.
    table = con.sql(claim_sql).to_arrow_table()
    nodes = table.column("node_id").to_pylist()
    blocks = table.column("block").to_pylist()
    groups: dict[tuple[str, int], np.ndarray] = {}
    row = 0
    for chunk in table.column("offsets").chunks:
        flat = chunk.values.to_numpy().astype(np.uint64)
        bounds = chunk.offsets.to_numpy()  # positions in the chunk's (unsliced) values
        for i in range(len(chunk)):
            groups[(nodes[row], int(blocks[row]))] = flat[bounds[i] : bounds[i + 1]]
            row += 1
    return groups


def _repeats(
    groups: dict[tuple[str, int], np.ndarray], fresh: dict[tuple[str, int], BitMap64]
) -> int:
    """How many records repeat a record id (node, sequence number) of the same batch, whatever
    their numbers: the claim rows split ids by the number's partition, so ids are merged
    across partitions first."""
    ids_: dict[tuple[str, int], BitMap64] = {}
    for (node, block), bitmap in fresh.items():
        key = (node, block % (1 << 40))
        ids_[key] = ids_[key] | bitmap if key in ids_ else bitmap
    return sum(len(o) for o in groups.values()) - sum(len(b) for b in ids_.values())


def _claim(
    conn: Connection, con: duckdb.DuckDBPyConnection
) -> tuple[int, list[dict[str, Any]], list[dict[str, Any]]]:
    """Take out the records repeated in the batch and those claimed by earlier batches;
    return (duplicates, new claim rows, changed claim rows)."""
    groups = _claim_groups(con)
    if not groups:
        return 0, [], []
    fresh = {key: BitMap64(offsets) for key, offsets in groups.items()}
    repeats = _repeats(groups, fresh)
    if repeats:  # the same record id twice in the batch: keep the first
        con.execute(
            "CREATE OR REPLACE TABLE good AS SELECT * FROM good QUALIFY row_number() OVER "
            "(PARTITION BY node_id, seq ORDER BY file_no, line_no) = 1"
        )
        groups = _claim_groups(con)
        fresh = {key: BitMap64(offsets) for key, offsets in groups.items()}
    # One lock per (node, partition), not per block: a transaction may take only so many.
    locks.lock(conn, *sorted({f"usage-claim:{node}:{block >> 40}" for node, block in groups}))
    uc = t.usage_claim
    stored: dict[tuple[str, int], BitMap64] = {}
    nodes = sorted({node for node, _ in groups})
    for start in range(0, len(nodes), 1000):
        rows = conn.execute(
            select(uc.c.node_id, uc.c.block, uc.c.bitmap).where(
                uc.c.node_id.in_(nodes[start : start + 1000])
            )
        ).all()
        for row in rows:
            if (row.node_id, row.block) in groups:
                stored[(row.node_id, row.block)] = BitMap64.deserialize(row.bitmap)
    seen_nodes: list[str] = []
    seen_seqs: list[np.ndarray] = []
    inserts, updates = [], []
    for (node, block), ours in fresh.items():
        before = stored.get((node, block))
        if before is not None:
            seen = ours & before
            if seen:
                base = (block % (1 << 40)) << BLOCK_BITS
                seen_nodes.append(node)
                seen_seqs.append(np.frombuffer(seen.to_array(), dtype=np.uint64) + base)
            merged = before | ours
            updates.append(
                {"n": node, "b": block, "bitmap": merged.serialize(), "count": len(merged)}
            )
        else:
            inserts.append(
                {"node_id": node, "block": block, "bitmap": ours.serialize(), "count": len(ours)}
            )
    claimed_before = sum(len(seqs) for seqs in seen_seqs)
    if claimed_before:
        # Node ids dictionary-encoded: one string per claim row, not one per record.
        which = np.repeat(np.arange(len(seen_nodes)), [len(seqs) for seqs in seen_seqs])
        con.register(
            "seen",
            pa.table(
                {
                    "node_id": pa.DictionaryArray.from_arrays(which, pa.array(seen_nodes)),
                    "seq": pa.array(np.concatenate(seen_seqs).astype(np.int64)),
                }
            ),
        )
        con.execute(
            "DELETE FROM good USING seen WHERE good.node_id = seen.node_id AND good.seq = seen.seq"
        )
    return repeats + claimed_before, inserts, updates


def _write_claims(
    conn: Connection, inserts: list[dict[str, Any]], updates: list[dict[str, Any]]
) -> None:
    uc = t.usage_claim
    if inserts:
        conn.execute(insert(uc), inserts)
    if updates:
        conn.execute(
            update(uc)
            .where(uc.c.node_id == bindparam("n"), uc.c.block == bindparam("b"))
            .values(bitmap=bindparam("bitmap"), count=bindparam("count")),
            updates,
        )


# --- rating ---------------------------------------------------------------------------------

# The billing period a record is rated in: its own month (Beijing calendar), or, for a late
# record of a month already settled, the first open month after it (_defer_closed_months).
OWN_PERIOD = "strftime(CAST(start_time AS TIMESTAMP) + INTERVAL 8 HOUR, '%Y-%m')"
# Formatting that string for every record took a third of loading 10 M records (1.15 s); the
# Beijing day number is integer arithmetic, so each record looks its month up by its day in
# a small calendar (2000 to 2100), formatted once per day. A day outside it is formatted.
BEIJING_DAY = "(epoch_us(c.start_time) + 28800000000) // 86400000000"
CALENDAR_SQL = f"""
CREATE OR REPLACE TABLE calendar AS
SELECT day, {OWN_PERIOD.replace("start_time", "to_timestamp(day * 86400)")} AS period
FROM range(10957, 47482) AS days(day)
"""  # noqa: S608  # constant text
RECORDS_VIEW = """
CREATE OR REPLACE VIEW records AS
SELECT node_id, seq, msisdn, type, start_time, quantity, direction, province, partial_seq,
  period
FROM good
"""


def _line_totals(
    con: duckdb.DuckDBPyConnection, terms: dict[tuple[str, str], usage_terms.LineTerms]
) -> list[tuple[Any, ...]]:
    """Put the batch's terms beside its records, sum each line's usage per period and type
    into `groups` (GROUPS_SQL), and return what each line owes per period: the rows the
    ledger is posted from. Tables, not registered views, so that the lake writer's cursor
    sees them too."""
    by_key = {k: v.terms for k, v in terms.items()}
    for name, table in (("terms", terms_table(by_key)), ("barring", barring_table(by_key))):
        con.register(f"{name}_in", table)
        con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM {name}_in")  # noqa: S608  # our names
        con.unregister(f"{name}_in")
    con.execute(RECORDS_VIEW)
    con.execute(f"CREATE OR REPLACE TABLE groups AS {GROUPS_SQL}")
    return con.execute(LINE_TOTALS_SQL).fetchall()


def _periods(totals: list[tuple[Any, ...]]) -> list[str]:
    return sorted({row[1] for row in totals})


@dataclass
class _Posting:
    moves: list[ledger.Move] = field(default_factory=list)
    period_inserts: list[dict[str, Any]] = field(default_factory=list)
    period_updates: list[dict[str, Any]] = field(default_factory=list)
    debts: dict[uuid.UUID, int] = field(default_factory=lambda: defaultdict(int))
    exhausted: set[uuid.UUID] = field(default_factory=set)
    costs: dict[tuple[uuid.UUID, uuid.UUID, str], int] = field(
        default_factory=lambda: defaultdict(int)
    )


_BALANCE = ("debits_posted", "credits_posted", "debits_pending", "credits_pending")


def _accounts(
    conn: Connection,
    kind: AccountKind,
    keys: dict[str, tuple[uuid.UUID | None, uuid.UUID | None, str | None]],
) -> dict[str, dict[str, Any]]:
    """Accounts (id and balance) by caller's key, locked on PostgreSQL (rating sizes debits
    to what they hold)."""
    la = t.ledger_account
    natural = dict(zip(keys, ledger.natural_keys(kind, keys.values()), strict=True))
    columns = [la.c.id, la.c.natural_key, *(la.c[name] for name in _BALANCE)]
    rows = bulk_read.rows_where_in(
        conn, columns, la.c.natural_key, sorted(set(natural.values())), why=WHY, lock_by=la.c.id
    )
    names = [c.name for c in columns]
    by_natural = {row[1]: dict(zip(names, row, strict=True)) for row in rows}
    out = {}
    for key, nk in natural.items():
        row = by_natural.get(nk)
        if row is None:
            mvno, owner, msisdn = keys[key]
            row = ledger.account(conn, kind, mvno_id=mvno, owner_id=owner, msisdn=msisdn)
        out[key] = row
    return out


def _prepaid(conn: Connection, lines: Iterable[usage_terms.Line]) -> dict[str, dict[str, Any]]:
    """The lines' prepaid accounts by number, locked on PostgreSQL, taken before the lines'
    usage is read. A charging batch holds a line's account while it adds to the line's usage
    (charging_batch.py), so what rating reads after this is what that batch committed, and
    no batch adds to it before this one commits: rating writes a period's totals, not
    increments, and would write over what it had not seen."""
    return _accounts(
        conn,
        AccountKind.SUBSCRIBER_PREPAID,
        {line.msisdn: (line.mvno_id, None, line.msisdn) for line in lines},
    )


def _post_totals(
    conn: Connection,
    totals: list[tuple[Any, ...]],
    terms: dict[tuple[str, str], usage_terms.LineTerms],
    prepaid: dict[str, dict[str, Any]],
    reference: str,
    *,
    replace: bool = False,
) -> tuple[_Posting, int, int]:
    """Turn per line-period totals into postings, debiting the lines' `prepaid` accounts.
    `replace`: the totals are the period's whole (rerating), not an addition to what was
    rated before."""
    posting = _Posting()
    lines = {lt.line.msisdn: lt.line for lt in terms.values()}
    # Locked after the lines' accounts and before the usage costs: the lock order online
    # charging and recharges keep too (docs/money.md).
    revenue = _accounts(
        conn,
        AccountKind.MVNO_REVENUE,
        {str(m): (m, None, None) for m in {line.mvno_id for line in lines.values()}},
    )
    revenue_of = {m: revenue[str(m)]["id"] for m in {line.mvno_id for line in lines.values()}}
    taken: dict[str, int] = defaultdict(int)
    charged = unpaid_total = 0
    now = clock.now()
    for msisdn, period, records, voice_s, sms, data_kb, data_over, charge, wholesale in totals:
        lt = terms[(msisdn, period)]
        line, row = lt.line, lt.existing
        before = row["charge_exact"] if row else 0
        after = int(charge) if replace else before + int(charge)
        due = to_fen(after) - to_fen(before)
        account = prepaid[msisdn]
        if due >= 0:
            available = ledger.balance(account).available - taken[msisdn]
            pay = min(due, available)
            owed = due - pay
            taken[msisdn] += pay
            posting.moves.append(
                ledger.Move(
                    account["id"],
                    revenue_of[line.mvno_id],
                    pay,
                    TransferCode.USAGE_ADJUST if replace else TransferCode.USAGE,
                    reference,
                    line.mvno_id,
                )
            )
            if owed:
                posting.debts[line.id] += owed
            if due and available - pay <= 0:
                posting.exhausted.add(line.id)
        else:  # a rerating found the period cheaper: what was unpaid is forgiven first
            back = -due
            forgiven = min(back, row["unpaid_fen"] if row else 0)
            if forgiven:
                posting.debts[line.id] -= forgiven
            if back - forgiven:
                posting.moves.append(
                    ledger.Move(
                        revenue_of[line.mvno_id],
                        account["id"],
                        back - forgiven,
                        TransferCode.USAGE_ADJUST,
                        reference,
                        line.mvno_id,
                    )
                )
            pay, owed = -(back - forgiven), -forgiven
        charged += pay
        unpaid_total += owed
        w_before = row["wholesale_exact"] if row else 0
        w_after = int(wholesale) if replace else w_before + int(wholesale)
        posting.costs[(line.mvno_id, line.host_id, period)] += w_after - w_before
        used = {
            "voice_used_s": int(voice_s),
            "sms_used": int(sms),
            "data_used_kb": int(data_kb),
            "data_over_kb": int(data_over),
        }
        if row is None:
            posting.period_inserts.append(
                {
                    "subscription_id": line.id,
                    "period": period,
                    "mvno_id": line.mvno_id,
                    "msisdn": msisdn,
                    "voice_allow_s": lt.allowances[0],
                    "sms_allow": lt.allowances[1],
                    "data_allow_kb": lt.allowances[2],
                    "rollover_kb": lt.allowances[3],
                    **used,
                    "records": int(records),
                    "charge_exact": after,
                    "charged_fen": to_fen(after),
                    "unpaid_fen": owed,
                    "wholesale_exact": w_after,
                    "updated_at": now,
                }
            )
        else:
            if not replace:
                used = {k: row[k] + v for k, v in used.items()}
            posting.period_updates.append(
                {
                    "subscription_id": line.id,
                    "period": period,
                    **used,
                    "records": int(records) + (0 if replace else row["records"]),
                    "charge_exact": after,
                    "charged_fen": to_fen(after),
                    "unpaid_fen": row["unpaid_fen"] + owed,
                    "wholesale_exact": w_after,
                    "updated_at": now,
                }
            )
    return posting, charged, unpaid_total


def _apply(conn: Connection, posting: _Posting, reference: str) -> int:
    """Write the postings; returns the wholesale fen posted."""
    up = t.usage_period
    bulk.insert_rows(conn, up, posting.period_inserts)
    bulk.update_rows(conn, up, ("subscription_id", "period"), posting.period_updates)
    moves, wholesale_fen = wholesale_costs(conn, posting.costs, reference)
    ledger.post_many(conn, [*posting.moves, *moves])
    sub = t.subscription
    if posting.debts:
        conn.execute(
            update(sub)
            .where(sub.c.id == bindparam("sid"))
            .values(debt_fen=sub.c.debt_fen + bindparam("owed")),
            [
                {"sid": k, "owed": posting.debts[k]}
                for k in usage_terms.in_order(posting.debts)
                if posting.debts[k]
            ],
        )
    for line_id in usage_terms.in_order(posting.exhausted):
        lifecycle.exhausted(conn, SYSTEM, line_id)
    return wholesale_fen


ucost = t.usage_cost
_THE_TOTAL = (
    ucost.c.mvno_id == bindparam("m"),
    ucost.c.host_id == bindparam("h"),
    ucost.c.period == bindparam("p"),
)
# Locked as read, so the read-add-write of a total is right by itself: two batches adding to
# one total at once would otherwise both add to the same old total, and the later write
# would drop the earlier's (the MVNO's revenue lock, taken first, also keeps them apart).
_COST = unscoped(select(ucost).where(*_THE_TOTAL).with_for_update(), WHY)
_SET_COST = (
    update(ucost)
    .where(*_THE_TOTAL)
    .values(
        wholesale_exact=bindparam("exact"),
        wholesale_fen=bindparam("fen"),
        updated_at=bindparam("now"),
    )
)


def wholesale_costs(
    conn: Connection, costs: dict[tuple[uuid.UUID, uuid.UUID, str], int], reference: str
) -> tuple[list[ledger.Move], int]:
    """Add exact wholesale costs (per MVNO, host and period) to their running totals, each
    rounded once on the total: the transfers that move the rounded difference from the
    MVNO's revenue to what it owes the host (for the caller to post), and their fen. Rating
    and online charging both cost their usage here.

    Each MVNO's revenue account is locked before its totals, whether or not the caller moved
    money on it: the lock order (docs/money.md). Taken the other way (a charging batch of
    usage within allowances did), a batch holding a total waits for revenue held by one that
    is about to take the total."""
    total = 0
    moves: list[ledger.Move] = []
    now = clock.now()
    revenue = {
        mvno: ledger.account(conn, AccountKind.MVNO_REVENUE, mvno_id=mvno)
        for mvno in {mvno for mvno, _, _ in costs}
    }
    ledger.lock_accounts(conn, [account["id"] for account in revenue.values()])
    for (mvno, host, period), delta in sorted(costs.items(), key=str):
        key = {"m": mvno, "h": host, "p": period}
        row = conn.execute(_COST, key).mappings().first()
        if row is None:  # the period's first cost; another batch may be opening it too
            opened = {"wholesale_exact": 0, "wholesale_fen": 0, "updated_at": now}
            insert_ignore(
                conn, ucost, {"mvno_id": mvno, "host_id": host, "period": period, **opened},
                ("mvno_id", "host_id", "period"),
            )  # fmt: skip
            row = conn.execute(_COST, key).mappings().one()
        before = row["wholesale_exact"]
        after = before + delta
        fen = to_fen(after) - to_fen(before)
        conn.execute(_SET_COST, {**key, "exact": after, "fen": to_fen(after), "now": now})
        if fen:
            payable = ledger.account(
                conn, AccountKind.MVNO_PAYABLE_HOST, mvno_id=mvno, owner_id=host
            )
            paying = revenue[mvno]
            debit, credit = (paying, payable) if fen > 0 else (payable, paying)
            # The period rides in the reference: settlement sums a month's cost by it.
            moves.append(
                ledger.Move(
                    debit["id"],
                    credit["id"],
                    abs(fen),
                    TransferCode.WHOLESALE,
                    f"{reference}:{period}",
                    mvno,
                )
            )
        total += fen
    return moves, total


def _refuse_unknown(con: duckdb.DuckDBPyConnection, refused: dict[str, str]) -> None:
    if not refused:
        return
    con.register("refused", pa.table({"msisdn": list(refused), "why": list(refused.values())}))
    con.execute(
        "INSERT INTO rejects SELECT g.file_no, g.line_no, g.node_id, CAST(g.seq AS VARCHAR), "
        "g.msisdn, r.why FROM good g JOIN refused r USING (msisdn)"
    )
    con.execute("DELETE FROM good WHERE msisdn IN (SELECT msisdn FROM refused)")


def _defer_closed_months(
    conn: Connection, con: duckdb.DuckDBPyConnection, lines: dict[str, usage_terms.Line]
) -> int:
    """A settled month does not change: a late record of it is rated in the first month its
    MVNO has not closed (the next bill carries it, as an adjustment), with that month's
    allowances. Returns how many records were moved so."""
    sr = t.settlement_run
    closed = conn.execute(
        unscoped(select(sr.c.mvno_id, sr.c.month).where(sr.c.status == "closed"), WHY)
    ).all()
    if not closed:
        return 0
    shut: dict[str, set[str]] = defaultdict(set)
    for mvno, month in closed:
        shut[str(mvno)].add(month)
    moves: dict[str, list[str]] = {"msisdn": [], "period": [], "billed": []}
    for msisdn, period in con.execute("SELECT DISTINCT msisdn, period FROM good").fetchall():
        months = shut.get(str(lines[msisdn].mvno_id), set())
        if period not in months:
            continue
        billed = period
        while billed in months:
            billed = add_months(billed, 1)
        moves["msisdn"].append(msisdn)
        moves["period"].append(period)
        moves["billed"].append(billed)
    if not moves["msisdn"]:
        return 0
    con.register("deferred", pa.table(moves))
    late = con.execute(
        "SELECT count(*) FROM good g JOIN deferred d ON d.msisdn = g.msisdn AND d.period = g.period"
    ).fetchone()
    con.execute(
        "UPDATE good SET period = d.billed FROM deferred d "
        "WHERE d.msisdn = good.msisdn AND d.period = good.period"
    )
    return int(late[0]) if late else 0


def _refuse_before_activation(
    con: duckdb.DuckDBPyConnection, lines: dict[str, usage_terms.Line]
) -> None:
    """A record older than its line belongs to the number's previous holder, not this one."""
    opened = [(m, line.activated_at) for m, line in lines.items() if line.activated_at]
    if not opened:
        return
    con.register(
        "opened",
        pa.table(
            {
                "msisdn": [m for m, _ in opened],
                "activated_at": pa.array([a for _, a in opened], pa.timestamp("us", "UTC")),
            }
        ),
    )
    early = "FROM good g JOIN opened o USING (msisdn) WHERE g.start_time < o.activated_at"
    con.execute(
        "INSERT INTO rejects SELECT g.file_no, g.line_no, g.node_id, CAST(g.seq AS VARCHAR), "
        f"g.msisdn, 'before the line was opened' {early}"
    )
    con.execute(f"DELETE FROM good WHERE (node_id, seq) IN (SELECT g.node_id, g.seq {early})")  # noqa: S608  # constant text


def _write_lake(
    con: duckdb.DuckDBPyConnection, lake: Path, batch_id: uuid.UUID, kind: str, periods: list[str]
) -> list[tuple[Path, Path]]:
    """Rate the records one by one (ENGINE_SQL, the window) and write each period's rated
    records to a temporary Parquet file; (temporary, final) pairs. One period (the usual
    batch) is written straight from the statement; several, or a rerating's (whose online
    records are rated back into the database), are rated once into a table `rated`. A
    rerating's file is the period's whole: the records it `kept` as they were (the lines of
    MVNOs that closed the month) go into it unchanged."""
    source = f"({ENGINE_SQL})"
    if len(periods) > 1 or kind == "rerate":
        con.execute(f"CREATE OR REPLACE TABLE rated AS {ENGINE_SQL}")
        source = "rated"
    if kind == "rerate":
        con.execute("INSERT INTO rated BY NAME FROM kept")
    pairs = []
    for period in periods:
        folder = lake / f"period={period}"
        folder.mkdir(parents=True, exist_ok=True)
        final = folder / f"{kind}-{batch_id}.parquet"
        temporary = folder / f".{final.name}.tmp"
        quoted = str(temporary).replace("'", "''")
        # A rerating's online records are rated with the files' but kept in the database.
        con.execute(
            f"COPY (SELECT * FROM {source} WHERE period = $p AND length(node_id) <= {NODE_ID_MAX}) "  # noqa: S608  # numbers and quoted paths of ours
            f"TO '{quoted}' (FORMAT parquet, COMPRESSION zstd)",
            {"p": period},
        )
        pairs.append((temporary, final))
    return pairs


@contextmanager
def _lake_writer(
    con: duckdb.DuckDBPyConnection, lake: Path, batch_id: uuid.UUID, kind: str, periods: list[str]
) -> Iterator[Future[list[tuple[Path, Path]]]]:
    """Rate the records one by one and write them to the lake on another thread while this
    one posts the line totals (LINE_TOTALS_SQL, which needs no record order): DuckDB works
    outside the GIL, so the two overlap. Leaving waits for the writer, whatever happened."""
    cursor = con.cursor()  # the same in-memory database (not its registered views)
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="lake") as pool:
            yield pool.submit(_write_lake, cursor, lake, batch_id, kind, periods)
    finally:
        cursor.close()


ORPHAN_AGE_S = 3600


def finish_renames(pairs: Sequence[tuple[Path, Path]]) -> None:
    """Give a committed batch's rated-record files their final names. Another rater's
    `recover` may have done it already (it renames committed batches' files it finds): then
    the final file is there and all is well."""
    for temporary, final in pairs:
        try:
            temporary.replace(final)
        except FileNotFoundError:
            if not final.exists():
                raise


def _all_there(files: list[str], period: str) -> list[str]:
    """A period's files, for a rerating under every partition's lock: each must be there.
    A batch renames its files after its commit, outside its locks, so one that committed
    after the rerating's `recover` may still have its file under the temporary name: it is
    renamed here. A file that is gone refuses the rerating, which would rate the period
    without its records, refund them, and leave them out of the period from then on."""
    missing = []
    for name in files:
        final = Path(name)
        if final.exists():
            continue
        try:
            final.with_name(f".{final.name}.tmp").replace(final)
        except FileNotFoundError:
            if not final.exists():  # its own rater may have renamed it meanwhile
                missing.append(name)
    if missing:
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise Conflict(
            f"{period} cannot be rerated: its rated records are missing from the usage lake "
            f"({', '.join(missing[:5])}{more})",
            code="lake_incomplete",
            field="period",
        )
    return files


def recover(db: Database, lake: Path) -> int:
    """Finish the renames of batches that committed just before a crash; drop the files of
    batches that never committed, once they are old enough not to be another rater's batch
    still being written."""
    done = 0
    rb = t.rating_batch
    with db.read() as conn:
        committed = {
            Path(f).name for files in conn.execute(select(rb.c.files)).scalars() for f in files
        }
    for temporary in lake.glob("period=*/.*.parquet.tmp"):
        final = temporary.with_name(temporary.name[1:].removesuffix(".tmp"))
        if final.name in committed:
            temporary.replace(final)
            done += 1
        elif time.time() - temporary.stat().st_mtime > ORPHAN_AGE_S:
            temporary.unlink(missing_ok=True)
    return done


def _rating_connection() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    # Row order is never relied on (every ordered read says ORDER BY): without it DuckDB
    # writes tables and Parquet in parallel.
    con.execute(
        "SET TimeZone = 'UTC'; SET enable_progress_bar = false; "
        "SET preserve_insertion_order = false"
    )
    return con


def rate_files(
    db: Database,
    paths: Sequence[Path],
    *,
    lake: Path,
    source: str | None = None,
    after_compute: Callable[[], None] | None = None,
) -> BatchResult:
    """Rate usage files as one batch. `after_compute` is a test hook: it runs inside the
    transaction, after the rating and before the commit (where a crash hurts most)."""
    with heap.paused():
        con = _rating_connection()
        load(con, paths)
        return _rate_loaded(
            db,
            con,
            lake=lake,
            source=source or ", ".join(str(p) for p in paths),
            after_compute=after_compute,
        )


def rate_table(db: Database, table: pa.Table, *, lake: Path, source: str) -> BatchResult:
    """Rate records already in memory (a stream's micro-batch) as one batch, exactly as a
    file: the table has the file's columns (docs/usage-records.md)."""
    with heap.paused():
        con = _rating_connection()
        con.register("incoming", table)
        columns = _source_columns({f.name: _duckdb_type(f.type) for f in table.schema})
        _check(
            con,
            f"SELECT 0 AS file_no, row_number() OVER () AS line_no, {columns} FROM incoming",  # noqa: S608  # our column names
        )
        return _rate_loaded(db, con, lake=lake, source=source, after_compute=None)


def _rate_loaded(
    db: Database,
    con: duckdb.DuckDBPyConnection,
    *,
    lake: Path,
    source: str,
    after_compute: Callable[[], None] | None,
) -> BatchResult:
    lake = lake_dir(lake)
    recover(db, lake)
    records_in = _count(con, "good")
    con.execute(
        "CREATE TABLE rejects AS SELECT file_no, line_no, node_id, CAST(seq AS VARCHAR) AS seq, "
        "msisdn, reason FROM good WHERE reason IS NOT NULL"
    )
    con.execute("DELETE FROM good WHERE reason IS NOT NULL")
    batch_id = ids.new_id()
    reference = f"usage:{batch_id}"
    result = BatchResult(batch_id, records_in=records_in)
    with db.write() as conn:
        partitions = [r[0] for r in con.execute(
            f"SELECT DISTINCT CAST(msisdn AS BIGINT) % {PARTITIONS} FROM good ORDER BY 1"  # noqa: S608  # numbers and quoted paths of ours
        ).fetchall()]  # fmt: skip
        locks.lock(conn, *(f"usage-partition:{p}" for p in partitions))
        msisdns = [r[0] for r in con.execute("SELECT DISTINCT msisdn FROM good").fetchall()]
        lines, refused = usage_terms.lines_for(conn, msisdns)
        _refuse_unknown(con, refused)
        _refuse_before_activation(con, lines)
        late = _defer_closed_months(conn, con, lines)
        duplicates, claim_inserts, claim_updates = _claim(conn, con)
        keys = [
            (m, p) for m, p in con.execute("SELECT DISTINCT msisdn, period FROM good").fetchall()
        ]
        prepaid = _prepaid(conn, [lines[m] for m in {m for m, _ in keys}])
        terms = usage_terms.terms_for(conn, lines, keys)
        totals = _line_totals(con, terms)
        with _lake_writer(con, lake, batch_id, "rate", _periods(totals)) as writing:
            posting, charged, unpaid = _post_totals(conn, totals, terms, prepaid, reference)
            _write_claims(conn, claim_inserts, claim_updates)
            wholesale = _apply(conn, posting, reference)
            pairs = writing.result()
        rejected = _count(con, "rejects")
        result.duplicates = duplicates
        result.rejected = rejected
        result.late = late
        result.rated = sum(int(row[2]) for row in totals)
        result.charged_fen, result.unpaid_fen, result.wholesale_fen = charged, unpaid, wholesale
        result.lines = len(totals)
        result.reasons = Counter(
            dict(con.execute("SELECT reason, count(*) FROM rejects GROUP BY 1").fetchall())
        )
        result.files = [str(final) for _, final in pairs]
        conn.execute(
            insert(t.rating_batch).values(
                id=batch_id,
                kind="rate",
                source=source[:500],
                period=None,
                records_in=records_in,
                duplicates=result.duplicates,
                rejected=rejected,
                rated=result.rated,
                charged_fen=charged,
                wholesale_fen=wholesale,
                files=result.files,
                created_at=clock.now(),
            )
        )
        _keep_rejects(conn, con, batch_id)
        if after_compute is not None:
            after_compute()
    finish_renames(pairs)
    return result


def _keep_rejects(conn: Connection, con: duckdb.DuckDBPyConnection, batch_id: uuid.UUID) -> None:
    rows = con.execute(
        f"SELECT line_no, node_id, seq, msisdn, reason FROM rejects ORDER BY file_no, line_no "  # noqa: S608  # numbers and quoted paths of ours
        f"LIMIT {MAX_REJECTS_KEPT}"
    ).fetchall()
    if rows:
        conn.execute(
            insert(t.usage_reject),
            [
                {
                    "id": ids.new_id(),
                    "batch_id": batch_id,
                    "line_no": line_no,
                    "node_id": (node or "")[:32] or None,
                    "seq": (seq or "")[:40] or None,
                    "msisdn": (msisdn or "")[:40] or None,
                    "reason": reason,
                }
                for line_no, node, seq, msisdn, reason in rows
            ],
        )


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    # fetchall, not fetchone: a result left unfinished blocks the connection's next register.
    ((count,),) = con.execute(f"SELECT count(*) FROM {table}").fetchall()  # noqa: S608  # our own names
    return int(count)


def period_files(conn: Connection, period: str) -> list[str]:
    """The Parquet files that hold a period's rated records now: the latest rerating of the
    period and every batch after it (or every batch, if it was never rerated)."""
    rb = t.rating_batch
    rows = conn.execute(select(rb.c.kind, rb.c.period, rb.c.files).order_by(rb.c.id)).all()
    marker = f"period={period}"
    files: list[str] = []
    for kind, rerated, batch_files in rows:
        if kind == "rerate" and rerated == period:
            files = []
        files.extend(f for f in batch_files if marker in f)
    return files


def rerate(db: Database, period: str, *, lake: Path) -> BatchResult:
    """Rate a period's records again with the tariffs as they are now. Each line's difference
    is posted (a charge or a refund); a rerating that finds no difference changes nothing."""
    with heap.paused():
        return _rerate(db, period, lake=lake)


def check_period(period: str) -> str:
    """A billing period as the platform writes it: YYYY-MM, a real month (the month 13 or a
    year past 9999 has no first day to read allowances, price lists or usage from)."""
    try:
        if not period.isascii():
            raise InvalidInput("not ASCII")
        return check_month(period)
    except InvalidInput:
        raise InvalidInput("a period is YYYY-MM", code="bad_period", field="period") from None


def _open_lines(conn: Connection, period: str) -> tuple[dict[str, usage_terms.Line], list[str]]:
    """The lines with usage in the period whose MVNO has not closed it (to be rerated), and
    the numbers of those whose MVNO has (their records stay as they are). A month closed by
    every MVNO with usage in it cannot be rerated at all (`month_closed`)."""
    sr = t.settlement_run
    shut = set(
        conn.execute(
            unscoped(select(sr.c.mvno_id).where(sr.c.month == period, sr.c.status == "closed"), WHY)
        ).scalars()
    )
    lines = usage_terms.lines_of_period(conn, period)
    open_lines = {m: line for m, line in lines.items() if line.mvno_id not in shut}
    if shut and not open_lines:
        raise Conflict(
            f"{period} is settled: it can no longer be rerated",
            code="month_closed",
            field="period",
        )
    return open_lines, sorted(set(lines) - set(open_lines))


def _rerate(db: Database, period: str, *, lake: Path) -> BatchResult:
    check_period(period)
    lake = lake_dir(lake)
    recover(db, lake)
    batch_id = ids.new_id()
    reference = f"rerate:{batch_id}"
    result = BatchResult(batch_id)
    con = _rating_connection()
    with db.write() as conn:
        locks.lock(conn, *(f"usage-partition:{p}" for p in range(PARTITIONS)))
        lines, closed = _open_lines(conn, period)
        files = _all_there(period_files(conn, period), period)
        con.register("columns", ONLINE_SCHEMA.empty_table())  # a record's, with its period
        con.execute("CREATE TABLE good AS FROM columns")
        # The closed lines' rated records, as they are: the period's new file carries them.
        con.register("kept_columns", ONLINE_RATED_SCHEMA.empty_table())
        con.execute("CREATE TABLE kept AS FROM kept_columns")
        if files:
            listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
            con.execute(
                f"INSERT INTO good BY NAME SELECT {', '.join(COLUMNS)}, period "  # noqa: S608  # our files
                f"FROM read_parquet([{listed}])"
            )
            con.execute(
                f"INSERT INTO kept BY NAME SELECT {', '.join(ONLINE_RATED_SCHEMA.names)} "  # noqa: S608  # our files
                f"FROM ({_rated_files(files)}) WHERE msisdn IN (SELECT unnest($m))",
                {"m": closed},
            )
        prepaid = _prepaid(conn, lines.values())
        # Under the lines' locks: no charging batch adds to these lines' usage until commit.
        con.register("online", _online_records(conn, period))
        con.execute("INSERT INTO good BY NAME FROM online")
        con.execute("DELETE FROM good WHERE msisdn NOT IN (SELECT unnest($m))", {"m": list(lines)})
        if not _count(con, "good"):
            return BatchResult(None)
        keys = [(m, period) for m in lines]
        terms = usage_terms.terms_for(conn, lines, keys, fresh=True)
        totals = _line_totals(con, terms)
        if all(_unchanged(row, terms[(row[0], row[1])].existing) for row in totals):
            return BatchResult(None, records_in=_count(con, "good"))
        with _lake_writer(con, lake, batch_id, "rerate", _periods(totals)) as writing:
            posting, charged, unpaid = _post_totals(
                conn, totals, terms, prepaid, reference, replace=True
            )
            wholesale = _apply(conn, posting, reference)
            pairs = writing.result()
        _rerated_online(conn, con)
        result.records_in = result.rated = sum(int(row[2]) for row in totals)
        result.charged_fen, result.unpaid_fen, result.wholesale_fen = charged, unpaid, wholesale
        result.lines = len(totals)
        result.files = [str(final) for _, final in pairs]
        conn.execute(
            insert(t.rating_batch).values(
                id=batch_id,
                kind="rerate",
                source=f"rerate {period}",
                period=period,
                records_in=result.records_in,
                duplicates=0,
                rejected=0,
                rated=result.rated,
                charged_fen=charged,
                wholesale_fen=wholesale,
                files=result.files,
                created_at=clock.now(),
            )
        )
    finish_renames(pairs)
    return result


# Online charging's updates and terminations as usage records: node "online:" and the
# session's id (longer than any file's node id, so never one of theirs), the request number
# as sequence number, from the time of the answer before it.
ONLINE_NODE = "online:"
RATING = ("units", "in_allowance", "billed_overage", "charge_exact", "wholesale_exact")
ONLINE_SCHEMA = pa.schema(
    [
        ("node_id", pa.string()),
        ("seq", pa.int64()),
        ("msisdn", pa.string()),
        ("type", pa.string()),
        ("start_time", pa.timestamp("us", tz="UTC")),
        ("quantity", pa.int64()),
        ("direction", pa.string()),
        ("province", pa.string()),
        ("partial_seq", pa.int64()),
        ("period", pa.string()),
    ]
)
# ... and rated, as the lake's rated records.
ONLINE_RATED_SCHEMA = pa.schema(
    [*ONLINE_SCHEMA, *((name, pa.int64()) for name in ("overage", *RATING))]
)


def _online_records(conn: Connection, period: str) -> pa.Table:
    """What online charging charged in a period, one record per update or termination: in
    the period's totals, not in its rated-record files."""
    cs, cr = t.charging_session, t.charging_request
    rows = conn.execute(
        unscoped(
            select(
                cs.c.id,
                cr.c.request_number,
                cs.c.msisdn,
                cs.c.type,
                cr.c.used_since,
                cr.c.used_quantity,
                cs.c.direction,
            )
            .join_from(cr, cs, cs.c.id == cr.c.session_id)
            .where(cs.c.period == period, cr.c.used_quantity.is_not(None)),
            WHY,
        )
    ).all()
    columns = list(zip(*rows, strict=True)) or [()] * 7
    sessions, numbers, msisdns, kinds, since, quantities, directions = columns
    return pa.table(
        [
            [ONLINE_NODE + s.hex for s in sessions],
            numbers,
            msisdns,
            kinds,
            since,
            quantities,
            directions,
            [""] * len(rows),
            [0] * len(rows),
            [period] * len(rows),
        ],
        schema=ONLINE_SCHEMA,
    )


def _rerated_online(conn: Connection, con: duckdb.DuckDBPyConnection) -> None:
    """Give the period's online records their new rating (the lake keeps the others')."""
    rows = con.execute(
        f"SELECT node_id, seq, {', '.join(RATING)} FROM rated "  # noqa: S608  # our names
        f"WHERE length(node_id) > {NODE_ID_MAX}"
    ).fetchall()
    if rows:
        cr = t.charging_request
        conn.execute(
            update(cr)
            .where(cr.c.session_id == bindparam("sid"), cr.c.request_number == bindparam("n"))
            .values({name: bindparam(name) for name in RATING}),
            [
                {
                    "sid": uuid.UUID(hex=node[len(ONLINE_NODE) :]),
                    "n": seq,
                    **{name: int(v) for name, v in zip(RATING, rating, strict=True)},
                }
                for node, seq, *rating in rows
            ],
        )


def _line_online_rated(
    conn: Connection, line: usage_terms.Line, period: str
) -> list[dict[str, Any]]:
    """A line's online records in a period with their rating, as the lake's rated records
    (node `online:` and the network's session id); records answered before their rating was
    kept (migration 0015) and not rerated since are left out. The line's own sessions, not
    an earlier holder's of the number."""
    cs, cr = t.charging_session, t.charging_request
    rows = conn.execute(
        unscoped(
            select(
                (literal(ONLINE_NODE) + cs.c.session_key).label("node_id"),
                cr.c.request_number.label("seq"),
                cs.c.type,
                cr.c.used_since.label("start_time"),
                cr.c.used_quantity.label("quantity"),
                cs.c.direction,
                *(cr.c[name] for name in RATING),
            )
            .join_from(cr, cs, cs.c.id == cr.c.session_id)
            .where(cs.c.subscription_id == line.id, cs.c.period == period, cr.c.units.is_not(None)),
            WHY,
        )
    ).mappings()
    return [
        {
            **row,
            "msisdn": line.msisdn,
            "province": "",
            "partial_seq": 0,
            "period": period,
            "overage": row["units"] - row["in_allowance"],
        }
        for row in rows
    ]


def _unchanged(total: tuple[Any, ...], row: dict[str, Any] | None) -> bool:
    if row is None:
        return False
    _, _, records, voice_s, sms, data_kb, data_over, charge, wholesale = total
    return (
        int(charge) == row["charge_exact"]
        and int(wholesale) == row["wholesale_exact"]
        and (int(voice_s), int(sms), int(data_kb), int(data_over), int(records))
        == (
            row["voice_used_s"],
            row["sms_used"],
            row["data_used_kb"],
            row["data_over_kb"],
            row["records"],
        )
    )


# The lake keeps a record's number, not its line: a line's records are its number's from the
# line's opening on (rating refuses older ones), so a recycled number's earlier holder's
# records stay theirs.
_LINE_RECORDS = "msisdn = $m AND start_time >= $since"
# Files written before the engine cast its running sum back to BIGINT hold these as DOUBLE.
_AS_WRITTEN_NOW = ", ".join(f"CAST({name} AS BIGINT) AS {name}" for name in ("overage", *RATING))


def _rated_files(files: list[str]) -> str:
    """A relation of rated-record files, their rating columns integers whenever written."""
    listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
    return f"SELECT * REPLACE ({_AS_WRITTEN_NOW}) FROM read_parquet([{listed}])"  # noqa: S608  # our files


def _line_records_params(line: usage_terms.Line) -> dict[str, Any]:
    return {"m": line.msisdn, "since": line.activated_at or datetime.min.replace(tzinfo=UTC)}


def rated_records(
    db: Database, scope: Scope, msisdn: str, period: str, *, limit: int = 1000
) -> list[dict[str, Any]]:
    """A line's rated records in a period (TMF635), for whoever may see the line's usage:
    the MVNO and the holder (channels do not see usage)."""
    check_period(period)
    up = t.usage_period
    with db.read() as conn:
        line = _visible_line(conn, scope, msisdn)
        rated = conn.execute(
            scoped(
                select(up.c.subscription_id).where(
                    up.c.subscription_id == line.id, up.c.period == period
                ),
                up,
                scope,
            )
        ).first()
        if rated is None:
            return []
        files = [f for f in period_files(conn, period) if Path(f).exists()]
        online = _line_online_rated(conn, line, period)
    records = online
    if files:
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'; SET enable_progress_bar = false")
        rows = con.execute(
            f"SELECT * FROM ({_rated_files(files)}) WHERE {_LINE_RECORDS} "  # noqa: S608  # our files
            f"ORDER BY start_time, node_id, seq LIMIT {int(limit)}",
            _line_records_params(line),
        )
        names = [d[0] for d in rows.description]
        records += [dict(zip(names, r, strict=True)) for r in rows.fetchall()]
    records.sort(key=lambda r: (r["start_time"], r["node_id"], r["seq"]))
    return records[:limit]


# --- reads for the line's holder and the MVNO --------------------------------------------------


def current_period() -> str:
    return local_date(clock.now()).strftime("%Y-%m")


def _visible_line(conn: Connection, scope: Scope, msisdn: str) -> usage_terms.Line:
    """The line, if the caller may see its usage: the MVNO and the holder, not channels."""
    if scope.kind not in (ScopeKind.PLATFORM, ScopeKind.MVNO, ScopeKind.SUBSCRIBER):
        raise NotFound(f"{msisdn} is not one of your lines", code="unknown_line", field="msisdn")
    sub = t.subscription
    row = conn.execute(
        scoped(
            select(
                sub.c.id,
                sub.c.msisdn,
                sub.c.mvno_id,
                sub.c.host_id,
                sub.c.offering_id,
                sub.c.state,
                sub.c.activated_at,
            )
            .where(sub.c.msisdn == msisdn, sub.c.state.in_(usage_terms.RATEABLE))
            .order_by(sub.c.id.desc()),
            sub,
            scope,
        )
    ).first()
    if row is None:
        raise NotFound(f"{msisdn} is not one of your lines", code="unknown_line", field="msisdn")
    return usage_terms.Line(
        row.id, row.msisdn, row.mvno_id, row.host_id, row.offering_id, row.state, row.activated_at
    )


def buckets(
    db: Database, scope: Scope, msisdn: str, period: str | None = None
) -> list[dict[str, Any]]:
    """The line's allowance buckets for a period: allowance (plan, add-ons, rollover), used,
    left. Channels do not see usage (the scope says so)."""
    period = check_period(period or current_period())
    with db.read() as conn:
        line = _visible_line(conn, scope, msisdn)
        lt = usage_terms.terms_for(conn, {msisdn: line}, [(msisdn, period)])[(msisdn, period)]
    terms = lt.terms
    out = []
    for kind, unit, allowance, used in (
        ("voice", "second", terms.voice_allow_s, terms.voice_used_s),
        ("sms", "message", terms.sms_allow, terms.sms_used),
        ("data", "KB", terms.data_allow_kb, terms.data_used_kb),
    ):
        out.append(
            {
                "type": kind,
                "unit": unit,
                "period": period,
                "allowance": allowance,
                "used": min(used, allowance),
                "remaining": max(0, allowance - used),
                "rollover": lt.allowances[3] if kind == "data" else 0,
            }
        )
    return out


def daily(
    db: Database, scope: Scope, msisdn: str, period: str | None = None
) -> list[dict[str, Any]]:
    """Usage by day (Beijing) and type in a period, from the rated records."""
    period = check_period(period or current_period())
    with db.read() as conn:
        line = _visible_line(conn, scope, msisdn)
        files = [f for f in period_files(conn, period) if Path(f).exists()]
        online = _line_online_rated(conn, line, period)
    if not files and not online:
        return []
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'; SET enable_progress_bar = false")
    # The line's online records beside its rated records: the same columns.
    con.register("online", pa.Table.from_pylist(online, schema=ONLINE_RATED_SCHEMA))
    sources = ["SELECT * FROM online"]
    if files:
        sources.append(f"SELECT * FROM ({_rated_files(files)}) WHERE {_LINE_RECORDS}")  # noqa: S608  # our files
    day = "strftime(CAST(start_time AS TIMESTAMP) + INTERVAL 8 HOUR, '%Y-%m-%d')"
    sums = "count(*), sum(units), sum(billed_overage), CAST(sum(charge_exact) AS HUGEINT)"
    records = " UNION ALL BY NAME ".join(sources)
    by_day = f"SELECT {day}, type, {sums} FROM ({records}) GROUP BY ALL ORDER BY 1, 2"  # noqa: S608  # our files
    rows = con.execute(by_day, _line_records_params(line) if files else {}).fetchall()
    return [
        {
            "day": day,
            "type": kind,
            "records": int(n),
            "units": int(units),
            "overage": int(over),
            "chargeMicroFen": int(charge) // 61_440,
        }
        for day, kind, n, units, over, charge in rows
    ]


def list_batches(db: Database, offset: int, limit: int) -> tuple[list[dict[str, Any]], int]:
    rb = t.rating_batch
    with db.read() as conn:
        return page(conn, select(rb), order_by=[rb.c.id.desc()], offset=offset, limit=limit)
