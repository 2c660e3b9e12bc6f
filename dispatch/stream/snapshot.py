"""What a console or crew phone needs to draw itself: board rows and team rows.

Read-only queries shared by the websocket snapshot and the hub's per-event enrichment. The rows
are the REST serialisers' output (``IncidentOut``, ``TeamOut``), so a row pushed live has the
same shape as ``GET /api/v1/incidents`` and the page just replaces it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dispatch import lifecycle
from dispatch.incidents.service import incident_views
from dispatch.models import Assignment, Incident, IncidentEvent
from dispatch.scoping import CREW_VISIBLE_ASSIGNMENTS, Visibility
from dispatch.teams.service import team_views

Row = dict[str, Any]


def incident_rows(session: Session, viewer: Visibility, *,
                  ids: Iterable[int] | None = None, active_only: bool = False) -> list[Row]:
    """Board rows as ``viewer`` may see them, nearest deadline first; ``ids`` picks rows
    whatever their state (the live update of an incident that just closed)."""
    stmt = select(Incident).order_by(Incident.sla_deadline, Incident.id)
    if ids is not None:
        stmt = stmt.where(Incident.id.in_(list(ids)))
    if active_only:
        stmt = stmt.where(Incident.state.in_(lifecycle.ACTIVE_STATES))
    return [v.model_dump(mode="json") for v in incident_views(session, viewer, stmt)]


def team_rows(session: Session, viewer: Visibility, *, now: datetime, fresh_s: float,
              ids: Iterable[int] | None = None) -> list[Row]:
    return [v.model_dump(mode="json")
            for v in team_views(session, viewer, now=now, fresh_s=fresh_s, ids=ids)]


def crew_jobs(session: Session, team_id: int | None) -> set[int]:
    """Incidents this team has a job on (what its crew follows live)."""
    if team_id is None:
        return set()
    return set(session.scalars(select(Assignment.incident_id).where(
        Assignment.team_id == team_id, Assignment.state.in_(CREW_VISIBLE_ASSIGNMENTS))))


def snapshot(session: Session, viewer: Visibility, *, lang: str, now: datetime,
             fresh_s: float) -> Row:
    """The board (staff: active incidents) or the crew's own jobs, teams, stream position."""
    last_seq = session.scalar(select(func.max(IncidentEvent.id))) or 0
    if viewer.is_crew:
        jobs = crew_jobs(session, viewer.team_id)
        incidents = incident_rows(session, viewer, ids=jobs) if jobs else []
    else:
        incidents = incident_rows(session, viewer, active_only=True)
    return {"type": "snapshot", "now": now.isoformat(), "last_seq": last_seq,
            "me": viewer.me(lang), "incidents": incidents,
            "teams": team_rows(session, viewer, now=now, fresh_s=fresh_s)}


def events_since(session: Session, since: int, *, limit: int) -> list[IncidentEvent]:
    return list(session.scalars(select(IncidentEvent).where(IncidentEvent.id > since)
                                .order_by(IncidentEvent.id).limit(limit)))
