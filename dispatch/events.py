"""The single write path for incident changes.

A change (1) is checked against the lifecycle, (2) writes the incident row and one timeline row
in the caller's transaction, and (3) is published on the bus only after that transaction commits,
so a console never sees a change that was rolled back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from dispatch import lifecycle
from dispatch.bus import EventBus, Message
from dispatch.models import Incident, IncidentEvent

_PENDING = "pending_events"

EventHook = Callable[[Session, Incident, IncidentEvent], None]
EVENT_HOOKS: list[EventHook] = []
"""Called for every timeline row, in its transaction (the notification outbox registers here,
so an SMS row is written atomically with the event that causes it)."""


@dataclass(frozen=True, slots=True)
class Actor:
    """Who made a change and how (``via``: api, phone-in on behalf of a team, system job, …)."""

    name: str
    role: str | None = None
    via: str = "api"

    @classmethod
    def system(cls, via: str = "job") -> Actor:
        return cls("system", None, via)


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
        for hook in EVENT_HOOKS:
            hook(session, incident, ev)
    return ev


def transition(session: Session, incident: Incident, to_state: str, *, actor: Actor,
               at: datetime, payload: dict[str, Any] | None = None,
               event_type: str | None = None) -> IncidentEvent:
    """Move ``incident`` to ``to_state``; its ladder column keeps the first time it got there."""
    lifecycle.check_transition(incident.state, to_state)
    previous = incident.state
    incident.state = to_state
    column = lifecycle.TIMESTAMP_COLUMN.get(to_state)
    if column and getattr(incident, column) is None:
        setattr(incident, column, at)
    return append_event(session, incident, type=event_type or to_state, actor=actor, at=at,
                        payload={"from": previous, "to": to_state, **(payload or {})})


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
