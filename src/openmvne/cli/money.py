"""`mvne money …`: floats, recharges, balances and the ledger check."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from openmvne import money as fen
from openmvne.cli.common import open_db, public_id
from openmvne.errors import InvalidInput
from openmvne.services import money, users

app = typer.Typer(
    help="Money: floats, recharges, balances, the ledger check.", no_args_is_help=True
)
out = Console()
KEY = typer.Option(..., "--idempotency-key", help="Makes a retry safe: same key, one effect")


def _amount(text: str) -> int:
    """Amounts on the command line are yuan with at most two decimals ('50', '9.90')."""
    try:
        return fen.parse_yuan(text)
    except ValueError as exc:
        raise InvalidInput(str(exc), code="bad_amount", field="amount") from exc


@app.command("float-pay")
def float_pay(
    outlet: str,
    amount: str = typer.Argument(..., help="Yuan, e.g. 1000"),
    idempotency_key: str = KEY,
) -> None:
    """Record an outlet's payment of float."""
    db = open_db()
    result = money.pay_float(
        db,
        users.operator(db),
        outlet_id=public_id("organization", outlet, "outlet"),
        amount_fen=_amount(amount),
        idempotency_key=idempotency_key,
    )
    out.print(
        f"float paid: {fen.format_fen(result['amountFen'])} yuan"
        + (" (replayed)" if result["replayed"] else "")
    )


@app.command("recharge")
def recharge(
    msisdn: str,
    amount: str = typer.Argument(..., help="Yuan, e.g. 50"),
    outlet: str = typer.Option(..., "--outlet", help="The outlet whose float pays (org_…)"),
    order: str = typer.Option(None, "--order", help="The outlet's order number (default: key)"),
    idempotency_key: str = KEY,
) -> None:
    """Recharge any connected brand's number from an outlet's float."""
    db = open_db()
    result = money.recharge(
        db,
        users.operator(db),
        msisdn=msisdn,
        amount_fen=_amount(amount),
        channel_order_number=order or idempotency_key,
        idempotency_key=idempotency_key,
        outlet_id=public_id("organization", outlet, "outlet"),
    )
    out.print(
        f"recharged {result['msisdn']} ({result['brand']}) with "
        f"{fen.format_fen(result['amountFen'])} yuan"
        + (" (replayed)" if result["replayed"] else "")
    )


@app.command("balance")
def balance(msisdn: str) -> None:
    """A line's prepaid balance."""
    db = open_db()
    found = money.balance_of(db, users.operator(db), msisdn)
    out.print(
        f"{found['msisdn']}: balance {fen.format_fen(found['balanceFen'])} yuan, "
        f"available {fen.format_fen(found['availableFen'])} yuan"
    )


@app.command("check")
def check() -> None:
    """Verify Σ balances = 0 and every cached balance against its transfers (exit 1 if not)."""
    problems = money.check(open_db())
    if problems:
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        raise typer.Exit(1)
    out.print("ledger consistent: balances match their transfers and sum to 0")
