"""Backups that can be taken while the centre is working, and restores that refuse the wrong
file.

SQLite: the online backup API copies the database in one step, which reads one consistent
snapshot (WAL lets writers go on meanwhile): every transaction committed before the copy began
is in it, and none is half in it. PostgreSQL: ``pg_dump`` (custom format, itself a consistent
snapshot) when the client tools are installed; otherwise the recipe is printed.

A backup carries its migration revision (the ``alembic_version`` table). A restore refuses a
backup from *newer* code (a revision this code does not know), since this code would misread
that schema; an older one is restored and then needs ``rescue db upgrade``.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

from dispatch.migrate import alembic_config


class BackupError(Exception):
    """A backup or restore that must not go ahead; the message says why and what to do."""


@dataclass(frozen=True)
class Revisions:
    heads: frozenset[str]
    known: frozenset[str]


@dataclass(frozen=True)
class BackupInfo:
    path: Path
    revisions: frozenset[str]
    size_bytes: int
    seconds: float
    needs_upgrade: bool = False


def code_revisions() -> Revisions:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return Revisions(frozenset(script.get_heads()),
                     frozenset(rev.revision for rev in script.walk_revisions()))


def check_revisions(found: frozenset[str], code: Revisions) -> bool:
    """Raise if ``found`` is from newer code; return whether an upgrade is needed after."""
    if not found:
        raise BackupError("the backup has no alembic_version: not a rescue database backup")
    unknown = sorted(found - code.known)
    if unknown:
        raise BackupError(
            f"the backup is at revision {', '.join(unknown)}, newer than this code (heads "
            f"{', '.join(sorted(code.heads))}); restore it with the release that wrote it")
    return found != code.heads


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(database)


def _sqlite_revisions(conn: sqlite3.Connection) -> frozenset[str]:
    try:
        return frozenset(r[0] for r in conn.execute("SELECT version_num FROM alembic_version"))
    except sqlite3.DatabaseError:
        return frozenset()


def backup_sqlite(url: str, dest: Path) -> BackupInfo:
    src_path = sqlite_path(url)
    if not src_path.exists():
        raise BackupError(f"no database at {src_path}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partial")
    partial.unlink(missing_ok=True)
    started = time.perf_counter()
    src = sqlite3.connect(src_path, timeout=30)
    dst = sqlite3.connect(partial)
    try:
        src.execute("PRAGMA busy_timeout=30000")
        src.backup(dst)  # pages=-1: one step, one snapshot
        dst.execute("PRAGMA journal_mode=DELETE")  # a self-contained single file
        revisions = _sqlite_revisions(dst)
    finally:
        dst.close()
        src.close()
    partial.replace(dest)  # a crash mid-copy never leaves a file that looks complete
    return BackupInfo(dest, revisions, dest.stat().st_size, time.perf_counter() - started)


def _has_tables(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT count(*) FROM sqlite_master WHERE type='table'").fetchone()[0] > 0


def restore_sqlite(backup: Path, url: str, *, force: bool = False) -> BackupInfo:
    if not backup.is_file():
        raise BackupError(f"no backup file at {backup}")
    started = time.perf_counter()
    src = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
    try:
        try:
            ok = src.execute("PRAGMA quick_check").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"{backup} is not a SQLite database ({exc})") from exc
        if ok != "ok":
            raise BackupError(f"{backup} is damaged: {ok}")
        revisions = _sqlite_revisions(src)
        needs_upgrade = check_revisions(revisions, code_revisions())
        target = sqlite_path(url)
        target.parent.mkdir(parents=True, exist_ok=True)
        dst = sqlite3.connect(target, timeout=30)
        try:
            if _has_tables(dst) and not force:
                raise BackupError(f"{target} already holds a database; stop the servers and "
                                  "pass --force to replace it")
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()
    return BackupInfo(backup, revisions, backup.stat().st_size, time.perf_counter() - started,
                      needs_upgrade)


# --- PostgreSQL --------------------------------------------------------------------------------

def libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq URL without the password, and the environment carrying it (``PGPASSWORD``),
    so the password never shows in ``ps``."""
    u = make_url(url)
    env = {"PGPASSWORD": u.password} if u.password else {}
    plain = u.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def pg_recipe(url: str, dest: Path) -> str:
    conn, _ = libpq(url)
    return (f"pg_dump --format=custom --no-owner --file {dest} '{conn}'\n"
            f"# restore into an empty database with PostGIS available:\n"
            f"pg_restore --no-owner --exit-on-error --dbname '<empty database url>' {dest}")


def _run(cmd: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, env={**os.environ, **env}, capture_output=True, text=True)
    if result.returncode != 0:
        raise BackupError(f"{cmd[0]} failed: {result.stderr.strip()[-2000:]}")
    return result


def _pg_revisions(url: str) -> frozenset[str]:
    from sqlalchemy import text

    from dispatch.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return frozenset(r[0] for r in conn.execute(
                text("SELECT version_num FROM alembic_version")))
    finally:
        engine.dispose()


def backup_postgres(url: str, dest: Path) -> BackupInfo:
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        raise BackupError("pg_dump is not installed here; run on a host with the PostgreSQL "
                          "client tools:\n" + pg_recipe(url, dest))
    conn, env = libpq(url)
    started = time.perf_counter()
    revisions = _pg_revisions(url)
    partial = dest.with_name(dest.name + ".partial")
    dest.parent.mkdir(parents=True, exist_ok=True)
    _run([pg_dump, "--format=custom", "--no-owner", "--file", str(partial), conn], env)
    partial.replace(dest)
    return BackupInfo(dest, revisions, dest.stat().st_size, time.perf_counter() - started)


def dump_revisions(dump: Path) -> frozenset[str]:
    """The alembic_version rows inside a custom-format dump (read with ``pg_restore``)."""
    pg_restore = shutil.which("pg_restore")
    if pg_restore is None:
        raise BackupError("pg_restore is not installed here")
    out = _run([pg_restore, "--data-only", "--table=alembic_version", "--file=-", str(dump)],
               {}).stdout
    rows: list[str] = []
    copying = False
    for line in out.splitlines():
        if line.startswith("COPY ") and "alembic_version" in line:
            copying = True
        elif copying and line == "\\.":
            copying = False
        elif copying:
            rows.append(line.strip())
    return frozenset(rows)


def restore_postgres(dump: Path, url: str, *, force: bool = False) -> BackupInfo:
    if not dump.is_file():
        raise BackupError(f"no backup file at {dump}")
    started = time.perf_counter()
    revisions = dump_revisions(dump)
    needs_upgrade = check_revisions(revisions, code_revisions())
    try:
        existing = _pg_revisions(url)
    except Exception:
        existing = frozenset()
    if existing and not force:
        raise BackupError("the target database already holds a rescue schema; restore into an "
                          "empty database, or stop the servers and pass --force")
    conn, env = libpq(url)
    cmd = [shutil.which("pg_restore") or "pg_restore", "--no-owner", "--exit-on-error",
           "--single-transaction", "--dbname", conn, str(dump)]
    if existing:
        cmd[1:1] = ["--clean", "--if-exists"]
    _run(cmd, env)
    return BackupInfo(dump, revisions, dump.stat().st_size, time.perf_counter() - started,
                      needs_upgrade)


def backup(url: str, dest: Path) -> BackupInfo:
    return backup_sqlite(url, dest) if is_sqlite(url) else backup_postgres(url, dest)


def restore(path: Path, url: str, *, force: bool = False) -> BackupInfo:
    if is_sqlite(url):
        return restore_sqlite(path, url, force=force)
    return restore_postgres(path, url, force=force)
