"""Province-sized data (issue 18): 500,000 elevators against the 60,000-elevator city.

For each size and backend, a fresh database with the Taiyuan generator at that size
(``rescue fixtures load taiyuan --elevators N``), then, in this process through the services
the routes call (so the figures are the data path, not HTTP):

* **load**: the fixture load time;
* **intake**: ``create_incident`` for ``--incidents`` reports at random elevators, one unit of
  work each (the duplicate lookup and the elevator row lock run against the full registry);
* **dispatch**: confirm → committed offer for each of them (candidates, road times, booking),
  each incident cancelled afterwards so teams stay free;
* **board**: the console's first load (``stream.snapshot`` for an operator) with
  ``--active`` active incidents on the board;
* **year**: a year of history through the importer (``demo_history``: 0.1 entrapments per
  elevator-year, so ~6,000 at 60k and ~50,000 at 500k, plus false alarms and cancelled calls),
  then the office summary for that year and the whole area, p50 warm.

Printed: each figure and the ratio 500k / 60k measured in the same run. Targets: intake and
dispatch p50 within 1.5× of the 60k figures; the yearly summary ≤ 1 s p50.

    python -m bench.province [--big 500000] [--base 60000] [--incidents 300]
        [--postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres] [--no-sqlite]
"""

from __future__ import annotations

import argparse
import random
import resource
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select

from bench._server import fresh_database
from dispatch import lifecycle
from dispatch.db import make_engine, session_factory
from dispatch.dispatching.service import (
    DispatchContext,
    dispatch_incident,
    end_open_work,
    load_for_dispatch,
)
from dispatch.events import Actor, transition
from dispatch.fixtures.loader import load_taiyuan
from dispatch.incidents.schemas import IncidentCreate
from dispatch.incidents.service import create_incident
from dispatch.migrate import upgrade
from dispatch.models import Elevator, User
from dispatch.reports import demo_history, service
from dispatch.routing import router_for
from dispatch.scoping import Visibility
from dispatch.settings import Settings
from dispatch.stream.snapshot import snapshot
from dispatch.uow import unit_of_work

END = datetime(2026, 11, 1, tzinfo=service.LOCAL_TZ)
PERIOD = service.Period((END - timedelta(days=365)).astimezone(UTC), END.astimezone(UTC))
ADMIN = Visibility.internal()
OPERATOR = Visibility.for_user(User(id=0, role="operator", username="bench-op"))


def ms(xs: list[float]) -> tuple[float, float]:
    a = np.asarray(xs) * 1000
    return float(np.percentile(a, 50)), float(np.percentile(a, 99))


def run(kind: str, url: str, elevators: int, *, incidents: int, active: int, runs: int,
        cache_dir: Path, history_days: int) -> dict[str, Any]:
    engine = make_engine(url)
    upgrade(engine)
    t0 = time.perf_counter()
    load_taiyuan(engine, elevators=elevators)
    load_s = time.perf_counter() - t0
    factory = session_factory(engine)
    settings = Settings(database_url=url, geo_cache_dir=cache_dir, run_jobs=False,
                        secret_key="province" * 8)
    router = router_for(settings)
    with factory() as s:
        ids = list(s.scalars(select(Elevator.id).where(Elevator.zone_id.isnot(None))))
    rng = random.Random(18)
    actor = Actor("bench-operator", "operator")
    now = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    intake: list[float] = []
    dispatch: list[float] = []
    for k in range(incidents + 10):
        now += timedelta(seconds=5)
        t = time.perf_counter()
        with unit_of_work(factory) as s:
            inc, _ = create_incident(s, data=IncidentCreate(elevator_id=rng.choice(ids),
                                                            channel="call", trapped_count=1),
                                     actor=actor, user_id=None, now=now, settings=settings)
            s.flush()
            incident_id = inc.id
        t_intake = time.perf_counter() - t
        t = time.perf_counter()
        with unit_of_work(factory) as s:
            incident = load_for_dispatch(s, incident_id)
            transition(s, incident, lifecycle.CONFIRMED, actor=actor, at=now)
            dispatch_incident(s, incident, ctx=DispatchContext(settings=settings, router=router,
                                                               now=now, actor=actor))
        t_dispatch = time.perf_counter() - t
        if k >= 10:  # warm-up
            intake.append(t_intake)
            dispatch.append(t_dispatch)
        if k < incidents + 10 - active:  # keep the last ``active`` ones on the board
            with unit_of_work(factory) as s:
                incident = load_for_dispatch(s, incident_id)
                transition(s, incident, lifecycle.CANCELLED, actor=actor, at=now)
                end_open_work(s, incident, ctx=DispatchContext(
                    settings=settings, router=router, now=now, actor=actor), why="bench")
    board: list[float] = []
    rows = 0
    for _ in range(runs):
        t = time.perf_counter()
        with factory() as s:
            snap = snapshot(s, OPERATOR, lang="zh-CN", now=now, fresh_s=settings.gps_fresh_s)
        board.append(time.perf_counter() - t)
        rows = len(snap["incidents"])
    out: dict[str, Any] = {"backend": kind, "elevators": len(ids), "load_s": load_s,
                           "intake": ms(intake), "dispatch": ms(dispatch), "board": ms(board),
                           "board_rows": rows}
    if history_days:
        t = time.perf_counter()
        with unit_of_work(factory) as s:
            rep = demo_history.load(s, days=history_days, end=END.astimezone(UTC), seed=2026)
            assert not rep.errors, rep.errors[:3]
        out["history_s"] = time.perf_counter() - t
        out["history_days"] = history_days
        with factory() as s:
            def summary() -> dict[str, Any]:
                s.expire_all()
                return service.summary(s, ADMIN, PERIOD, district=None, group_by=None)["rows"][0]

            summary()
            year: list[float] = []
            for _ in range(runs):
                t = time.perf_counter()
                row = summary()
                year.append(time.perf_counter() - t)
        out["year"] = ms(year)
        out["entrapments"] = row["entrapments"]
    engine.dispose()
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--big", type=int, default=500_000)
    ap.add_argument("--base", type=int, default=60_000)
    ap.add_argument("--incidents", type=int, default=300)
    ap.add_argument("--active", type=int, default=200)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--postgres-url", default=None)
    ap.add_argument("--no-sqlite", action="store_true")
    ap.add_argument("--history-days", type=int, default=365,
                    help="days of history before the summary (0: skip it)")
    ap.add_argument("--big-history-days", type=int, default=None,
                    help="days of history at the big size (default: --history-days); the "
                    "importer takes ~20-45 ms per incident here, so a full year at 500k "
                    "(~55k incidents) takes most of an hour")
    args = ap.parse_args()
    kinds = ([] if args.no_sqlite else ["sqlite"]) + (["postgis"] if args.postgres_url else [])
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for kind in kinds:
            for size in (args.base, args.big):
                url = fresh_database(kind, work, args.postgres_url, f"rescue_bench_prov_{size}")
                print(f"{kind} {size:,} elevators …", flush=True)
                days = args.history_days if size == args.base or args.big_history_days is None \
                    else args.big_history_days
                r = run(kind, url, size, incidents=args.incidents, active=args.active,
                        runs=args.runs, cache_dir=work / "geo-cache", history_days=days)
                print(f"  {r}", flush=True)
                results.append(r)
                if kind == "sqlite":
                    Path(url.split("///", 1)[1]).unlink(missing_ok=True)
    print("\n| backend | elevators | load | intake p50 / p99 | dispatch p50 / p99 | board "
          "p50 (rows) | summary p50 (entrapments, history) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        year = (f"{r['year'][0]:.0f} ms ({r['entrapments']:,} in {r['history_days']} d, "
                f"import {r['history_s']:.0f} s)" if "year" in r else "—")
        print(f"| {r['backend']} | {r['elevators']:,} | {r['load_s']:.0f} s "
              f"| {r['intake'][0]:.1f} / {r['intake'][1]:.1f} ms "
              f"| {r['dispatch'][0]:.1f} / {r['dispatch'][1]:.1f} ms "
              f"| {r['board'][0]:.0f} ms ({r['board_rows']}) | {year} |")
    for kind in kinds:
        base, big = [r for r in results if r["backend"] == kind]
        print(f"{kind}: 500k/60k p50 ratio — intake {big['intake'][0] / base['intake'][0]:.2f}×, "
              f"dispatch {big['dispatch'][0] / base['dispatch'][0]:.2f}×, board "
              f"{big['board'][0] / base['board'][0]:.2f}× (target ≤ 1.5× for intake and "
              f"dispatch)" + (f"; summary {big['year'][0]:.0f} ms over {big['history_days']} "
                              f"days (target ≤ 1000 ms for a year)" if "year" in big else ""))


if __name__ == "__main__":
    main()
