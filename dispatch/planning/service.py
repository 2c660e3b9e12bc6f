"""Planning for offices: loads the register, teams and history, then calls the pure parts.

Coverage arithmetic lives in :mod:`geo.coverage` (multi-source search, one-search station add,
greedy set cover) and the replay in :mod:`dispatch.planning.simulate`; this module reads the
database (scoped by :class:`~dispatch.scoping.Visibility`), builds the zone's policy as live
dispatch does (:func:`dispatch.dispatching.service.policy_config`) and shapes the answers.

Figures use the policy's own arrival test: an elevator is *safe* when turnout + the best road
time from an on-duty base is within the zone's limit minus the safety margin (the live rule
then offers level 1 or 2 without an at-risk flag), *within* when inside the limit, else
*beyond*. Bases are those of on-duty maintenance companies and rescue stations (fire brigades
are level 3, not routine cover); "on duty" at the chosen time follows each team's roster, and a
team without a roster counts as its current duty switch says.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dispatch.dispatching.service import policy_config, team_level
from dispatch.errors import Problem
from dispatch.models import Elevator, Incident, Organization, Team, Zone
from dispatch.planning import simulate as sim
from dispatch.planning.models import StationPlan
from dispatch.registry.models import RegistryChange
from dispatch.registry.roster import RosterError, on_roster, parse_roster
from dispatch.reports import kpis
from dispatch.reports import service as reports
from dispatch.routing import router_for
from dispatch.scoping import Visibility
from dispatch.settings import Settings
from geo.coverage import (
    CoverageResult,
    SnappedElevators,
    add_station,
    candidate_nodes,
    compute_coverage,
    snap_elevators,
    suggest_stations,
)
from geo.network import RoadNetwork
from geo.router import GraphRouter

Speeds = Literal["normal", "rush"]
COVER_KINDS = ("maintenance_company", "rescue_station")
REPLAY_KINDS = ("maintenance_company", "rescue_station", "fire_brigade")
BANDS = ("safe", "within", "beyond")
PLAN_ORG_BASE = -1_000_000  # organisation ids of hypothetical stations (never a real row)


@dataclass(frozen=True, slots=True)
class AddedStation:
    lon: float
    lat: float
    teams: int = 1
    name: str = ""


@dataclass(frozen=True, slots=True)
class Layout:
    """Today's bases changed by a plan: stations added, teams switched off."""

    added: tuple[AddedStation, ...] = ()
    removed: frozenset[int] = frozenset()

    @property
    def empty(self) -> bool:
        return not self.added and not self.removed

    def as_json(self) -> dict[str, Any]:
        return {"added": [{"lon": a.lon, "lat": a.lat, "teams": a.teams, "name": a.name}
                          for a in self.added], "removed": sorted(self.removed)}


@dataclass(frozen=True, slots=True)
class BaseRow:
    team_id: int
    name: str
    organization_id: int
    kind: str
    lon: float
    lat: float
    roster: str | None
    on_duty: bool


@dataclass(frozen=True)
class Register:
    """The in-service elevators a viewer may see, with their zone's rule."""

    ids: npt.NDArray[np.int64]
    points: npt.NDArray[np.float64]
    zone: list[str]
    rescue_code: list[str]
    building: list[str]
    limit_s: npt.NDArray[np.float64]
    turnout_s: npt.NDArray[np.float64]
    margin_s: npt.NDArray[np.float64]

    @property
    def budget_s(self) -> npt.NDArray[np.float64]:
        """Road seconds left for arriving within the limit."""
        return self.limit_s - self.turnout_s


@dataclass
class _Cache:
    lock: threading.Lock = field(default_factory=threading.Lock)
    items: OrderedDict[str, Any] = field(default_factory=OrderedDict)

    def get_or(self, key: str, make: Any, size: int = 8) -> Any:
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        value = make()
        with self.lock:
            self.items[key] = value
            while len(self.items) > size:
                self.items.popitem(last=False)
        return value


_cache = _Cache()
_registers = _Cache()


# ---------------------------------------------------------------------------------------
# inputs


def graph_router(settings: Settings, speeds: Speeds) -> GraphRouter:
    """The live router for the chosen speed table (the rush table is a settings overlay)."""
    if speeds == "rush":
        settings = settings.model_copy(update={"geo_speeds_kmh": {
            **(settings.geo_speeds_kmh or {}), **settings.planning_rush_speeds_kmh}})
    router = router_for(settings)
    if not isinstance(router, GraphRouter):
        raise Problem(409, "Planning needs the embedded road graph",
                      "coverage and replay search the graph itself; the OSRM engine cannot "
                      "answer one-to-all questions", field="speeds")
    return router


def load_bases(session: Session) -> list[BaseRow]:
    rows = session.execute(
        select(Team.id, Team.name, Team.organization_id, Organization.kind, Team.base_location,
               Team.roster, Team.on_duty)
        .join(Organization, Organization.id == Team.organization_id)
        .where(Organization.active.is_(True), Team.retired.is_(False),
               Organization.kind.in_(REPLAY_KINDS))
        .order_by(Team.id)).all()
    return [BaseRow(r[0], r[1], r[2], r[3], r[4].lon, r[4].lat, r[5], bool(r[6])) for r in rows]


def on_duty_at(base: BaseRow, at: datetime, tz: str) -> bool:
    if base.roster:
        try:
            return on_roster(parse_roster(base.roster), at.astimezone(ZoneInfo(tz)))
        except RosterError:
            return base.on_duty
    return base.on_duty


def _register_version(session: Session, viewer: Visibility) -> str:
    """A cheap fingerprint of the register a viewer sees: its size, its newest row, and the
    newest audited registry change (every import and admin edit writes one, issue 13)."""
    n, top = session.execute(viewer.elevators(
        select(func.count(), func.max(Elevator.id)).where(Elevator.in_service.is_(True)))).one()
    change = session.scalar(select(func.max(RegistryChange.id))
                            .where(RegistryChange.kind.in_(("elevator", "zone"))))
    return f"{viewer.region_zone_id}:{n}:{top}:{change}"


def load_register(session: Session, viewer: Visibility, settings: Settings) -> Register:
    """The viewer's in-service register; the rows are remembered per register version (reading
    60,500 points costs more than the coverage search), the zone rules applied afresh."""

    def read() -> tuple[Any, ...]:
        stmt = viewer.elevators(
            select(Elevator.id, Elevator.location, Zone.name, Zone.arrival_limit_min,
                   Elevator.rescue_code, Elevator.building)
            .join(Zone, Zone.id == Elevator.zone_id)
            .where(Elevator.in_service.is_(True)).order_by(Elevator.id))
        rows = session.execute(stmt).all()
        return (np.array([r[0] for r in rows], dtype=np.int64),
                np.array([(r[1].lon, r[1].lat) for r in rows], dtype=np.float64).reshape(-1, 2),
                [r[2] for r in rows], [r[4] for r in rows], [r[5] for r in rows],
                np.array([r[3] * 60.0 for r in rows]))

    ids, points, zones, codes, buildings, limit_s = _registers.get_or(
        _register_version(session, viewer), read, size=4)
    configs = {z: policy_config(settings, z) for z in set(zones)}
    return Register(ids, points, zones, codes, buildings, limit_s,
                    np.array([configs[z].turnout_s for z in zones]),
                    np.array([configs[z].safety_margin_s for z in zones]))


def parse_layout(body: dict[str, Any] | None) -> Layout:
    """A plan body ``{added: [{lon, lat, teams, name}], removed: [team ids]}`` checked."""
    body = body or {}
    added = []
    for k, a in enumerate(body.get("added") or []):
        try:
            lon, lat = float(a["lon"]), float(a["lat"])
            teams = int(a.get("teams", 1))
        except (KeyError, TypeError, ValueError) as exc:
            raise Problem(422, "Invalid station", f"added[{k}] needs lon, lat (and teams)",
                          field=f"added[{k}]") from exc
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise Problem(422, "Invalid station", "lon/lat out of range", field=f"added[{k}]")
        if not 1 <= teams <= 20:
            raise Problem(422, "Invalid station", "teams 1–20", field=f"added[{k}].teams")
        added.append(AddedStation(lon, lat, teams, str(a.get("name") or f"新站{k + 1}")[:60]))
    try:
        removed = frozenset(int(t) for t in body.get("removed") or [])
    except (TypeError, ValueError) as exc:
        raise Problem(422, "Invalid team id", "removed lists team ids", field="removed") from exc
    return Layout(tuple(added), removed)


# ---------------------------------------------------------------------------------------
# coverage


def _key(*parts: Any) -> str:
    h = hashlib.sha1()
    for p in parts:
        h.update(p.tobytes() if isinstance(p, np.ndarray) else repr(p).encode())
    return h.hexdigest()


def _stations(bases: list[BaseRow], at: datetime, tz: str, removed: frozenset[int]
              ) -> list[BaseRow]:
    return [b for b in bases if b.kind in COVER_KINDS and b.team_id not in removed
            and on_duty_at(b, at, tz)]


@dataclass(frozen=True)
class CoverageRun:
    register: Register
    stations: list[BaseRow]
    result: CoverageResult
    plan: CoverageResult | None
    snapped: SnappedElevators
    net: RoadNetwork


def _full(net: RoadNetwork, router: GraphRouter, pts: npt.NDArray[np.float64],
          reg: Register, speeds: str) -> CoverageResult:
    limit = float(reg.budget_s.max()) if reg.budget_s.size else 1.0
    key = _key("cov", speeds, pts, reg.points, limit)
    return _cache.get_or(key, lambda: compute_coverage(
        net, pts.reshape(-1, 2), reg.points, limit_s=max(limit, 1.0), snap=router.snap))


def run_coverage(session: Session, viewer: Visibility, settings: Settings, *, at: datetime,
                 speeds: Speeds, layout: Layout) -> CoverageRun:
    router = graph_router(settings, speeds)
    net = router.net
    reg = load_register(session, viewer, settings)
    bases = load_bases(session)
    today = _stations(bases, at, settings.timezone, frozenset())
    pts = np.array([(b.lon, b.lat) for b in today], dtype=np.float64).reshape(-1, 2)
    snapped = _cache.get_or(_key("snap", speeds, reg.points),
                            lambda: snap_elevators(net, reg.points, snap=router.snap))
    result = _full(net, router, pts, reg, speeds)
    plan = None
    if not layout.empty:
        kept = _stations(bases, at, settings.timezone, layout.removed)
        base = result if len(kept) == len(today) else _full(
            net, router, np.array([(b.lon, b.lat) for b in kept]).reshape(-1, 2), reg, speeds)
        plan = base
        for k, a in enumerate(layout.added):  # incremental: one search per added base
            plan = add_station(net, plan, snapped, (a.lon, a.lat), index=len(kept) + k,
                               snap=router.snap)
    return CoverageRun(reg, today, result, plan, snapped, net)


def bands(reg: Register, res: CoverageResult) -> npt.NDArray[np.int8]:
    """0 safe, 1 within the limit, 2 beyond (see the module docstring)."""
    eta = res.seconds + reg.turnout_s
    out = np.full(eta.shape, 2, dtype=np.int8)
    out[eta <= reg.limit_s] = 1
    out[eta <= reg.limit_s - reg.margin_s] = 0
    return out


def zone_figures(reg: Register, b: npt.NDArray[np.int8]) -> list[dict[str, Any]]:
    zones = np.array(reg.zone, dtype=object)
    out = []
    for z in sorted(set(reg.zone)):
        m = zones == z
        n = int(m.sum())
        counts = [int(np.count_nonzero(b[m] == k)) for k in range(3)]
        out.append({"zone": z, "elevators": n, "safe": counts[0], "within": counts[1],
                    "beyond": counts[2], "safe_share": kpis.rate(counts[0], n),
                    "within_share": kpis.rate(counts[0] + counts[1], n)})
    return out


def _totals(b: npt.NDArray[np.int8]) -> dict[str, Any]:
    n = int(b.size)
    safe, within = int(np.count_nonzero(b == 0)), int(np.count_nonzero(b <= 1))
    return {"elevators": n, "safe": safe, "within": within, "beyond": n - within,
            "safe_share": kpis.rate(safe, n), "within_share": kpis.rate(within, n)}


def coverage_out(run: CoverageRun, *, at: datetime, speeds: str, layout: Layout,
                 points: bool = True, uncovered_limit: int = 500) -> dict[str, Any]:
    reg = run.register
    b = bands(reg, run.result)
    out: dict[str, Any] = {
        "at": at.isoformat(), "speeds": speeds, "stations": len(run.stations),
        "today": {**_totals(b), "zones": zone_figures(reg, b)},
        "layout": layout.as_json(),
    }
    shown = b
    res = run.result
    if run.plan is not None:
        shown = bands(reg, run.plan)
        res = run.plan
        out["plan"] = {**_totals(shown), "zones": zone_figures(reg, shown)}
    unc = np.flatnonzero(shown == 2)
    out["uncovered_n"] = int(unc.size)
    out["uncovered"] = [uncovered_row(reg, res, int(i)) for i in unc[:uncovered_limit]]
    if points:
        lon = np.round(reg.points[:, 0], 5).tolist()
        lat = np.round(reg.points[:, 1], 5).tolist()
        out["points"] = [[x, y, k] for x, y, k in zip(lon, lat, shown.tolist(), strict=True)]
        out["bases"] = [{"team_id": s.team_id, "name": s.name, "kind": s.kind,
                         "lon": s.lon, "lat": s.lat} for s in run.stations]
    return out


def uncovered_row(reg: Register, res: CoverageResult, i: int) -> dict[str, Any]:
    road = float(res.seconds[i])
    return {"elevator_id": int(reg.ids[i]), "rescue_code": reg.rescue_code[i],
            "building": reg.building[i], "zone": reg.zone[i],
            "lon": round(float(reg.points[i, 0]), 6), "lat": round(float(reg.points[i, 1]), 6),
            "arrival_limit_min": round(float(reg.limit_s[i]) / 60),
            "best_eta_min": None if not np.isfinite(road)
            else round((road + float(reg.turnout_s[i])) / 60, 1)}


def suggest(run: CoverageRun, *, k: int, router_snap: Any) -> list[dict[str, Any]]:
    """Greedy set cover for the *within the limit* band; coverage after each pick.

    One road budget for the search: the strictest zone's (limit − turnout) among the still
    uncovered elevators, so a pick never claims an elevator it cannot reach in time.
    Greedy picks are the (1 − 1/e) set-cover heuristic of :func:`geo.coverage.suggest_stations`.
    """
    reg = run.register
    current = run.plan or run.result
    b = bands(reg, current)
    todo = b == 2
    if not todo.any() or k <= 0:
        return []
    budget = float(reg.budget_s[todo].min())
    # the even grid of sites, plus the road nodes of the uncovered buildings themselves
    cand = np.union1d(candidate_nodes(run.net),
                      run.snapped.nodes[todo & run.snapped.on_network])
    picks = suggest_stations(run.net, reg.points, k, limit_s=max(budget, 1.0),
                             coverage=replace(current, covered=~todo), candidates=cand,
                             snap=router_snap)
    out = []
    n_st = int(current.station.max(initial=-1))
    state = current
    for rank, s in enumerate(picks, start=1):
        state = add_station(run.net, state, run.snapped, (s.lon, s.lat), index=n_st + rank,
                            snap=router_snap)
        after = _totals(bands(reg, state))
        out.append({"rank": rank, "lon": round(s.lon, 6), "lat": round(s.lat, 6),
                    "newly_covered": s.newly_covered, **after})
    return out


# ---------------------------------------------------------------------------------------
# replay


def _replay_teams(bases: list[BaseRow], layout: Layout) -> list[sim.SimTeam]:
    teams = []
    for b in bases:
        if b.team_id in layout.removed:
            continue
        roster = None
        if b.roster:
            try:
                roster = parse_roster(b.roster)
            except RosterError:
                roster = None
        teams.append(sim.SimTeam(b.team_id, b.name, b.organization_id, b.kind, b.lon, b.lat,
                                 roster))
    n = 0
    for k, a in enumerate(layout.added):
        for _ in range(a.teams):
            n += 1
            teams.append(sim.SimTeam(-n, f"{a.name}#{n}", PLAN_ORG_BASE - k, "rescue_station",
                                     a.lon, a.lat))
    return teams


def replay(session: Session, viewer: Visibility, settings: Settings, *, period: reports.Period,
           layout: Layout | None, speeds: Speeds, seed: int = 17) -> dict[str, Any]:
    """Today's layout (and the plan's) run over the period's real entrapments, next to the
    period's actual KPIs."""
    district = reports.area(viewer, None, session)
    items = [it for it in reports.load_items(session, period, district)
             if kpis.is_entrapment(it.row.facts) and it.row.facts.received_at is not None]
    items.sort(key=lambda it: (it.row.facts.received_at or 0.0, it.incident_id))
    ids = [it.incident_id for it in items]
    info = {r[0]: r[1:] for r in session.execute(
        select(Incident.id, Elevator.location, Elevator.maintenance_company_id,
               Incident.injured, Incident.vulnerable)
        .join(Elevator, Elevator.id == Incident.elevator_id).where(Incident.id.in_(ids)))} \
        if ids else {}
    incidents = [sim.SimIncident(
        it.incident_id, float(it.row.facts.received_at or 0.0), info[it.incident_id][0].lon,
        info[it.incident_id][0].lat, it.district, it.row.limit_min, it.row.clock_start,
        info[it.incident_id][1], bool(info[it.incident_id][2] or info[it.incident_id][3]))
        for it in items]
    rows = [it.row for it in items]
    params = sim.SimParams(
        config_for=lambda zone: policy_config(settings, zone), level_of=team_level,
        surge_min_waiting=settings.surge_min_waiting,
        redispatch_retry_s=float(settings.redispatch_retry_s),
        dispatch_delay_s=[v for v in map(kpis.dispatch_s, rows) if v is not None],
        accept_delay_s=[v for v in map(kpis.response_s, rows) if v is not None],
        onsite_s=[v for v in map(kpis.onsite_s, rows) if v is not None],
        seed=seed, tz=settings.timezone)
    router = graph_router(settings, speeds)
    bases = load_bases(session)
    targets = np.array([(i.lon, i.lat) for i in incidents]).reshape(-1, 2)
    target_snap = router.snap_points(targets) if len(incidents) else None

    def run(lay: Layout) -> dict[str, Any]:
        teams = _replay_teams(bases, lay)
        snapped = router.snap_points(np.array([(t.lon, t.lat) for t in teams]).reshape(-1, 2)) \
            if teams else None

        def travel(idx: Any, i: int) -> npt.NDArray[np.float64]:
            assert snapped is not None and target_snap is not None
            return router.travel_times(snapped[list(idx)], target_snap[i]).seconds

        out = sim.simulate(teams, incidents, travel, params)
        names = {t.team_id: t.name for t in teams}
        return sim.figures([(o.zone, sim.kpi_row(o)) for o in out], days=period.days,
                           teams=[(o.team_id, (o.released_at or 0) - (o.first_offer_at or 0))
                                  for o in out if o.team_id is not None], names=names)

    out: dict[str, Any] = {**period.echo(), "district": district, "speeds": speeds,
                           "seed": seed, "entrapments": len(incidents),
                           "actual": sim.figures([(it.district, it.row) for it in items],
                                                 days=period.days),
                           "today": run(Layout())}
    if layout is not None:
        out["plan"] = run(layout)
        out["layout"] = layout.as_json()
    return out


# ---------------------------------------------------------------------------------------
# saved plans


def plan_out(p: StationPlan) -> dict[str, Any]:
    return {"id": p.id, "name": p.name, "added": p.added, "removed": p.removed,
            "created_by": p.created_by, "created_at": p.created_at.isoformat(),
            "updated_at": p.updated_at.isoformat()}


def list_plans(session: Session, viewer: Visibility) -> list[StationPlan]:
    stmt = viewer.regional_rows(select(StationPlan), StationPlan.region_zone_id)
    return list(session.scalars(stmt.order_by(StationPlan.name)))


def get_plan(session: Session, viewer: Visibility, name: str) -> StationPlan:
    stmt = viewer.regional_rows(select(StationPlan).where(StationPlan.name == name),
                                StationPlan.region_zone_id)
    plan = session.scalars(stmt).first()
    if plan is None:
        raise Problem(404, "Plan not found", f"no plan named {name!r}", field="plan")
    return plan


def layout_of(plan: StationPlan) -> Layout:
    return parse_layout({"added": plan.added, "removed": plan.removed})


def save_plan(session: Session, viewer: Visibility, *, name: str, layout: Layout,
              now: datetime | None = None) -> StationPlan:
    """Create or replace the region's plan of that name (flush only)."""
    name = name.strip()
    if not 1 <= len(name) <= 80:
        raise Problem(422, "Invalid name", "1–80 characters", field="name")
    now = now or datetime.now(UTC)
    data = layout.as_json()
    existing = session.scalars(viewer.regional_rows(
        select(StationPlan).where(StationPlan.name == name), StationPlan.region_zone_id)
    ).first()
    if existing is not None:
        existing.added, existing.removed, existing.updated_at = data["added"], data["removed"], now
        session.flush()
        return existing
    plan = StationPlan(name=name, region_zone_id=viewer.region_zone_id, added=data["added"],
                       removed=data["removed"], created_by=viewer.username, created_at=now,
                       updated_at=now)
    session.add(plan)
    session.flush()
    return plan


def plan_rows(run: CoverageRun, layout: Layout) -> list[dict[str, Any]]:
    """A plan as rows for a spreadsheet: its changes, then today's and the plan's coverage."""
    names = {s.team_id: s.name for s in run.stations}
    rows: list[dict[str, Any]] = [
        {"change": "add", "name": a.name, "lon": a.lon, "lat": a.lat, "teams": a.teams,
         "team_id": None, "within_share": None, "safe_share": None} for a in layout.added]
    rows += [{"change": "switch_off", "name": names.get(t, str(t)), "lon": None, "lat": None,
              "teams": 1, "team_id": t, "within_share": None, "safe_share": None}
             for t in sorted(layout.removed)]
    for label, res in (("today", run.result), ("plan", run.plan or run.result)):
        tot = _totals(bands(run.register, res))
        rows.append({"change": label, "name": "", "lon": None, "lat": None, "teams": None,
                     "team_id": None, "within_share": tot["within_share"],
                     "safe_share": tot["safe_share"]})
    return rows


def delete_plan(session: Session, viewer: Visibility, name: str) -> None:
    session.delete(get_plan(session, viewer, name))
    session.flush()
