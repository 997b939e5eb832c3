"""The rating engine: usage records → units, allowances, overage, charges, wholesale cost.

Two implementations of one rule set, kept equal by property tests:
- vectorised, in portable SQL (DuckDB here; the same statements run on PostgreSQL or Spark
  SQL when one machine is not enough): `GROUPS_SQL` sums each line's usage per period and
  type, which is all the ledger needs (`LINE_TOTALS_SQL`), and `ENGINE_SQL` rates each record,
  with a window over the groups where order matters;
- `rate_reference`, a plain per-record loop: the specification, and the benchmark baseline.

Rules (domain.md §6), per line and billing period (the calendar month in Asia/Shanghai), in
time order (start time, then node and sequence number):
- units: voice per started increment (default 60 s), SMS per message, data per started
  increment of KB (default 1 KB); a record's increments are its own;
- nothing is chargeable while a line is barred for missing real-name registration (at the
  record's start time: the line's barrings are kept with their times), nor a terminating
  SMS, nor a terminating call when the offer makes incoming calls free;
- chargeable units are taken from the period's allowance first (plan + add-ons + last
  month's unused data, in that order of use: rollover, add-ons, plan — the order only
  matters for the buckets, not the charge), the rest is overage;
- data overage beyond the offer's monthly cap is not charged;
- overage is charged at the offer's rates: exact integers at one scale (`SCALE` units per
  fen), so voice rates per minute and data rates per MB stay exact for any increment;
- wholesale cost: every originating call and SMS and all data, at the price list's rates.
Rounding to fen happens once, in `to_fen`, on a line's running total for the period: a
batch charges `to_fen(after) - to_fen(before)`, so the charges of a period always add up to
its exact total rounded once.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

MICRO_PER_FEN = 1_000_000
# Voice rates are per minute (60 s) and data rates per MB (1,024 KB): counting in 1/61,440 µfen
# keeps every charge an exact integer.
DENOMINATOR = 60 * 1024
SCALE = DENOMINATOR * MICRO_PER_FEN  # exact units per fen
FOREVER = datetime(9999, 12, 31, tzinfo=UTC)  # the end of a span still open, in tables
BEIJING = timedelta(hours=8)  # China has kept UTC+8 without daylight saving since 1991

RECORD_TYPES = ("voice", "sms", "data")
DIRECTIONS = ("mo", "mt")
# The most one record may hold: a week's call, a thousand messages, 64 GiB of data (a longer
# session arrives as partial records). More is no real network's record, and its exact
# charge (units × rate × 61,440) would overflow the engine's 64-bit integers.
MAX_QUANTITY = {"voice": 7 * 86_400, "sms": 1_000, "data": 1 << 36}


def to_fen(exact: int) -> int:
    """Exact units to whole fen, half up. The one rounding point."""
    return (exact + SCALE // 2) // SCALE


def period_of(start: datetime) -> str:
    return (start.astimezone(UTC) + BEIJING).strftime("%Y-%m")


@dataclass(frozen=True)
class Record:
    node_id: str
    seq: int
    msisdn: str
    type: str
    start_time: datetime
    quantity: int  # seconds, messages or bytes
    direction: str
    province: str = ""
    partial_seq: int = 0


@dataclass(frozen=True)
class Terms:
    """What rating a line's records in one period needs: the offer, the allowances, what was
    used before this batch, and the wholesale rates (µfen per minute / SMS / MB)."""

    voice_rate: int
    sms_rate: int
    data_rate: int
    voice_incr_s: int = 60
    data_incr_kb: int = 1
    term_voice_free: bool = True
    cap_kb: int | None = None
    voice_allow_s: int = 0
    sms_allow: int = 0
    data_allow_kb: int = 0
    # When the line was barred for missing real-name registration: [since, until), until
    # None while it still is; in time order, not overlapping.
    no_charge_spans: tuple[tuple[datetime, datetime | None], ...] = ()
    voice_used_s: int = 0
    sms_used: int = 0
    data_used_kb: int = 0
    data_over_kb: int = 0
    w_voice: int = 0
    w_sms: int = 0
    w_data: int = 0


@dataclass(frozen=True)
class Rated:
    record: Record
    period: str
    units: int  # chargeable units after increments (s, messages, KB); 0 when free
    in_allowance: int
    overage: int
    billed_overage: int  # after the data cap
    charge_exact: int  # in 1/SCALE fen
    wholesale_exact: int


def billed_units(kind: str, quantity: int, terms: Terms) -> int:
    if kind == "voice":
        step = terms.voice_incr_s
        return -(-quantity // step) * step
    if kind == "sms":
        return quantity
    step = 1024 * terms.data_incr_kb
    return -(-quantity // step) * terms.data_incr_kb


def per_unit(kind: str, rate_voice: int, rate_sms: int, rate_data: int) -> int:
    """Exact units per billed unit (second, message, KB) for a rate set."""
    if kind == "voice":
        return rate_voice * (DENOMINATOR // 60)
    if kind == "sms":
        return rate_sms * DENOMINATOR
    return rate_data * (DENOMINATOR // 1024)


def barred_at(terms: Terms, at: datetime) -> bool:
    """Was the line barred for missing real-name registration at `at`?"""
    return any(
        since <= at and (until is None or at < until) for since, until in terms.no_charge_spans
    )


def is_free(kind: str, direction: str, terms: Terms, at: datetime) -> bool:
    """Nothing chargeable: use while the line is barred for missing real-name registration,
    a terminating SMS, a terminating call when the offer makes incoming calls free."""
    if barred_at(terms, at):
        return True
    if direction == "mt" and kind == "sms":
        return True
    return direction == "mt" and kind == "voice" and terms.term_voice_free


def billed_overage(kind: str, overage: int, terms: Terms, over_before: int = 0) -> int:
    """The overage units charged: data past the offer's monthly cap is not. The cap counts
    the period's data overage so far: `terms.data_over_kb`, plus `over_before` of this
    batch."""
    if kind != "data" or terms.cap_kb is None:
        return overage
    return max(0, min(overage, terms.cap_kb - terms.data_over_kb - over_before))


def _order(record: Record) -> tuple[datetime, str, int]:
    return (record.start_time, record.node_id, record.seq)


def rate_reference(records: list[Record], terms: dict[tuple[str, str], Terms]) -> list[Rated]:
    """The rules as a loop, one record at a time. `terms` by (msisdn, period)."""
    used: dict[tuple[str, str, str], int] = defaultdict(int)
    over: dict[tuple[str, str], int] = defaultdict(int)
    out = []
    for record in sorted(records, key=lambda r: (r.msisdn, _order(r))):
        period = period_of(record.start_time)
        t = terms[(record.msisdn, period)]
        billed = billed_units(record.type, record.quantity, t)
        units = 0 if is_free(record.type, record.direction, t, record.start_time) else billed
        allowance, before = {
            "voice": (t.voice_allow_s, t.voice_used_s),
            "sms": (t.sms_allow, t.sms_used),
            "data": (t.data_allow_kb, t.data_used_kb),
        }[record.type]
        key = (record.msisdn, period, record.type)
        in_allowance = max(0, min(units, allowance - before - used[key]))
        used[key] += units
        overage = units - in_allowance
        billed_over = billed_overage(record.type, overage, t, over[(record.msisdn, period)])
        if record.type == "data":
            over[(record.msisdn, period)] += overage
        charge = billed_over * per_unit(record.type, t.voice_rate, t.sms_rate, t.data_rate)
        costly = record.type == "data" or record.direction == "mo"
        wholesale = billed * per_unit(record.type, t.w_voice, t.w_sms, t.w_data) if costly else 0
        out.append(
            Rated(record, period, units, in_allowance, overage, billed_over, charge, wholesale)
        )
    return out


# The same rules over whole tables. `records` holds the batch (typed columns as Record, and
# `period`); `terms` one row per (msisdn, period) with Terms' fields but the spans, which are
# in `barring`, one row per span (msisdn, period, since, until; an open span until FOREVER;
# spans of a line do not overlap, so a record meets at most one: nearly always none, and a
# join with an empty table costs DuckDB nothing: measured on 10 M records). CASE and integer
# arithmetic only, and one window function: the statements port to PostgreSQL and Spark SQL.
# Each record's units, prices and the allowance left before the batch: no order needed.
_UNITS = """
chargeable AS (
  SELECT r.node_id, r.seq, r.msisdn, r.type, r.start_time, r.quantity, r.direction, r.province,
    r.partial_seq, r.period, t.cap_kb, t.data_over_kb,
    CASE r.type
      WHEN 'voice' THEN ((r.quantity + t.voice_incr_s - 1) // t.voice_incr_s) * t.voice_incr_s
      WHEN 'sms' THEN r.quantity
      ELSE ((r.quantity + 1024 * t.data_incr_kb - 1) // (1024 * t.data_incr_kb)) * t.data_incr_kb
    END AS billed,
    CASE r.type WHEN 'voice' THEN t.voice_rate * 1024
                WHEN 'sms' THEN t.sms_rate * 61440
                ELSE t.data_rate * 60 END AS unit_price,
    CASE WHEN r.type = 'data' OR r.direction = 'mo'
         THEN CASE r.type WHEN 'voice' THEN t.w_voice * 1024
                          WHEN 'sms' THEN t.w_sms * 61440
                          ELSE t.w_data * 60 END
         ELSE 0 END AS unit_cost,
    b.msisdn IS NOT NULL OR (r.direction = 'mt' AND r.type = 'sms')
      OR (r.direction = 'mt' AND r.type = 'voice' AND t.term_voice_free) AS free,
    GREATEST(0, CASE r.type WHEN 'voice' THEN t.voice_allow_s - t.voice_used_s
                            WHEN 'sms' THEN t.sms_allow - t.sms_used
                            ELSE t.data_allow_kb - t.data_used_kb END) AS allowance_left
  FROM records r JOIN terms t ON t.msisdn = r.msisdn AND t.period = r.period
  LEFT JOIN barring b ON b.msisdn = r.msisdn AND b.period = r.period
    AND r.start_time >= b.since AND r.start_time < b.until
), units AS (
  SELECT *, CASE WHEN free THEN 0 ELSE billed END AS units FROM chargeable
)"""

# Per line, period and type ("group"): the sums the ledger needs, and whether the records'
# order matters. Order decides which record a unit is charged on, never how many units are:
# the allowance takes min(total, allowance left) of a group's units, the cap lets
# min(overage, cap left) of its overage be billed, and a group has one unit price. Order
# matters only in a group that crosses its allowance or its cap (a few percent of records):
# in any other, every record is wholly in the allowance, or wholly over it and under the cap
# (or over the cap). Run into a table `groups` before ENGINE_SQL and LINE_TOTALS_SQL.
GROUPS_SQL = f"""
WITH {_UNITS}, sums AS (
  SELECT msisdn, period, type, COUNT(*) AS records, SUM(units) AS units,
    SUM(billed * unit_cost) AS wholesale_exact, MAX(unit_price) AS unit_price,
    MAX(allowance_left) AS allowance_left, MAX(cap_kb) AS cap_kb,
    MAX(data_over_kb) AS data_over_kb
  FROM units GROUP BY msisdn, period, type
), split AS (
  SELECT *, units - LEAST(units, allowance_left) AS overage,
    CASE WHEN type = 'data' AND cap_kb IS NOT NULL THEN cap_kb - data_over_kb END AS cap_left
  FROM sums
)
SELECT msisdn, period, type, records, units, overage, wholesale_exact,
  CASE WHEN cap_left IS NULL THEN overage ELSE GREATEST(0, LEAST(overage, cap_left)) END
    * unit_price AS charge_exact,
  (allowance_left > 0 AND units > allowance_left)
    OR COALESCE(cap_left > 0 AND cap_left < overage, FALSE) AS ordered
FROM split
"""  # noqa: S608  # constant text

# What the ledger is posted from: per line and period, the groups summed.
LINE_TOTALS_SQL = """
SELECT msisdn, period, SUM(records) AS records,
  SUM(CASE WHEN type = 'voice' THEN units ELSE 0 END) AS voice_s,
  SUM(CASE WHEN type = 'sms' THEN units ELSE 0 END) AS sms,
  SUM(CASE WHEN type = 'data' THEN units ELSE 0 END) AS data_kb,
  SUM(CASE WHEN type = 'data' THEN overage ELSE 0 END) AS data_over_kb,
  SUM(charge_exact) AS charge_exact,
  SUM(wholesale_exact) AS wholesale_exact
FROM groups GROUP BY msisdn, period ORDER BY msisdn, period
"""

# Every record rated: which of its units were in the allowance, which over it, which over
# the cap. In a group where order matters that depends on the records before it: a window,
# and so a sort, over those groups' records only. Elsewhere nothing came before that counts.
ENGINE_SQL = f"""
WITH {_UNITS}, tagged AS (
  SELECT u.*, o.type IS NOT NULL AS ordered
  FROM units u LEFT JOIN (SELECT msisdn, period, type FROM groups WHERE ordered) o
    ON o.msisdn = u.msisdn AND o.period = u.period AND o.type = u.type
), running AS (
  -- What came before this record in the period. Allowance used before it and overage
  -- before it both follow from the running total of units. A sum is a 128-bit HUGEINT,
  -- which Parquet has not: cast back, or every rated record's units after it would be
  -- written to the lake as floating point.
  SELECT *,
    CAST(SUM(units) OVER (PARTITION BY msisdn, period, type
                          ORDER BY start_time, node_id, seq ROWS UNBOUNDED PRECEDING)
         AS BIGINT) - units AS units_before
  FROM tagged WHERE ordered
  UNION ALL
  SELECT *, 0 AS units_before FROM tagged WHERE NOT ordered
), split AS (
  SELECT *,
    GREATEST(0, LEAST(units, allowance_left - units_before)) AS in_allowance,
    units_before - LEAST(units_before, allowance_left) AS overage_before
  FROM running
), capped AS (
  SELECT *, units - in_allowance AS overage,
    CASE WHEN type = 'data' AND cap_kb IS NOT NULL
         THEN GREATEST(0, LEAST(units - in_allowance, cap_kb - data_over_kb - overage_before))
         ELSE units - in_allowance END AS billed_overage
  FROM split
)
SELECT node_id, seq, msisdn, type, start_time, quantity, direction, province, partial_seq,
  period, units, in_allowance, overage, billed_overage,
  billed_overage * unit_price AS charge_exact,
  billed * unit_cost AS wholesale_exact
FROM capped
"""  # noqa: S608  # constant text


def future_limit(now: datetime) -> datetime:
    """Records may start at most this late: a clock a few minutes ahead is tolerated."""
    return now + timedelta(minutes=5)
