"""Registry import speed: 60,500 Taiyuan elevators from CSV, then a re-import with 1 % changed.

For each backend (SQLite file; PostGIS in a database of its own): the Taiyuan generator writes
the four import files once; a fresh migrated database then takes

1. the first import through ``dispatch.registry.importer`` (validation, zoning, snapping to the
   road graph, the change log; committed) — target ≤ 30 s;
2. a re-import of the same files (nothing changed);
3. a re-import with 1 % of the elevator rows edited (605 addresses) — target ≤ 10 s.

Baseline, measured in the same run on a second fresh database: the fixture bulk loader
(``dispatch.fixtures.loader.load_registry``: Core inserts, no validation, no diff, no log) for
the same registry. "Only the changed rows written" is checked, not assumed: a
``before_cursor_execute`` listener counts every INSERT/UPDATE/DELETE and the rows each carries.

    .venv/bin/python -m bench.registry [--postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

PostGIS defaults to ``RESCUE_BENCH_POSTGRES_URL`` or the machine's server; ``--sqlite-only``
skips it.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import Engine, event

from bench._server import fresh_database
from dispatch.db import make_engine, session_factory
from dispatch.fixtures.loader import load_registry
from dispatch.fixtures.taiyuan import generate
from dispatch.fixtures.taiyuan_files import write_registry_files
from dispatch.migrate import upgrade
from dispatch.registry.importer import ImportOptions, ImportReport, import_with_settings
from dispatch.routing import router_for
from dispatch.settings import Settings

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
CHANGED_EVERY = 100  # 1 %


def count_writes(engine: Engine) -> tuple[Counter[str], Any]:
    seen: Counter[str] = Counter()

    def listen(conn: Any, cursor: Any, statement: str, params: Any, context: Any,
               many: bool) -> None:
        words = statement.split()
        verb = words[0].upper()
        if verb in ("INSERT", "UPDATE", "DELETE"):
            table = (words[1] if verb == "UPDATE" else words[2]).strip('"')
            seen[f"{verb} {table}"] += len(params) if many else 1

    event.listen(engine, "before_cursor_execute", listen)
    return seen, listen


def timed_import(engine: Engine, settings: Settings, path: Path) -> Timed:
    factory = session_factory(engine)
    seen, listen = count_writes(engine)
    marks: dict[str, float] = {}

    def progress(stage: str, done: int, total: int) -> None:
        marks.setdefault(stage, time.perf_counter())

    t0 = time.perf_counter()
    with factory() as s:
        report = import_with_settings(s, [path], settings, progress=progress,
                                      options=ImportOptions(actor="bench",
                                                            off_network_is_error=False))
        assert report.written, [i.message for i in report.errors[:5]]
        marks["commit"] = time.perf_counter()
        s.commit()
    took = time.perf_counter() - t0
    event.remove(engine, "before_cursor_execute", listen)
    stages = sorted(marks.items(), key=lambda kv: kv[1])
    split = [(name, (stages[i + 1][1] if i + 1 < len(stages) else t0 + took) - at)
             for i, (name, at) in enumerate(stages)]
    return Timed(took, report, seen, split)


class Timed(NamedTuple):
    seconds: float
    report: ImportReport
    writes: Counter[str]
    split: list[tuple[str, float]]

    def split_text(self) -> str:
        return ", ".join(f"{name} {sec:.1f}" for name, sec in self.split if sec >= 0.05)


def edited_copy(src: Path, dst: Path) -> int:
    """The same files with every 100th elevator's address changed; returns how many."""
    shutil.copytree(src, dst)
    with (src / "elevators.csv").open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        fields = list(reader.fieldnames or [])
        rows = list(reader)
    n = 0
    for i, r in enumerate(rows):
        if i % CHANGED_EVERY == 0:
            r["address"] += "（新址）"
            n += 1
    with (dst / "elevators.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    return n


def run(kind: str, workdir: Path, files: Path, edited: Path, n_edited: int, registry: Any,
        postgres_url: str | None, cache_dir: Path) -> dict[str, Any]:
    url = fresh_database(kind, workdir, postgres_url, "rescue_bench_registry")
    engine = make_engine(url)
    upgrade(engine)
    settings = Settings(database_url=url, geo_cache_dir=cache_dir, run_jobs=False)
    t0 = time.perf_counter()
    router_for(settings)  # the process's road graph (memory map), built once per process
    router_s = time.perf_counter() - t0
    first = timed_import(engine, settings, files)
    same = timed_import(engine, settings, files)
    edit = timed_import(engine, settings, edited)
    engine.dispose()

    base_url = fresh_database(kind, workdir, postgres_url, "rescue_bench_registry_base")
    base_engine = make_engine(base_url)
    upgrade(base_engine)
    t0 = time.perf_counter()
    load_registry(base_engine, registry)
    base_s = time.perf_counter() - t0
    base_engine.dispose()
    return {"kind": kind, "router_s": router_s, "first": first, "same": same, "edit": edit,
            "base_s": base_s, "n_edited": n_edited}


def show(r: dict[str, Any]) -> None:
    first, same, edit = r["first"], r["same"], r["edit"]
    print(f"\n== {r['kind']} ==")
    print(f"road graph ready      {r['router_s']:6.2f} s")
    print(f"first import          {first.seconds:6.2f} s  "
          f"({first.report.kinds['elevators'].created:,} elevators created; bulk loader "
          f"baseline {r['base_s']:.2f} s, ratio {first.seconds / r['base_s']:.1f}×)")
    print(f"  rows written        {dict(first.writes)}")
    print(f"  split (s)           {first.split_text()}")
    print(f"re-import, unchanged  {same.seconds:6.2f} s  (changes {same.report.changes}; "
          f"statements {sum(same.writes.values())})")
    print(f"  split (s)           {same.split_text()}")
    ed = edit.report.kinds["elevators"]
    print(f"re-import, 1 % edited {edit.seconds:6.2f} s  ({ed.updated} updated, "
          f"{ed.unchanged:,} unchanged; {r['n_edited']} rows edited)")
    print(f"  rows written        {dict(edit.writes)}")
    print(f"  split (s)           {edit.split_text()}")
    ok = (edit.writes.get("UPDATE elevator") == r["n_edited"]
          and edit.writes.get("INSERT registry_change") == r["n_edited"]
          and sum(edit.writes.values()) == 2 * r["n_edited"] and not same.writes)
    print(f"  only the changed rows written: {'yes' if ok else 'NO'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--postgres-url",
                    default=os.environ.get("RESCUE_BENCH_POSTGRES_URL", DEFAULT_PG))
    ap.add_argument("--sqlite-only", action="store_true")
    ap.add_argument("--elevators", type=int, default=60_000)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-registry-"))
    try:
        t0 = time.perf_counter()
        registry = generate(args.elevators)
        files = work / "files"
        write_registry_files(registry, files)
        gen_s = time.perf_counter() - t0
        n_edited = edited_copy(files, work / "edited")
        print(f"generated and wrote {registry.counts()} in {gen_s:.1f} s; "
              f"elevators.csv {(files / 'elevators.csv').stat().st_size / 1e6:.1f} MB")
        cache = work / "geo-cache"
        for kind in ("sqlite",) if args.sqlite_only else ("sqlite", "postgis"):
            show(run(kind, work, files, work / "edited", n_edited, registry,
                     args.postgres_url, cache))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
