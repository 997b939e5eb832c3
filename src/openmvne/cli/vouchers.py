"""`mvne vouchers …`: create batches (PINs to a file, once), redeem a PIN."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import typer
from rich.console import Console

from openmvne import ids, money
from openmvne.cli.common import open_db, public_id
from openmvne.errors import InvalidInput
from openmvne.services import users, vouchers

app = typer.Typer(help="Recharge vouchers (充值卡).", no_args_is_help=True)
out = Console()


@app.command("create")
def create(
    mvno: str = typer.Option(..., "--mvno", help="The MVNO (org_…)"),
    face: str = typer.Option(..., "--face", help="Face value in yuan, e.g. 50"),
    count: int = typer.Option(..., "--count", min=1, max=100_000),
    expires: str = typer.Option(..., "--expires", help="YYYY-MM-DD"),
    out_file: Path = typer.Option(
        Path("vouchers.csv"),
        "--out",
        help="Serials and PINs, for the printer (shown once; never overwrites a file)",
    ),
) -> None:
    """Create a batch; the serials and PINs are written to a file, once."""
    try:
        expires_on = date.fromisoformat(expires)
        face_fen = money.parse_yuan(face)
    except ValueError as exc:
        raise InvalidInput(str(exc), code="bad_value", field="expires/face") from exc
    mvno_id = public_id("organization", mvno, "mvno")
    # The PINs exist only in this file: make sure it can be written (and that it holds no
    # earlier batch's PINs) before the batch exists.
    try:
        handle = out_file.open("x", newline="", encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(
            f"cannot write the PINs to {out_file}: {exc.strerror}", code="bad_file", field="--out"
        ) from exc
    with handle:
        try:
            db = open_db()
            made = vouchers.create_batch(
                db,
                users.operator(db),
                face_value_fen=face_fen,
                count=count,
                expires_on=expires_on,
                mvno_id=mvno_id,
            )
        except BaseException:
            handle.close()
            out_file.unlink(missing_ok=True)
            raise
        writer = csv.writer(handle)
        writer.writerow(["serial", "pin"])
        writer.writerows([v["serial"], v["pin"]] for v in made["vouchers"])
    out.print(
        f"batch {ids.to_public('voucher_batch', made['id'])}: {count} vouchers of "
        f"{money.format_fen(face_fen)} yuan; PINs in {out_file} (keep it safe)"
    )


@app.command("redeem")
def redeem(
    msisdn: str, pin: str, idempotency_key: str = typer.Option(..., "--idempotency-key")
) -> None:
    """Credit a line with a sold voucher."""
    db = open_db()
    result = vouchers.redeem(
        db, users.operator(db), msisdn=msisdn, pin=pin, idempotency_key=idempotency_key
    )
    out.print(f"{result['msisdn']} credited {money.format_fen(result['amountFen'])} yuan")


@app.command("sell")
def sell(
    batch: str = typer.Argument(..., help="The batch (vbt_…)"),
    channel: str = typer.Option(..., "--channel", help="The channel that sold it (org_…)"),
    idempotency_key: str = typer.Option(..., "--idempotency-key"),
) -> None:
    """Hand a batch to a channel and record its sale (their value becomes redeemable)."""
    db = open_db()
    op = users.operator(db)
    batch_id = public_id("voucher_batch", batch, "batch")
    vouchers.distribute(db, op, batch_id, public_id("organization", channel, "channel"))
    sold = vouchers.sell(db, op, batch_id, idempotency_key)
    out.print(f"{sold} vouchers sold")
