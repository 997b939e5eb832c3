"""Group commit: concurrent callers of one operation share one transaction.

A caller queues its request. If nobody is leading, it leads: it takes everything queued (its
own request included), runs the batch, hands each waiting caller its own answer, and passes
the lead to the first request still queued, if any. The others wait. So requests arriving
while a batch commits form the next batch, a lone request runs at once, and no thread runs
in the background. Nobody gets an answer before the batch that holds its request commits.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import anyio.to_thread
import psycopg
from sqlalchemy import Connection, Table
from sqlalchemy.exc import IntegrityError

from openmvne.db.bulk import insert_rows
from openmvne.db.engine import Database
from openmvne.errors import Busy, Conflict

Ask = TypeVar("Ask")
Answer = TypeVar("Answer")
ATTEMPTS = 3  # a batch that lost a race with another process's is run again, this often


class Raced(Exception):
    """Another process took one of the batch's unique keys after the batch looked."""


def insert_claiming(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert rows whose unique keys the batch checked were free: if another process took
    one since, the batch is run again from the start (and then sees it)."""
    try:
        insert_rows(conn, table, rows)
    except (IntegrityError, psycopg.IntegrityError) as exc:  # COPY raises psycopg's own
        raise Raced from exc


def run_retrying(
    db: Database, run: Callable[[Connection], list[Answer | BaseException]]
) -> list[Answer | BaseException]:
    """`run` in one transaction; again from the start if it raced another process's batch
    (Raced), or met a lock timeout or deadlock (db.write says Busy)."""
    for attempt in range(ATTEMPTS):
        try:
            with db.write() as conn:
                return run(conn)
        except Raced:
            continue
        except Busy:
            if attempt == ATTEMPTS - 1:
                raise
    raise Conflict("a request with the same key is in flight; retry", code="request_in_flight")


@dataclass(eq=False)
class _Slot(Generic[Ask, Answer]):
    ask: Ask
    ready: threading.Event = field(default_factory=threading.Event)
    lead: bool = False
    answer: Answer | None = None
    error: BaseException | None = None
    done: bool = False


class Combiner(Generic[Ask, Answer]):
    """`run(asks)` returns one answer or exception per ask, in order."""

    def __init__(
        self,
        run: Callable[[Sequence[Ask]], Sequence[Answer | BaseException]],
        *,
        max_batch: int = 200,
    ) -> None:
        self._run = run
        self._max_batch = max_batch
        self._lock = threading.Lock()
        self._queue: list[_Slot[Ask, Answer]] = []
        self._leading = False

    def submit(self, ask: Ask) -> Answer:
        slot: _Slot[Ask, Answer] = _Slot(ask)
        with self._lock:
            self._queue.append(slot)
            slot.lead = not self._leading
            self._leading = True
        if not slot.lead:
            slot.ready.wait()
        if not slot.done:  # leading now: our own request is still queued
            self._lead()
        if slot.error is not None:
            raise slot.error
        return slot.answer  # type: ignore[return-value]  # set with done, possibly None

    def _lead(self) -> None:
        with self._lock:
            batch = self._queue[: self._max_batch]
            del self._queue[: self._max_batch]
        try:
            outcomes: Sequence[Answer | BaseException] = self._run([s.ask for s in batch])
            if len(outcomes) != len(batch):  # pragma: no cover - a bug in run
                raise RuntimeError("the batch answered the wrong number of requests")
        except BaseException as exc:  # every request of a failed batch learns why
            outcomes = [exc] * len(batch)
        for slot, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                slot.error = outcome
            else:
                slot.answer = outcome
            slot.done = True
        with self._lock:
            if self._queue:
                self._queue[0].lead = True
                self._queue[0].ready.set()  # the next leader, woken before the others
            else:
                self._leading = False
        for slot in batch:
            slot.ready.set()


class AsyncCombiner(Generic[Ask, Answer]):
    """The same for an event loop: requests queue on the loop; a drain task runs what is
    queued as a batch in a worker thread and resolves each request's future. An async
    endpoint then costs no thread of its own while it waits for its commit. With
    `parallel` > 1, that many batches may be under way at once: on PostgreSQL one batch reads
    while the one before it writes and commits (their row locks keep them in order)."""

    def __init__(
        self,
        run: Callable[[Sequence[Ask]], Sequence[Answer | BaseException]],
        *,
        max_batch: int = 200,
        parallel: int = 1,
    ) -> None:
        self._run = run
        self._max_batch = max_batch
        self._parallel = parallel
        self._queue: list[tuple[Ask, asyncio.Future[Answer]]] = []
        self._drains: set[asyncio.Task[None]] = set()
        self.loop = asyncio.get_running_loop()

    async def submit(self, ask: Ask) -> Answer:
        future: asyncio.Future[Answer] = self.loop.create_future()
        self._queue.append((ask, future))
        if len(self._drains) < self._parallel:
            self._drains.add(self.loop.create_task(self._drain()))
        return await future

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch = self._queue[: self._max_batch]
                del self._queue[: self._max_batch]
                asks = [ask for ask, _ in batch]
                try:
                    outcomes = await anyio.to_thread.run_sync(self._run, asks)
                except BaseException as exc:  # each request learns why
                    outcomes = [exc] * len(batch)
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    if future.done():  # its caller went away; the effect stands
                        continue
                    if isinstance(outcome, BaseException):
                        future.set_exception(outcome)
                    else:
                        future.set_result(outcome)
        finally:
            # Here, not in a done callback: a request queued after the last look at the
            # queue must see this drain gone and start another.
            me = asyncio.current_task()
            if me is not None:
                self._drains.discard(me)
