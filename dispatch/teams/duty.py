"""The one write path for a team's duty: the team row and its team event, in the caller's
transaction, published to the consoles only after that transaction commits.

Crews, supervisors, the roster job and the importer all come through ``set_duty``, so every
change has an actor, a source and a reason, and no change a console saw was rolled back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch import lifecycle
from dispatch.bus import Message
from dispatch.errors import Problem
from dispatch.events import Actor
from dispatch.live import queue_live
from dispatch.models import Assignment, Team
from dispatch.teams.models import SOURCES, TeamEvent


def load_team(session: Session, team_id: int) -> Team:
    """The team, locked for the change (PostgreSQL ``FOR UPDATE``): a dispatch booking the team
    at the same moment waits, then sees it off duty — or this change sees the booking."""
    team = session.get(Team, team_id, with_for_update=True)
    if team is None:
        raise Problem(404, "Team not found", field="team_id")
    return team


def open_job(session: Session, team_id: int) -> Assignment | None:
    """The team's oldest assignment still in hand (offered, accepted, en route or on scene)."""
    return session.scalars(
        select(Assignment).where(Assignment.team_id == team_id,
                                 Assignment.state.in_(lifecycle.OPEN_ASSIGNMENT_STATES))
        .order_by(Assignment.id).limit(1)).first()


def set_duty(session: Session, team: Team, *, on_duty: bool, actor: Actor, source: str,
             reason: str | None, at: datetime) -> TeamEvent | None:
    """Put ``team`` on or off duty; ``None`` if it already was (nothing is written).

    Going off duty with a job in hand is refused (409 naming the assignment): the job would
    be orphaned. A retired team (removed by a full-sync import) never comes back on duty.
    """
    if source not in SOURCES:
        raise ValueError(f"unknown duty source {source!r}")
    if team.on_duty == on_duty:
        return None
    if on_duty and team.retired:
        raise Problem(409, "Team retired", f"team {team.code} was retired by an import",
                      field="on_duty")
    if not on_duty:
        session.flush()  # sessions do not autoflush: an offer made just before must count
        job = open_job(session, team.id)
        if job is not None:
            raise Problem(
                409, "Team has an open job",
                f"assignment #{job.id} ({job.state}) on incident #{job.incident_id} must be "
                "finished or withdrawn before the team goes off duty",
                field="on_duty", assignment_id=job.id, incident_id=job.incident_id,
                assignment_state=job.state)
    team.on_duty = on_duty
    ev = TeamEvent(team_id=team.id, type="duty_on" if on_duty else "duty_off",
                   actor=actor.name, role=actor.role, source=source, reason=reason, at=at,
                   payload={"from": not on_duty, "to": on_duty, "via": actor.via})
    session.add(ev)
    session.flush()
    queue_live(session, duty_message(ev))
    return ev


def retire(session: Session, team: Team, *, actor: Actor, source: str, reason: str | None,
           at: datetime) -> list[TeamEvent]:
    """Retire ``team`` (a full-sync import no longer lists it): off duty through
    :func:`set_duty` (so an open job refuses it, 409 naming the assignment), then ``retired``
    and a ``retired`` team event. Pending roster boundaries are the caller's to cancel
    (``rosters.reschedule_roster`` does it for a retired team). ``[]`` if already retired."""
    if team.retired:
        return []
    events = []
    off = set_duty(session, team, on_duty=False, actor=actor, source=source, reason=reason,
                   at=at)
    if off is not None:
        events.append(off)
    team.retired = True
    ev = TeamEvent(team_id=team.id, type="retired", actor=actor.name, role=actor.role,
                   source=source, reason=reason, at=at, payload={"via": actor.via})
    session.add(ev)
    session.flush()
    events.append(ev)
    return events


def record_gps_status(session: Session, team_id: int, state: str, *, actor: Actor,
                      at: datetime) -> TeamEvent | None:
    """A crew phone's geolocation report (``denied``, ``unavailable`` or ``ok``), written as a
    ``gps_*`` team event and sent live; ``None`` when it is no change (nothing is written)."""
    from dispatch.teams.service import last_gps_status

    last = last_gps_status(session, [team_id]).get(team_id)
    if (last[0] if last else "ok") == state:
        return None
    ev = TeamEvent(team_id=team_id, type="gps_" + state, actor=actor.name, role=actor.role,
                   source="crew", reason=None, at=at, payload={"state": state})
    session.add(ev)
    session.flush()
    queue_live(session, gps_message(ev))  # the console's team panel follows live
    return ev


def duty_message(ev: TeamEvent) -> Message:
    """The live message: not a timeline row (``seq`` null); the hub adds the team's row."""
    data: dict[str, Any] = {"event_id": ev.id, "on_duty": ev.type == "duty_on",
                            "source": ev.source, "actor": ev.actor, "role": ev.role,
                            "reason": ev.reason}
    return {"seq": None, "type": "team_duty", "incident_id": None, "team_id": ev.team_id,
            "at": ev.at.isoformat(), "data": data}


def gps_message(ev: TeamEvent) -> Message:
    """The live message for a crew phone's geolocation report (issue 16); the hub adds the
    team's row, whose ``gps_status`` the console's team panel shows."""
    return {"seq": None, "type": "team_gps", "incident_id": None, "team_id": ev.team_id,
            "at": ev.at.isoformat(), "data": {"event_id": ev.id, "state": ev.type[4:]}}

