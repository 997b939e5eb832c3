"""`mvne catalog …`: list offers, create offers and price lists from a file, approve
packages, show cost chains and inversion alerts."""

from __future__ import annotations

import json
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

import typer
import yaml
from rich.console import Console
from rich.table import Table

from openmvne import ids, money
from openmvne.cli.common import open_db, public_id
from openmvne.domain.catalog import OfferKind, PriceModel, RevenueTier, UnitRates
from openmvne.errors import InvalidInput
from openmvne.money import parse_rate_fen
from openmvne.services import catalog, users

app = typer.Typer(
    help="Catalog: offers, wholesale price lists, partner packages.", no_args_is_help=True
)
out = Console()

EXAMPLE = """\
# mvne catalog create offer.yaml  (money in fen, rates in fen per unit)
kind: offer
brand: brd_…
host: org_…
offerType: plan          # plan | payAsYouGo | addon | prettyNumberPlan
name: 59元 3GB 月租套餐
monthlyFeeFen: 5900
allowance: {voiceMinutes: 100, sms: 0, dataMb: 3072}
rates: {voiceRateFen: "10", smsRateFen: "10", dataRateFen: "10"}
"""


def _load(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}", field="file") from exc
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise InvalidInput(
            f"{path} is not valid {path.suffix.lstrip('.') or 'YAML'}",
            code="malformed_file",
            field="file",
        ) from exc
    if not isinstance(data, dict):
        raise InvalidInput(
            "the file holds one object (see `mvne catalog example`)",
            code="malformed_file",
            field="file",
        )
    return data


def _rates(data: Any) -> UnitRates:
    try:
        return UnitRates(
            *(parse_rate_fen(str(data[k])) for k in ("voiceRateFen", "smsRateFen", "dataRateFen"))
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(
            f"rates need voiceRateFen, smsRateFen, dataRateFen: {exc}",
            code="bad_rate",
            field="rates",
        ) from exc


E = TypeVar("E", bound=StrEnum)


def _choice(kind: type[E], value: Any, field: str) -> E:
    try:
        return kind(str(value))
    except ValueError:
        names = ", ".join(k.value for k in kind)
        raise InvalidInput(
            f"{field} is one of {names}, not {value!r}", code="bad_value", field=field
        ) from None


def _date(value: Any, field: str) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise InvalidInput(
            f"{field} is a date YYYY-MM-DD, not {value!r}", code="bad_date", field=field
        ) from None


def _object(value: Any, field: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(f"{field} is an object", code="malformed_file", field=field)
    return value


def _objects(value: Any, field: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise InvalidInput(f"{field} is a list of objects", code="malformed_file", field=field)
    return value


def _tiers(value: Any) -> list[RevenueTier]:
    try:
        return [RevenueTier(t["minAnnualRevenueFen"], t["discountBp"]) for t in value or []]
    except (KeyError, TypeError) as exc:
        raise InvalidInput(
            "revenueTiers is a list of {minAnnualRevenueFen, discountBp}",
            code="malformed_file",
            field="revenueTiers",
        ) from exc


@app.command("example")
def example() -> None:
    """Print an example offer file."""
    print(EXAMPLE, end="")


@app.command("list")
def list_offers(mvno: str | None = typer.Option(None, "--mvno", help="Only this MVNO")) -> None:
    """List offers with their prices."""
    db = open_db()
    filters = {"mvnoId": mvno} if mvno else {}
    rows, total = catalog.list_offers(db, users.operator(db).scope, filters, 0, 1000)
    table = Table(
        "id",
        "type",
        "name",
        "monthly (yuan)",
        "data MB",
        "voice min",
        "status",
        title=f"{total} offers",
    )
    for r in rows:
        table.add_row(
            ids.to_public("product_offering", r["id"]),
            r["kind"],
            r["name"],
            money.format_fen(r["monthly_fee_fen"]),
            str(r["data_mb"]),
            str(r["voice_min"]),
            r["status"],
        )
    out.print(table)


@app.command("create")
def create(
    file: Path = typer.Argument(..., help="A YAML or JSON file: kind offer | priceList"),
) -> None:
    """Create an offer or a wholesale price list from a file."""
    data = _load(file)
    db = open_db()
    op = users.operator(db)
    kind = data.get("kind")
    if kind == "offer":
        rates = _rates(data["rates"]) if "rates" in data else UnitRates(0, 0, 0)
        allowance = _object(data.get("allowance"), "allowance")
        row = catalog.create_offer(
            db,
            op,
            brand_id=public_id("brand", str(data.get("brand")), "brand"),
            host_id=public_id("organization", str(data.get("host")), "host"),
            kind=_choice(OfferKind, data.get("offerType"), "offerType"),
            name=str(data.get("name")),
            terms={
                "monthly_fee_fen": data.get("monthlyFeeFen", 0),
                "voice_min": allowance.get("voiceMinutes", 0),
                "sms": allowance.get("sms", 0),
                "data_mb": allowance.get("dataMb", 0),
                "voice_rate": rates.voice,
                "sms_rate": rates.sms,
                "data_rate": rates.data,
                "description": data.get("description"),
            },
        )
        out.print(f"offer {ids.to_public('product_offering', row['id'])} created")
    elif kind == "priceList":
        row = catalog.create_price_list(
            db,
            op,
            host_id=public_id("organization", str(data.get("host")), "host"),
            mvno_id=public_id("organization", str(data.get("mvno")), "mvno"),
            model=_choice(PriceModel, data.get("model", "pool"), "model"),
            valid_from=_date(data.get("validFrom"), "validFrom"),
            valid_to=_date(data["validTo"], "validTo") if data.get("validTo") else None,
            rates=_rates(data["rates"]) if "rates" in data else None,
            revenue_tiers=_tiers(data.get("revenueTiers")),
            annual_revenue_fen=data.get("annualRevenueFen", 0),
            host_packages=_objects(data.get("hostPackages"), "hostPackages"),
            per_number_fee_fen=data.get("perNumberFeeFen", 0),
        )
        out.print(
            f"price list {ids.to_public('wholesale_price_list', row['id'])} created, "
            f"review due {row['review_due_on']}"
        )
    else:
        raise InvalidInput("kind is offer or priceList", code="bad_kind", field="kind")


@app.command("approve")
def approve(design: str = typer.Argument(..., help="The package design (pkg_…)")) -> None:
    """Approve a submitted partner package (refused below its cost chain)."""
    db = open_db()
    row = catalog.decide_design(
        db, users.operator(db), public_id("package_design", design, "design"), "approve"
    )
    out.print(f"package {row['name']} approved")


@app.command("cost")
def cost(offering: str = typer.Argument(..., help="The offering (pof_…)")) -> None:
    """Show an offering's cost chain."""
    db = open_db()
    offer, chain = catalog.offer_cost(
        db, users.operator(db).scope, public_id("product_offering", offering, "offering")
    )
    table = Table("cost item", "yuan", title=offer["name"])
    for line in chain.lines:
        table.add_row(line.label, money.format_micro_as_yuan(line.micro))
    table.add_row("total cost (rounded up)", money.format_fen(chain.cost_fen))
    table.add_row("price", money.format_fen(chain.price_fen))
    table.add_row("margin", money.format_fen(chain.margin_fen))
    out.print(table)


@app.command("alerts")
def alerts() -> None:
    """List open price-inversion alerts."""
    db = open_db()
    rows, total = catalog.list_alerts(db, users.operator(db).scope, "open", 0, 1000)
    table = Table(title=f"{total} open alerts")
    table.add_column("offering", no_wrap=True, min_width=30)
    for column in ("price", "cost", "cause"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            ids.to_public("product_offering", r["offering_id"]),
            money.format_fen(r["price_fen"]),
            money.format_fen(r["cost_fen"]),
            r["cause"],
        )
    out.print(table)
