"""`mvne numbers …`: segments, allocation, sale rights, search, reservation, lookup."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from openmvne import ids, money
from openmvne.cli.common import open_db, public_id
from openmvne.domain.numbers import BLOCK_SIZE, NumberRange, parse_msisdn
from openmvne.domain.patterns import compile_pattern
from openmvne.errors import InvalidInput
from openmvne.services import number_lifecycle, number_lookup, number_search, number_supply, users

app = typer.Typer(
    help="Number resources: segments, blocks, sale rights, search.", no_args_is_help=True
)
segment_app = typer.Typer(help="Segments.", no_args_is_help=True)
app.add_typer(segment_app, name="segment")
out = Console()


@segment_app.command("add")
def segment_add(
    prefix: str = typer.Argument(..., help="171, or 1700..1709, 162, 165, 167"),
    host: str = typer.Option(..., "--host", help="The host network's id (org_…)"),
) -> None:
    """Register a resale segment for a host network (creates its blocks, not its numbers)."""
    db = open_db()
    row = number_supply.register_segment(
        db, users.operator(db), prefix, public_id("organization", host, "host")
    )
    out.print(
        f"segment {row['prefix']} registered: {row['size']:,} numbers in {row['blocks']:,} blocks"
    )


@segment_app.command("list")
def segment_list() -> None:
    """List segments with their allocation."""
    table = Table("prefix", "host", "numbers", "blocks", "allocated")
    for row in number_supply.list_segments(open_db()):
        table.add_row(
            row["prefix"],
            ids.to_public("organization", row["host_id"]),
            f"{row['size']:,}",
            f"{row['blocks']:,}",
            f"{row['allocated_blocks']:,}",
        )
    out.print(table)


@app.command("allocate")
def allocate(
    mvno: str = typer.Option(..., "--mvno", help="The MVNO's id (org_…)"),
    segment: str = typer.Option(..., "--segment", help="Segment prefix, e.g. 171"),
    count: int = typer.Option(1, "--count", min=1, max=10_000, help="Number of blocks"),
    region: str | None = typer.Option(None, "--region", help="Home region (GB/T 2260)"),
) -> None:
    """Allocate blocks of a segment to an MVNO (request and grant at once)."""
    db = open_db()
    seg = number_supply.segment_by_prefix(db, segment)
    row = number_supply.allocate_now(
        db,
        users.operator(db),
        mvno_id=public_id("organization", mvno, "mvno"),
        segment_id=seg["id"],
        block_count=count,
        region_code=region,
    )
    blocks = row["granted_prefixes"]
    out.print(f"{len(blocks)} blocks allocated: {blocks[0]}…{blocks[-1]}")


@app.command("grant")
def grant(
    holder: str = typer.Option(..., "--holder", help="The channel authorisation (chn_…)"),
    block: str | None = typer.Option(None, "--block", help="A 7-digit block prefix"),
    first: str | None = typer.Option(None, "--first", help="First number of a range"),
    last: str | None = typer.Option(None, "--last", help="Last number of a range"),
) -> None:
    """Grant a channel sale rights on a block or a range of the MVNO's numbers."""
    if block is not None:
        if not (block.isascii() and block.isdigit() and len(block) == 7):
            raise InvalidInput("a block prefix has 7 digits", field="block")
        numbers = NumberRange(int(block) * BLOCK_SIZE, int(block) * BLOCK_SIZE + BLOCK_SIZE - 1)
    elif first is not None and last is not None:
        numbers = NumberRange(parse_msisdn(first, "first").value, parse_msisdn(last, "last").value)
    else:
        raise InvalidInput("give --block, or --first and --last", field="block")
    db = open_db()
    row = number_supply.grant_sale_right(
        db,
        users.operator(db),
        holder_id=public_id("channel_authorisation", holder, "holder"),
        numbers=numbers,
    )
    out.print(
        f"sale rights {ids.to_public('sale_right', row['id'])}: "
        f"{row['first_number']:011d}-{row['last_number']:011d}"
    )


@app.command("search")
def search(
    pattern: str = typer.Argument("*", help="*8888, 1701*, 171??520???, *168*"),
    exclude: str = typer.Option("", "--exclude", help="Digits to avoid, e.g. 4"),
    mvno: str | None = typer.Option(None, "--mvno", help="Only this MVNO's numbers"),
    grade: str | None = typer.Option(None, "--grade"),
    limit: int = typer.Option(20, "--limit", min=1, max=100),
) -> None:
    """Search available numbers with grade and price."""
    db = open_db()
    query = number_search.SearchQuery(
        pattern=compile_pattern(pattern, exclude),
        limit=limit,
        grade=grade,
        mvno_id=public_id("organization", mvno, "mvno") if mvno else None,
    )
    items = number_search.search(db, users.operator(db), query)
    table = Table(
        "number",
        "grade",
        "price (yuan)",
        "min monthly",
        "months",
        "brand",
        "region",
        title=f"{len(items)} numbers",
    )
    for i in items:
        table.add_row(
            i["msisdn"],
            i["grade"],
            money.format_fen(i["one_off_fen"]),
            money.format_fen(i["min_monthly_fen"]),
            str(i["min_months"]),
            i["brand"] or "",
            i["region_code"] or "",
        )
    out.print(table)


@app.command("reserve")
def reserve(msisdns: list[str] = typer.Argument(..., help="Numbers to reserve")) -> None:
    """Reserve numbers (as the platform operator) for the MVNO's reservation time."""
    db = open_db()
    row = number_lifecycle.reserve(db, users.operator(db), msisdns)
    out.print(
        f"reserved {', '.join(row['numbers'])} until {row['expires_at'].isoformat()} "
        f"({ids.to_public('number_reservation', row['id'])})"
    )


@app.command("release")
def release(reservation: str = typer.Argument(..., help="The reservation (rsv_…)")) -> None:
    """Release a reservation early."""
    db = open_db()
    number_lifecycle.release(
        db, users.operator(db), public_id("number_reservation", reservation, "reservation")
    )
    out.print("released")


@app.command("lookup")
def lookup(msisdn: str) -> None:
    """Which host network, MVNO and brand a number belongs to."""
    info = number_lookup.lookup(open_db(), msisdn)
    owner = info["mvno_name"] or "not allocated"
    hotline = f", hotline {info['hotline']}" if info["hotline"] else ""
    out.print(
        f"{info['msisdn']}: {info['host_network_name']}; {owner}"
        f"{' / ' + info['brand_name'] if info['brand_name'] else ''}{hotline}; "
        f"{'in service' if info['in_service'] else 'not in service'}"
    )


@app.command("sweep")
def sweep() -> None:
    """Release expired reservations and end finished quarantines now."""
    out.print(number_lifecycle.sweep(open_db()))
