"""Dispatch benchmark: confirm → committed offer, on the Taiyuan fixtures, SQLite and PostGIS.

For 1,000 incidents at random elevators of the 60,500-elevator registry (~300 teams): the time
from the operator's confirm to the committed offer — candidate query, straight-line prefilter,
road travel times for up to 25 teams per level, the three-level rule, the conditional booking,
the assignment with its ranking record, the timeline event, the offer deadline row and whatever
rows the event hooks add (the notification outbox, when present) — split into router time and
the rest (database + Python). Between measurements the incident is cancelled so teams stay free.

    python -m bench.dispatch [--incidents 1000] [--postgres-url postgresql+psycopg://…/postgres]
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from bench._server import fresh_database, loaded_registry
from dispatch import lifecycle
from dispatch.dispatching.service import (
    DispatchContext,
    Timing,
    dispatch_incident,
    end_open_work,
    load_for_dispatch,
)
from dispatch.events import Actor, transition
from dispatch.incidents.schemas import IncidentCreate
from dispatch.incidents.service import create_incident

console = Console(width=160)


def run_backend(url: str, *, incidents: int, cache_dir: Path) -> dict[str, object]:
    engine, factory, settings, router, elevator_ids = loaded_registry(url, cache_dir=cache_dir)
    rng = random.Random(11)
    actor = Actor("bench-operator", "operator")
    now = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    totals, routers, at_risk, offered = [], [], 0, 0
    for k in range(incidents + 20):
        now += timedelta(seconds=7)
        with factory() as s:
            inc, _ = create_incident(
                s, data=IncidentCreate(elevator_id=rng.choice(elevator_ids), channel="call"),
                actor=actor, user_id=None, now=now, settings=settings)
            s.commit()
            incident_id = inc.id
        timing = Timing()
        t0 = time.perf_counter()
        with factory() as s:
            incident = load_for_dispatch(s, incident_id)
            transition(s, incident, lifecycle.CONFIRMED, actor=actor, at=now)
            ctx = DispatchContext(settings=settings, router=router, now=now, actor=actor,
                                  timing=timing)
            assignment = dispatch_incident(s, incident, ctx=ctx)
            s.commit()
        elapsed = time.perf_counter() - t0
        if k >= 20:  # warm-up excluded
            totals.append(elapsed)
            routers.append(timing.router_s)
            offered += assignment is not None
            at_risk += bool(assignment is not None and assignment.at_risk)
        with factory() as s:
            incident = load_for_dispatch(s, incident_id)
            transition(s, incident, lifecycle.CANCELLED, actor=actor, at=now)
            end_open_work(s, incident, ctx=DispatchContext(settings=settings, router=router,
                                                          now=now, actor=actor), why="bench")
            s.commit()
    engine.dispose()
    t = np.array(totals) * 1000
    r = np.array(routers) * 1000
    return {"n": len(t), "p50": np.percentile(t, 50), "p99": np.percentile(t, 99),
            "mean": t.mean(), "router_p50": np.percentile(r, 50), "router_mean": r.mean(),
            "rest_p50": np.percentile(t - r, 50), "offered": offered, "at_risk": at_risk,
            "engine": router.travel_times([(112.55, 37.87)], (112.56, 37.86)).engine}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--incidents", type=int, default=1000)
    ap.add_argument("--postgres-url", default=os.environ.get("RESCUE_TEST_POSTGRES_URL"))
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cache = work / "geo-cache"
        for kind in ["sqlite"] + (["postgis"] if args.postgres_url else []):
            url = fresh_database(kind, work, args.postgres_url, "rescue_bench_dispatch")
            console.print(f"[bold]{kind}[/]: {args.incidents:,} dispatches …")
            rows.append((kind, run_backend(url, incidents=args.incidents, cache_dir=cache)))
    table = Table(title="confirm → committed offer (ms)")
    for col in ("backend", "n", "p50", "p99", "mean", "router p50", "router mean",
                "rest p50", "offered", "at risk", "engine"):
        table.add_column(col, justify="right")
    for kind, r in rows:
        table.add_row(kind, str(r["n"]), f"{r['p50']:.1f}", f"{r['p99']:.1f}",
                      f"{r['mean']:.1f}", f"{r['router_p50']:.2f}", f"{r['router_mean']:.2f}",
                      f"{r['rest_p50']:.1f}", str(r["offered"]), str(r["at_risk"]),
                      str(r["engine"]))
    console.print(table)
    console.print("targets: p50 ≤ 15 ms, p99 ≤ 40 ms (issue #4)")


if __name__ == "__main__":
    main()
