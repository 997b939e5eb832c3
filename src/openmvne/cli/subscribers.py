"""`mvne subscribers …` (sell, show, tasks), `mvne lifecycle tick` and `mvne provisioning
send`. The CLI acts as the platform operator; a sale is made at the counter of `--outlet`."""

from __future__ import annotations

import contextlib
from datetime import date

import typer
from rich.console import Console
from rich.table import Table

from openmvne import money as fen
from openmvne.cli.common import open_db, public_id
from openmvne.config import get_settings
from openmvne.domain.access import Actor
from openmvne.domain.parties import OrgKind, Role
from openmvne.errors import Conflict, InvalidInput
from openmvne.network import wiring
from openmvne.services import charging, lifecycle, number_lifecycle, provisioning, users
from openmvne.services import subscriber_orders as orders
from openmvne.services.subscriber_sale import Identity, SaleRequest, sell

app = typer.Typer(help="Subscribers: sell lines, show them, order tasks.", no_args_is_help=True)
lifecycle_app = typer.Typer(help="The lines' time-driven lifecycle.", no_args_is_help=True)
provisioning_app = typer.Typer(help="The outbox to the host networks.", no_args_is_help=True)
out = Console()
KEY = typer.Option(..., "--idempotency-key", help="Makes a retry safe: same key, one effect")


def _yuan(text: str) -> int:
    try:
        return fen.parse_yuan(text)
    except ValueError as exc:
        raise InvalidInput(str(exc), code="bad_amount", field="--prepay") from exc


def _at_counter(outlet: str) -> Actor:
    """The operator working at an outlet's counter: the outlet's scope and clerk role."""
    return Actor(
        user_id=None,
        username="operator",
        party_id=public_id("organization", outlet, "--outlet"),
        party_kind=OrgKind.OUTLET,
        roles=frozenset({Role.OUTLET_CLERK}),
    )


def _holder(
    id_type: str,
    id_number: str | None,
    given: str | None,
    family: str | None,
    expires: str | None,
    evidence: str,
    reference: str | None,
) -> Identity | None:
    if id_number is None:
        return None
    try:
        expires_on = date.fromisoformat(expires) if expires else None
    except ValueError:
        raise InvalidInput(
            f"--id-expires is a date YYYY-MM-DD, not {expires!r}",
            code="bad_date",
            field="--id-expires",
        ) from None
    return Identity(
        id_type=id_type,
        number=id_number,
        given_name=given or "-",
        family_name=family or "-",
        expires_on=expires_on,
        evidence_source=evidence,
        evidence_reference=reference,
    )


ID_TYPE = typer.Option("residentId", "--id-type", help="residentId, passport, …")
ID_NUMBER = typer.Option(None, "--id-number", help="From the card reader or online check")
EVIDENCE = typer.Option("reader", "--evidence", help="reader, onlineCheck, manualForTest")
REFERENCE = typer.Option(None, "--evidence-ref", help="The reader's or check's reference")


@app.command("sell")
def sell_line(
    msisdn: str,
    iccid: str = typer.Option(..., "--iccid", help="The card, from the outlet's stock"),
    offer: str = typer.Option(..., "--offer", help="The plan (pof_…)"),
    outlet: str = typer.Option(..., "--outlet", help="The selling outlet (org_…)"),
    given: str = typer.Option(..., "--given-name"),
    family: str = typer.Option(..., "--family-name"),
    prepay: str = typer.Option(..., "--prepay", help="Yuan paid by the customer"),
    id_type: str = ID_TYPE,
    id_number: str = typer.Option(..., "--id-number", help="From the reader or online check"),
    expires: str | None = typer.Option(None, "--id-expires", help="YYYY-MM-DD"),
    evidence: str = EVIDENCE,
    reference: str | None = REFERENCE,
    reservation: str | None = typer.Option(
        None, "--reservation", help="rsv_…; without it the number is reserved now"
    ),
    idempotency_key: str = KEY,
) -> None:
    """Sell a line: the order completes when the host network opens it."""
    db = open_db()
    clerk = _at_counter(outlet)
    holder = _holder(id_type, id_number, given, family, expires, evidence, reference)
    assert holder is not None  # --id-number is required here
    reservation_id = None
    if reservation:
        reservation_id = public_id("number_reservation", reservation, "--reservation")
    else:
        # A retry of a sale that went through finds the number taken: the key replays it.
        with contextlib.suppress(Conflict):
            reservation_id = number_lifecycle.reserve(db, clerk, [msisdn])["id"]
    result = sell(
        db,
        clerk,
        SaleRequest(
            msisdn=msisdn,
            iccid=iccid,
            offering_id=public_id("product_offering", offer, "--offer"),
            identity=holder,
            prepayment_fen=_yuan(prepay),
            reservation_id=reservation_id,
        ),
        idempotency_key,
    )
    out.print(
        f"order {result['orderId']}: {msisdn} sold, waiting for the network to open it"
        + (" (replayed)" if result["replayed"] else "")
    )


@app.command("show")
def show(msisdn: str) -> None:
    """Number and card information (the ID masked)."""
    db = open_db()
    view = orders.summary(db, users.operator(db), msisdn)
    line, brand = view["line"], view["brand"]
    table = Table(show_header=False)
    rows = [
        ("number", line["msisdn"]),
        ("state", line["state"]),
        ("brand", f"{brand['name']} (hotline {brand['hotline']})" if brand else "-"),
        ("holder", f"{view['holder']['maskedName']} {view['holder']['maskedId']}"),
        ("offer", view["offer"]["name"]),
        ("balance", f"{fen.format_fen(view['balance'].available)} yuan"),
        ("debt", f"{fen.format_fen(line['debt_fen'])} yuan"),
        ("SIM", line["iccid"]),
        (
            "network",
            f"{line['network_level']} ({'in sync' if line['network_in_sync'] else 'pending'})",
        ),
        ("services", ", ".join(s["name"] for s in view["services"]) or "-"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    out.print(table)


@app.command("task")
def task(
    msisdn: str,
    name: str = typer.Argument(..., help="suspend, resume, reportLost, found, cancel, …"),
    reason: str | None = typer.Option(None, "--reason"),
    id_type: str = ID_TYPE,
    id_number: str | None = ID_NUMBER,
    evidence: str = EVIDENCE,
    reference: str | None = REFERENCE,
    iccid: str | None = typer.Option(None, "--iccid", help="replaceSim: the new card"),
    outlet: str | None = typer.Option(None, "--outlet", help="replaceSim: the outlet's stock"),
    idempotency_key: str = KEY,
) -> None:
    """Order a task on a line (the MVNO's operator tasks too: operatorBar, …)."""
    db = open_db()
    holder = _holder(id_type, id_number, None, None, None, evidence, reference)
    if name == "replaceSim":
        if iccid is None or holder is None or outlet is None:
            raise typer.BadParameter("replaceSim needs --iccid, --outlet and --id-number")
        result = orders.replace_sim(
            db,
            _at_counter(outlet),
            msisdn,
            iccid=iccid,
            holder=holder,
            idempotency_key=idempotency_key,
        )
    else:
        result = orders.run_task(
            db,
            users.operator(db),
            msisdn,
            name,
            holder=holder,
            reason=reason,
            idempotency_key=idempotency_key,
        )
    out.print(f"order {result['orderId']}: {name} {msisdn}")


@lifecycle_app.command("tick")
def tick() -> None:
    """Move lines whose timers expired and charge the fees due. Safe to run twice, or
    alongside the server (which runs the same step)."""
    db = open_db()
    done = lifecycle.tick(db)
    done["chargingSessionsExpired"] = charging.expire(db)
    out.print(", ".join(f"{k} {v}" for k, v in done.items()))


@provisioning_app.command("send")
def send() -> None:
    """Send the outbox to the host network until nothing is due (when no server runs:
    a running server sends it by itself)."""
    db = open_db()
    network = wiring.from_settings(get_settings())
    total = {"sent": 0, "timeouts": 0, "acknowledged": 0}
    for _ in range(50):
        result = provisioning.dispatch(db, network)
        for k, v in result.items():
            total[k] += v
        if not any(result.values()):
            break
    out.print(", ".join(f"{k} {v}" for k, v in total.items()))
