"""``rescue db backup FILE`` and ``rescue db restore FILE`` (issue 18)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from dispatch.settings import get_settings

console = Console(soft_wrap=True)  # messages are grepped by scripts; no hard wraps


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def backup_command(
    file: Annotated[Path, typer.Argument(help="Where to write the backup.")],
) -> None:
    """Back up the database while it is in use (SQLite online backup; PostgreSQL pg_dump, or
    the recipe when pg_dump is not installed)."""
    from dispatch.ops.backup import BackupError, backup

    url = get_settings().database_url
    try:
        info = backup(url, file)
    except BackupError as exc:
        console.print(f"[red]backup not taken:[/] {exc}")
        raise typer.Exit(1) from exc
    console.print(f"backup written: {info.path} ({_mb(info.size_bytes)}, revision "
                  f"{', '.join(sorted(info.revisions))}, {info.seconds:.1f} s)")


def restore_command(
    file: Annotated[Path, typer.Argument(help="A backup written by `rescue db backup`.")],
    force: Annotated[bool, typer.Option("--force", help="Replace an existing database "
                                        "(stop every server first).")] = False,
) -> None:
    """Restore a backup into the configured database. Refuses a backup written by newer code
    (an unknown migration revision) and, without --force, a target that holds data."""
    from dispatch.ops.backup import BackupError, restore

    url = get_settings().database_url
    try:
        info = restore(file, url, force=force)
    except BackupError as exc:
        console.print(f"[red]not restored:[/] {exc}")
        raise typer.Exit(1) from exc
    console.print(f"restored {info.path} (revision {', '.join(sorted(info.revisions))}, "
                  f"{info.seconds:.1f} s)")
    if info.needs_upgrade:
        console.print("the backup is from older code: run `rescue db upgrade` before serving")
