"""``rescue registry import|export``: a centre's own files in and out (issue 13)."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from sqlalchemy.orm import Session, sessionmaker

from dispatch.registry.importer import FULL_SYNC_KINDS, ImportOptions, ImportReport
from dispatch.settings import get_settings
from dispatch.uow import command_unit_of_work, unit_of_work

registry_app = typer.Typer(help="A centre's registry: import and export its files.",
                           no_args_is_help=True)
console = Console()
MAX_LISTED = 200


def _factory() -> sessionmaker[Session]:
    from dispatch.db import make_engine, session_factory

    return session_factory(make_engine(get_settings().database_url))


def print_report(report: ImportReport, out: Console = console) -> None:
    """The final table of counts per kind, then every issue (capped)."""
    table = Table(title="registry import" + (" (dry run: nothing written)" if report.dry_run
                                             else ""))
    for col in ("kind", "created", "updated", "unchanged", "deactivated", "errors", "warnings"):
        table.add_column(col, justify="left" if col == "kind" else "right")
    for kind, r in report.kinds.items():
        table.add_row(kind, str(r.created), str(r.updated), str(r.unchanged), str(r.deactivated),
                      str(r.errors), str(r.warnings))
    out.print(table)
    for issue in report.issues[:MAX_LISTED]:
        allowed = f"  (allowed: {', '.join(issue.allowed)})" if issue.allowed else ""
        style = "red" if issue.severity == "error" else "yellow"
        out.print(f"[{style}]{issue.severity}[/] {issue.where()}: {issue.message}"
                  f" / {issue.message_zh}{allowed}", highlight=False, markup=True)
    if len(report.issues) > MAX_LISTED:
        out.print(f"… and {len(report.issues) - MAX_LISTED} more")
    if report.errors and not report.written:
        out.print("[red]nothing written[/]: fix the errors above, or pass --skip-bad to write "
                  "the valid rows")
    elif report.written:
        out.print(f"written in {report.seconds:.1f} s: {report.changes} changes")


def run_import(paths: list[Path], *, options: ImportOptions,
               factory: sessionmaker[Session] | None = None) -> ImportReport:
    """Import in one unit of work with a progress bar (also used by ``fixtures load``)."""
    from dispatch.registry.importer import import_with_settings

    settings = get_settings()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=True) as progress:
        tasks: dict[str, TaskID] = {}

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total)
            progress.update(tasks[stage], completed=done, total=total)

        with unit_of_work(factory or _factory()) as session:
            result = import_with_settings(session, paths, settings, options=options,
                                          progress=report)
            if not result.written:
                session.rollback()  # a refused import leaves nothing, not even a read
    return result


@registry_app.command("import")
def import_command(
    paths: Annotated[list[Path], typer.Argument(help="Files or directories (zones.geojson, "
                                                "organizations/teams/elevators .csv|.xlsx).")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report only; write nothing.")]
    = False,
    skip_bad: Annotated[bool, typer.Option("--skip-bad", help="Write the valid rows and list "
                                           "the rest.")] = False,
    full_sync: Annotated[list[str] | None, typer.Option(
        "--full-sync", help=f"Deactivate rows of this kind missing from the file "
        f"({', '.join(FULL_SYNC_KINDS)}); repeatable.")] = None,
) -> None:
    """Import a centre's registry files (validated as a whole before anything is written)."""
    options = ImportOptions(dry_run=dry_run, skip_bad=skip_bad,
                            full_sync=frozenset(full_sync or ()),
                            actor=f"cli:{getpass.getuser()}")
    report = run_import(paths, options=options)
    print_report(report)
    if report.errors and not report.written:
        raise typer.Exit(1)


@registry_app.command("export")
def export_command(
    target: Annotated[Path, typer.Argument(help="Directory to write the four files into.")],
) -> None:
    """Write zones.geojson, organizations.csv, teams.csv and elevators.csv (UTF-8)."""
    from dispatch.registry.export import export_registry

    with command_unit_of_work() as session:
        counts = export_registry(session, target)
    console.print(", ".join(f"{n:,} {k}" for k, n in counts.items()) + f" written to {target}")
