"""A realistic past for the demo office page, written through the importer (same code path).

Shape (DOMAIN.md): ~0.1 entrapments per elevator-year, peaks 08–10 and 18–20, one area power
cut (dozens of entrapments in one district within half an hour, slower arrivals), most arrivals
8–20 min, a few "late" maintenance companies, 97 % level 1, a few false alarms and cancelled
calls, callbacks mostly within hours. Deterministic for a seed and an end date.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.models import Elevator, InboundMessage, Organization, Team, Zone
from dispatch.reports.history import SOURCE, ImportReport, import_records

LOCAL: Final = ZoneInfo("Asia/Shanghai")
PER_ELEVATOR_YEAR: Final = 0.1
HOUR_WEIGHTS: Final = np.array([
    0.6, 0.4, 0.3, 0.3, 0.3, 0.5, 1.2, 2.2, 4.0, 4.2, 3.0, 2.4,
    2.4, 2.2, 2.0, 2.0, 2.2, 2.8, 4.0, 4.2, 3.0, 2.0, 1.4, 0.9])
CAUSES: Final = ("external_power", "external_other", "human", "door_system", "control_system",
                 "traction_drive", "other")
CAUSE_P: Final = np.array([0.08, 0.05, 0.25, 0.35, 0.12, 0.05, 0.10])


def _registry(session: Session) -> dict[str, Any]:
    rows = session.execute(
        select(Elevator.id, Elevator.rescue_code, Elevator.maintenance_company_id, Zone.name,
               Elevator.three_no)
        .join(Zone, Zone.id == Elevator.zone_id).where(Elevator.in_service.is_(True))
        .order_by(Elevator.id)).all()
    teams: dict[int, list[str]] = defaultdict(list)
    others: list[str] = []
    fire: list[str] = []
    for code, org, kind in session.execute(
            select(Team.code, Team.organization_id, Organization.kind)
            .join(Organization, Organization.id == Team.organization_id).order_by(Team.id)):
        if kind == "fire_brigade":
            fire.append(code)
        else:
            teams[org].append(code)
            others.append(code)
    return {"elevators": rows, "teams": teams, "others": others, "fire": fire}


def generate(session: Session, *, days: int, end: datetime, seed: int = 8) -> list[dict[str, Any]]:
    """Rows in the import format for ``days`` days before ``end`` (local midnight)."""
    reg = _registry(session)
    elevators = reg["elevators"]
    if not elevators:
        return []
    rng = np.random.default_rng(seed)
    end_local = end.astimezone(LOCAL).replace(hour=0, minute=0, second=0, microsecond=0)
    start_local = end_local - timedelta(days=days)
    size: dict[int, int] = defaultdict(int)
    for e in elevators:
        if e[2] is not None:
            size[e[2]] += 1
    big = sorted(size, key=lambda c: (-size[c], c))[:15]
    late = set(rng.choice(big, size=min(3, len(big)), replace=False).tolist()) if big else set()
    per_day = len(elevators) * PER_ELEVATOR_YEAR / 365.25
    rows: list[dict[str, Any]] = []
    hour_p = HOUR_WEIGHTS / HOUR_WEIGHTS.sum()
    districts = sorted({e[3] for e in elevators})
    burst_day = int(rng.integers(days // 3, max(days // 3 + 1, days - 5))) if days > 6 else -1
    burst_district = districts[int(rng.integers(len(districts)))]
    by_district: dict[str, list[int]] = defaultdict(list)
    for i, e in enumerate(elevators):
        by_district[e[3]].append(i)
    three_no = [i for i, e in enumerate(elevators) if e[4]]
    lemons = [int(i) for i in rng.choice(len(elevators), size=6, replace=False)]
    lemons += [int(i) for i in rng.choice(three_no, size=min(4, len(three_no)), replace=False)]

    def one(day: int, n: int, when: datetime, idx: int, burst: bool) -> dict[str, Any]:
        _, rescue_code, company, zone, _ = elevators[idx]
        received = when
        u = rng.random()
        outcome = "false_alarm" if u < 0.07 else "cancelled" if u < 0.10 else "released"
        row: dict[str, Any] = {"external_id": f"demo-{start_local:%Y%m%d}-{day:03d}-{n:04d}",
                               "rescue_code": rescue_code,
                               "channel": str(rng.choice(["call", "alarm", "ivr", "app"],
                                                         p=[0.7, 0.15, 0.1, 0.05])),
                               "received_at": received.isoformat(), "outcome": outcome,
                               "trapped_count": int(rng.choice([1, 1, 1, 2, 2, 3, 4]))}
        if outcome == "cancelled" and rng.random() < 0.6:
            row["closed_at"] = (received + timedelta(seconds=float(rng.uniform(60, 400))))\
                .isoformat()
            return row
        level = int(rng.choice([1, 2, 3], p=[0.97, 0.025, 0.005]))
        pool = (reg["teams"].get(company) or reg["others"]) if level == 1 else \
            (reg["fire"] or reg["others"]) if level == 3 else reg["others"]
        team = str(rng.choice(pool)) if pool else None
        if level == 1 and not reg["teams"].get(company):
            level = 2
        t = received + timedelta(seconds=float(rng.uniform(15, 90) * (3 if burst else 1)))
        row.update(dispatched_at=t.isoformat(), level=level, team_code=team or "")
        resp = float(rng.gamma(2.0, 35.0)) if rng.random() > 0.08 else float(rng.uniform(181, 400))
        t = t + timedelta(seconds=resp)
        row["accepted_at"] = t.isoformat()
        if outcome == "cancelled":
            row["closed_at"] = (t + timedelta(seconds=float(rng.uniform(60, 300)))).isoformat()
            return row
        mean_min = 27.0 if company in late else 13.0
        arrive_min = float(np.clip(rng.normal(mean_min, 4.5 if company in late else 3.5), 5, 90))
        if zone in ("清徐县", "阳曲县", "娄烦县", "古交市"):
            arrive_min *= 1.8
        if burst:
            arrive_min += float(rng.uniform(5, 25))
        arrived = received + timedelta(minutes=arrive_min)
        if arrived <= t:
            arrived = t + timedelta(minutes=2)
        row["arrived_at"] = arrived.isoformat()
        if outcome == "false_alarm":
            row["closed_at"] = (arrived + timedelta(minutes=float(rng.uniform(2, 10))))\
                .isoformat()
            return row
        released = arrived + timedelta(minutes=float(np.clip(rng.gamma(2.2, 2.2), 1, 40)))
        closed = released + timedelta(minutes=float(rng.uniform(10, 90)))
        row.update(released_at=released.isoformat(), closed_at=closed.isoformat(),
                   cause_code="external_power" if burst else
                   str(rng.choice(CAUSES, p=CAUSE_P)))
        if rng.random() < 0.85:
            row["callback_at"] = (released + timedelta(
                hours=float(rng.choice([0.5, 1, 2, 6, 20, 30], p=[.3, .3, .15, .1, .1, .05]))))\
                .isoformat()
        return row

    for day in range(days):
        base = start_local + timedelta(days=day)
        count = int(rng.poisson(per_day / 0.9))  # ~10 % of reports are not entrapments
        hours = rng.choice(24, size=count, p=hour_p)
        for n, h in enumerate(hours):
            when = base + timedelta(hours=int(h), seconds=float(rng.uniform(0, 3600)))
            rows.append(one(day, n, when.astimezone(UTC), int(rng.integers(len(elevators))),
                            False))
        if day == burst_day:
            pool = by_district[burst_district]
            at = base + timedelta(hours=19, minutes=12)
            k = min(len(pool), 60)
            for j, idx in enumerate(rng.choice(pool, size=k, replace=False)):
                when = at + timedelta(seconds=float(rng.uniform(0, 1800)))
                rows.append(one(day, 5000 + j, when.astimezone(UTC), int(idx), True))
    for j, idx in enumerate(lemons):  # repeat offenders: 3-5 entrapments in one month
        first = int(rng.integers(0, max(1, days - 28)))
        for k in range(int(rng.integers(3, 6))):
            day = min(days - 1, first + int(rng.integers(0, 25)))
            when = start_local + timedelta(days=day, hours=float(rng.choice(24, p=hour_p)),
                                           seconds=float(rng.uniform(0, 3600)))
            rows.append(one(day, 6000 + 10 * j + k, when.astimezone(UTC), idx, False))
    now = end.astimezone(UTC)
    out = [r for r in rows if datetime.fromisoformat(r["received_at"]) < now - timedelta(days=1)]
    for r in out:
        if "callback_at" in r and datetime.fromisoformat(r["callback_at"]) > now:
            del r["callback_at"]
    return out


def has_demo_history(session: Session) -> bool:
    return session.scalar(select(InboundMessage.id).where(
        InboundMessage.source == SOURCE, InboundMessage.external_id.like("demo-%")).limit(1)) \
        is not None


def load(session: Session, *, days: int, end: datetime, seed: int = 8) -> ImportReport:
    rows = generate(session, days=days, end=end, seed=seed)
    records = [(i + 2, {k: ("" if v is None else str(v)) for k, v in r.items()})
               for i, r in enumerate(rows)]
    return import_records(session, records)
