"""Realistic usage for demos and benchmarks: a daily rhythm (quiet nights, evening peak),
a mix of calls, messages and data sessions, numbered per network node as a network would."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

# Share of the day's activity in each hour (Beijing time), quiet at night, peak at 20-22.
HOURLY = np.array(
    [1, 0.6, 0.4, 0.3, 0.3, 0.5, 1.5, 3, 5, 6, 6, 6, 6.5, 6, 5.5, 5.5, 5.5, 6, 6.5, 7, 8, 8, 6, 3],
    dtype=np.float64,
)
HOURLY /= HOURLY.sum()
TYPES = np.array(["voice", "sms", "data"])
MIX = np.array([0.3, 0.15, 0.55])
PROVINCES = np.array(["44", "33", "51", "32", "37", "42"])


def generate(
    msisdns: list[str],
    *,
    days: int,
    start: date,
    seed: int = 0,
    per_day: float = 8.0,
    seq_base: int = 0,
) -> pa.Table:
    """About `per_day` records per line and day, sorted by time, ids unique per node."""
    rng = np.random.default_rng(seed)
    lines = np.asarray(msisdns)
    counts = rng.poisson(per_day * days, size=len(lines))
    n = int(counts.sum())
    who = np.repeat(lines, counts)
    kinds = rng.choice(3, size=n, p=MIX)
    day = rng.integers(0, days, size=n)
    hour = rng.choice(24, size=n, p=HOURLY)
    second = rng.integers(0, 3600, size=n)
    base = datetime(start.year, start.month, start.day, tzinfo=UTC).timestamp()
    # Beijing hours to UTC: minus eight hours.
    epoch_s = base + day * 86_400 + (hour - 8) * 3_600 + second
    voice_s = np.maximum(1, rng.lognormal(np.log(70), 1.0, size=n)).astype(np.int64)
    data_b = np.maximum(1, rng.lognormal(np.log(2_000_000), 1.5, size=n)).astype(np.int64)
    quantity = np.where(kinds == 0, voice_s, np.where(kinds == 1, 1, data_b))
    mt = rng.random(size=n) < 0.45
    direction = np.where((kinds == 2) | ~mt, "mo", "mt")
    province = PROVINCES[rng.integers(0, len(PROVINCES), size=n)]
    node = np.char.add(np.char.add(province, "-"), np.array(["MSC", "SMSC", "GGSN"])[kinds])
    order = np.lexsort((epoch_s, node))
    node, epoch_s = node[order], epoch_s[order]
    # Sequence numbers count up per node, in time order.
    first = np.r_[0, np.flatnonzero(node[1:] != node[:-1]) + 1]
    starts = np.repeat(first, np.diff(np.r_[first, n]))
    seq = seq_base + np.arange(n) - starts
    table = pa.table(
        {
            "node_id": node,
            "seq": pa.array(seq, pa.int64()),
            "msisdn": who[order],
            "type": TYPES[kinds[order]],
            "start_time": pa.array(
                (epoch_s * 1_000_000).astype(np.int64), pa.timestamp("us", "UTC")
            ),
            "quantity": pa.array(quantity[order], pa.int64()),
            "direction": direction[order],
            "province": province[order],
            "partial_seq": pa.array(np.zeros(n, dtype=np.int64)),
        }
    )
    return table.sort_by([("start_time", "ascending"), ("node_id", "ascending")])


def write(table: pa.Table, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".parquet", ".pq"):
        pq.write_table(table, path)
    else:
        pacsv.write_csv(table, path)
    return path
