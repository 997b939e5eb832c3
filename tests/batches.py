"""Two server processes' batches racing, for the group-commit tests (recharges, charging)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from openmvne.db.engine import Database

RunBatch = Callable[[Database, Sequence[Any]], Sequence[Any]]


def race(
    run_batch: RunBatch, db: Database, other: Database, asks: list[Any]
) -> tuple[list[Any], list[Any]]:
    """The same asks as one batch on each engine at once, in opposite orders; each engine's
    outcomes in the asks' order."""
    outcomes: dict[str, list[Any]] = {}

    def run(name: str, engine: Database, order: list[Any]) -> None:
        outcomes[name] = list(run_batch(engine, order))

    threads = [
        threading.Thread(target=run, args=("a", db, asks)),
        threading.Thread(target=run, args=("b", other, list(reversed(asks)))),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return outcomes["a"], list(reversed(outcomes["b"]))
