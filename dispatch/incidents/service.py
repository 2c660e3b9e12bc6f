"""Incident intake and operator lifecycle steps. Services flush; the request commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVarTuple

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from dispatch import lifecycle
from dispatch.dispatching.schemas import AssignmentOut
from dispatch.dispatching.service import schedule_sla
from dispatch.dispatching.views import assignment_out, current_assignment
from dispatch.elevators import service as elevators
from dispatch.errors import Problem
from dispatch.events import Actor, append_event, transition, update_incident
from dispatch.incidents.schemas import EventOut, IncidentCreate, IncidentOut, ZoneOut
from dispatch.models import Assignment, Elevator, Incident, IncidentEvent
from dispatch.notifications.service import notifications_of
from dispatch.scoping import Visibility
from dispatch.settings import Settings

Ts = TypeVarTuple("Ts")

_WITH_REFS = (
    joinedload(Incident.zone),
    joinedload(Incident.elevator).joinedload(Elevator.zone),
    joinedload(Incident.elevator).joinedload(Elevator.use_unit),
    joinedload(Incident.elevator).joinedload(Elevator.maintenance_company),
    joinedload(Incident.elevator).joinedload(Elevator.insurer),
)


def _resolve_elevator(session: Session, data: IncidentCreate) -> Elevator:
    if data.elevator_id is not None:
        elevator = elevators.get_elevator(session, data.elevator_id)
        if elevator is None:
            raise Problem(404, "Elevator not found", f"no elevator with id {data.elevator_id}",
                          field="elevator_id")
        return elevator
    assert data.rescue_code is not None
    elevator = elevators.find_by_rescue_code(session, data.rescue_code)
    if elevator is None:
        near = elevators.near_rescue_codes(session, data.rescue_code)
        hint = f"; did you mean {', '.join(near)}?" if near else ""
        raise Problem(404, "Unknown rescue code", f"no elevator with rescue code "
                      f"{data.rescue_code}{hint}", field="rescue_code", near_matches=near)
    if not elevator.in_service:
        raise Problem(409, "Elevator not in service", field="rescue_code")
    return elevator


def narrow_to_open(stmt: Select[*Ts], elevator_id: int, *, since: datetime) -> Select[*Ts]:
    """``stmt`` (over ``incident``) narrowed to this elevator's entrapment still in progress,
    if one was reported since ``since``: the newest, one row."""
    return (narrow_to_open_of(stmt, [elevator_id], since=since)
            .order_by(Incident.received_at.desc()).limit(1))


def narrow_to_open_of(stmt: Select[*Ts], elevator_ids: Sequence[int], *,
                      since: datetime) -> Select[*Ts]:
    """``stmt`` narrowed to the entrapments still in progress of these elevators reported
    since ``since`` (any number per elevator: the newest of each is what ``narrow_to_open``
    finds)."""
    return stmt.where(Incident.elevator_id.in_(elevator_ids),
                      Incident.state.in_(lifecycle.MERGEABLE_STATES),
                      Incident.merged_into_id.is_(None),
                      Incident.received_at >= since)


def find_open_incident(session: Session, elevator_id: int, *, since: datetime) -> Incident | None:
    """The entrapment still in progress for this elevator, if one was reported since ``since``."""
    return session.scalar(narrow_to_open(select(Incident).options(joinedload(Incident.zone)),
                                         elevator_id, since=since))


def create_incident(session: Session, *, data: IncidentCreate, actor: Actor,
                    user_id: int | None, now: datetime, settings: Settings,
                    elevator: Elevator | None = None) -> tuple[Incident, bool]:
    """Record a report. Returns ``(incident, duplicate)``.

    A report for an elevator whose entrapment is still open is stored as its own row in state
    ``merged`` linked to the open incident, and noted on that incident's timeline; nothing is
    ever deleted. Reports for one elevator are serialised by a row update on the elevator, so
    two simultaneous calls cannot both open an incident. ``elevator``: the caller already
    loaded it (with ``elevators.get_elevator``'s references) for ``data.elevator_id``.
    """
    if elevator is None:
        elevator = _resolve_elevator(session, data)
    # no ORM synchronisation: it would walk every object in the session (an MQTT batch holds
    # thousands), and the one loaded elevator is brought up to date just below
    session.execute(update(Elevator).where(Elevator.id == elevator.id)
                    .values(last_report_at=now)
                    .execution_options(synchronize_session=False))
    set_committed_value(elevator, "last_report_at", now)
    zone = elevator.zone
    report = dict(channel=data.channel, caller_phone=data.caller_phone,
                  trapped_count=data.trapped_count, injured=data.injured,
                  vulnerable=data.vulnerable)
    window = timedelta(minutes=settings.duplicate_window_min)
    open_incident = find_open_incident(session, elevator.id, since=now - window)
    if open_incident is not None:
        dup = Incident(
            elevator_id=elevator.id, zone_id=open_incident.zone_id, state=lifecycle.MERGED,
            sla_minutes=open_incident.sla_minutes, sla_deadline=open_incident.sla_deadline,
            received_at=now, merged_into_id=open_incident.id, priority=data.priority,
            notes=data.notes, created_by_id=user_id, last_event_seq=0, **report,
        )
        session.add(dup)
        session.flush()
        append_event(session, dup, type="merged", actor=actor, at=now,
                     payload={"merged_into": open_incident.id, **report})
        update_incident(session, open_incident, actor=actor, at=now, why="duplicate report",
                        event_type="duplicate_report", payload={"report_id": dup.id, **report},
                        injured=open_incident.injured or data.injured,
                        vulnerable=open_incident.vulnerable or data.vulnerable)
        dup.elevator = elevator
        dup.zone = open_incident.zone
        return dup, True
    incident = Incident(
        elevator_id=elevator.id, zone_id=zone.id, state=lifecycle.RECEIVED,
        sla_minutes=zone.arrival_limit_min,
        sla_deadline=now + timedelta(minutes=zone.arrival_limit_min), received_at=now,
        priority=data.priority, notes=data.notes, created_by_id=user_id, last_event_seq=0,
        **report,
    )
    session.add(incident)
    append_event(session, incident, type="received", actor=actor, at=now,
                 payload={**report, "elevator_id": elevator.id, "zone": zone.name,
                          "sla_minutes": zone.arrival_limit_min})
    incident.elevator = elevator
    incident.zone = zone
    session.flush()
    schedule_sla(session, incident, settings=settings)
    return incident, False


def load_incident(session: Session, incident_id: int, viewer: Visibility, *,
                  for_update: bool = False) -> Incident:
    """The incident if it exists and ``viewer`` may see it (404 otherwise, never 403: no leaks)."""
    stmt = viewer.incidents(
        select(Incident).options(*_WITH_REFS).where(Incident.id == incident_id))
    if for_update:
        stmt = stmt.with_for_update(of=Incident)
    incident = session.scalar(stmt)
    if incident is None:
        raise Problem(404, "Incident not found", f"no incident {incident_id}",
                      field="incident_id")
    return incident


def change_state(session: Session, incident: Incident, to_state: str, *, actor: Actor,
                 now: datetime, payload: dict[str, object] | None = None,
                 outcome: str | None = None) -> None:
    """An operator step; a step the lifecycle forbids is a 409 naming what is allowed. An
    ``outcome`` is recorded with the step unless the incident already has one."""
    changes = {"outcome": outcome} if outcome and not incident.outcome else None
    try:
        transition(session, incident, to_state, actor=actor, at=now, payload=payload,
                   changes=changes)
    except lifecycle.TransitionError as exc:
        raise Problem(409, "Not allowed in this state",
                      f"incident {incident.id} is {exc.current}; cannot go to {to_state}",
                      field="state", current_state=exc.current, allowed_next=exc.allowed) from exc


def timeline(session: Session, incident_id: int) -> list[EventOut]:
    rows = session.scalars(select(IncidentEvent).where(IncidentEvent.incident_id == incident_id)
                           .order_by(IncidentEvent.seq)).all()
    return [EventOut(seq=r.seq, stream_seq=r.id, type=r.type, actor=r.actor,
                     actor_role=r.actor_role, at=r.at, payload=r.payload) for r in rows]


def duplicate_counts(session: Session, ids: Sequence[int]) -> dict[int, int]:
    if not ids:
        return {}
    rows = session.execute(select(Incident.merged_into_id, func.count())
                           .where(Incident.merged_into_id.in_(ids))
                           .group_by(Incident.merged_into_id)).all()
    return {int(k): int(n) for k, n in rows if k is not None}


def incident_out(incident: Incident, *, duplicate: bool = False, duplicate_reports: int = 0,
                 events: list[EventOut] | None = None,
                 assignments: list[AssignmentOut] | None = None,
                 viewer: Visibility | None = None) -> IncidentOut:
    """The one serialiser of an incident; a crew viewer gets no caller number."""
    zone = incident.zone
    caller = incident.caller_phone
    if viewer is not None and "caller_phone" not in viewer.redact({"caller_phone": caller}):
        caller = None
    return IncidentOut(
        id=incident.id, state=incident.state,
        active=incident.state in lifecycle.ACTIVE_STATES,
        allowed_next=sorted(lifecycle.allowed_next(incident.state)),
        channel=incident.channel, caller_phone=caller,
        trapped_count=incident.trapped_count, injured=incident.injured,
        vulnerable=incident.vulnerable, priority=incident.priority, notes=incident.notes,
        outcome=incident.outcome, elevator=elevators.elevator_out(incident.elevator),
        zone=ZoneOut.model_validate(zone, from_attributes=True),
        sla_minutes=incident.sla_minutes, sla_deadline=incident.sla_deadline,
        received_at=incident.received_at, confirmed_at=incident.confirmed_at,
        dispatched_at=incident.dispatched_at, accepted_at=incident.accepted_at,
        departed_at=incident.departed_at, arrived_at=incident.arrived_at,
        released_at=incident.released_at, cleared_at=incident.cleared_at,
        callback_done_at=incident.callback_done_at, closed_at=incident.closed_at,
        cancelled_at=incident.cancelled_at, merged_into=incident.merged_into_id,
        at_risk=incident.at_risk, response_level=incident.response_level,
        last_seq=incident.last_event_seq or 0, duplicate=duplicate,
        duplicate_reports=duplicate_reports, timeline=events, assignments=assignments,
        assignment=current_assignment(assignments) if assignments else None,
    )


def incident_views(session: Session, viewer: Visibility, stmt: Select[Any], *,
                   detail: bool = False) -> list[IncidentOut]:
    """Incidents selected by ``stmt`` (a ``select(Incident)`` with its order), scoped to
    ``viewer``, with their assignments (a crew sees only its own team's) and duplicate
    counts: three queries whatever the number of rows."""
    rows = session.scalars(viewer.incidents(stmt).options(*_WITH_REFS)).unique().all()
    ids = [r.id for r in rows]
    if not ids:
        return []
    by_incident: dict[int, list[AssignmentOut]] = {i: [] for i in ids}
    a_stmt = viewer.assignments(
        select(Assignment).options(joinedload(Assignment.team))
        .where(Assignment.incident_id.in_(ids)).order_by(Assignment.id))
    for a in session.scalars(a_stmt):
        by_incident[a.incident_id].append(assignment_out(a, ranking=detail))
    counts = duplicate_counts(session, ids)
    return [incident_out(r, duplicate_reports=counts.get(r.id, 0),
                         assignments=by_incident[r.id], viewer=viewer) for r in rows]


def incident_detail(session: Session, incident: Incident, viewer: Visibility) -> IncidentOut:
    """One incident with its timeline, assignments (with ranking) and notifications."""
    out = incident_views(session, viewer, select(Incident).where(Incident.id == incident.id),
                         detail=True)[0]
    out.timeline = timeline(session, incident.id)
    out.notifications = notifications_of(session, incident.id)
    return out


def list_incidents(session: Session, viewer: Visibility, *, state: str, limit: int,
                   offset: int) -> tuple[int, list[IncidentOut]]:
    """Active incidents by urgency (nearest deadline first), or closed ones newest first."""
    states = (lifecycle.ACTIVE_STATES if state == "active"
              else lifecycle.TERMINAL_STATES - {lifecycle.MERGED})
    base = viewer.incidents(select(Incident).where(Incident.state.in_(states)))
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    order = Incident.sla_deadline.asc() if state == "active" else Incident.received_at.desc()
    return total, incident_views(session, viewer, base.order_by(order, Incident.id)
                                 .limit(limit).offset(offset))


def assignments_of(session: Session, incident_id: int) -> list[Assignment]:
    return list(session.scalars(
        select(Assignment).options(joinedload(Assignment.team))
        .where(Assignment.incident_id == incident_id).order_by(Assignment.id)).all())
