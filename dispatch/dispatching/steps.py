"""A team's steps on an assignment (accept … clear), by the crew or phoned in to an operator.

Each step moves the assignment and, when it is the incident's own progress, the incident too —
through the single write path, so both rows and the timeline change in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from dispatch import lifecycle, timers
from dispatch.dispatching.service import (
    DispatchContext,
    dispatch_incident,
    distance_to_elevator_m,
    record_position,
    set_team_status,
)
from dispatch.errors import Problem
from dispatch.events import append_event, transition, transition_assignment
from dispatch.models import Assignment, Incident, Team
from dispatch.scoping import Visibility

CAUSE_CODES = ("external_power", "external_other", "human", "door_system", "control_system",
               "traction_drive", "other")
MAX_BACKDATE = timedelta(hours=1)
CLOCK_SKEW = timedelta(seconds=5)

# step name → (assignment state, timeline event type, incident state it moves to, if any)
STEPS: dict[str, tuple[str, str, str | None]] = {
    "accept": (lifecycle.ACCEPTED, "accepted", lifecycle.ACCEPTED),
    "decline": (lifecycle.DECLINED, "declined", None),
    "timeout": (lifecycle.TIMED_OUT, "offer_timed_out", None),
    "depart": (lifecycle.EN_ROUTE, "departed", lifecycle.EN_ROUTE),
    "arrive": (lifecycle.ON_SCENE, "arrived", lifecycle.ARRIVED),
    "release": (lifecycle.RELEASED, "released", lifecycle.RELEASED),
    "clear": (lifecycle.CLEARED, "cleared", lifecycle.CLEARED),
    "cancel": (lifecycle.ASSIGNMENT_CANCELLED, "assignment_cancelled", None),
}
_FREES_TEAM = {"decline", "timeout", "clear", "cancel"}
_ENDS_OFFER = {"accept", "decline", "timeout", "cancel"}


@dataclass(frozen=True)
class StepInput:
    at: datetime | None = None
    reason: str | None = None
    released_count: int | None = None
    cause_code: str | None = None
    out_of_service: bool | None = None
    automatic: bool = False


def load_assignment(session: Session, assignment_id: int,
                    viewer: Visibility | None) -> Assignment:
    """The assignment, locked; a crew member only sees their own team's (404 otherwise)."""
    stmt = (select(Assignment).options(
        joinedload(Assignment.team),
        joinedload(Assignment.incident).joinedload(Incident.zone),
        joinedload(Assignment.incident).joinedload(Incident.elevator))
        .where(Assignment.id == assignment_id).with_for_update(of=Assignment))
    if viewer is not None:
        stmt = viewer.assignments(stmt)
    assignment = session.scalar(stmt)
    if assignment is None:
        raise Problem(404, "Assignment not found", f"no assignment {assignment_id}",
                      field="assignment_id")
    return assignment


def _last_step_time(a: Assignment) -> datetime:
    stamps = [a.offered_at, a.accepted_at, a.departed_at, a.arrived_at, a.released_at]
    return max(t for t in stamps if t is not None)


def step_time(a: Assignment, requested: datetime | None, *, now: datetime,
              viewer: Visibility | None) -> datetime:
    """When the step happened: now, or a time an operator reports a little late."""
    if requested is None:
        return now
    if viewer is not None and not viewer.may_backdate_steps:
        raise Problem(422, "Crews record steps as they happen",
                      "only an operator may record a step at a past time", field="at")
    if requested.tzinfo is None:
        raise Problem(422, "Time zone required", "give at with an offset, e.g. +08:00",
                      field="at")
    if requested > now + CLOCK_SKEW:
        raise Problem(422, "Time in the future", field="at")
    if requested < now - MAX_BACKDATE:
        raise Problem(422, "Too far back", "a step may be recorded at most 1 h late",
                      field="at")
    if requested < _last_step_time(a):
        raise Problem(422, "Before the previous step",
                      f"the previous step was at {_last_step_time(a).isoformat()}", field="at")
    return requested


def apply_step(session: Session, a: Assignment, step: str, data: StepInput, *,
               ctx: DispatchContext, viewer: Visibility | None) -> Assignment:
    """Apply one step; 409 with the allowed states when the assignment is not ready for it."""
    target, event_type, incident_target = STEPS[step]
    try:
        lifecycle.check_assignment_transition(a.state, target)
    except lifecycle.TransitionError as exc:
        raise Problem(409, "Not allowed in this state",
                      f"assignment {a.id} is {exc.current}; cannot {step}", field="state",
                      current_state=exc.current, allowed_next=exc.allowed) from exc
    at = step_time(a, data.at, now=ctx.now, viewer=viewer)
    if step == "release" and data.released_count is None:
        raise Problem(422, "released_count required", field="released_count")
    if step == "clear" and data.cause_code not in CAUSE_CODES:
        raise Problem(422, "Unknown cause code", f"use one of {', '.join(CAUSE_CODES)}",
                      field="cause_code")
    transition_assignment(session, a, target, at=at)
    incident = a.incident
    payload: dict[str, Any] = {"assignment_id": a.id, "team_id": a.team_id,
                               "team_name": a.team.name, "level": a.level}
    if data.at is not None:
        payload["recorded_at"] = ctx.now.isoformat()
        payload["on_behalf_of_team"] = True
    if data.automatic:
        payload["automatic"] = True
        a.arrived_automatically = step == "arrive"
    if data.reason:
        payload["reason"] = data.reason
        if step == "decline":
            a.decline_reason = data.reason
    if step == "release":
        a.released_count = data.released_count
        payload["released_count"] = data.released_count
    if step == "clear":
        a.cause_code, a.out_of_service = data.cause_code, bool(data.out_of_service)
        payload["cause_code"] = data.cause_code
        payload["out_of_service"] = bool(data.out_of_service)
    if step in _ENDS_OFFER:
        timers.cancel(session, assignment_id=a.id, kinds=("offer_timeout",), now=ctx.now,
                      why=step)
    if step == "accept":
        set_team_status(session, a.team_id, "busy")
    if step in _FREES_TEAM:
        set_team_status(session, a.team_id, "available")

    # A parallel (fire brigade) team's arrival and release count for the incident too.
    moves_incident = (incident_target is not None
                      and (not a.parallel or step in ("arrive", "release"))
                      and incident_target in lifecycle.allowed_next(incident.state))
    if moves_incident:
        assert incident_target is not None
        transition(session, incident, incident_target, actor=ctx.actor, at=at, payload=payload,
                   event_type=event_type)
    else:
        append_event(session, incident, type=event_type, actor=ctx.actor, at=at,
                     payload=payload)
    _after(session, a, step, ctx=ctx, at=at)
    return a


def _after(session: Session, a: Assignment, step: str, *, ctx: DispatchContext,
           at: datetime) -> None:
    incident = a.incident
    if step == "release" and incident.state == lifecycle.RELEASED:
        timers.cancel(session, incident_id=incident.id, now=ctx.now, why="released",
                      kinds=("sla_warning", "sla_overdue", "trapped_reminder"))
        timers.schedule(session, "callback_due",
                        at + timedelta(minutes=ctx.settings.callback_delay_min),
                        incident_id=incident.id)
    if step == "arrive" and incident.state == lifecycle.ARRIVED:
        timers.cancel(session, incident_id=incident.id, now=ctx.now, why="arrived",
                      kinds=("sla_warning", "sla_overdue"))
    if step in ("decline", "timeout", "cancel") and not a.parallel:
        if incident.state in (lifecycle.ACCEPTED, lifecycle.EN_ROUTE):
            transition(session, incident, lifecycle.CONFIRMED, actor=ctx.actor, at=ctx.now,
                       event_type="awaiting_team", payload={"after": step})
        if incident.state in (lifecycle.CONFIRMED, lifecycle.DISPATCHED, lifecycle.ESCALATED,
                              lifecycle.RECEIVED) and ctx.settings.auto_dispatch:
            dispatch_incident(session, incident, ctx=ctx)


def update_position(session: Session, team: Team, *, lon: float, lat: float,
                    accuracy_m: float | None, at: datetime, ctx: DispatchContext) -> dict[str, Any]:
    """Store a GPS fix; refresh the open job's ETA; mark arrival after a dwell near the car."""
    if not record_position(session, team, lon=lon, lat=lat, accuracy_m=accuracy_m, at=at):
        return {"assignment_id": None, "history_only": True}  # older than the current fix
    a = session.scalar(
        select(Assignment).options(
            joinedload(Assignment.team),
            joinedload(Assignment.incident).joinedload(Incident.zone),
            joinedload(Assignment.incident).joinedload(Incident.elevator))
        .where(Assignment.team_id == team.id,
               Assignment.state.in_((lifecycle.ACCEPTED, lifecycle.EN_ROUTE)))
        .with_for_update(of=Assignment))
    if a is None:
        return {"assignment_id": None}
    elevator = a.incident.elevator
    dist = distance_to_elevator_m(lon, lat, elevator)
    out: dict[str, Any] = {"assignment_id": a.id, "distance_m": round(dist, 1)}
    if dist <= ctx.settings.arrival_radius_m:
        if a.near_since is None:
            a.near_since = at
        elif (at - a.near_since).total_seconds() >= ctx.settings.arrival_dwell_s:
            apply_step(session, a, "arrive", StepInput(automatic=True), ctx=ctx, viewer=None)
            out["arrived"] = True
            return out
    else:
        a.near_since = None
    tt = ctx.router.travel_times([(lon, lat)], (elevator.location.lon, elevator.location.lat))
    eta = float(tt.seconds[0])
    if eta != float("inf"):
        previous = a.eta_s
        a.eta_s, a.eta_at = eta, at
        out["eta_s"] = round(eta)
        if previous is None or abs(previous - eta) >= 60:
            append_event(session, a.incident, type="eta_updated", actor=ctx.actor, at=at,
                         payload={"assignment_id": a.id, "team_id": team.id,
                                  "eta_s": round(eta), "distance_m": round(dist)})
    return out
