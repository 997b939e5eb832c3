"""`mvne`: the operator's command line. It acts with the platform's full rights on the
configured database (OPENMVNE_DATABASE_URL), so it is for whoever runs the installation."""

from __future__ import annotations

import os
import sys
from typing import Any

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sqlalchemy.exc import OperationalError, ProgrammingError

from openmvne import ids
from openmvne.cli.care import app as care_app
from openmvne.cli.catalog import app as catalog_app
from openmvne.cli.common import open_db
from openmvne.cli.money import app as money_app
from openmvne.cli.numbers import app as numbers_app
from openmvne.cli.settle import report as report_command
from openmvne.cli.settle import settle as settle_command
from openmvne.cli.sims import app as sims_app
from openmvne.cli.stream import app as stream_app
from openmvne.cli.subscribers import app as subscribers_app
from openmvne.cli.subscribers import lifecycle_app, provisioning_app
from openmvne.cli.usage import app as usage_app
from openmvne.cli.vouchers import app as vouchers_app
from openmvne.config import get_settings
from openmvne.domain.parties import OrgKind, Role
from openmvne.errors import DomainError, InvalidInput

app = typer.Typer(
    help="OpenMVNE: the platform for MVNOs and their channels.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
demo_app = typer.Typer(help="The demo world.", no_args_is_help=True)
user_app = typer.Typer(help="Users and their roles.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
org_app = typer.Typer(help="Organisations.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(demo_app, name="demo")
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")
app.add_typer(org_app, name="org")
app.add_typer(numbers_app, name="numbers")
app.add_typer(catalog_app, name="catalog")
app.add_typer(money_app, name="money")
app.add_typer(sims_app, name="sims")
app.add_typer(vouchers_app, name="vouchers")
app.add_typer(subscribers_app, name="subscribers")
app.add_typer(lifecycle_app, name="lifecycle")
app.add_typer(provisioning_app, name="provisioning")
app.add_typer(usage_app, name="usage")
app.add_typer(care_app, name="care")
app.command("settle")(settle_command)
app.command("report")(report_command)
app.add_typer(stream_app, name="stream")

out = Console()


@app.command()
def serve(
    port: int = typer.Option(None, help="Port (default OPENMVNE_PORT or 8000)"),
    host: str = typer.Option(None, help="Address (default OPENMVNE_HOST or 127.0.0.1)"),
    workers: int = typer.Option(
        1, min=1, max=64, help="Server processes: one per core on PostgreSQL; keep 1 on SQLite"
    ),
) -> None:
    """Serve the API and the portal."""
    import uvicorn

    from openmvne import heap, logs
    from openmvne.api.app import create_app

    settings = get_settings()
    logs.configure(settings.log_format, settings.log_level)
    options: dict[str, Any] = {
        "host": host or settings.host,
        "port": port or settings.port,
        "access_log": False,  # our middleware logs each request with its request id
        "log_config": None,
    }
    if workers == 1:
        served = create_app(settings)
        heap.settle_server()
        uvicorn.run(served, **options)
    else:  # each process builds its own app (and engine) from the same settings
        uvicorn.run(
            "openmvne.api.app:app_from_environment", factory=True, workers=workers, **options
        )


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Upgrade the database to the latest migration (creates the SQLite file if needed)."""
    from openmvne.db import migrate
    from openmvne.services import users

    settings = get_settings()
    migrate.upgrade(settings.database_url)
    users.ensure_platform(open_db())
    out.print(f"database at revision {migrate.head_revision()}")


@db_app.command("current")
def db_current() -> None:
    """Show the database's migration revision and the latest one."""
    from openmvne.db import migrate

    current = migrate.current_revision(open_db().engine)
    out.print(f"current {current or 'none'}, head {migrate.head_revision()}")


@demo_app.command("simulate")
def demo_simulate(
    days: int = typer.Option(30, "--days", help="Days to live through, from now on"),
    seed: int = typer.Option(2016, help="Random seed"),
) -> None:
    """Live on: each day's usage rated, recharges, fees and arrears, month-end settlement."""
    from openmvne.demo import simulate

    with Progress(transient=True) as progress:
        living = progress.add_task("simulating days", total=days)
        done = simulate.simulate(
            open_db(), days, seed=seed, progress=lambda n: progress.advance(living, n)
        )
    out.print(", ".join(f"{k} {v:,}" for k, v in done.items()))


@demo_app.command("seed")
def demo_seed(
    seed: int = typer.Option(2016, help="Random seed: the same seed gives the same world"),
    if_empty: bool = typer.Option(False, "--if-empty", help="Do nothing if already seeded"),
    per_outlet: int = typer.Option(45, "--lines-per-outlet", help="Lines sold at each outlet"),
    history_days: int = typer.Option(
        30, "--history-days", help="Days of past business (sales then, usage since)"
    ),
) -> None:
    """Load the demo world: host networks, MVNOs, brands, a channel tree, demo users."""
    from openmvne.demo import seed as demo

    db = open_db()
    if demo.is_seeded(db):
        if if_empty:
            out.print("demo world already present")
            return
        raise InvalidInput("the database already holds a demo world", code="already_seeded")
    with Progress(transient=True) as progress:
        selling = progress.add_task("selling lines", total=per_outlet * demo.OUTLETS_PER_MVNO * 6)
        world = demo.seed(
            db,
            seed,
            per_outlet=per_outlet,
            history_days=history_days,
            progress=lambda n: progress.advance(selling, n),
        )
    table = Table(title="Demo log-ins (portal and POST /openmvne/v1/tokens)")
    for column in ("user", "role", "password"):
        table.add_column(column)
    for login in world.logins:
        table.add_row(*login)
    out.print(f"demo world loaded: {len(world.hosts)} host networks, {len(world.mvnos)} MVNOs")
    out.print(
        f"{sum(world.lines.values())} subscriber lines: "
        + ", ".join(f"{n} {state}" for state, n in world.lines.most_common())
    )
    if world.usage:
        out.print(
            f"usage history: {world.usage['rated']:,} records rated, charges "
            f"{world.usage['chargedFen'] / 100:,.2f} yuan, wholesale cost "
            f"{world.usage['wholesaleFen'] / 100:,.2f} yuan"
        )
    if world.settled:
        out.print(f"months settled and closed: {', '.join(world.settled)} (mvne report, /mvno)")
    out.print(f"care: {world.tickets} tickets opened at outlets over the last days")
    out.print(table)


def _party_id(text: str) -> object:
    for kind in ("organization", "individual"):
        value = ids.from_public(kind, text)
        if value is not None:
            return value
    raise InvalidInput(f"{text!r} is not a party id (org_… or ind_…)", field="party")


@user_app.command("add")
def user_add(
    username: str,
    party: str = typer.Option(..., "--party", help="The party's id (org_… or ind_…)"),
    role: list[Role] = typer.Option(..., "--role", help="Role (repeat for several)"),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from standard input"
    ),
) -> None:
    """Add a user to a party with one or more roles."""
    from openmvne.services import users

    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    db = open_db()
    user = users.add_user(
        db,
        users.operator(db),
        username=username,
        party_id=_party_id(party),  # type: ignore[arg-type]
        roles=frozenset(role),
        password=password,
    )
    out.print(f"user {user['username']} added with {', '.join(user['roles'])}")


@token_app.command("create")
def token_create(
    user: str = typer.Option(..., "--user", help="Username"),
    name: str = typer.Option("cli", help="A label to recognise the token by"),
) -> None:
    """Create an API token; it is printed once, on the last line."""
    from openmvne.services import users

    db = open_db()
    token = users.create_token(db, users.operator(db), user, name)
    print("Store this token now; it cannot be shown again.", file=sys.stderr)
    print(token)


@token_app.command("revoke")
def token_revoke(token: str = typer.Argument(..., help="The token, or its id")) -> None:
    """Revoke an API token."""
    from openmvne.services import users

    db = open_db()
    users.revoke_token(db, users.operator(db), token)
    out.print("token revoked")


@org_app.command("list")
def org_list(
    kind: OrgKind | None = typer.Option(None, help="Only this kind"),
    limit: int = typer.Option(100, min=1, max=1000),
) -> None:
    """List organisations with their ids."""
    from openmvne.services import parties, users

    db = open_db()
    filters = {"organizationType": kind.value} if kind else {}
    rows, total = parties.list_organisations(db, users.operator(db).scope, filters, 0, limit)
    table = Table(title=f"{len(rows)} of {total} organisations")
    for column in ("id", "kind", "name", "region"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            ids.to_public("organization", row["id"]),
            row["kind"],
            row["name"],
            row["region_code"] or "",
        )
    out.print(table)


def main() -> None:
    err = Console(stderr=True, soft_wrap=True)  # one line per error, whatever the width
    try:
        result = app(standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err.print("error: aborted")
        sys.exit(1)
    except typer.exceptions.TyperException as exc:  # usage errors, bad parameters
        format_message = getattr(exc, "format_message", None)
        message = format_message() if callable(format_message) else str(exc)
        err.print(f"error: {message}", markup=False)
        sys.exit(getattr(exc, "exit_code", 2) or 2)
    except DomainError as exc:
        where = f" ({exc.field})" if exc.field else ""
        err.print(f"error: {exc.message}{where} [{exc.code}]", markup=False)
        sys.exit(1)
    except (OperationalError, ProgrammingError) as exc:
        first = str(exc.orig).splitlines()[0] if exc.orig else str(exc)
        err.print(f"error: database not ready ({first}); run `mvne db upgrade`", markup=False)
        sys.exit(1)
    except Exception as exc:
        if os.environ.get("OPENMVNE_DEBUG"):
            raise
        err.print(
            f"error: unexpected {type(exc).__name__}: {exc} (OPENMVNE_DEBUG=1 shows the traceback)",
            markup=False,
        )
        sys.exit(2)
    # Without standalone mode, click hands back the exit code of --help and similar.
    sys.exit(result if isinstance(result, int) else 0)
