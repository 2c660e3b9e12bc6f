"""``rescue incidents import`` and ``rescue fixtures history`` (issue 8)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from dispatch.uow import command_unit_of_work

incidents_app = typer.Typer(help="Incident history.", no_args_is_help=True)
console = Console()




@incidents_app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(help="A .csv or .xlsx file (header row first).",
                                         exists=True, dir_okay=False)],
    skip_bad: Annotated[bool, typer.Option("--skip-bad", help="Write the good rows and "
                                           "report the bad ones.")] = False,
) -> None:
    """Import historical incidents from a previous platform.

    Columns: external_id, rescue_code or register_code, channel, received_at, dispatched_at,
    accepted_at, arrived_at, released_at, closed_at, level, team_code?, cause_code?,
    trapped_count?, outcome (released|false_alarm|cancelled), callback_at?. Times ISO 8601 with
    offset. One bad row and nothing is written (unless --skip-bad). Rows whose external_id was
    imported before are skipped.
    """
    from rich.progress import Progress

    from dispatch.reports.history import import_records, missing_columns, read_file

    try:
        records = list(read_file(file))
    except (ValueError, KeyError) as exc:
        raise typer.BadParameter(str(exc), param_hint="FILE") from exc
    missing = missing_columns(records[0][1] if records else ())
    if missing:
        console.print(f"[bold red]{file.name}: missing columns: {', '.join(missing)}[/]")
        raise typer.Exit(1)
    with command_unit_of_work() as session, Progress(console=console) as bar:
        task = bar.add_task(f"importing {file.name}", total=len(records))
        report = import_records(session, records, skip_bad=skip_bad,
                                progress=lambda done, total: bar.update(task, completed=done,
                                                                         total=total))
        for e in report.errors[:200]:
            console.print(f"[red]{file.name}: {e}[/]")
        if len(report.errors) > 200:
            console.print(f"[red]… {len(report.errors) - 200} more errors[/]")
        if report.errors and not skip_bad:  # leaving by Exit rolls the unit of work back
            console.print(f"[bold red]{len(report.errors)} error(s) in "
                          f"{len(report.skipped_lines)} row(s); nothing written[/] "
                          "(fix them, or use --skip-bad)")
            raise typer.Exit(1)
    console.print(f"{report.rows} rows: {report.written} imported, {report.already} already "
                  f"imported, {len(report.skipped_lines)} skipped (bad)")


def history(
    days: Annotated[int, typer.Option(min=1, max=1100, help="How many days of past.")] = 90,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 8,
    if_empty: Annotated[bool, typer.Option("--if-empty", help="Skip if demo history exists.")]
    = False,
) -> None:
    """Generate a realistic past (through the importer) so the office page has data."""
    from dispatch.reports.demo_history import has_demo_history, load

    t0 = time.perf_counter()
    with command_unit_of_work() as session:
        if if_empty and has_demo_history(session):
            console.print("demo history already loaded; skipping")
            return
        report = load(session, days=days, end=datetime.now(UTC), seed=seed)
    console.print(f"history: {report.written} incidents imported ({report.already} already "
                  f"there) in {time.perf_counter() - t0:.1f} s")
