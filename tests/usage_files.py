"""Usage files for the tests, in the format of docs/usage-records.md."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

HEADER = ["node_id", "seq", "msisdn", "type", "start_time", "quantity", "direction", "province"]


def write_csv(path: Path, rows: list[list[Any]]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path
