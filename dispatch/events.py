"""The single write path for incidents and assignments.

A change (1) is checked against the lifecycle, (2) writes the row and one timeline row in the
caller's transaction (the unit of work commits it), and (3) is published on the bus only after
that transaction commits, so a console never sees a change that was rolled back.

Only this module assigns ``Incident.state``, ``outcome``, ``sla_deadline``, ``at_risk``,
``response_level`` and ``Assignment.state``; ``tests/test_architecture.py`` fails on an
assignment anywhere else. Event hooks (the SMS outbox, later partner pushes) are registered
explicitly on a session factory (:func:`register_hook`, done by ``create_app``), never on import,
so what a process writes never depends on what it happened to import.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from dispatch import lifecycle
from dispatch.bus import EventBus, Message
from dispatch.models import Assignment, Incident, IncidentEvent

_PENDING = "pending_events"
_HOOKS = "event_hooks"

EventHook = Callable[[Session, Incident, IncidentEvent], None]
"""Called for every live timeline row, in its transaction (the outbox writes its rows here, so
an SMS row exists if and only if the event that causes it committed)."""

INCIDENT_FIELDS: Final = frozenset(
    {"outcome", "sla_deadline", "at_risk", "response_level", "injured", "vulnerable"})
"""What :func:`update_incident` may change (state has :func:`transition`)."""

EVENT_TYPES: Final = frozenset({
    # a transition writes the state it reaches unless it names another type
    *lifecycle.STATES,
    # intake
    "duplicate_report",
    # dispatching and the crew's steps
    "offered", "declined", "offer_timed_out", "departed", "assignment_cancelled",
    "cleared_on_close", "eta_updated", "no_team_available", "awaiting_team",
    "level_escalated", "level1_informed", "level3_alerted", "level3_unavailable",
    "surge_waiting",
    # clocks (job loop)
    "sla_warning", "sla_overdue", "trapped_update_due", "callback_due",
    # terminals
    "recovered_by_itself",
    # the regional emergency system (issue 14): the fire brigade's steps and the handover
    "fire_brigade_accepted", "fire_brigade_declined", "fire_brigade_arrived",
    "fire_brigade_released", "handover_unacknowledged",
    # the phone desk (issue 15)
    "call_linked", "call_ended", "call_recorded", "conference_leg",
    # update_incident without a type
    "incident_updated",
})
"""Every incident timeline type the code writes (issue 16: each has a zh-CN and an English
label in ``web/static/labels.json``; ``tests/web/test_labels.py`` checks both lists)."""

TEAM_EVENT_TYPES: Final = frozenset({"duty_on", "duty_off", "retired",
                                     "gps_denied", "gps_unavailable", "gps_ok"})
"""Team timeline types (``dispatch.teams``)."""


@dataclass(frozen=True, slots=True)
class Actor:
    """Who made a change and how (``via``: api, phone-in on behalf of a team, system job, …)."""

    name: str
    role: str | None = None
    via: str = "api"

    @classmethod
    def system(cls, via: str = "job") -> Actor:
        return cls("system", None, via)


def register_hook(factory: sessionmaker[Session], hook: EventHook) -> None:
    """Run ``hook`` for every live timeline row written by sessions of ``factory``."""
    hooks: list[EventHook] = factory.kw.setdefault("info", {}).setdefault(_HOOKS, [])
    if hook not in hooks:
        hooks.append(hook)


def hooks_of(session: Session) -> list[EventHook]:
    return list(session.info.get(_HOOKS, ()))


def append_event(session: Session, incident: Incident, *, type: str, actor: Actor,
                 at: datetime, payload: dict[str, Any] | None = None) -> IncidentEvent:
    """Add a timeline row to ``incident`` (numbered per incident) and queue it for publishing."""
    incident.last_event_seq = (incident.last_event_seq or 0) + 1
    ev = IncidentEvent(
        incident=incident, seq=incident.last_event_seq, type=type, actor=actor.name,
        actor_role=actor.role, payload={**(payload or {}), "via": actor.via}, at=at,
    )
    session.add(ev)
    session.info.setdefault(_PENDING, []).append(ev)
    if not ev.payload.get("imported"):  # history from another platform is not live news
        for hook in session.info.get(_HOOKS, ()):
            hook(session, incident, ev)
    return ev


def transition(session: Session, incident: Incident, to_state: str, *, actor: Actor,
               at: datetime, payload: dict[str, Any] | None = None,
               event_type: str | None = None,
               changes: dict[str, Any] | None = None) -> IncidentEvent:
    """Move ``incident`` to ``to_state``; its ladder column keeps the first time it got there.

    ``changes`` sets fields of :data:`INCIDENT_FIELDS` in the same step (e.g. the outcome of a
    cancellation), recorded old → new on the same timeline row."""
    lifecycle.check_transition(incident.state, to_state)
    previous = incident.state
    incident.state = to_state
    column = lifecycle.TIMESTAMP_COLUMN.get(to_state)
    if column and getattr(incident, column) is None:
        setattr(incident, column, at)
    body = {"from": previous, "to": to_state, **(payload or {})}
    recorded = _apply(incident, changes or {})
    if recorded:
        body["changes"] = recorded
    return append_event(session, incident, type=event_type or to_state, actor=actor, at=at,
                        payload=body)


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _apply(incident: Incident, fields: dict[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - INCIDENT_FIELDS
    if unknown:
        raise ValueError(f"cannot set {sorted(unknown)} on an incident this way")
    changes = {}
    for name, new in fields.items():
        old = getattr(incident, name)
        if old != new:
            changes[name] = {"from": _plain(old), "to": _plain(new)}
            setattr(incident, name, new)
    return changes


def update_incident(session: Session, incident: Incident, *, actor: Actor, at: datetime,
                    why: str, event_type: str | None = None,
                    payload: dict[str, Any] | None = None,
                    **fields: Any) -> IncidentEvent | None:
    """Change outcome, deadline, at-risk, response level or the injured/vulnerable flags, and
    record the old → new values with ``why`` on the timeline.

    With ``event_type`` the event is written even when no value changes (the event itself is
    the news, e.g. ``sla_overdue``); without, an update that changes nothing writes nothing.
    """
    changes = _apply(incident, fields)
    if not changes and event_type is None:
        return None
    body = {**(payload or {}), "why": why}
    if changes:
        body["changes"] = changes
    return append_event(session, incident, type=event_type or "incident_updated", actor=actor,
                        at=at, payload=body)


def transition_assignment(session: Session, assignment: Assignment, to_state: str, *,
                          at: datetime) -> str:
    """Move an assignment along its lifecycle (offer → … → cleared) and stamp the step's time;
    returns the previous state. The caller records the step on the incident's timeline in the
    same transaction (``dispatching.steps.apply_step``, ``dispatching.service.end_open_work``).
    """
    lifecycle.check_assignment_transition(assignment.state, to_state)
    previous = assignment.state
    assignment.state = to_state
    column = lifecycle.ASSIGNMENT_TIMESTAMP.get(to_state)
    if column:
        setattr(assignment, column, at)
    return previous


def event_message(ev: IncidentEvent) -> Message:
    return {
        "seq": ev.id, "type": ev.type, "incident_id": ev.incident_id,
        "team_id": (ev.payload or {}).get("team_id"), "at": ev.at.isoformat(),
        "data": ev.payload,
    }


def publish_after_commit(factory: sessionmaker[Session], bus: EventBus) -> None:
    """Wire ``factory``'s sessions so that queued events reach ``bus`` once committed."""

    @event.listens_for(factory, "after_commit")
    def _after_commit(session: Session) -> None:
        for ev in session.info.pop(_PENDING, []):
            bus.publish(event_message(ev))

    @event.listens_for(factory, "after_rollback")
    def _after_rollback(session: Session) -> None:
        session.info.pop(_PENDING, None)
