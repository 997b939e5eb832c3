"""The stream's rater: `mvne stream worker` (alias `mvne usage worker`).

A worker binds to the durable pull consumers of its partitions (`rater-p{n}`, one per
partition), and loops:

1. collect a micro-batch: what is waiting, up to `max_records` records, a partition at a
   time (whole partitions touch each line once per batch); when nothing is waiting, the
   first message from any partition and what comes within `batch_ms` after it. Messages
   are decoded (Arrow IPC) as they arrive; one that does not decode is terminated and
   logged;
2. rate it with `usage.rate_table`: one database transaction that claims the records' ids,
   posts the charges and commits (in a thread: the event loop keeps the held messages alive
   with in-progress acks, and collects the next micro-batch meanwhile);
3. ack the messages, only after the commit. If rating fails, nak them (redelivered after a
   back-off) and go on.

Exactly once: every record is acked only after a commit that claimed it, so a message is
either still in the stream (redelivered: to this worker, or to the next one bound to the
partition) or its records are claimed. A redelivered message whose records were committed
before the ack got lost (a worker killed between commit and ack, an ack lost on the wire)
finds them claimed: the batch counts them as duplicates and charges nothing.

Each worker keeps its rated-record files in a lake folder of its own
(`OPENMVNE_USAGE_DIR/workers/{name}`, held with an exclusive lock while the worker runs): the
rater's crash recovery tidies a lake folder's uncommitted files, which must not be another
live rater's files in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import math
import signal
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats.errors
import pyarrow as pa
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import APIError, NotFoundError

from openmvne.db.engine import Database
from openmvne.errors import InvalidInput
from openmvne.services import usage
from openmvne.streaming import codec
from openmvne.streaming.layout import (
    ACK_WAIT_S,
    Layout,
    connect,
    consumer_config,
    describe_partitions,
    ensure_stream,
)

log = logging.getLogger("openmvne.streaming")

RateFn = Callable[[pa.Table, str], usage.BatchResult]


@dataclass
class WorkerOptions:
    partitions: list[int]
    batch_ms: int = 200
    max_records: int = 200_000
    ack_wait_s: float = ACK_WAIT_S
    # Stop after this many seconds with nothing to rate (0: run until a signal).
    exit_when_idle_s: float = 0.0
    name: str = ""

    def __post_init__(self) -> None:
        if not self.partitions:
            raise InvalidInput("a worker needs partitions", code="bad_partitions")
        if self.batch_ms < 1 or self.max_records < 1:
            raise InvalidInput("batch-ms and max-records are positive", code="bad_option")
        if not self.name:
            self.name = f"{socket.gethostname()}-p{describe_partitions(self.partitions)}"


@dataclass
class WorkerStats:
    batches: int = 0
    messages: int = 0
    redelivered: int = 0  # messages delivered more than once
    records_in: int = 0
    rated: int = 0
    duplicates: int = 0
    rejected: int = 0
    charged_fen: int = 0
    failed_batches: int = 0
    bad_messages: int = 0
    rating_s: float = 0.0
    started: float = field(default_factory=time.perf_counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "batches": self.batches,
            "messages": self.messages,
            "redelivered": self.redelivered,
            "recordsIn": self.records_in,
            "rated": self.rated,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "chargedFen": self.charged_fen,
            "failedBatches": self.failed_batches,
            "badMessages": self.bad_messages,
            "ratingSeconds": round(self.rating_s, 3),
            "seconds": round(time.perf_counter() - self.started, 3),
        }


@dataclass
class _Batch:
    messages: list[Msg]
    tables: list[pa.Table]
    records: int


class Worker:
    """Rates its partitions' messages with `rate(table, source)`, acking after it returns."""

    def __init__(
        self,
        rate: RateFn,
        options: WorkerOptions,
        *,
        url: str | None = None,
        layout: Layout | None = None,
    ) -> None:
        self.rate = rate
        self.options = options
        self.url = url
        self.layout = layout or Layout.from_env()
        self.stats = WorkerStats()
        self.stop = asyncio.Event()
        self._held: dict[int, list[Msg]] = {}  # messages in hand, kept alive by in-progress acks
        self._last_activity = time.monotonic()
        self._per_message = float(codec.RECORDS_PER_MESSAGE)  # observed records per message
        self._backoff = 0.5
        self._turn = 0  # the partition the next fill starts with
        self._idle = True  # the last collect found nothing: wait on all partitions at once
        self._fetching = asyncio.Lock()
        self._waiting = False  # the collector waits (up to batch_ms) for a first message
        self._rating = False  # a batch is being topped up, rated or acked
        self._rater_gone = False

    # --- the loop ------------------------------------------------------------------------

    async def run(self) -> WorkerStats:
        nc = await connect(self.url, name=f"openmvne-worker-{self.options.name}")
        try:
            js = nc.jetstream()
            await ensure_stream(js, self.layout)
            subs = [await self._bind(js, p) for p in self.options.partitions]
            log.info(
                "worker %s: stream %s, partitions %s, micro-batches of up to %s records / %s ms",
                self.options.name,
                self.layout.stream,
                describe_partitions(self.options.partitions),
                self.options.max_records,
                self.options.batch_ms,
            )
            queue: asyncio.Queue[_Batch | None] = asyncio.Queue(maxsize=1)
            collector = asyncio.create_task(self._collect_loop(subs, queue))
            ticker = asyncio.create_task(self._keep_alive())
            try:
                while True:
                    batch = await queue.get()
                    if batch is None:
                        break
                    self._rating = True
                    try:
                        if not self.stop.is_set():
                            await self._top_up(subs, batch)
                        if self.stop.is_set():  # collected before the stop: give it back
                            await self._release(batch, "shutting down")
                            continue
                        await self._rate(batch)
                    finally:
                        self._rating = False
                        self._last_activity = time.monotonic()
            finally:
                self.stop.set()
                self._rater_gone = True
                ticker.cancel()
                if not collector.done():  # only when rating broke off: nobody takes its batch
                    collector.cancel()
                await asyncio.gather(collector, ticker, return_exceptions=True)
                while not queue.empty():
                    left = queue.get_nowait()
                    if left is not None:
                        await self._release(left, "shutting down")
            with contextlib.suppress(Exception):
                await nc.flush(timeout=5)  # the last acks reach the server before we go
        finally:
            await nc.close()
        log.info("worker %s stopped: %s", self.options.name, self.stats.as_dict())
        return self.stats

    async def _bind(
        self, js: JetStreamContext, partition: int
    ) -> JetStreamContext.PullSubscription:
        name = self.layout.consumer(partition)
        try:
            await js.consumer_info(self.layout.stream, name)
        except NotFoundError:
            config = consumer_config(self.layout, partition, ack_wait_s=self.options.ack_wait_s)
            try:
                await js.add_consumer(self.layout.stream, config=config)
            except APIError:  # another worker created it meanwhile
                await js.consumer_info(self.layout.stream, name)
        return await js.pull_subscribe_bind(durable=name, stream=self.layout.stream)

    async def _collect_loop(
        self, subs: list[JetStreamContext.PullSubscription], queue: asyncio.Queue[_Batch | None]
    ) -> None:
        try:
            while not self.stop.is_set():
                batch = await self._collect(subs)
                if batch is None:
                    idle = self.options.exit_when_idle_s
                    quiet = time.monotonic() - self._last_activity
                    if idle and queue.empty() and not self._rating and quiet >= idle:
                        if await self._owed(subs):  # given back, or lost in a fetch: wait
                            continue
                        log.info("worker %s: idle for %.1f s, stopping", self.options.name, idle)
                        self.stop.set()
                    continue
                self._last_activity = time.monotonic()
                await queue.put(batch)
        finally:
            # The end of the batches; the rater takes it after any batch still queued (unless
            # the rater itself broke off).
            while not self._rater_gone:
                try:
                    queue.put_nowait(None)
                    break
                except asyncio.QueueFull:
                    await asyncio.sleep(0.01)

    async def _owed(self, subs: list[JetStreamContext.PullSubscription]) -> bool:
        """Whether the partitions still hold messages for a worker: not yet delivered, or
        delivered and not acked (given back with a delay after a failed batch, or handed to a
        fetch that timed out, until ack_wait). Idle is not done while they do."""
        for sub in subs:
            try:
                info = await sub.consumer_info()
            except Exception:  # cannot tell: not done
                return True
            if (info.num_pending or 0) + (info.num_ack_pending or 0):
                return True
        return False

    async def _collect(self, subs: list[JetStreamContext.PullSubscription]) -> _Batch | None:
        """A micro-batch: what is waiting, up to max_records; when little is, what comes
        within batch_ms. None if nothing came."""
        batch = _Batch([], [], 0)
        self._held[id(batch)] = batch.messages
        budget = self.options.batch_ms / 1000
        started = time.monotonic()
        while not self.stop.is_set() and batch.records < self.options.max_records:
            if batch.messages or not self._idle:
                await self._fill(subs, batch)
            remaining = budget - (time.monotonic() - started)
            if batch.records >= self.options.max_records or remaining <= 0:
                break
            if batch.messages:
                await asyncio.sleep(min(remaining, 0.05))  # let more come within batch_ms
            else:
                await self._first(subs, batch, remaining)
                if not batch.messages:
                    break
        self._idle = not batch.messages
        if not batch.messages:
            self._held.pop(id(batch), None)
            return None
        return batch

    async def _first(
        self, subs: list[JetStreamContext.PullSubscription], batch: _Batch, timeout: float
    ) -> None:
        """Nothing is waiting: wait on every partition at once for the first message."""
        async with self._fetching:
            self._waiting = True
            try:
                rounds = await asyncio.gather(*(self._fetch(s, 1, timeout) for s in subs))
            finally:
                self._waiting = False
            for messages in rounds:
                for msg in messages:
                    await self._take(batch, msg)

    async def _fill(
        self,
        subs: list[JetStreamContext.PullSubscription],
        batch: _Batch,
        *,
        topping_up: bool = False,
    ) -> None:
        """Take what is waiting, up to max_records, a partition at a time: each partition's
        messages until it has no more, then the next one's, in turn from where the last batch
        stopped. A batch pays a cost per line it touches, so under a backlog a batch of whole
        partitions touches each line once where a slice of every partition would touch every
        line in every batch; and it locks fewer partitions."""
        tried = 0
        while (
            tried < len(subs)
            and not self.stop.is_set()
            and batch.records < self.options.max_records
            and not (topping_up and self._waiting)
        ):
            sub = subs[self._turn % len(subs)]
            wanted = math.ceil((self.options.max_records - batch.records) / self._per_message)
            async with self._fetching:
                got = await self._fetch(sub, wanted, 0.01)
                for msg in got:
                    await self._take(batch, msg)
            if batch.messages:
                self._per_message = max(1.0, batch.records / len(batch.messages))
            if len(got) < wanted:  # the partition has nothing more for now
                self._turn += 1
                tried += 1

    async def _top_up(self, subs: list[JetStreamContext.PullSubscription], batch: _Batch) -> None:
        """A batch collected while the previous one was being rated gets what has come since,
        up to max_records: under a backlog every batch is a full one. Not while the collector
        waits for the first message of its next batch: nothing was waiting a moment ago, and
        the top-up would queue behind that wait once per partition (measured: 1.5 s idle
        before a batch's rating); what comes goes into the next batch."""
        await self._fill(subs, batch, topping_up=True)

    async def _fetch(
        self, sub: JetStreamContext.PullSubscription, count: int, timeout: float
    ) -> list[Msg]:
        try:
            return await sub.fetch(count, timeout=timeout)
        except (TimeoutError, nats.errors.TimeoutError):
            return []
        except Exception as exc:  # a reconnect in progress, a server restarting
            log.warning("worker %s: fetch failed (%s), retrying", self.options.name, exc)
            await asyncio.sleep(min(1.0, timeout))
            return []

    async def _take(self, batch: _Batch, msg: Msg) -> None:
        try:
            table = codec.decode(msg.data)
        except Exception as exc:
            # Not records of ours: redelivering it would never help. Dropped, and said so.
            log.error(
                "worker %s: message %s of %s is not a usage record batch (%s); terminated",
                self.options.name,
                msg.metadata.sequence.stream,
                msg.subject,
                exc,
            )
            self.stats.bad_messages += 1
            await msg.term()
            return
        batch.messages.append(msg)
        batch.tables.append(table)
        batch.records += table.num_rows

    async def _rate(self, batch: _Batch) -> None:
        table = pa.concat_tables(batch.tables)
        redelivered = sum(1 for m in batch.messages if m.metadata.num_delivered > 1)
        source = (
            f"stream {self.layout.stream} worker {self.options.name}: "
            f"{len(batch.messages)} messages"
            + (f" ({redelivered} redelivered)" if redelivered else "")
        )
        started = time.perf_counter()
        try:
            result = await asyncio.to_thread(self.rate, table, source)
        except Exception:
            self.stats.failed_batches += 1
            log.exception(
                "worker %s: rating %s records failed; they will be redelivered in %.1f s",
                self.options.name,
                batch.records,
                self._backoff,
            )
            await self._release(batch, "rating failed", delay=self._backoff)
            await asyncio.sleep(self._backoff)
            self._backoff = min(30.0, self._backoff * 2)
            return
        seconds = time.perf_counter() - started
        self._backoff = 0.5
        # Committed: now, and only now, the messages may leave the stream.
        await asyncio.gather(*(self._ack(m) for m in batch.messages))
        self._held.pop(id(batch), None)
        self._last_activity = time.monotonic()
        s = self.stats
        s.batches += 1
        s.messages += len(batch.messages)
        s.redelivered += redelivered
        s.records_in += result.records_in
        s.rated += result.rated
        s.duplicates += result.duplicates
        s.rejected += result.rejected
        s.charged_fen += result.charged_fen
        s.rating_s += seconds
        log.info(
            "worker %s: batch of %s records from %s messages: %s rated, %s duplicates, "
            "%s rejected, %.2f s (%.0f records/s)",
            self.options.name,
            result.records_in,
            len(batch.messages),
            result.rated,
            result.duplicates,
            result.rejected,
            seconds,
            result.records_in / seconds if seconds > 0 else 0,
        )

    async def _ack(self, msg: Msg) -> None:
        try:
            await msg.ack()
        except nats.errors.MsgAlreadyAckdError:
            pass
        except Exception as exc:  # the records are committed: a redelivery finds them claimed
            log.warning("worker %s: an ack was lost (%s)", self.options.name, exc)

    async def _release(self, batch: _Batch, why: str, *, delay: float | None = None) -> None:
        self._held.pop(id(batch), None)
        for msg in batch.messages:
            with contextlib.suppress(Exception):
                await msg.nak(delay=delay)
        log.info(
            "worker %s: %s messages given back (%s)", self.options.name, len(batch.messages), why
        )

    async def _keep_alive(self) -> None:
        """In-progress acks for the messages in hand, so a long batch is not redelivered."""
        every = max(0.2, self.options.ack_wait_s / 3)
        while True:
            await asyncio.sleep(every)
            for messages in list(self._held.values()):
                for msg in list(messages):
                    if not msg.is_acked:
                        with contextlib.suppress(Exception):
                            await msg.in_progress()


# --- running one ----------------------------------------------------------------------------


def worker_lake(usage_dir: str | Path, name: str) -> Path:
    return usage.lake_dir(Path(usage_dir) / "workers" / name)


@contextlib.contextmanager
def exclusive(lake: Path) -> Iterator[None]:
    """Hold the worker's lake folder; a second worker of the same name is refused."""
    with (lake / ".worker.lock").open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise InvalidInput(
                f"another worker is running with the lake {lake}; give each worker its own --name",
                code="worker_running",
                field="name",
            ) from exc
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def rater(db: Database, lake: Path) -> RateFn:
    def rate(table: pa.Table, source: str) -> usage.BatchResult:
        return usage.rate_table(db, table, lake=lake, source=source)

    return rate


async def run_until_signalled(worker: Worker) -> WorkerStats:
    """Run until SIGTERM or SIGINT (or idle, if asked): the batch being rated is finished and
    acked, messages collected but not rated are given back, then the worker exits."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.stop.set)
    try:
        return await worker.run()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


def serve(
    options: WorkerOptions,
    *,
    database_url: str,
    usage_dir: str | Path,
    url: str | None = None,
    layout: Layout | None = None,
    lock_timeout_s: float = 120.0,
) -> WorkerStats:
    """A worker process's life: its database, its lake folder, the loop until a signal."""
    # A batch waits for another worker's commit rather than failing: it is background work.
    db = Database(database_url, lock_timeout_s=lock_timeout_s, pool_size=2)
    lake = worker_lake(usage_dir, options.name)
    try:
        with exclusive(lake):
            worker = Worker(rater(db, lake), options, url=url, layout=layout)
            return asyncio.run(run_until_signalled(worker))
    finally:
        db.dispose()
