"""Team rows with duty, company, current job and last duty change (issue 13) against the
previous bare team rows, measured in the same run.

The richer row feeds the console snapshot (all teams) and the hub's enrichment of every event
that names a team (one team), so both calls are timed: the Taiyuan teams (306) with 60 of them
on a job and two duty changes each.

Run: ``.venv/bin/python -m bench.team_rows [--postgres-url postgresql+psycopg://…/postgres]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bench._server import fresh_database, percentiles_ms
from dispatch.db import make_engine, session_factory
from dispatch.dispatching.service import team_origin
from dispatch.events import Actor
from dispatch.fixtures.loader import load_taiyuan
from dispatch.migrate import upgrade
from dispatch.models import Assignment, Elevator, Incident, Team
from dispatch.teams.duty import set_duty
from dispatch.teams.service import team_rows
from dispatch.uow import unit_of_work

NOW = datetime(2026, 11, 30, 8, 30, tzinfo=UTC)


def bare_team_rows(session: Session, *, now: datetime, fresh_s: float,
                   ids: list[int] | None = None) -> list[dict[str, Any]]:
    """The team rows before issue 13 (the baseline)."""
    stmt = select(Team).order_by(Team.id)
    if ids is not None:
        stmt = stmt.where(Team.id.in_(ids))
    out = []
    for t in session.scalars(stmt):
        lon, lat, source = team_origin(t, now, fresh_s)
        out.append({"id": t.id, "code": t.code, "name": t.name, "phone": t.phone,
                    "organization_id": t.organization_id, "status": t.status,
                    "on_duty": t.on_duty, "lon": lon, "lat": lat, "position_source": source,
                    "position_at": t.position_at})
    return out


def seed(session: Session) -> list[int]:
    teams = list(session.scalars(select(Team).order_by(Team.id)))
    elevators = list(session.scalars(select(Elevator).limit(60)))
    for team, el in zip(teams[:60], elevators, strict=True):
        inc = Incident(elevator_id=el.id, zone_id=el.zone_id, channel="call", state="accepted",
                       sla_minutes=30, sla_deadline=NOW + timedelta(minutes=30), received_at=NOW)
        session.add(inc)
        session.flush()
        session.add(Assignment(incident_id=inc.id, team_id=team.id, level=1, state="accepted",
                               offered_at=NOW, accept_by=NOW + timedelta(minutes=3),
                               offered_by="bench"))
    actor = Actor("bench", "supervisor")
    for team in teams[60:]:
        team.on_duty = True
        set_duty(session, team, on_duty=False, actor=actor, source="supervisor", reason="b", at=NOW)
        set_duty(session, team, on_duty=True, actor=actor, source="supervisor", reason="b", at=NOW)
    return [t.id for t in teams]


def timed(fn: Callable[[], object], runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return samples


def run(kind: str, url: str) -> None:
    engine = make_engine(url)
    upgrade(engine)
    load_taiyuan(engine, elevators=2000)
    factory = session_factory(engine)
    with unit_of_work(factory) as s:
        ids = seed(s)
    with factory() as s:
        for label, runs, pick in (("all teams (snapshot)", 40, None),
                                  ("one team (per event)", 400, "one")):
            one = [ids[len(ids) // 2]] if pick else None
            base = timed(lambda one=one: bare_team_rows(s, now=NOW, fresh_s=300, ids=one), runs)
            new = timed(lambda one=one: team_rows(s, now=NOW, fresh_s=300, ids=one), runs)
            b50, _, _ = percentiles_ms(base)
            n50, n99, _ = percentiles_ms(new)
            print(f"{kind:7} {label:22} teams={len(ids)}  bare p50 {b50:7.2f} ms  "
                  f"rich p50 {n50:7.2f} ms (p99 {n99:6.2f})  ratio {n50 / b50:4.2f}x")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--postgres-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run("sqlite", fresh_database("sqlite", Path(tmp), None, "team_rows"))
        if args.postgres_url:
            run("postgis", fresh_database("postgis", Path(tmp), args.postgres_url,
                                          "rescue_bench_team_rows"))


if __name__ == "__main__":
    main()
