"""`mvne sims …`: import card factory files, move stock, see stock, make demo files."""

from __future__ import annotations

import csv
import json
import secrets
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from openmvne import ids
from openmvne.cli.common import open_db, public_id
from openmvne.domain.numbers import HostNetwork
from openmvne.domain.sims import ICCID_ISSUERS, IMSI_MNC, make_iccid
from openmvne.errors import InvalidInput
from openmvne.services import sims, users

app = typer.Typer(help="SIM cards: factory files, stock transfers, stock.", no_args_is_help=True)
out = Console()
MAX_SERIAL = 10**10 - 1  # a card's serial is its IMSI's last 10 digits (and fits the ICCID)


@app.command("generate-factory-file")
def generate(
    count: int = typer.Option(..., "--count", min=1, max=10_000_000),
    network: HostNetwork = typer.Option(HostNetwork.UNICOM, "--network"),
    out_file: Path = typer.Option(Path("cards.csv"), "--out"),
    start: int = typer.Option(1, "--start", help="First serial number"),
) -> None:
    """Write a valid blank-card factory file (ICCIDs with Luhn digits, matching IMSIs)."""
    if start < 0 or start + count - 1 > MAX_SERIAL:
        # Checked before the file is opened: no half-written file, no 16-digit IMSI.
        raise InvalidInput(
            f"the serials run from 0 to {MAX_SERIAL:,} (the IMSI's last 10 digits): "
            f"--start {start} with --count {count} leaves that range",
            code="bad_serial",
            field="start",
        )
    issuer = next(p for p, h in ICCID_ISSUERS.items() if h is network)
    mnc = next(m for m, h in IMSI_MNC.items() if h is network)
    with out_file.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(sims.COLUMNS)
        for serial in range(start, start + count):
            writer.writerow(
                [
                    make_iccid(issuer, serial),
                    f"460{mnc}{serial:010d}",
                    secrets.token_hex(16),
                    secrets.token_hex(16),
                    "blank",
                    "",
                    "",
                ]
            )
    out.print(f"{count:,} cards written to {out_file}")


@app.command("import")
def import_file(
    file: Path,
    mvno: str = typer.Option(..., "--mvno", help="The MVNO (org_…)"),
    host: str = typer.Option(..., "--host", help="The host network (org_…)"),
    name: str = typer.Option(None, "--name", help="Batch name (default: the file name)"),
    skip_invalid: bool = typer.Option(
        False, "--skip-invalid", help="Import the good lines; write the rejects"
    ),
    rejects_file: Path = typer.Option(Path("rejects.json"), "--rejects"),
) -> None:
    """Import a card factory file: all or nothing, unless --skip-invalid."""
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read {file}: {exc.strerror}", field="file") from exc
    lines = sims.read_lines(text)
    db = open_db()
    with Progress(console=out, transient=True) as progress:
        task = progress.add_task("importing", total=len(lines))
        result = sims.import_batch(
            db,
            users.operator(db),
            mvno_id=public_id("organization", mvno, "mvno"),
            host_id=public_id("organization", host, "host"),
            name=name or file.name,
            lines=lines,
            skip_invalid=skip_invalid,
            progress=lambda n: progress.advance(task, n),
        )
    if result["rejects"]:
        rejects_file.write_text(
            json.dumps(result["rejects"], ensure_ascii=False, indent=1), encoding="utf-8"
        )
        out.print(f"{len(result['rejects'])} lines rejected, written to {rejects_file}")
    out.print(
        f"batch {ids.to_public('sim_batch', result['id'])}: {result['card_count']:,} cards imported"
    )


@app.command("transfer")
def transfer(
    to: str = typer.Option(None, "--to", help="Receiving channel (chn_…); omit: to the MVNO"),
    source: str = typer.Option(None, "--from", help="Sending channel (chn_…); omit: the MVNO"),
    mvno: str = typer.Option(None, "--mvno", help="The MVNO (org_…), when sending from it"),
    iccid: list[str] = typer.Option([], "--iccid", help="A card (repeat)"),
    span: list[str] = typer.Option([], "--range", help="FIRST:LAST ICCIDs (repeat)"),
) -> None:
    """Move in-stock cards down to a child channel or back up to the parent."""
    ranges = []
    for item in span:
        first, sep, last = item.partition(":")
        if not sep:
            raise InvalidInput("a range is FIRST:LAST", code="bad_range", field="range")
        ranges.append((first, last))
    db = open_db()
    row = sims.transfer(
        db,
        users.operator(db),
        mvno_id=public_id("organization", mvno, "mvno") if mvno else None,
        to_auth_id=public_id("channel_authorisation", to, "to") if to else None,
        from_auth_id=public_id("channel_authorisation", source, "from") if source else None,
        iccids=iccid,
        ranges=ranges,
    )
    out.print(f"{row['card_count']:,} cards moved ({ids.to_public('stock_transfer', row['id'])})")


@app.command("stock")
def stock() -> None:
    """Cards per holder and state."""
    db = open_db()
    table = Table(title="card stock")
    table.add_column("holder", no_wrap=True, min_width=30)
    table.add_column("state")
    table.add_column("cards", justify="right")
    for row in sims.stock(db, users.operator(db).scope):
        table.add_row(
            ids.to_public("organization", row["holder_party_id"]), row["state"], f"{row['count']:,}"
        )
    out.print(table)
