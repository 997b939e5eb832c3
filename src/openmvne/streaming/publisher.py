"""Publishing usage to the stream: the simulated network's (and `mvne stream publish FILE`'s)
side. Records are split by subscriber partition into messages of a few thousand records;
each message carries `Nats-Msg-Id` = its content hash, so a publish that is retried after a
lost acknowledgement is stored once (within the stream's two-minute window; after it, the
rater's claims drop the records as duplicates anyway).

Messages are published asynchronously (many in flight) and `publish` returns once JetStream
has acknowledged every one of them: then the records are on disk in the stream.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from nats.aio.client import Client
from nats.js.api import PubAck

from openmvne.streaming import codec
from openmvne.streaming.layout import Layout, connect, ensure_stream

# Messages awaiting JetStream's acknowledgement at once.
IN_FLIGHT = 256


@dataclass
class PublishResult:
    records: int = 0
    messages: int = 0
    duplicate_messages: int = 0  # already in the stream (same Nats-Msg-Id within the window)
    duplicate_records: int = 0
    bytes: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "messages": self.messages,
            "duplicateMessages": self.duplicate_messages,
            "duplicateRecords": self.duplicate_records,
            "bytes": self.bytes,
            "seconds": round(self.seconds, 3),
        }


async def publish_with(
    nc: Client,
    table: pa.Table,
    layout: Layout | None = None,
    *,
    per_message: int = codec.RECORDS_PER_MESSAGE,
) -> PublishResult:
    """Publish on an open connection; returns once every message is acknowledged."""
    layout = layout or Layout.from_env()
    started = time.perf_counter()
    js = nc.jetstream(publish_async_max_pending=IN_FLIGHT)
    await ensure_stream(js, layout)
    result = PublishResult()
    pending: list[tuple[int, asyncio.Future[PubAck]]] = []
    # Leave room for the headers under the server's message size limit.
    max_bytes = max(64 << 10, nc.max_payload - 4096)
    for message in codec.split(table, per_message=per_message, max_bytes=max_bytes):
        future = await js.publish_async(
            layout.subject(message.partition),
            message.payload,
            wait_stall=60.0,
            headers={
                "Nats-Msg-Id": message.msg_id,
                codec.HEADER_RECORDS: str(message.records),
            },
        )
        pending.append((message.records, future))
        result.messages += 1
        result.records += message.records
        result.bytes += len(message.payload)
    for records, future in pending:
        ack = await asyncio.wait_for(future, timeout=60.0)
        if ack.duplicate:
            result.duplicate_messages += 1
            result.duplicate_records += records
    result.seconds = time.perf_counter() - started
    return result


async def publish_async(
    table: pa.Table,
    *,
    url: str | None = None,
    layout: Layout | None = None,
    per_message: int = codec.RECORDS_PER_MESSAGE,
) -> PublishResult:
    nc = await connect(url, name="openmvne-publisher")
    try:
        return await publish_with(nc, table, layout, per_message=per_message)
    finally:
        await nc.close()


def publish(
    table: pa.Table,
    *,
    url: str | None = None,
    layout: Layout | None = None,
    per_message: int = codec.RECORDS_PER_MESSAGE,
) -> PublishResult:
    """Publish usage records (a table with the usage file's columns) to the stream; returns
    once JetStream holds them all. For callers without an event loop of their own."""
    return asyncio.run(publish_async(table, url=url, layout=layout, per_message=per_message))
