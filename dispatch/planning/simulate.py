"""Replay of real entrapments under a station layout: a discrete-event simulation, no I/O.

Why a simulation that calls the live rule: an office asks "what would last quarter have looked
like with these bases?". Any simplified dispatch rule would answer a different question, so the
decisions here are made by the very functions live dispatch calls — :func:`dispatch.policy.
prefilter` and :func:`dispatch.policy.decide` for one incident (three levels, deadline minus the
safety margin, the "why" record), :func:`dispatch.surge.assign_surge` when the redispatch timer
finds ``surge_min_waiting`` incidents of a zone without a team (as ``dispatch.jobs.
on_redispatch`` does), and the zone's :class:`~dispatch.policy.PolicyConfig` as the live service
builds it. What the simulation models itself, and is the source of its error on the real past:

- the operator's delay from reception to the first offer, the crew's delay from offer to
  acceptance and the time on site are drawn (seeded, with replacement) from the period's own
  recorded distributions; every offer is accepted (declines and time-outs are not replayed);
- a team drives ``turnout + road time`` after accepting and is free, back at its base, when the
  people are released (no return drive, no GPS positions);
- no fire brigade parallel alerts, no operator overrides, no merged duplicates.

The run is deterministic for a seed: draws are made per incident up front, events are ordered
by (time, sequence number), and ties between teams go to the policy's own tie-breaks.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from dispatch import policy, surge
from dispatch.registry.roster import Roster, on_roster
from dispatch.reports import kpis
from geo.distance import haversine_many_m

__all__ = ["SimIncident", "SimOutcome", "SimParams", "SimTeam", "figures", "kpi_row",
           "simulate"]

MAIN_KINDS = ("maintenance_company", "rescue_station", "fire_brigade")
SURGE_KINDS = ("maintenance_company", "rescue_station")

Travel = Callable[[Sequence[int], int], npt.NDArray[np.float64]]
"""``travel(team_indices, incident_index)`` → road seconds from each team's base (inf: none)."""
LevelOf = Callable[[str, int, int | None], int | None]
"""``(organization kind, organization id, contracted company id)`` → level (live rule)."""


@dataclass(frozen=True, slots=True)
class SimTeam:
    team_id: int
    name: str
    organization_id: int
    kind: str
    lon: float
    lat: float
    roster: Roster | None = None  # None: on duty all the time


@dataclass(frozen=True, slots=True)
class SimIncident:
    incident_id: int
    received_at: float  # POSIX seconds
    lon: float
    lat: float
    zone: str
    limit_min: int
    clock_start: str = "received"
    maintenance_company_id: int | None = None
    vulnerable: bool = False


@dataclass(frozen=True, slots=True)
class SimParams:
    config_for: Callable[[str], policy.PolicyConfig]
    level_of: LevelOf
    surge_min_waiting: int
    redispatch_retry_s: float
    dispatch_delay_s: Sequence[float] = (0.0,)
    accept_delay_s: Sequence[float] = (0.0,)
    onsite_s: Sequence[float] = (600.0,)
    seed: int = 17
    tz: str = "Asia/Shanghai"  # rosters are local wall-clock time
    give_up_s: float = 6 * 3600.0
    """An incident still without a team this long after reception stops being retried (a
    layout without any team on duty must end; it counts as a missed arrival)."""


@dataclass(slots=True)
class SimOutcome:
    """What happened to one incident in the replay (POSIX seconds)."""

    incident_id: int
    zone: str
    limit_min: int
    clock_start: str
    received_at: float
    first_offer_at: float | None = None
    accepted_at: float | None = None
    arrived_at: float | None = None
    released_at: float | None = None
    team_id: int | None = None
    level: int | None = None
    via_surge: bool = False
    deadline_at: float | None = None

    @property
    def arrival_s(self) -> float | None:
        start = self.first_offer_at if self.clock_start == "dispatched" else self.received_at
        if self.arrived_at is None or start is None:
            return None
        return self.arrived_at - start


@dataclass
class _World:
    teams: Sequence[SimTeam]
    incidents: Sequence[SimIncident]
    travel: Travel
    params: SimParams
    free: npt.NDArray[np.bool_]
    out: list[SimOutcome]
    accept: npt.NDArray[np.float64]
    onsite: npt.NDArray[np.float64]
    lon: npt.NDArray[np.float64] = field(default_factory=lambda: np.empty(0))
    lat: npt.NDArray[np.float64] = field(default_factory=lambda: np.empty(0))
    levels: dict[int | None, npt.NDArray[np.int64]] = field(default_factory=dict)
    queue: list[tuple[float, int, str, int]] = field(default_factory=list)
    waiting: set[int] = field(default_factory=set)
    retry_pending: set[int] = field(default_factory=set)
    seq: int = 0

    def push(self, at: float, kind: str, who: int) -> None:
        self.seq += 1
        heapq.heappush(self.queue, (at, self.seq, kind, who))


def _draw(rng: np.random.Generator, pool: Sequence[float], n: int) -> npt.NDArray[np.float64]:
    arr = np.asarray([v for v in pool if v is not None and math.isfinite(v) and v >= 0],
                     dtype=np.float64)
    if arr.size == 0:
        return np.zeros(n)
    return rng.choice(arr, size=n, replace=True)


def _levels(w: _World, contracted: int | None) -> npt.NDArray[np.int64]:
    """Each team's level for an elevator of ``contracted`` (0: not a responder), by the live
    rule, remembered per company."""
    lv = w.levels.get(contracted)
    if lv is None:
        lv = np.array([w.params.level_of(t.kind, t.organization_id, contracted) or 0
                       if t.kind in MAIN_KINDS else 0 for t in w.teams], dtype=np.int64)
        w.levels[contracted] = lv
    return lv


def _on_duty(team: SimTeam, now: float, tz: str) -> bool:
    return team.roster is None or on_roster(team.roster,
                                            datetime.fromtimestamp(now, ZoneInfo(tz)))


def _deadline(w: _World, i: int, now: float) -> float:
    o = w.out[i]
    if o.deadline_at is None:
        inc = w.incidents[i]
        start = now if inc.clock_start == "dispatched" else inc.received_at
        return start + inc.limit_min * 60.0
    return o.deadline_at


def _book(w: _World, i: int, j: int, now: float, road_s: float, level: int,
          *, via_surge: bool) -> None:
    o = w.out[i]
    inc = w.incidents[i]
    config = w.params.config_for(inc.zone)
    if o.first_offer_at is None:
        o.first_offer_at = now
        o.deadline_at = _deadline(w, i, now)
    w.free[j] = False
    o.team_id = w.teams[j].team_id
    o.level = level
    o.via_surge = via_surge
    o.accepted_at = now + float(w.accept[i])
    o.arrived_at = o.accepted_at + config.turnout_s + road_s
    o.released_at = o.arrived_at + float(w.onsite[i])
    w.waiting.discard(i)
    w.push(o.released_at, "free", j)


def _dispatch_one(w: _World, i: int, now: float) -> None:
    """What ``dispatch_incident`` decides: prefilter, road times, :func:`policy.decide`."""
    inc = w.incidents[i]
    config = w.params.config_for(inc.zone)
    levels = _levels(w, inc.maintenance_company_id)
    pool = np.flatnonzero(w.free & (levels > 0))
    pool = np.array([j for j in pool.tolist() if _on_duty(w.teams[j], now, w.params.tz)],
                    dtype=np.int64)
    straight = haversine_many_m(w.lon[pool], w.lat[pool], inc.lon, inc.lat)
    cands = [policy.Candidate(w.teams[j].team_id, w.teams[j].name,
                              w.teams[j].organization_id, int(levels[j]), w.teams[j].lon,
                              w.teams[j].lat, float(d))
             for j, d in zip(pool.tolist(), straight.tolist(), strict=True)]
    index_of = {w.teams[j].team_id: j for j in pool.tolist()}
    kept = policy.prefilter(cands, max_per_level=config.max_per_level)
    time_left = _deadline(w, i, now) - now
    travel = w.travel([index_of[c.team_id] for c in kept], i) if kept else np.empty(0)
    decision = policy.decide(kept, [float(s) for s in travel], time_left_s=time_left,
                             config=config, min_level=1)
    chosen = decision.chosen
    if chosen is None:
        _wait(w, i, now)
        return
    road = chosen.travel_s if chosen.travel_s is not None else math.inf
    _book(w, i, index_of[chosen.team_id], now, road, chosen.level, via_surge=False)


def _wait(w: _World, i: int, now: float) -> None:
    w.waiting.add(i)
    if now - w.incidents[i].received_at > w.params.give_up_s:
        w.waiting.discard(i)
        return
    if i not in w.retry_pending:
        w.retry_pending.add(i)
        w.push(now + w.params.redispatch_retry_s, "redispatch", i)


def _surge(w: _World, zone: str, now: float) -> None:
    """What ``dispatch_surge`` decides for a zone's waiting incidents and the free teams."""
    rows = sorted((i for i in w.waiting if w.incidents[i].zone == zone),
                  key=lambda i: (_deadline(w, i, now), w.incidents[i].incident_id))
    cols = [j for j, t in enumerate(w.teams)
            if w.free[j] and t.kind in SURGE_KINDS and _on_duty(t, now, w.params.tz)]
    if not rows or not cols:
        for i in rows:
            _wait(w, i, now)
        return
    config = w.params.config_for(zone)
    road = np.column_stack([w.travel(cols, i) for i in rows]).T  # incidents × teams
    eta = road + config.turnout_s
    left = np.array([_deadline(w, i, now) - now for i in rows])
    vul = np.array([w.incidents[i].vulnerable for i in rows])
    plan = surge.assign_surge(eta, left, vul, safety_margin_s=config.safety_margin_s)
    team_of = dict(plan.pairs)
    for r, i in enumerate(rows):
        c = team_of.get(r)
        if c is None:
            _wait(w, i, now)
            continue
        t = w.teams[cols[c]]
        level = w.params.level_of(t.kind, t.organization_id,
                                  w.incidents[i].maintenance_company_id) or 2
        _book(w, i, cols[c], now, float(road[r, c]), level, via_surge=True)


def simulate(teams: Sequence[SimTeam], incidents: Sequence[SimIncident], travel: Travel,
             params: SimParams) -> list[SimOutcome]:
    """Run ``incidents`` (any order) through the live rule with ``teams``; one outcome each."""
    rng = np.random.default_rng(params.seed)
    n = len(incidents)
    delay = _draw(rng, params.dispatch_delay_s, n)
    w = _World(teams, incidents, travel, params, np.ones(len(teams), dtype=bool),
               [SimOutcome(inc.incident_id, inc.zone, inc.limit_min, inc.clock_start,
                           inc.received_at) for inc in incidents],
               _draw(rng, params.accept_delay_s, n), _draw(rng, params.onsite_s, n),
               np.array([t.lon for t in teams], dtype=np.float64),
               np.array([t.lat for t in teams], dtype=np.float64))
    for i, inc in enumerate(incidents):
        w.push(inc.received_at + float(delay[i]), "dispatch", i)
    while w.queue:
        now, _, kind, who = heapq.heappop(w.queue)
        if kind == "free":
            w.free[who] = True
        elif kind == "dispatch":
            _dispatch_one(w, who, now)
        else:  # redispatch: the live job's rule, surge when enough of the zone wait
            w.retry_pending.discard(who)
            if who not in w.waiting:
                continue
            zone = w.incidents[who].zone
            if sum(1 for i in w.waiting if w.incidents[i].zone == zone) \
                    >= params.surge_min_waiting:
                _surge(w, zone, now)
            else:
                w.waiting.discard(who)
                _dispatch_one(w, who, now)
    return w.out


def kpi_row(o: SimOutcome) -> kpis.Row:
    """The outcome as the office KPI code reads a real incident (same definitions)."""
    served = o.released_at is not None
    facts = kpis.Facts(
        received_at=o.received_at, outcome="released" if served else "closed",
        first_offer_at=o.first_offer_at, went_level=o.level, went_offer_at=o.first_offer_at,
        went_accept_at=o.accepted_at, arrived_at=o.arrived_at, released_at=o.released_at,
        closed_at=o.released_at if served else o.received_at, sla_minutes=o.limit_min)
    return kpis.Row(facts, o.clock_start, o.limit_min)


def figures(rows: Sequence[tuple[str, kpis.Row]], *, days: float,
            teams: Sequence[tuple[int, float]] | None = None,
            names: dict[int, str] | None = None, top: int = 10) -> dict[str, object]:
    """The replay's figures, by :func:`dispatch.reports.kpis.summarize` (``(zone, row)``
    pairs), for simulated and actual incidents alike; ``teams`` = ``(team_id, busy_s)`` per job
    gives the busiest teams."""
    s = kpis.summarize([r for _, r in rows], days=days, elevators=None)
    missed: dict[str, dict[str, int]] = {}
    for zone, r in rows:
        v = kpis.arrival_verdict(r)
        if v is None:
            continue
        z = missed.setdefault(zone, {"counted": 0, "missed": 0})
        z["counted"] += 1
        z["missed"] += int(not v)
    out: dict[str, object] = {
        "entrapments": s["entrapments"],
        "arrival_within_limit_rate": s["arrival_within_limit_rate"],
        "arrival_within_limit_n": s["arrival_within_limit_n"],
        "arrival_p50_s": s["arrival_time"]["p50"], "arrival_p90_s": s["arrival_time"]["p90"],
        "level_share": s["level_share"], "level_n": s["level_n"],
        "level23_share": kpis.rate(sum(1 for _, r in rows if r.facts.went_level in (2, 3)),
                                   s["level_n"]),
        "missed_by_zone": [{"zone": k, **v} for k, v in sorted(missed.items())],
    }
    if teams is not None:
        jobs: dict[int, list[float]] = {}
        for tid, busy in teams:
            jobs.setdefault(tid, []).append(busy)
        busiest = sorted(jobs.items(), key=lambda kv: (-len(kv[1]), -sum(kv[1]), kv[0]))[:top]
        out["busiest_teams"] = [
            {"team_id": tid, "name": (names or {}).get(tid, str(tid)), "jobs": len(b),
             "busy_h": round(sum(b) / 3600.0, 1)} for tid, b in busiest]
    return out
