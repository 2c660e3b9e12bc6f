"""Office report speed: a city-year summary on 60k elevators, SQLite and PostGIS.

For each backend: a fresh database, the Taiyuan fixtures (60,500 elevators), a year of history
through the importer (the demo generator: ~6,000 entrapments plus false alarms and cancelled
calls), then ``GET /api/v1/reports/summary`` for the year and the whole city, called in-process
through the service (what the route does). Reported: p50/p90 of the summary with the fact cache
warm; the same after a late edit (one incident's timeline grows, so its fact is recomputed); and
the baseline measured in the same run — deriving every incident's facts from the timeline on
each request (no cache). Correctness: the warm summary equals the baseline's numbers, and the
late edit shows up.

    .venv/bin/python -m bench.reports [--postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bench._server import fresh_database
from dispatch.db import make_engine
from dispatch.events import Actor, append_event
from dispatch.fixtures.loader import load_taiyuan
from dispatch.migrate import upgrade
from dispatch.models import Incident, IncidentEvent
from dispatch.reports import demo_history, kpis, service
from dispatch.reports.facts import compute
from dispatch.reports.models import ReportFact
from dispatch.scoping import Visibility

END = datetime(2026, 11, 1, tzinfo=service.LOCAL_TZ)
PERIOD = service.Period((END - timedelta(days=365)).astimezone(UTC), END.astimezone(UTC))
ADMIN = Visibility.internal()


def timed(fn: Any, runs: int) -> tuple[list[float], Any]:
    out = None
    ms = []
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        ms.append((time.perf_counter() - t0) * 1000)
    return ms, out


def baseline(session: Session) -> dict[str, Any]:
    """No cache: every incident's facts from its timeline, then the same summary."""
    ids = list(session.scalars(select(Incident.id).where(
        Incident.received_at >= PERIOD.start, Incident.received_at < PERIOD.end)))
    computed = compute(session, ids)
    rows = [kpis.Row(f) for _, f in computed.values()]
    pop = service.elevators_by(session, None, None)["all"]
    return kpis.summarize(rows, days=PERIOD.days, elevators=pop)


def run(kind: str, url: str, runs: int) -> dict[str, Any]:
    engine = make_engine(url)
    upgrade(engine)
    t0 = time.perf_counter()
    load_taiyuan(engine)
    with Session(engine) as s:
        rep = demo_history.load(s, days=365, end=END.astimezone(UTC), seed=2026)
        s.commit()
        assert not rep.errors, rep.errors[:3]
    setup_s = time.perf_counter() - t0
    with Session(engine) as s:
        n_inc = s.scalar(select(func.count()).select_from(Incident))
        n_ev = s.scalar(select(func.count()).select_from(IncidentEvent))
        n_fact = s.scalar(select(func.count()).select_from(ReportFact))

        def summary() -> dict[str, Any]:
            s.expire_all()
            return service.summary(s, ADMIN, PERIOD, district=None, group_by=None)["rows"][0]

        def by_district() -> list[dict[str, Any]]:
            s.expire_all()
            return service.summary(s, ADMIN, PERIOD, district=None, group_by="district")["rows"]

        summary()  # warm-up (connection, caches)
        warm, row = timed(summary, runs)
        grouped, _ = timed(by_district, runs)
        base_ms, base = timed(lambda: baseline(s), max(3, runs // 5))
        # the cached and the uncached paths agree on every figure (all zones clock at received)
        same = all(row[k] == base[k] for k in base if k != "elevators_in_service")
        # a late edit: a callback recorded now for the first released incident of the year
        inc = s.scalar(select(Incident).where(Incident.released_at.is_not(None),
                                              Incident.callback_done_at.is_(None),
                                              Incident.received_at >= PERIOD.start)
                       .order_by(Incident.id).limit(1))
        assert inc is not None
        append_event(s, inc, type="callback_done", actor=Actor("bench", "operator"),
                     at=inc.released_at + timedelta(hours=1))
        s.commit()
        t1 = time.perf_counter()
        after = summary()
        edit_ms = (time.perf_counter() - t1) * 1000
        followed = after["callback_24h_rate"] != row["callback_24h_rate"] or \
            after["callback_24h_n"] == row["callback_24h_n"]
    engine.dispose()
    return {"backend": kind, "incidents": n_inc, "events": n_ev, "facts": n_fact,
            "entrapments": row["entrapments"], "setup_s": setup_s,
            "p50": float(np.percentile(warm, 50)), "p90": float(np.percentile(warm, 90)),
            "district_p50": float(np.percentile(grouped, 50)),
            "baseline_p50": float(np.percentile(base_ms, 50)), "after_edit_ms": edit_ms,
            "same_as_baseline": same, "late_edit_followed": followed}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--postgres-url", default=None)
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    kinds = ["sqlite"] + (["postgis"] if args.postgres_url else [])
    with tempfile.TemporaryDirectory() as tmp:
        results = [run(k, fresh_database(k, Path(tmp), args.postgres_url, "bench_reports"),
                       args.runs) for k in kinds]
    print("| backend | incidents | events | entrapments | summary p50 | p90 | by district p50 "
          "| no-cache baseline p50 | × | after a late edit | equal to baseline | setup |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        print(f"| {r['backend']} | {r['incidents']:,} | {r['events']:,} | {r['entrapments']:,} "
              f"| **{r['p50']:.0f} ms** | {r['p90']:.0f} ms | {r['district_p50']:.0f} ms "
              f"| {r['baseline_p50']:.0f} ms | {r['baseline_p50'] / r['p50']:.1f}× "
              f"| {r['after_edit_ms']:.0f} ms | {r['same_as_baseline']} "
              f"(edit seen: {r['late_edit_followed']}) | {r['setup_s']:.0f} s |")


if __name__ == "__main__":
    main()
