"""Races between transactions: two server processes' batches (the group-commit tests of
recharges and charging), and one call cutting into another at a chosen statement."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import event

from openmvne.db.engine import Database
from openmvne.errors import DomainError

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


def cut_in(
    db: Database, statement: str, first: Callable[[], Any], second: Callable[[], Any]
) -> tuple[Any, Any]:
    """Run `first`; when it is about to send `statement` (its start), run `second` in another
    thread, giving it a second to get as far as it can (to its commit, or to a lock `first`
    holds) before `first` goes on. The race a check-then-write would lose, made certain.
    Each outcome: what the call returned, or the DomainError it raised."""
    outcome: dict[str, Any] = {}

    def run(name: str, call: Callable[[], Any]) -> None:
        try:
            outcome[name] = call()
        except DomainError as refused:
            outcome[name] = refused

    racer = threading.Thread(target=run, args=("second", second))

    def start_the_second(conn: Any, cursor: Any, sent: str, *_: Any) -> None:
        if (
            sent.startswith(statement)
            and threading.current_thread() is threading.main_thread()
            and racer.ident is None  # once
        ):
            racer.start()
            racer.join(1)

    event.listen(db.engine, "before_cursor_execute", start_the_second)
    try:
        run("first", first)
    finally:
        event.remove(db.engine, "before_cursor_execute", start_the_second)
    racer.join(30)
    assert racer.ident is not None, f"the first call never sent {statement!r}"
    return outcome["first"], outcome["second"]
