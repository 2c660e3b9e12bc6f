"""Offering incidents to teams: candidates, ranking by road time, booking, escalation, steps.

The pure rule lives in ``dispatch.policy``; this module gathers its inputs (free teams and their
positions, road travel times from ``geo``), books the chosen team with one conditional update,
and writes the assignment, its timeline events and its deadline in the caller's transaction.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session, joinedload, make_transient_to_detached

from dispatch import lifecycle, timers
from dispatch.errors import Problem
from dispatch.events import (
    Actor,
    append_event,
    transition,
    transition_assignment,
    update_incident,
)
from dispatch.models import (
    Assignment,
    Elevator,
    Incident,
    Organization,
    Team,
    TeamPosition,
    User,
)
from dispatch.ops.metrics import observe_dispatch, observe_router
from dispatch.policy import (
    Candidate,
    Decision,
    PolicyConfig,
    Ranked,
    decide,
    escalation_level,
    note_expired_contract,
)
from dispatch.policy import prefilter as prefilter_candidates
from dispatch.settings import Settings
from geo.distance import haversine_m, haversine_many_m
from geo.router import Router

MAIN_TEAM_KINDS = ("maintenance_company", "rescue_station", "fire_brigade")


@dataclass
class Timing:
    """Where a dispatch spent its time (the benchmark reports the split)."""

    router_s: float = 0.0
    total_s: float = 0.0
    attempts: int = 0


@dataclass(frozen=True)
class DispatchContext:
    settings: Settings
    router: Router
    now: datetime
    actor: Actor
    timing: Timing = field(default_factory=Timing)

    @classmethod
    def for_user(cls, user: User | None, settings: Settings, router: Router, now: datetime,
                 via: str = "api") -> DispatchContext:
        """A context acting as ``user`` (the system when None)."""
        actor = Actor(user.username, user.role, via) if user else Actor.system()
        return cls(settings=settings, router=router, now=now, actor=actor)


def policy_config(settings: Settings, zone_name: str) -> PolicyConfig:
    """The settings' policy, with the zone's overrides applied (e.g. a longer county turnout)."""
    base = PolicyConfig(turnout_s=settings.turnout_s, safety_margin_s=settings.safety_margin_s,
                        max_per_level=settings.max_candidates_per_level,
                        failures_before_escalation=settings.failures_before_escalation)
    overrides = settings.zone_overrides.get(zone_name, {})
    allowed: dict[str, Any] = {k: v for k, v in overrides.items()
                               if k in PolicyConfig.__dataclass_fields__}
    if "max_per_level" in allowed:
        allowed["max_per_level"] = int(allowed["max_per_level"])
    if "failures_before_escalation" in allowed:
        allowed["failures_before_escalation"] = int(allowed["failures_before_escalation"])
    return replace(base, **allowed)


def team_level(org_kind: str, org_id: int, contracted_company_id: int | None) -> int | None:
    if org_kind == "fire_brigade":
        return 3
    if org_kind == "maintenance_company" and org_id == contracted_company_id:
        return 1
    if org_kind in ("maintenance_company", "rescue_station"):
        return 2
    return None


def contract_expired(elevator: Elevator, now: datetime, settings: Settings) -> date | None:
    """The end date of the elevator's maintenance contract if it has passed (centre's local
    date), else None; an expired contract makes its company no level-1 responder (issue 13)."""
    until = elevator.maintenance_until
    if until is None or elevator.maintenance_company_id is None:
        return None
    today = now.astimezone(ZoneInfo(settings.timezone)).date()
    return until if until < today else None


def team_origin(team: Team | Any, now: datetime, fresh_s: float) -> tuple[float, float, str]:
    """Where the team starts from: its latest GPS fix if fresh, else its base."""
    if (team.position is not None and team.position_at is not None
            and (now - team.position_at).total_seconds() <= fresh_s):
        return team.position.lon, team.position.lat, "gps"
    return team.base_location.lon, team.base_location.lat, "base"


_CANDIDATE_COLUMNS = (Team.id, Team.name, Team.organization_id, Team.base_location,
                      Team.position, Team.position_at, Organization.kind)


def gather_candidates(session: Session, elevator: Elevator, *, now: datetime,
                      settings: Settings, exclude: Sequence[int] = ()) -> list[Candidate]:
    """Free, on-duty teams with their level for this elevator and straight-line distance.

    Plain rows, not ORM objects: this runs on every dispatch over every free team.
    """
    stmt = (select(*_CANDIDATE_COLUMNS)
            .join(Organization, Team.organization_id == Organization.id)
            .where(Team.on_duty.is_(True), Team.status == "available",
                   Organization.kind.in_(MAIN_TEAM_KINDS), Organization.active.is_(True)))
    if exclude:
        stmt = stmt.where(Team.id.not_in(list(exclude)))
    rows = session.execute(stmt).all()
    if not rows:
        return []
    origins = [team_origin(r, now, settings.gps_fresh_s) for r in rows]
    contracted = (None if contract_expired(elevator, now, settings)
                  else elevator.maintenance_company_id)
    lon = np.array([o[0] for o in origins])
    lat = np.array([o[1] for o in origins])
    straight = haversine_many_m(lon, lat, elevator.location.lon, elevator.location.lat)
    out = []
    for r, (olon, olat, source), dist in zip(rows, origins, straight, strict=True):
        level = team_level(r.kind, r.organization_id, contracted)
        if level is None:
            continue
        out.append(Candidate(r.id, r.name, r.organization_id, level, olon, olat, float(dist),
                             source))
    return out


def rank(candidates: Sequence[Candidate], elevator: Elevator, incident: Incident, *,
         ctx: DispatchContext, config: PolicyConfig, min_level: int) -> Decision:
    kept = prefilter_candidates(candidates, max_per_level=config.max_per_level)
    time_left = (incident.sla_deadline - ctx.now).total_seconds()
    if not kept:
        return decide([], [], time_left_s=time_left, config=config, min_level=min_level)
    t0 = time.perf_counter()
    tt = ctx.router.travel_times([(c.lon, c.lat) for c in kept],
                                 (elevator.location.lon, elevator.location.lat))
    ctx.timing.router_s += (spent := time.perf_counter() - t0)
    observe_router(spent, "travel_times")
    decision = decide(kept, [float(s) for s in tt.seconds], time_left_s=time_left,
                      config=config, min_level=min_level,
                      straight_line=[bool(f) for f in tt.off_network])
    expired = contract_expired(elevator, ctx.now, ctx.settings)
    if expired is not None:
        decision = note_expired_contract(decision, elevator.maintenance_company_id,
                                         expired.isoformat())
    return decision


def book_team(session: Session, team_id: int) -> bool:
    """Reserve a free team. One conditional update: two incidents can never book one team."""
    result = session.execute(
        update(Team).where(Team.id == team_id, Team.status == "available",
                           Team.on_duty.is_(True)).values(status="offered"),
        execution_options={"synchronize_session": False})
    return getattr(result, "rowcount", 0) == 1


def set_team_status(session: Session, team_id: int, status: str) -> None:
    session.execute(update(Team).where(Team.id == team_id).values(status=status),
                    execution_options={"synchronize_session": False})


def open_assignments(session: Session, incident_id: int) -> list[Assignment]:
    return list(session.scalars(
        select(Assignment).where(Assignment.incident_id == incident_id,
                                 Assignment.state.in_(lifecycle.OPEN_ASSIGNMENT_STATES))))


@dataclass(frozen=True)
class OfferHistory:
    """What earlier offers of an incident mean for the next one (read in one query)."""

    has_open_team: bool
    failures: Counter[int]
    failed_teams: list[int]


def offer_history(session: Session, incident_id: int) -> OfferHistory:
    """Read from the database, with this transaction's unflushed changes laid over it (autoflush
    is off, and flushing here would write the incident row twice per dispatch)."""
    db_rows = session.execute(
        select(Assignment.id, Assignment.level, Assignment.team_id, Assignment.state,
               Assignment.parallel).where(Assignment.incident_id == incident_id)).all()
    pending = {a.id: a for a in session.dirty | session.new
               if isinstance(a, Assignment) and a.incident_id == incident_id}
    rows = [pending.pop(r.id, r) for r in db_rows] + list(pending.values())
    failed = [r for r in rows if not r.parallel
              and r.state in (lifecycle.DECLINED, lifecycle.TIMED_OUT)]
    return OfferHistory(
        has_open_team=any(not r.parallel and r.state in lifecycle.OPEN_ASSIGNMENT_STATES
                          for r in rows),
        failures=Counter(r.level for r in failed), failed_teams=[r.team_id for r in failed])


def _reschedule_clock(session: Session, incident: Incident, *, ctx: DispatchContext) -> None:
    """Zones whose clock starts at dispatch get their deadline at the first offer."""
    zone, now, settings = incident.zone, ctx.now, ctx.settings
    if zone.clock_start != "dispatched" or incident.dispatched_at is not None:
        return
    update_incident(session, incident, actor=ctx.actor, at=now,
                    why="clock starts at dispatch",
                    sla_deadline=now + timedelta(minutes=incident.sla_minutes))
    timers.cancel(session, incident_id=incident.id, kinds=("sla_warning", "sla_overdue"),
                  now=now, why="clock starts at dispatch")
    schedule_sla(session, incident, settings=settings)


def schedule_sla(session: Session, incident: Incident, *, settings: Settings) -> None:
    """The incident's clocks: warning before the deadline, overdue, and the trapped reminder."""
    warn_at = incident.sla_deadline - timedelta(minutes=settings.sla_warning_min)
    timers.schedule(session, "sla_warning", max(warn_at, incident.received_at),
                    incident_id=incident.id)
    timers.schedule(session, "sla_overdue", incident.sla_deadline, incident_id=incident.id)
    timers.schedule(session, "trapped_reminder",
                    incident.received_at + timedelta(minutes=settings.trapped_reminder_min),
                    incident_id=incident.id)


_ASSIGNMENT_COLUMNS = tuple(c.key for c in Assignment.__table__.columns if c.key != "id")


def insert_assignment(session: Session, values: dict[str, Any]) -> Assignment:
    """Insert an assignment now and return it as a persistent object, without flushing the
    rest of the transaction: the incident row is then written once per dispatch, not twice."""
    row = {k: values.get(k) for k in _ASSIGNMENT_COLUMNS}
    row.update(version=1, arrived_automatically=False)
    new_id = session.execute(insert(Assignment).values(**row).returning(Assignment.id),
                             execution_options={"synchronize_session": False}).scalar_one()
    assignment = Assignment(id=new_id, **row)
    make_transient_to_detached(assignment)
    session.add(assignment)
    return assignment


def make_offer(session: Session, incident: Incident, chosen: Ranked, decision: Decision, *,
           ctx: DispatchContext, parallel: bool = False,
           override_reason: str | None = None) -> Assignment:
    now, settings = ctx.now, ctx.settings
    if not parallel:
        _reschedule_clock(session, incident, ctx=ctx)
    assignment = insert_assignment(session, {
        "incident_id": incident.id, "team_id": chosen.team_id, "level": chosen.level,
        "state": lifecycle.OFFERED, "parallel": parallel, "offered_at": now,
        "accept_by": now + timedelta(seconds=settings.offer_timeout_s), "eta_s": chosen.eta_s,
        "eta_at": now, "at_risk": decision.at_risk and not parallel,
        "straight_line": chosen.straight_line_estimate, "override_reason": override_reason,
        "offered_by": ctx.actor.name, "ranking": decision.record(),
    })
    timers.schedule(session, "offer_timeout", assignment.accept_by, incident_id=incident.id,
                    assignment_id=assignment.id)
    payload = {
        "assignment_id": assignment.id, "team_id": chosen.team_id,
        "team_name": chosen.team_name, "level": chosen.level,
        "eta_s": None if chosen.eta_s is None else round(chosen.eta_s),
        "accept_by": assignment.accept_by.isoformat(), "at_risk": assignment.at_risk,
        "reason": chosen.reason, "parallel": parallel,
        "straight_line_estimate": chosen.straight_line_estimate,
    }
    if override_reason:
        payload["override_reason"] = override_reason
    if parallel:
        append_event(session, incident, type="level3_alerted", actor=ctx.actor, at=now,
                     payload=payload)
    elif incident.state == lifecycle.DISPATCHED:
        append_event(session, incident, type="offered", actor=ctx.actor, at=now,
                     payload=payload)
    else:
        transition(session, incident, lifecycle.DISPATCHED, actor=ctx.actor, at=now,
                   payload=payload, event_type="offered")
    return assignment


def load_for_dispatch(session: Session, incident_id: int) -> Incident:
    incident = session.scalar(
        select(Incident).options(joinedload(Incident.zone), joinedload(Incident.elevator))
        .where(Incident.id == incident_id).with_for_update(of=Incident))
    if incident is None:
        raise Problem(404, "Incident not found", field="incident_id")
    return incident


DISPATCHABLE = frozenset((lifecycle.RECEIVED, lifecycle.CONFIRMED, lifecycle.DISPATCHED,
                          lifecycle.ESCALATED))
REASSIGNABLE = frozenset((lifecycle.ACCEPTED, lifecycle.EN_ROUTE))
"""A team on its way may be replaced by the operator's choice (breakdown, a nearer team)."""


def dispatch_incident(session: Session, incident: Incident, *, ctx: DispatchContext,
                      team_id: int | None = None,
                      override_reason: str | None = None) -> Assignment | None:
    """Offer ``incident`` to the best free team (or to ``team_id``, an operator override).

    Returns the new assignment, or None when no team is free (the incident is flagged at risk
    and a retry is scheduled).
    """
    t_start = time.perf_counter()
    reassigning = team_id is not None and incident.state in REASSIGNABLE
    if incident.state not in DISPATCHABLE and not reassigning:
        raise Problem(409, "Not dispatchable in this state",
                      f"incident {incident.id} is {incident.state}", field="state",
                      current_state=incident.state,
                      allowed_next=sorted(lifecycle.allowed_next(incident.state)))
    history = offer_history(session, incident.id)
    if history.has_open_team:
        if team_id is None:
            raise Problem(409, "Incident already has a team",
                          "an open offer or a team on the way; choose a team to reassign",
                          field="incident_id")
        stand_down_for_override(session, incident, ctx=ctx, team_id=team_id,
                                reason=override_reason or "")
        history = offer_history(session, incident.id)
    elevator = incident.elevator
    config = policy_config(ctx.settings, incident.zone.name)
    failures, failed_teams = history.failures, history.failed_teams
    min_level = max(incident.response_level or 1,
                    escalation_level(dict(failures), config=config))
    if min_level > (incident.response_level or 1):
        update_incident(session, incident, actor=ctx.actor, at=ctx.now,
                        why="offers failed at the lower level", event_type="level_escalated",
                        payload={"from": incident.response_level, "to": min_level,
                                 "failures": dict(failures)},
                        response_level=min_level)
    exclude = list(failed_teams)
    assignment = None
    for _ in range(5):
        ctx.timing.attempts += 1
        candidates = gather_candidates(session, elevator, now=ctx.now, settings=ctx.settings,
                                       exclude=exclude)
        decision = rank(candidates, elevator, incident, ctx=ctx, config=config,
                        min_level=1 if team_id else min_level)
        chosen = decision.chosen
        if team_id is not None:
            chosen, decision = _override(decision, candidates, team_id, override_reason or "",
                                         elevator, incident, ctx=ctx, config=config)
        if chosen is None:
            break
        if book_team(session, chosen.team_id):
            assignment = make_offer(session, incident, chosen, decision, ctx=ctx,
                                override_reason=override_reason if team_id else None)
            update_incident(session, incident, actor=ctx.actor, at=ctx.now,
                            why="the offered team's ETA against the deadline",
                            at_risk=decision.at_risk)
            if decision.inform_level1 and team_id is None:
                append_event(session, incident, type="level1_informed", actor=ctx.actor,
                             at=ctx.now, payload={
                                 "organization_id": elevator.maintenance_company_id,
                                 "taken_over_by": chosen.team_name})
            break
        if team_id is not None:
            raise Problem(409, "Team no longer free", f"team {team_id} was just booked",
                          field="team_id")
        exclude.append(chosen.team_id)
    if assignment is None:
        _no_team(session, incident, ctx=ctx)
    elif incident.priority == "critical" and (incident.injured or incident.vulnerable):
        alert_level3(session, incident, ctx=ctx, config=config)
    ctx.timing.total_s += (spent := time.perf_counter() - t_start)
    observe_dispatch(spent, offered=assignment is not None)
    return assignment


def stand_down_for_override(session: Session, incident: Incident, *, ctx: DispatchContext,
                            team_id: int, reason: str) -> None:
    """The operator chose another team while one has the job: that team is stood down (its
    offer timer stops, it is free again, the timeline says why and the outbox tells it), in
    the same transaction as the new offer."""
    for a in open_assignments(session, incident.id):
        if a.parallel:
            continue
        if a.team_id == team_id:
            raise Problem(409, "Already this team", f"team {team_id} already has this job",
                          field="team_id")
        transition_assignment(session, a, lifecycle.ASSIGNMENT_CANCELLED, at=ctx.now)
        timers.cancel(session, assignment_id=a.id, kinds=("offer_timeout",), now=ctx.now,
                      why="reassigned")
        set_team_status(session, a.team_id, "available")
        append_event(session, incident, type="assignment_cancelled", actor=ctx.actor,
                     at=ctx.now, payload={"assignment_id": a.id, "team_id": a.team_id,
                                          "reason": f"改派 reassigned: {reason}",
                                          "reassigned_to": team_id})
    if incident.state in (lifecycle.ACCEPTED, lifecycle.EN_ROUTE):
        transition(session, incident, lifecycle.CONFIRMED, actor=ctx.actor, at=ctx.now,
                   event_type="awaiting_team", payload={"after": "reassigned"})


def _no_team(session: Session, incident: Incident, *, ctx: DispatchContext) -> None:
    payload = {"retry_in_s": ctx.settings.redispatch_retry_s}
    if incident.state == lifecycle.DISPATCHED:
        transition(session, incident, lifecycle.CONFIRMED, actor=ctx.actor, at=ctx.now,
                   event_type="no_team_available", payload=payload, changes={"at_risk": True})
    else:
        update_incident(session, incident, actor=ctx.actor, at=ctx.now, why="no team available",
                        event_type="no_team_available", payload=payload, at_risk=True)
    timers.schedule(session, "redispatch",
                    ctx.now + timedelta(seconds=ctx.settings.redispatch_retry_s),
                    incident_id=incident.id)


def _override(decision: Decision, candidates: Sequence[Candidate], team_id: int, reason: str,
              elevator: Elevator, incident: Incident, *, ctx: DispatchContext,
              config: PolicyConfig) -> tuple[Ranked | None, Decision]:
    """The operator's choice, recorded next to what the rule would have chosen."""
    line = next((r for r in decision.ranking if r.team_id == team_id), None)
    if line is None:
        cand = next((c for c in candidates if c.team_id == team_id), None)
        if cand is None:
            raise Problem(409, "Team not available", f"team {team_id} is not free and on duty",
                          field="team_id")
        t0 = time.perf_counter()
        tt = ctx.router.travel_times([(cand.lon, cand.lat)],
                                     (elevator.location.lon, elevator.location.lat))
        ctx.timing.router_s += time.perf_counter() - t0
        time_left = (incident.sla_deadline - ctx.now).total_seconds()
        one = decide([cand], [float(tt.seconds[0])], time_left_s=time_left, config=config,
                     straight_line=[bool(tt.off_network[0])])
        line = one.ranking[0]
        decision = replace(decision, ranking=[*decision.ranking, line])
    rule_choice = decision.chosen
    chosen = replace(line, chosen=True, reason=f"调度员指定：{reason}",
                     reason_en=f"operator override: {reason}")
    ranking = []
    for r in decision.ranking:
        if r.team_id == team_id:
            ranking.append(chosen)
        elif rule_choice is not None and r.team_id == rule_choice.team_id:
            ranking.append(replace(r, chosen=False, reason="规则首选，调度员改派他队",
                                   reason_en="the rule's choice; the operator chose another"))
        else:
            ranking.append(r)
    at_risk = not chosen.makes_deadline
    return chosen, replace(decision, chosen=chosen, ranking=ranking, at_risk=at_risk)


def alert_level3(session: Session, incident: Incident, *, ctx: DispatchContext,
                 config: PolicyConfig) -> Assignment | None:
    """Injured or vulnerable people with critical priority: also send the fire brigade now."""
    if any(a.parallel for a in open_assignments(session, incident.id)):
        return None
    candidates = [c for c in gather_candidates(session, incident.elevator, now=ctx.now,
                                               settings=ctx.settings) if c.level == 3]
    decision = rank(candidates, incident.elevator, incident, ctx=ctx, config=config, min_level=3)
    if decision.chosen is None or not book_team(session, decision.chosen.team_id):
        append_event(session, incident, type="level3_unavailable", actor=ctx.actor, at=ctx.now)
        return None
    return make_offer(session, incident, decision.chosen, decision, ctx=ctx, parallel=True)


def escalate_to_119(session: Session, incident: Incident, *, ctx: DispatchContext,
                    reason: str) -> Assignment | None:
    """Operator escalation to level 3: the incident is marked escalated and a fire team alerted."""
    if incident.state != lifecycle.ESCALATED:
        try:
            transition(session, incident, lifecycle.ESCALATED, actor=ctx.actor, at=ctx.now,
                       payload={"reason": reason})
        except lifecycle.TransitionError as exc:
            raise Problem(409, "Not allowed in this state", field="state",
                          current_state=exc.current, allowed_next=exc.allowed) from exc
    update_incident(session, incident, actor=ctx.actor, at=ctx.now, why="escalated to 119",
                    response_level=3)
    config = policy_config(ctx.settings, incident.zone.name)
    return alert_level3(session, incident, ctx=ctx, config=config)


def record_position(session: Session, team: Team, *, lon: float, lat: float,
                    accuracy_m: float | None, at: datetime) -> bool:
    """Store the fix as history; it becomes the team's position only if it is the newest
    (a fix delivered late never replaces a newer one). Answers whether it did."""
    newest = team.position_at is None or at >= team.position_at
    if newest:
        team.position = (lon, lat)  # type: ignore[assignment]
        team.position_at = at
    session.add(TeamPosition(team_id=team.id, position=(lon, lat), accuracy_m=accuracy_m,
                             at=at))
    return newest


def distance_to_elevator_m(lon: float, lat: float, elevator: Elevator) -> float:
    return haversine_m(lon, lat, elevator.location.lon, elevator.location.lat)


def end_open_work(session: Session, incident: Incident, *, ctx: DispatchContext,
                  why: str) -> None:
    """An incident that ends (cancelled, false alarm, closed) frees its teams and its timers.

    Teams still on the job are stood down. A team that released the people but never reported
    the fault cleared is cleared by the closing (``cleared_on_close``, no cause code), so no
    team stays busy after its incident is closed."""
    for a in session.scalars(select(Assignment).where(
            Assignment.incident_id == incident.id,
            Assignment.state.in_(lifecycle.OPEN_ASSIGNMENT_STATES | {lifecycle.RELEASED}))):
        payload = {"assignment_id": a.id, "team_id": a.team_id, "reason": why}
        if a.state == lifecycle.RELEASED:
            transition_assignment(session, a, lifecycle.CLEARED, at=ctx.now)
            event_type = "cleared_on_close"
        else:
            transition_assignment(session, a, lifecycle.ASSIGNMENT_CANCELLED, at=ctx.now)
            event_type = "assignment_cancelled"
        set_team_status(session, a.team_id, "available")
        append_event(session, incident, type=event_type, actor=ctx.actor, at=ctx.now,
                     payload=payload)
    timers.cancel(session, incident_id=incident.id, now=ctx.now, why=why)
