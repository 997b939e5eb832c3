"""`mvne stream …`: usage over NATS JetStream (docs/streaming.md): publish usage files to the
stream, run a worker that rates its partitions exactly once, show the stream's state.

The NATS servers come from OPENMVNE_NATS_URL (default nats://127.0.0.1:4222), the stream's
name from OPENMVNE_NATS_STREAM (default USAGE); the database and the usage lake are the
installation's (OPENMVNE_DATABASE_URL, OPENMVNE_USAGE_DIR).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from openmvne.config import get_settings

app = typer.Typer(
    help="Usage over NATS JetStream: publish, rate in workers, status.", no_args_is_help=True
)
out = Console()


@app.command("publish")
def publish(
    files: list[Path] = typer.Argument(..., help="CSV or Parquet usage files"),
    per_message: int = typer.Option(
        4000, "--per-message", min=1, max=100_000, help="Records per message"
    ),
) -> None:
    """Publish usage files to the stream (by subscriber partition); done when all are stored."""
    from openmvne.streaming import codec, publisher

    table = codec.read_files(files)
    result = publisher.publish(table, per_message=per_message)
    rate = result.records / result.seconds if result.seconds > 0 else 0
    out.print(
        f"{result.records:,} records in {result.messages:,} messages "
        f"({result.bytes / 1e6:,.1f} MB) published in {result.seconds:.2f} s, "
        f"{rate:,.0f} records/s"
        + (
            f"; {result.duplicate_messages:,} messages ({result.duplicate_records:,} records) "
            "were already in the stream"
            if result.duplicate_messages
            else ""
        )
    )


@app.command("worker")
def worker(
    partitions: str = typer.Option(
        "", "--partitions", help="This worker's partitions: 0-7, 0,3,5-6 (default: all 16)"
    ),
    batch_ms: int = typer.Option(
        200, "--batch-ms", min=1, help="Rate what came within this many ms of a batch's start"
    ),
    max_records: int = typer.Option(
        200_000, "--max-records", min=1, help="Records per micro-batch at most"
    ),
    ack_wait: float = typer.Option(
        60.0,
        "--ack-wait",
        min=0.5,
        help="Seconds before an unacked message is redelivered "
        "(set when the partition's consumer is created)",
    ),
    exit_when_idle: float = typer.Option(
        0.0, "--exit-when-idle", min=0.0, help="Stop after this many idle seconds (0: never)"
    ),
    name: str = typer.Option(
        "", "--name", help="The worker's name (default: host and partitions); one lake each"
    ),
) -> None:
    """Rate the stream's usage in micro-batches, exactly once; SIGTERM stops it cleanly."""
    from openmvne import logs
    from openmvne.streaming import layout
    from openmvne.streaming import worker as streaming

    settings = get_settings()
    logs.configure(settings.log_format, settings.log_level)
    options = streaming.WorkerOptions(
        partitions=layout.parse_partitions(partitions),
        batch_ms=batch_ms,
        max_records=max_records,
        ack_wait_s=ack_wait,
        exit_when_idle_s=exit_when_idle,
        name=name,
    )
    stats = streaming.serve(
        options,
        database_url=settings.database_url,
        usage_dir=settings.usage_dir,
        lock_timeout_s=max(settings.lock_timeout_s, 120.0),
    )
    print(json.dumps(stats.as_dict()))


@app.command("status")
def status(as_json: bool = typer.Option(False, "--json", help="Print JSON")) -> None:
    """The stream's messages, and each partition's pending and unacked messages."""
    from openmvne.streaming import layout

    state = asyncio.run(layout.status(None, layout.Layout.from_env()))
    if as_json:
        print(json.dumps(state))
        return
    if not state["exists"]:
        out.print(f"stream {state['stream']} does not exist yet")
        return
    out.print(
        f"stream {state['stream']} ({', '.join(state['subjects'])}): "
        f"{state['messages']:,} messages, {state['bytes'] / 1e6:,.1f} MB"
    )
    table = Table(title="partitions")
    for column in ("partition", "consumer", "pending", "unacked", "redelivered", "waiting"):
        table.add_column(column)
    for row in state["partitions"]:
        if row["consumer"] is None:
            table.add_row(str(row["partition"]), "-", "", "", "", "")
            continue
        table.add_row(
            str(row["partition"]),
            row["consumer"],
            f"{row['pending']:,}",
            f"{row['ackPending']:,}",
            f"{row['redelivered']:,}",
            str(row["waiting"]),
        )
    out.print(table)
