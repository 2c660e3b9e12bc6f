"""The console's choose-team list (issue 16 #2): the rule's candidates first, then every free
team, each with its company, level and road ETA, searchable.

Read only: nothing is booked or offered here; the choice goes through ``POST …/dispatch``
with ``team_id`` (the override), which re-checks that the team is still free.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from dispatch.dispatching.service import (
    DispatchContext,
    gather_candidates,
    policy_config,
    prefilter_candidates,
)
from dispatch.errors import Problem
from dispatch.models import Incident, Organization, Team
from dispatch.ops.metrics import observe_router
from dispatch.policy import Candidate, Ranked, decide

DEFAULT_LIMIT = 50


class TeamChoice(BaseModel):
    team_id: int
    team_name: str
    team_code: str
    company: str
    level: int
    straight_m: float
    travel_s: float | None
    eta_s: float | None
    makes_deadline: bool
    position_source: str
    straight_line_estimate: bool
    rule_choice: bool
    """The team the rule would offer now."""
    reason: str = ""
    reason_en: str = ""


class TeamChoices(BaseModel):
    incident_id: int
    time_left_s: float
    ranked: list[TeamChoice]
    """The rule's candidates (the nearest per level), in ranking order."""
    teams: list[TeamChoice]
    """Every free team matching ``q``, fastest first (at most ``limit``)."""
    total: int
    """How many free teams match ``q`` (``teams`` may be cut at ``limit``)."""


@dataclass(frozen=True, slots=True)
class _Names:
    code: str
    company: str


def _names(session: Session, candidates: list[Candidate]) -> dict[int, _Names]:
    ids = [c.team_id for c in candidates]
    if not ids:
        return {}
    rows = session.execute(select(Team.id, Team.code, Organization.name)
                           .join(Organization, Team.organization_id == Organization.id)
                           .where(Team.id.in_(ids))).all()
    return {r.id: _Names(r.code, r.name) for r in rows}


def _matches(q: str, c: Candidate, n: _Names) -> bool:
    hay = f"{c.team_name} {n.code} {n.company}".casefold()
    return all(word in hay for word in q.casefold().split())


def team_choices(session: Session, incident_id: int, *, ctx: DispatchContext, q: str = "",
                 limit: int = DEFAULT_LIMIT) -> TeamChoices:
    incident = session.scalar(
        select(Incident).options(joinedload(Incident.zone), joinedload(Incident.elevator))
        .where(Incident.id == incident_id))
    if incident is None:
        raise Problem(404, "Incident not found", field="incident_id")
    elevator = incident.elevator
    config = policy_config(ctx.settings, incident.zone.name)
    time_left = (incident.sla_deadline - ctx.now).total_seconds()
    cands = gather_candidates(session, elevator, now=ctx.now, settings=ctx.settings)
    names = _names(session, cands)
    seconds: list[float] = []
    off: list[bool] = []
    if cands:
        t0 = time.perf_counter()
        tt = ctx.router.travel_times([(c.lon, c.lat) for c in cands],
                                     (elevator.location.lon, elevator.location.lat))
        observe_router(time.perf_counter() - t0, "travel_times")
        seconds, off = [float(s) for s in tt.seconds], [bool(f) for f in tt.off_network]
    by_id = {c.team_id: i for i, c in enumerate(cands)}
    kept = prefilter_candidates(cands, max_per_level=config.max_per_level)
    rule = decide(kept, [seconds[by_id[c.team_id]] for c in kept], time_left_s=time_left,
                  config=config, min_level=incident.response_level,
                  straight_line=[off[by_id[c.team_id]] for c in kept])
    every = decide(cands, seconds, time_left_s=time_left, config=config, straight_line=off)

    def out(r: Ranked, *, reasons: bool) -> TeamChoice:
        n = names.get(r.team_id, _Names("", ""))
        return TeamChoice(
            team_id=r.team_id, team_name=r.team_name, team_code=n.code, company=n.company,
            level=r.level, straight_m=round(r.straight_m),
            travel_s=None if r.travel_s is None else round(r.travel_s),
            eta_s=None if r.eta_s is None else round(r.eta_s), makes_deadline=r.makes_deadline,
            position_source=r.position_source, straight_line_estimate=r.straight_line_estimate,
            rule_choice=rule.chosen is not None and rule.chosen.team_id == r.team_id,
            reason=r.reason if reasons else "", reason_en=r.reason_en if reasons else "")

    matching = [r for r in every.ranking
                if _matches(q, cands[by_id[r.team_id]], names.get(r.team_id, _Names("", "")))]
    matching.sort(key=lambda r: (math.inf if r.eta_s is None else r.eta_s, r.level, r.team_id))
    return TeamChoices(
        incident_id=incident.id, time_left_s=round(time_left),
        ranked=[out(r, reasons=True) for r in rule.ranking],
        teams=[out(r, reasons=False) for r in matching[:limit]], total=len(matching))
