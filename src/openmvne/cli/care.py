"""`mvne care …`: trouble tickets, the routing test, the SLA sweep, breaches, teams and the
monthly report. The CLI acts as the platform operator (every MVNO's tickets)."""

from __future__ import annotations

from datetime import datetime

import typer
from rich.console import Console
from rich.table import Table

from openmvne import clock, ids
from openmvne.cli.common import open_db, public_id
from openmvne.domain.subscribers import BUSINESS_TZ, local_date
from openmvne.services import care, care_reports, care_teams, users

app = typer.Typer(help="After-sales care: tickets, routing, SLA breaches.", no_args_is_help=True)
out = Console()


def _when(at: datetime | None) -> str:
    return at.astimezone(BUSINESS_TZ).strftime("%Y-%m-%d %H:%M") if at else "-"


@app.command("tickets")
def tickets(
    status: str | None = typer.Option(None, "--status", help="acknowledged, inProgress, …"),
    msisdn: str | None = typer.Option(None, "--msisdn"),
    mvno: str | None = typer.Option(None, "--mvno", help="Only this MVNO's (org_…)"),
    limit: int = typer.Option(50, min=1, max=1000),
) -> None:
    """List trouble tickets, newest first (times in Asia/Shanghai)."""
    db = open_db()
    filters = {k: v for k, v in {"status": status, "msisdn": msisdn, "mvnoId": mvno}.items() if v}
    rows, total = care.list_tickets(db, users.operator(db), filters, 0, limit)
    table = Table(title=f"{len(rows)} of {total} tickets")
    for column in ("id", "number", "type", "priority", "status", "team", "due", "SLA"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            ids.to_public("trouble_ticket", row["id"]),
            row["msisdn"],
            row["ticket_type"],
            row["priority"],
            row["status"],
            row["team_name"] or "-",
            _when(row["sla_due_at"]),
            "breached" if row["breached"] else "",
        )
    out.print(table)


@app.command("show")
def show(ticket: str) -> None:
    """One ticket and its history."""
    db = open_db()
    row = care.get_ticket(db, users.operator(db), public_id("trouble_ticket", ticket, "TICKET"))
    out.print(
        f"{ids.to_public('trouble_ticket', row['id'])} {row['msisdn']} {row['brand_name'] or ''} "
        f"{row['ticket_type']} {row['priority']} {row['status']} → {row['team_name']}"
    )
    out.print(f"due {_when(row['sla_due_at'])}{' (breached)' if row['breached'] else ''}")
    out.print(row["description"], markup=False)
    table = Table(title="history")
    for column in ("at", "by", "what", "detail"):
        table.add_column(column)
    for e in row["events"]:
        detail = e["text"] or ""
        if e["kind"] == "action" and e["data"]:
            keep = {k: v for k, v in e["data"].items() if k != "recharges"}
            detail = f"{detail} {keep}"
        table.add_row(_when(e["at"]), e["author"], e["status"] or e["kind"], detail)
    out.print(table)


@app.command("route-test")
def route_test(
    msisdn: str,
    ticket_type: str = typer.Argument(..., help="infoQuery, simReplacement, complaint, …"),
) -> None:
    """Which team a ticket of this type for this number would go to."""
    db = open_db()
    found = care_teams.route_test(db, users.operator(db), msisdn, ticket_type)
    where = f"{found['brand_name'] or 'no brand'}, region {found['region_code'] or '-'}"
    if found["team"] is None:
        out.print(f"{msisdn} ({where}): the MVNO's main team (made with its first ticket)")
        return
    team = found["team"]
    rule = (
        f"rule {ids.to_public('care_route', found['rule_id'])}"
        if found["rule_id"]
        else "no rule matches: the MVNO's main team"
    )
    out.print(
        f"{msisdn} ({where}) {found['ticket_type']} → {team['name']} "
        f"({ids.to_public('care_team', team['id'])}); {rule}"
    )


@app.command("escalate")
def escalate() -> None:
    """Escalate tickets past their SLA deadline to their MVNO's main team, once each.
    Safe to run twice, or alongside the server."""
    done = care.escalate_breaches(open_db())
    out.print(f"{done['breached']} tickets breached their SLA and were escalated")


@app.command("breaches")
def breaches(limit: int = typer.Option(50, min=1, max=1000)) -> None:
    """Tickets that missed their SLA deadline, latest first."""
    db = open_db()
    rows, total = care.list_breaches(db, users.operator(db), {}, 0, limit)
    table = Table(title=f"{len(rows)} of {total} SLA breaches")
    for column in ("ticket", "number", "type", "priority", "team", "due", "escalated to"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            ids.to_public("trouble_ticket", row["ticket_id"]),
            row["msisdn"] or "-",
            row["ticket_type"],
            row["priority"],
            row["team_name"] or "-",
            _when(row["due_at"]),
            row["escalated_to_name"] or "-",
        )
    out.print(table)


@app.command("teams")
def teams() -> None:
    """Care teams, what they serve and their agents."""
    db = open_db()
    rows, total = care_teams.list_teams(db, users.operator(db), {}, 0, 1000)
    table = Table(title=f"{total} care teams")
    for column in ("id", "name", "main", "serves", "agents"):
        table.add_column(column)
    for row in rows:
        serves = ", ".join(
            f"{ids.to_public('brand', a['brand_id']) if a['brand_id'] else 'all brands'}"
            f"@{a['region_code'] or 'everywhere'}"
            for a in row["areas"]
        )
        table.add_row(
            ids.to_public("care_team", row["id"]),
            row["name"],
            "yes" if row["main_of"] else "",
            serves or "all",
            ", ".join(m["username"] for m in row["members"]),
        )
    out.print(table)


@app.command("report")
def report(
    month: str = typer.Option(None, "--month", help="YYYY-MM (default: this month)"),
) -> None:
    """Per team: tickets by type, median first response and resolution, SLA compliance;
    per brand: the most common problems."""
    db = open_db()
    month = month or local_date(clock.now()).strftime("%Y-%m")
    operator = users.operator(db)
    table = Table(title=f"care teams, {month}")
    for column in ("team", "tickets", "by type", "1st response", "resolution", "SLA met"):
        table.add_column(column)
    for row in care_reports.by_team(db, operator, month):
        compliance = row["slaCompliancePct"]
        table.add_row(
            row["team_name"] or "-",
            str(row["tickets"]),
            ", ".join(f"{k} {v}" for k, v in row["byType"].items()),
            _duration(row["medianFirstResponseS"]),
            _duration(row["medianResolutionS"]),
            "-" if compliance is None else f"{compliance}%",
        )
    out.print(table)
    for row in care_reports.by_brand(db, operator, month):
        problems = ", ".join(f"{k} {n}" for k, n in row["top_problems"])
        out.print(f"{row['brand_name'] or 'no brand'}: {row['tickets']} tickets; {problems}")


def _duration(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m"
