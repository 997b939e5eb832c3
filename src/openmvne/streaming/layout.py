"""The stream's layout on NATS JetStream, and the connection.

- Stream `USAGE` (file storage, work-queue retention: a message stays until a worker has
  rated and acked it; the rated records live in the usage lake, not in the stream), subjects
  `usage.p.*`, a two-minute duplicate window on the `Nats-Msg-Id` header.
- Subject `usage.p.{partition}`: the subscriber partition, `usage.partition_of(msisdn)`, the
  same 16 partitions the rater locks and keeps its claims by.
- One durable pull consumer per partition, `rater-p{partition}`, filtered on its subject.
  A worker binds to the consumers of the partitions it is given, so N workers split the
  partitions and never lock the same partition or claim row; and a worker that dies leaves
  its partitions' messages to be redelivered to whoever binds to them next.

`OPENMVNE_NATS_URL` (default nats://127.0.0.1:4222; several servers comma-separated) names
the servers; `OPENMVNE_NATS_STREAM` the stream (default USAGE; its subjects are the name in
lower case, `.p.{partition}`); `OPENMVNE_NATS_REPLICAS` the stream's replicas when this
process creates it (1; 3 on a cluster).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import NotFoundError

from openmvne.errors import InvalidInput
from openmvne.services.usage import PARTITIONS

DEFAULT_URL = "nats://127.0.0.1:4222"
DEFAULT_STREAM = "USAGE"
DUPLICATE_WINDOW_S = 120.0
ACK_WAIT_S = 60.0
# Messages a partition's consumer hands out before some are acked: two micro-batches.
MAX_ACK_PENDING = 2_000


def nats_url() -> str:
    return os.environ.get("OPENMVNE_NATS_URL", DEFAULT_URL)


@dataclass(frozen=True)
class Layout:
    stream: str = DEFAULT_STREAM
    replicas: int = 1

    @classmethod
    def from_env(cls) -> Layout:
        return cls(
            stream=os.environ.get("OPENMVNE_NATS_STREAM", DEFAULT_STREAM),
            replicas=int(os.environ.get("OPENMVNE_NATS_REPLICAS", "1")),
        )

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", self.stream):
            raise InvalidInput(
                "a stream name is 1-64 letters, digits, _ or -", code="bad_stream", field="stream"
            )

    @property
    def prefix(self) -> str:
        return f"{self.stream.lower()}.p"

    def subject(self, partition: int) -> str:
        return f"{self.prefix}.{partition}"

    @staticmethod
    def consumer(partition: int) -> str:
        return f"rater-p{partition}"


def parse_partitions(text: str | None) -> list[int]:
    """`0-7`, `0,3,5-6` or nothing (all 16)."""
    if not text:
        return list(range(PARTITIONS))
    chosen: set[int] = set()
    for part in text.split(","):
        bounds = part.strip().split("-")
        if len(bounds) not in (1, 2) or not all(
            b.strip().isascii() and b.strip().isdigit() for b in bounds
        ):
            raise InvalidInput(
                f"{text!r} is not a partition list like 0-7 or 0,3,5-6",
                code="bad_partitions",
                field="partitions",
            )
        low, high = int(bounds[0]), int(bounds[-1])
        if not 0 <= low <= high < PARTITIONS:
            raise InvalidInput(
                f"partitions are 0-{PARTITIONS - 1}", code="bad_partitions", field="partitions"
            )
        chosen.update(range(low, high + 1))
    return sorted(chosen)


def describe_partitions(partitions: list[int]) -> str:
    """The inverse of parse_partitions: [0, 1, 2, 5] → `0-2,5`."""
    runs: list[list[int]] = []
    for p in sorted(set(partitions)):
        if runs and runs[-1][1] == p - 1:
            runs[-1][1] = p
        else:
            runs.append([p, p])
    return ",".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs)


async def connect(url: str | None = None, *, name: str = "openmvne") -> Client:
    servers = [s.strip() for s in (url or nats_url()).split(",") if s.strip()]
    return await nats.connect(
        servers=servers,
        name=name,
        connect_timeout=5,
        max_reconnect_attempts=-1,  # ride out a server's restart or a cluster's leader change
        reconnect_time_wait=1,
    )


async def ensure_stream(js: JetStreamContext, layout: Layout) -> None:
    try:
        await js.stream_info(layout.stream)
        return
    except NotFoundError:
        pass
    await js.add_stream(
        StreamConfig(
            name=layout.stream,
            description="OpenMVNE usage records by subscriber partition (docs/streaming.md)",
            subjects=[f"{layout.prefix}.*"],
            retention=RetentionPolicy.WORK_QUEUE,
            storage=StorageType.FILE,
            duplicate_window=DUPLICATE_WINDOW_S,
            num_replicas=layout.replicas,
        )
    )


def consumer_config(layout: Layout, partition: int, *, ack_wait_s: float) -> ConsumerConfig:
    name = layout.consumer(partition)
    return ConsumerConfig(
        name=name,
        durable_name=name,
        description=f"OpenMVNE rater of partition {partition}",
        filter_subject=layout.subject(partition),
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ack_wait_s,
        max_deliver=-1,  # a record is never given up: duplicates cost nothing but a claim check
        max_ack_pending=MAX_ACK_PENDING,
    )


async def status(url: str | None, layout: Layout) -> dict[str, Any]:
    """The stream's and each partition consumer's counts."""
    nc = await connect(url, name="openmvne-status")
    try:
        js = nc.jetstream()
        try:
            info = await js.stream_info(layout.stream)
        except NotFoundError:
            return {"stream": layout.stream, "exists": False, "partitions": []}
        rows = []
        for partition in range(PARTITIONS):
            try:
                ci = await js.consumer_info(layout.stream, layout.consumer(partition))
            except NotFoundError:
                rows.append({"partition": partition, "consumer": None})
                continue
            rows.append(
                {
                    "partition": partition,
                    "consumer": ci.name,
                    "pending": ci.num_pending or 0,
                    "ackPending": ci.num_ack_pending or 0,
                    "redelivered": ci.num_redelivered or 0,
                    "waiting": ci.num_waiting or 0,
                    "ackFloor": ci.ack_floor.stream_seq if ci.ack_floor else 0,
                }
            )
        state = info.state
        return {
            "stream": layout.stream,
            "exists": True,
            "subjects": info.config.subjects,
            "messages": state.messages,
            "bytes": state.bytes,
            "firstSeq": state.first_seq,
            "lastSeq": state.last_seq,
            "partitions": rows,
        }
    finally:
        await nc.close()


async def delete_stream(url: str | None, layout: Layout) -> bool:
    nc = await connect(url, name="openmvne-admin")
    try:
        return bool(await nc.jetstream().delete_stream(layout.stream))
    except NotFoundError:
        return False
    finally:
        await nc.close()
