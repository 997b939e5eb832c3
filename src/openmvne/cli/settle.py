"""`mvne settle --month M` and `mvne report NAME`: month end, as the platform operator."""

from __future__ import annotations

import csv
import io
import json
import sys
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from openmvne import money as fen
from openmvne.cli.common import open_db, public_id
from openmvne.errors import InvalidInput
from openmvne.services import reports, settlement, users

out = Console()


def settle(
    month: str = typer.Option(..., "--month", help="YYYY-MM (Beijing calendar)"),
    mvno: str | None = typer.Option(None, "--mvno", help="One MVNO (org_…); default all"),
    close: bool = typer.Option(False, "--close", help="Close the month: post what it owes"),
) -> None:
    """Settle a month: the hosts' wholesale bills, commission statements, margins."""
    db = open_db()
    runs = settlement.settle(
        db,
        users.operator(db),
        month,
        mvno_id=public_id("organization", mvno, "--mvno") if mvno else None,
        close=close,
    )
    table = Table(title=f"settlement {month}")
    for column in ("MVNO", "status", "wholesale", "commissions", "margin", "digest"):
        table.add_column(column)
    for run in runs:
        docs = run["documents"]
        wholesale = sum(b["totalFen"] for b in docs["wholesaleBills"])
        commissions = sum(s["totalFen"] for s in docs["commissionStatements"])
        margin = sum(m["marginFen"] for m in docs["margin"]["byOffer"])
        table.add_row(
            docs["mvno"],
            run["status"],
            f"{fen.format_fen(wholesale)}",
            f"{fen.format_fen(commissions)}",
            f"{fen.format_fen(margin)}",
            run["digest"][:12],
        )
    out.print(table)


def report(
    name: str = typer.Argument(..., help=", ".join(sorted(reports.REPORTS))),
    output: str = typer.Option("table", "--format", help="table, csv or json"),
) -> None:
    """A report over the whole platform."""
    if output not in ("table", "csv", "json"):
        raise InvalidInput("--format is table, csv or json", code="bad_format", field="--format")
    db = open_db()
    rows = reports.run(db, users.operator(db).scope, name)
    if output == "json":
        sys.stdout.write(json.dumps(rows, ensure_ascii=False, indent=1) + "\n")
        return
    columns: list[str] = list(rows[0]) if rows else []
    if output == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
        sys.stdout.write(buffer.getvalue())
        return
    table = Table(title=name)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(_cell(row[c]) for c in columns))
    out.print(table)


def _cell(value: Any) -> str:
    return "" if value is None else str(value)
