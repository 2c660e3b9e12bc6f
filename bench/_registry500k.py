"""A cached 500,000-elevator Taiyuan registry for the lookup benchmark.

Generating and loading half a million elevators takes minutes on the shared machine, so the
SQLite file is built once under ``var/bench/`` and reused; on later runs only the migrations
newer than the file are applied (which is also how a deployed database gets the search index).
PostGIS has no file to cache: its database is rebuilt from the cached SQLite rows by
:func:`copy_registry`, which is much quicker than generating again.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from sqlalchemy import Engine, func, insert, select, text

from dispatch.db import make_engine
from dispatch.fixtures.loader import load_taiyuan
from dispatch.migrate import upgrade
from dispatch.models import Elevator, Organization, Team, Zone

ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = ROOT / "var" / "bench"


def cached_sqlite(elevators: int, *, seed: int = 20261130) -> tuple[Engine, bool]:
    """Engine on the cached registry file (built on first use); ``True`` when it was built now."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    path = CACHE_DIR / f"taiyuan-{elevators}-seed{seed}.db"
    built = False
    if not path.is_file():
        tmp = path.with_suffix(".tmp.db")
        tmp.unlink(missing_ok=True)
        eng = make_engine(f"sqlite:///{tmp}")
        upgrade(eng)
        t0 = time.perf_counter()
        load_taiyuan(eng, elevators=elevators, seed=seed)
        print(f"generated {elevators:,} elevators in {time.perf_counter() - t0:.0f} s → {path}")
        with eng.connect() as conn:
            conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        eng.dispose()
        shutil.move(tmp, path)
        built = True
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    return engine, built


def copy_registry(source: Engine, target: Engine, *, chunk: int = 5_000) -> int:
    """Copy zones, organizations, teams and elevators into the migrated, empty ``target``."""
    with source.connect() as src, target.begin() as dst:
        for table in (Zone.__table__, Organization.__table__, Team.__table__,
                      Elevator.__table__):
            rows = src.execute(select(table)).mappings()
            batch: list[dict[str, object]] = []
            for row in rows:
                batch.append(dict(row))
                if len(batch) >= chunk:
                    dst.execute(insert(table), batch)
                    batch = []
            if batch:
                dst.execute(insert(table), batch)
            if dst.dialect.name == "postgresql":
                dst.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                    f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {table.name}), false)"))
        if dst.dialect.name == "postgresql":
            dst.execute(text("ANALYZE"))
        return int(dst.execute(select(func.count()).select_from(Elevator.__table__)).scalar_one())
