"""`mvne usage …`: rate usage files (exactly once), rerate a period, generate usage."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import select

from openmvne import clock
from openmvne import money as fen
from openmvne.cli.common import open_db
from openmvne.cli.stream import worker as stream_worker
from openmvne.config import get_settings
from openmvne.db import tables as t
from openmvne.db.scoping import unscoped
from openmvne.domain.subscribers import local_date
from openmvne.errors import InvalidInput
from openmvne.services import usage, usage_generate

app = typer.Typer(help="Usage: rating, rerating, generating.", no_args_is_help=True)
out = Console()


def _summary(result: usage.BatchResult, seconds: float) -> None:
    table = Table(title="rating batch", show_header=False)
    rate = f"{result.records_in / seconds:,.0f} records/s" if seconds > 0 else "-"
    rows = [
        ("records in", f"{result.records_in:,}"),
        ("rated", f"{result.rated:,}"),
        ("duplicates skipped", f"{result.duplicates:,}"),
        ("rejected", f"{result.rejected:,}"
         + (f" ({', '.join(f'{k} {v}' for k, v in result.reasons.most_common())})"
            if result.reasons else "")),
        ("late", f"{result.late:,} (of a settled month: billed in the next open one)"),
        ("lines charged", f"{result.lines:,}"),
        ("charges", f"{fen.format_fen(result.charged_fen)} yuan"),
        ("unpaid (lines in arrears)", f"{fen.format_fen(result.unpaid_fen)} yuan"),
        ("wholesale cost", f"{fen.format_fen(result.wholesale_fen)} yuan"),
        ("margin", f"{fen.format_fen(result.charged_fen - result.wholesale_fen)} yuan"),
        ("time", f"{seconds:.2f} s, {rate}"),
    ]  # fmt: skip
    for name, value in rows:
        table.add_row(name, value)
    out.print(table)


@app.command("rate")
def rate(
    files: list[Path] = typer.Argument(None, help="CSV or Parquet usage files"),
    rerate: str | None = typer.Option(None, "--rerate", help="Rate this period (YYYY-MM) again"),
) -> None:
    """Rate usage files as one batch: each record once, however often it arrives."""
    db = open_db()
    lake = Path(get_settings().usage_dir)
    started = time.perf_counter()
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), transient=True
    ) as progress:
        if rerate:
            progress.add_task(f"rerating {rerate}", total=None)
            result = usage.rerate(db, rerate, lake=lake)
        elif files:
            progress.add_task(f"rating {len(files)} file(s)", total=None)
            result = usage.rate_files(db, files, lake=lake)
        else:
            raise InvalidInput(
                "name usage files, or --rerate PERIOD", code="required", field="files"
            )
    if rerate and result.batch_id is None:
        out.print(f"{rerate}: nothing changed")
        return
    _summary(result, time.perf_counter() - started)


@app.command("generate")
def generate(
    output: Path | None = typer.Option(None, "--out", help="File to write (.csv or .parquet)"),
    stream: bool = typer.Option(
        False, "--stream", help="Publish to the usage stream instead, as the network would"
    ),
    subscribers: int = typer.Option(100, "--subscribers", min=1, help="Lines in service to use"),
    days: int = typer.Option(30, "--days", min=1),
    start: str | None = typer.Option(None, "--start", help="First day, YYYY-MM-DD (Beijing)"),
    seed: int = typer.Option(0, "--seed", min=0),
    per_day: float = typer.Option(
        8.0, "--per-day", min=0.0, max=10_000.0, help="Records per line and day, on average"
    ),
    seq_base: int = typer.Option(
        0, "--seq-base", min=0, help="First sequence number of every node"
    ),
) -> None:
    """Realistic usage of the database's active lines (daily rhythm, calls, SMS, data), to a
    file or, with --stream, published to JetStream by subscriber partition (the simulated
    host network's feed; `mvne usage worker` rates it)."""
    if (output is None) == (not stream):
        raise InvalidInput("give either --out FILE or --stream", code="required", field="out")
    db = open_db()
    sub = t.subscription
    with db.read() as conn:
        lines = list(
            conn.execute(
                unscoped(
                    select(sub.c.msisdn)
                    .where(sub.c.state == "active")
                    .order_by(sub.c.msisdn)
                    .limit(subscribers),
                    "usage for the installation's own lines",
                )
            ).scalars()
        )
    if not lines:
        raise InvalidInput("no active lines to generate usage for", code="no_lines")
    try:
        first = date.fromisoformat(start) if start else local_date(clock.now()).replace(day=1)
    except ValueError as exc:
        raise InvalidInput(f"--start: {exc}", code="bad_date", field="start") from exc
    table = usage_generate.generate(
        lines, days=days, start=first, seed=seed, per_day=per_day, seq_base=seq_base
    )
    if output is not None:
        usage_generate.write(table, output)
        out.print(f"{table.num_rows:,} records for {len(lines)} lines over {days} days → {output}")
        return
    from openmvne.streaming import codec, publisher

    result = publisher.publish(codec.normalise(table))
    out.print(
        f"{result.records:,} records for {len(lines)} lines over {days} days published to the "
        f"stream in {result.messages:,} messages"
        + (f" ({result.duplicate_records:,} already there)" if result.duplicate_records else "")
    )


# `mvne usage worker`: the usage stream's rater, the same command as `mvne stream worker`.
app.command("worker")(stream_worker)
