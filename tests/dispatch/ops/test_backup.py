"""``rescue db backup`` / ``restore`` on both backends: a backup taken while incidents are being
written holds every incident committed before it began, each whole; wrong files are refused."""

from __future__ import annotations

import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text
from typer.testing import CliRunner

from dispatch.cli import app
from dispatch.db import make_engine, session_factory
from dispatch.events import Actor
from dispatch.incidents.schemas import IncidentCreate
from dispatch.incidents.service import create_incident
from dispatch.models import Incident, IncidentEvent
from dispatch.ops.backup import code_revisions
from dispatch.settings import Settings, get_settings
from tests import factories

runner = CliRunner()


@contextmanager
def database(monkeypatch: pytest.MonkeyPatch, url: str) -> Iterator[None]:
    monkeypatch.setenv("RESCUE_DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        yield
    finally:
        get_settings.cache_clear()


def rescue(monkeypatch: pytest.MonkeyPatch, url: str, *args: str) -> tuple[int, str]:
    with database(monkeypatch, url):
        result = runner.invoke(app, list(args))
    return result.exit_code, " ".join(result.output.split())


class Writer(threading.Thread):
    """Records incidents through the intake service, one transaction each, until stopped."""

    def __init__(self, url: str, codes: list[str]) -> None:
        super().__init__(daemon=True)
        self.engine = make_engine(url)
        self.factory = session_factory(self.engine)
        self.settings = Settings(database_url=url, run_jobs=False, secret_key="x" * 40)
        self.codes = codes
        self.committed: list[int] = []
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            i = 0
            while not self.stop.is_set():
                with self.factory() as s:
                    incident, _ = create_incident(
                        s, data=IncidentCreate(rescue_code=self.codes[i % len(self.codes)],
                                               channel="call", trapped_count=1),
                        actor=Actor.system("backup-test"), user_id=None,
                        now=datetime.now(UTC), settings=self.settings)
                    s.commit()
                    self.committed.append(incident.id)
                i += 1
        except BaseException as exc:  # surfaced by the test
            self.error = exc
        finally:
            self.engine.dispose()

    def wait_for(self, n: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while len(self.committed) < n:
            assert self.error is None and time.monotonic() < deadline, self.error
            time.sleep(0.01)


def seed_elevators(url: str, n: int) -> list[str]:
    engine = make_engine(url)
    with session_factory(engine)() as s:
        codes = [factories.make_elevator(s, rescue_code=f"{880000 + i}").rescue_code
                 for i in range(n)]
        s.commit()
    engine.dispose()
    return codes


def incidents_in(url: str) -> tuple[set[int], dict[int, int]]:
    engine = make_engine(url)
    with engine.connect() as conn:
        ids = set(conn.scalars(select(Incident.id)))
        events = dict(conn.execute(select(IncidentEvent.incident_id, func.count())
                                   .group_by(IncidentEvent.incident_id)).all())
    engine.dispose()
    return ids, events


def test_a_backup_under_write_load_restores_every_committed_incident(
        monkeypatch: pytest.MonkeyPatch, new_db: Callable[..., str], tmp_path: Path) -> None:
    source = new_db()
    writer = Writer(source, seed_elevators(source, 40))
    writer.start()
    try:
        writer.wait_for(40)
        before = list(writer.committed)  # committed before the backup began
        code, out = rescue(monkeypatch, source, "db", "backup", str(tmp_path / "rescue.bak"))
        assert code == 0, out
        assert "backup written" in out
        during = len(writer.committed)
        writer.wait_for(during + 20)  # still writing after the backup
    finally:
        writer.stop.set()
        writer.join(timeout=30)
    assert writer.error is None, writer.error
    target = new_db(migrate=False)
    code, out = rescue(monkeypatch, target, "db", "restore", str(tmp_path / "rescue.bak"))
    assert code == 0, out
    restored, events = incidents_in(target)
    assert set(before) <= restored  # every incident committed before the backup
    assert restored <= set(writer.committed)  # nothing invented
    # one consistent snapshot: a prefix of the commit order, not a patchwork
    assert restored == set(writer.committed[:len(restored)])
    assert len(restored) < len(writer.committed)  # the writes after it are not in it
    assert all(events.get(i, 0) >= 1 for i in restored)  # each with its timeline
    source_ids, _ = incidents_in(source)
    assert source_ids == set(writer.committed)


def _set_revision(url: str, revision: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": revision})
    engine.dispose()


def test_restore_refuses_a_backup_from_newer_code(monkeypatch: pytest.MonkeyPatch,
                                                  new_db: Callable[..., str],
                                                  tmp_path: Path) -> None:
    source = new_db()
    _set_revision(source, "9999_from_the_future")
    code, out = rescue(monkeypatch, source, "db", "backup", str(tmp_path / "new.bak"))
    assert code == 0, out
    target = new_db(migrate=False)
    code, out = rescue(monkeypatch, target, "db", "restore", str(tmp_path / "new.bak"))
    assert code == 1
    assert "9999_from_the_future" in out and "newer than this code" in out
    assert incidents_in_schema(target) == set()  # nothing written


def incidents_in_schema(url: str) -> set[str]:
    from sqlalchemy import inspect

    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_restore_of_older_backup_says_upgrade_and_refuses_a_full_target(
        monkeypatch: pytest.MonkeyPatch, new_db: Callable[..., str], tmp_path: Path) -> None:
    source = new_db()
    older = sorted(code_revisions().known - code_revisions().heads)[0]
    _set_revision(source, older)
    assert rescue(monkeypatch, source, "db", "backup", str(tmp_path / "old.bak"))[0] == 0
    full = new_db()
    code, out = rescue(monkeypatch, full, "db", "restore", str(tmp_path / "old.bak"))
    assert code == 1 and "--force" in out
    target = new_db(migrate=False)
    code, out = rescue(monkeypatch, target, "db", "restore", str(tmp_path / "old.bak"))
    assert code == 0, out
    assert "rescue db upgrade" in out


def test_sqlite_backup_is_one_self_contained_file(monkeypatch: pytest.MonkeyPatch,
                                                  engine: Engine, new_db: Callable[..., str],
                                                  tmp_path: Path) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite file format")
    source = new_db()
    seed_elevators(source, 3)
    dest = tmp_path / "one.bak"
    assert rescue(monkeypatch, source, "db", "backup", str(dest))[0] == 0
    assert not Path(f"{dest}-wal").exists() and not Path(f"{dest}.partial").exists()
    copy = tmp_path / "moved.bak"
    shutil.copy(dest, copy)  # usable on its own, e.g. after being shipped elsewhere
    with sqlite3.connect(copy) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert conn.execute("SELECT count(*) FROM elevator").fetchone()[0] == 3


def test_restore_refuses_a_file_that_is_not_a_backup(monkeypatch: pytest.MonkeyPatch,
                                                     new_db: Callable[..., str],
                                                     tmp_path: Path) -> None:
    junk = tmp_path / "junk.bak"
    junk.write_bytes(b"not a database at all" * 100)
    target = new_db(migrate=False)
    code, out = rescue(monkeypatch, target, "db", "restore", str(junk))
    assert code == 1 and "not restored" in out
