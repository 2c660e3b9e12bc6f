"""Surge dispatch: when more entrapments wait than teams are free, assign them together.

Per-incident ranking sends the nearest team to whoever was confirmed first. During an area power
cut that wastes the few teams able to reach some lifts in time; the global plan
(:func:`dispatch.surge.assign_surge`) minimises missed deadlines, then total ETA, vulnerable
people first. This module gathers the waiting incidents and free teams, builds the ETA matrix
with the road router, books the planned pairs and records each choice with its reason.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from dispatch import lifecycle, timers
from dispatch.dispatching.service import (
    DispatchContext,
    book_team,
    make_offer,
    open_assignments,
    policy_config,
    team_level,
    team_origin,
)
from dispatch.events import update_incident
from dispatch.models import Assignment, Incident, Organization, Team
from dispatch.policy import Decision, PolicyConfig, Ranked
from dispatch.surge import assign_surge
from geo.distance import haversine_m

SURGE_TEAM_KINDS = ("maintenance_company", "rescue_station")
ALTERNATIVES_RECORDED = 5


@dataclass
class SurgeResult:
    assigned: list[tuple[int, int]] = field(default_factory=list)  # (incident, assignment)
    waiting: list[int] = field(default_factory=list)
    missed_deadlines: int = 0
    router_s: float = 0.0


def waiting_incidents(session: Session, *, zone_id: int | None = None) -> list[Incident]:
    """Confirmed entrapments with no team on the way, oldest deadline first."""
    busy = select(Assignment.incident_id).where(
        Assignment.parallel.is_(False), Assignment.state.in_(lifecycle.OPEN_ASSIGNMENT_STATES))
    stmt = (select(Incident).options(joinedload(Incident.zone), joinedload(Incident.elevator))
            .where(Incident.state == lifecycle.CONFIRMED, Incident.id.not_in(busy))
            .order_by(Incident.sla_deadline, Incident.id))
    if zone_id is not None:
        stmt = stmt.where(Incident.zone_id == zone_id)
    return list(session.scalars(stmt).unique().all())


def _free_teams(session: Session) -> list[tuple[Team, str]]:
    return [(t, kind) for t, kind in session.execute(
        select(Team, Organization.kind).join(Organization, Team.organization_id ==
                                             Organization.id)
        .where(Team.on_duty.is_(True), Team.status == "available",
               Organization.kind.in_(SURGE_TEAM_KINDS)).order_by(Team.id)).all()]


def dispatch_surge(session: Session, *, ctx: DispatchContext,
                   zone_id: int | None = None) -> SurgeResult:
    """Offer every waiting incident (of a zone) a team from one global plan."""
    result = SurgeResult()
    incidents = waiting_incidents(session, zone_id=zone_id)
    teams = _free_teams(session)
    if incidents and teams:
        _assign(session, incidents, teams, ctx=ctx, result=result)
    else:
        result.waiting = [i.id for i in incidents]
    session.flush()
    for incident in incidents:
        if incident.id not in result.waiting:
            continue
        if not incident.at_risk:
            update_incident(session, incident, actor=ctx.actor, at=ctx.now,
                            why="more incidents wait than teams are free",
                            event_type="surge_waiting",
                            payload={"waiting": len(result.waiting), "free_teams": len(teams)},
                            at_risk=True)
        if not timers.has_pending(session, incident_id=incident.id, kind="redispatch"):
            timers.schedule(session, "redispatch",
                            ctx.now + timedelta(seconds=ctx.settings.redispatch_retry_s),
                            incident_id=incident.id)
    return result


def _assign(session: Session, incidents: list[Incident], teams: list[tuple[Team, str]], *,
            ctx: DispatchContext, result: SurgeResult) -> None:
    origins = [team_origin(t, ctx.now, ctx.settings.gps_fresh_s) for t, _ in teams]
    targets = [(i.elevator.location.lon, i.elevator.location.lat) for i in incidents]
    config = policy_config(ctx.settings, incidents[0].zone.name)
    t0 = time.perf_counter()
    travel = ctx.router.matrix([(o[0], o[1]) for o in origins], targets)  # teams × incidents
    result.router_s = time.perf_counter() - t0
    eta = travel.T + config.turnout_s
    left = np.array([(i.sla_deadline - ctx.now).total_seconds() for i in incidents])
    vulnerable = np.array([i.injured or i.vulnerable for i in incidents])
    plan = assign_surge(eta, left, vulnerable, safety_margin_s=config.safety_margin_s)
    result.missed_deadlines = plan.missed
    team_of = dict(plan.pairs)
    for i, incident in enumerate(incidents):
        j = team_of.get(i)
        team = teams[j][0] if j is not None else None
        if j is None or team is None or any(
                not a.parallel for a in open_assignments(session, incident.id)):
            result.waiting.append(incident.id)
            continue
        if not book_team(session, team.id):
            result.waiting.append(incident.id)
            continue
        decision = _surge_record(incident, i, j, teams, origins, eta, left, team_of, config)
        assert decision.chosen is not None
        a = make_offer(session, incident, decision.chosen, decision, ctx=ctx)
        update_incident(session, incident, actor=ctx.actor, at=ctx.now,
                        why="surge plan: the planned team's ETA against the deadline",
                        at_risk=decision.at_risk)
        result.assigned.append((incident.id, a.id))


def _surge_record(incident: Incident, i: int, j: int, teams: list[tuple[Team, str]],
                  origins: list[tuple[float, float, str]], eta: np.ndarray, left: np.ndarray,
                  team_of: dict[int, int], config: PolicyConfig) -> Decision:
    """The audit record: the planned team and the fastest alternatives, each with a reason."""
    taken = {t: inc for inc, t in team_of.items()}
    margin, turnout = config.safety_margin_s, config.turnout_s
    order = [int(k) for k in np.argsort(eta[i], kind="stable")]
    shown = [j, *[k for k in order if k != j][:ALTERNATIVES_RECORDED]]
    lines = []
    elevator = incident.elevator
    for k in shown:
        team, kind = teams[k]
        e = float(eta[i, k])
        reachable = np.isfinite(e)
        makes = bool(reachable and e <= left[i] - margin)
        if k == j:
            zh = "区域多起困人，全局分配：在同批事件中尽量多地按时到场"
            en = "surge: global plan keeping as many arrivals as possible within the limit"
        elif k in taken:
            zh, en = "已分配给同批的另一起事件", "planned for another incident of the surge"
        else:
            zh, en = "不在全局最优方案中", "not in the global plan"
        lines.append(Ranked(
            team.id, team.name, team.organization_id,
            team_level(kind, team.organization_id, elevator.maintenance_company_id) or 2,
            haversine_m(origins[k][0], origins[k][1], elevator.location.lon,
                        elevator.location.lat),
            e - turnout if reachable else None, e if reachable else None, makes, k == j, zh, en,
            origins[k][2]))
    chosen = lines[0]
    return Decision(chosen, not chosen.makes_deadline, False, lines)
