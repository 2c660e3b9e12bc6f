"""The ``rescue`` command: serve, migrate, load fixtures, manage users, route."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from dispatch.cli_geo import geo_app
from dispatch.ops.cli import backup_command, restore_command
from dispatch.partners.cli import partners_app
from dispatch.planning.cli import plan_app
from dispatch.registry.cli import registry_app
from dispatch.reports.cli import history as history_command
from dispatch.reports.cli import incidents_app
from dispatch.settings import get_settings
from dispatch.telemetry.cli import devices_app
from dispatch.telemetry.mqtt_cli import mqtt_app

app = typer.Typer(help="elevator-rescue: 电梯困人应急救援调度", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
fixtures_app = typer.Typer(help="Demo and test data.", no_args_is_help=True)
users_app = typer.Typer(help="User accounts.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(fixtures_app, name="fixtures")
app.add_typer(users_app, name="users")
app.add_typer(geo_app, name="geo")
app.add_typer(incidents_app, name="incidents")  # issue 8
fixtures_app.command("history")(history_command)  # issue 8
app.add_typer(devices_app, name="devices")  # issue 7
app.add_typer(registry_app, name="registry")  # issue 13
db_app.command("backup")(backup_command)  # issue 18
db_app.command("restore")(restore_command)  # issue 18
app.add_typer(mqtt_app, name="mqtt")  # issue 19
app.add_typer(plan_app, name="plan")  # issue 17
app.add_typer(partners_app, name="partners")  # issue 14
console = Console()

ROLES = ("operator", "supervisor", "crew", "office", "admin")


def main() -> None:
    """The console entry point: a database outage is one line on stderr, not a traceback
    (issue 12)."""
    from dispatch.security.outage import is_outage, outage_line

    try:
        app()
    except Exception as exc:
        if not is_outage(exc):
            raise
        Console(stderr=True, soft_wrap=True).print(f"[red]{outage_line(exc)}[/]", highlight=False)
        raise SystemExit(1) from None


def _engine():  # type: ignore[no-untyped-def]  # imported lazily to keep --help fast
    from dispatch.db import make_engine

    return make_engine(get_settings().database_url)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes.")] = 1,
    reload: Annotated[bool, typer.Option(help="Reload on code changes (development).")] = False,
) -> None:
    """Start the HTTP server (API, docs at /docs)."""
    import uvicorn

    from dispatch.ops.serving import uvicorn_options

    get_settings().resolved_secret_key()  # workers must share one generated key
    base = _follow_port(host, port)
    options = uvicorn_options(get_settings(), workers)  # issue 18: metrics dir, logs
    if workers > 1 or reload:  # a supervisor process: announce before it starts the workers
        _announce(base)
        uvicorn.run("dispatch.app:create_app", factory=True, host=host, port=port,
                    workers=workers, reload=reload, **options)
        return
    config = uvicorn.Config("dispatch.app:create_app", factory=True, host=host, port=port,
                            **options)
    server = announcing_server(config, base)
    server.run()
    if not server.started:
        raise typer.Exit(3)  # the port is taken, or startup failed (uvicorn said why)


def announcing_server(config: Any, base: str) -> Any:
    """A uvicorn server that prints the pages' addresses once it listens, so that the last
    lines of ``make run`` are the URLs to open (not uvicorn's startup lines)."""
    import uvicorn

    class AnnouncingServer(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                _announce(base)

    return AnnouncingServer(config)


def _follow_port(host: str, port: int) -> str:
    """Without ``RESCUE_PUBLIC_BASE_URL`` the crew links and Twilio callbacks point at the
    address this server really listens on (the workers inherit it), not a default port."""
    import os

    if not os.environ.get("RESCUE_PUBLIC_BASE_URL"):
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        os.environ["RESCUE_PUBLIC_BASE_URL"] = f"http://{shown}:{port}"
        get_settings.cache_clear()
    return os.environ["RESCUE_PUBLIC_BASE_URL"].rstrip("/")


def _announce(base: str) -> None:
    console.print(f"[bold green]elevator-rescue[/] serving at {base}")
    for path, what in (("/console", "operator console 调度台"), ("/crew", "crew page 救援队"),
                       ("/office", "office review 监管"), ("/docs", "API docs")):
        console.print(f"  {base}{path:<9} {what}")


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "heads",
) -> None:
    """Migrate the database to the latest schema (SQLite or PostGIS)."""
    from dispatch.migrate import upgrade

    engine = _engine()
    upgrade(engine, revision)
    console.print(f"database at {engine.url.render_as_string(hide_password=True)}: "
                  f"upgraded to {revision}")


@fixtures_app.command("load")
def fixtures_load(
    city: Annotated[str, typer.Argument(help="Fixture city (only 'taiyuan').")] = "taiyuan",
    elevators: Annotated[int, typer.Option(help="How many elevators to generate.")] = 60_000,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same registry).")] = 20261130,
    if_empty: Annotated[bool, typer.Option("--if-empty", help="Skip if data is loaded.")] = False,
    files_dir: Annotated[Path | None, typer.Option(
        "--dir", help="Where to write the registry files (default: var/fixtures/taiyuan).")]
    = None,
) -> None:
    """Generate the Taiyuan registry as import files and load them through the importer."""
    if city != "taiyuan":
        raise typer.BadParameter("only 'taiyuan' fixtures exist", param_hint="city")
    from dispatch.fixtures.loader import is_loaded
    from dispatch.fixtures.taiyuan_files import write_taiyuan_files
    from dispatch.registry.cli import print_report, run_import
    from dispatch.registry.importer import ImportOptions

    engine = _engine()
    if if_empty and is_loaded(engine):
        console.print("fixtures already loaded; skipping")
        return
    target = files_dir or get_settings().var_dir / "fixtures" / city
    counts = write_taiyuan_files(target, elevators=elevators, seed=seed)
    console.print(", ".join(f"{n:,} {k}" for k, n in counts.items()) + f" written to {target}")
    # The demo's outer counties have no roads in the extract: off-network is a warning there.
    report = run_import([target], options=ImportOptions(actor="fixtures",
                                                        off_network_is_error=False))
    report.issues = [i for i in report.issues if i.severity == "error"]
    print_report(report)
    if not report.written:
        raise typer.Exit(1)


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[str, typer.Option(help=f"One of {', '.join(ROLES)}.")],
    password: Annotated[str | None, typer.Option(help="Password (prompted if omitted).")] = None,
    team_id: Annotated[int | None, typer.Option(help="Team of a crew member.")] = None,
    region: Annotated[str | None, typer.Option(
        help="Zone (code or name) an office user is limited to.")] = None,
    display_name: Annotated[str, typer.Option(help="Name shown in the UI.")] = "",
) -> None:
    """Create a user with an argon2-hashed password."""
    if role not in ROLES:
        raise typer.BadParameter(f"role must be one of {', '.join(ROLES)}", param_hint="--role")
    if role == "crew" and team_id is None:
        raise typer.BadParameter("a crew user needs --team-id", param_hint="--team-id")
    from sqlalchemy import select

    from dispatch.auth.passwords import hash_password
    from dispatch.models import Team, User, Zone
    from dispatch.uow import command_unit_of_work

    pw = password or getpass.getpass("password: ")
    if len(pw) < 8:
        raise typer.BadParameter("at least 8 characters", param_hint="--password")
    with command_unit_of_work() as session:
        if session.scalar(select(User).where(User.username == username)):
            raise typer.BadParameter(f"user {username!r} exists", param_hint="username")
        org_id = None
        if team_id is not None:
            team = session.get(Team, team_id)
            if team is None:
                raise typer.BadParameter(f"no team {team_id}", param_hint="--team-id")
            org_id = team.organization_id
        zone_id = None
        if region is not None:
            zone_id = session.scalar(select(Zone.id).where(
                (Zone.code == region) | (Zone.name == region)))
            if zone_id is None:
                raise typer.BadParameter(f"no zone {region!r}", param_hint="--region")
        session.add(User(username=username, role=role, password_hash=hash_password(pw),
                         team_id=team_id, organization_id=org_id, region_zone_id=zone_id,
                         display_name=display_name or username))
    console.print(f"user {username} ({role}) created")


@users_app.command("demo")
def users_demo() -> None:
    """Create the demo users (idempotent) and print their logins."""
    from dispatch.fixtures.loader import create_demo_users
    from dispatch.uow import command_unit_of_work

    settings = get_settings()
    with command_unit_of_work() as session:
        rows = create_demo_users(session, password=settings.demo_password)
    table = Table(title="Demo logins — DEMO ONLY, change or remove before real use / 仅供演示")
    for col in ("username", "role", "what", "password"):
        table.add_column(col)
    for username, role, what in rows:
        table.add_row(username, role, what, settings.demo_password)
    console.print(table)


def _register_route_command() -> None:
    from dispatch import cli_geo

    route = getattr(cli_geo, "route", None)
    if route is not None:
        app.command("route", help="Road travel time between two points.")(route)


_register_route_command()


if __name__ == "__main__":
    main()
