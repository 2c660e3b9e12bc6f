"""SQLite fixture load with the search index built once after the insert vs by per-row triggers.

Each run: a fresh migrated SQLite file, then ``load_taiyuan`` (60,500 elevators by default) —
once with :func:`dispatch.elevators.fts.bulk_search_index` (the insert trigger paused, two set
statements index the new rows) and once with the triggers of migration 0006 doing it row by row
(the baseline: ``BULK_MIN_ROWS`` raised above the row count), alternating, in the same process.
Both indexes are then compared: the same FTS5 hits for a set of phrases and the same trigram set.

    .venv/bin/python -m bench.search_index [--elevators 60000] [--runs 2]
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from pathlib import Path

from sqlalchemy import Engine, text

from dispatch.db import make_engine
from dispatch.elevators import fts
from dispatch.fixtures.loader import load_taiyuan
from dispatch.migrate import upgrade

PHRASES = ("太原市", "小店区", "迎泽区", "迎泽大街", "街1号")


def one(path: Path, elevators: int, *, mode: str) -> tuple[float, Engine]:
    """``mode``: ``bulk`` (indexed once), ``rows`` (per-row triggers), ``none`` (no index)."""
    eng = make_engine(f"sqlite:///{path}")
    upgrade(eng)
    if mode == "none":
        with eng.begin() as conn:
            conn.execute(text("DROP TRIGGER elevator_search_ai"))
    saved = fts.BULK_MIN_ROWS
    fts.BULK_MIN_ROWS = saved if mode == "bulk" else 10**9
    try:
        t0 = time.perf_counter()
        load_taiyuan(eng, elevators=elevators)
        return time.perf_counter() - t0, eng
    finally:
        fts.BULK_MIN_ROWS = saved


def fingerprint(eng: Engine) -> tuple[list[int], int, str]:
    with eng.connect() as conn:
        hits = [int(conn.execute(text("SELECT count(*) FROM elevator_search WHERE "
                                      "elevator_search MATCH :q"), {"q": f'"{p}"'}).scalar_one())
                for p in PHRASES]
        grams = int(conn.execute(text("SELECT count(*) FROM elevator_search_gram")).scalar_one())
        every = conn.execute(text("SELECT gram FROM elevator_search_gram ORDER BY gram"))
        digest = hashlib.sha256("\n".join(g for (g,) in every).encode()).hexdigest()
    return hits, grams, digest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--elevators", type=int, default=60_000)
    ap.add_argument("--runs", type=int, default=2)
    args = ap.parse_args()
    modes = {"bulk": "index built once", "rows": "per-row triggers", "none": "no search index"}
    times: dict[str, list[float]] = {m: [] for m in modes}
    prints = {}
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            for mode in modes:
                secs, eng = one(Path(tmp) / f"r{run}-{mode}.db", args.elevators, mode=mode)
                times[mode].append(secs)
                if mode != "none":
                    prints[mode] = fingerprint(eng)
                eng.dispose()
                print(f"run {run + 1} {modes[mode]}: {secs:.1f} s")
    best = {m: min(t) for m, t in times.items()}
    print(f"load_taiyuan({args.elevators:,} core elevators) on SQLite, best of {args.runs}: "
          f"index built once {best['bulk']:.1f} s, per-row triggers {best['rows']:.1f} s "
          f"(baseline) → {best['rows'] / best['bulk']:.1f}× faster; no index {best['none']:.1f} s")
    print(f"same index: {prints['bulk'] == prints['rows']} (FTS hits {prints['bulk'][0]}, "
          f"{prints['bulk'][1]:,} trigrams)")


if __name__ == "__main__":
    main()
