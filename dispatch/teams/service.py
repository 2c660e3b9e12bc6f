"""Reading teams: the one serialiser (``TeamOut``) for the team list, the console's team panel,
the stream snapshot and the hub's live rows, so a row pushed live replaces a row in the panel.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dispatch import lifecycle
from dispatch.dispatching.service import team_origin
from dispatch.models import Assignment, Organization, Team
from dispatch.scoping import Visibility
from dispatch.teams.models import TeamEvent
from dispatch.teams.schemas import DutyChange, TeamJob, TeamOut


def current_jobs(session: Session, team_ids: list[int] | None = None) -> dict[int, TeamJob]:
    """Each team's oldest open assignment (the job it is on, or the offer it must answer)."""
    stmt = (select(Assignment.team_id, Assignment.id, Assignment.incident_id, Assignment.state)
            .where(Assignment.state.in_(lifecycle.OPEN_ASSIGNMENT_STATES))
            .order_by(Assignment.id.desc()))
    if team_ids is not None:
        stmt = stmt.where(Assignment.team_id.in_(team_ids))
    return {team_id: TeamJob(assignment_id=a_id, incident_id=inc_id, state=state)
            for team_id, a_id, inc_id, state in session.execute(stmt)}


def last_duty_changes(session: Session,
                      team_ids: list[int] | None = None) -> dict[int, DutyChange]:
    """Each team's latest duty change: who, through which channel, why, when."""
    latest = select(func.max(TeamEvent.id)).where(TeamEvent.type.in_(("duty_on", "duty_off")))
    if team_ids is not None:
        latest = latest.where(TeamEvent.team_id.in_(team_ids))
    cols = select(TeamEvent.team_id, TeamEvent.source, TeamEvent.actor, TeamEvent.role,
                  TeamEvent.reason, TeamEvent.at).where(
                      TeamEvent.id.in_(latest.group_by(TeamEvent.team_id)))
    return {team_id: DutyChange(source=source, actor=actor, role=role, reason=reason, at=at)
            for team_id, source, actor, role, reason, at in session.execute(cols)}


GPS_EVENTS = ("gps_denied", "gps_unavailable", "gps_ok")


def last_gps_status(session: Session,
                    team_ids: list[int] | None = None) -> dict[int, tuple[str, datetime]]:
    """Each team's latest geolocation report from its crew phone (``gps_*`` team events)."""
    latest = select(func.max(TeamEvent.id)).where(TeamEvent.type.in_(GPS_EVENTS))
    if team_ids is not None:
        latest = latest.where(TeamEvent.team_id.in_(team_ids))
    cols = select(TeamEvent.team_id, TeamEvent.type, TeamEvent.at).where(
        TeamEvent.id.in_(latest.group_by(TeamEvent.team_id)))
    return {team_id: (type_.removeprefix("gps_"), at)
            for team_id, type_, at in session.execute(cols)}


def team_views(session: Session, viewer: Visibility, *, now: datetime, fresh_s: float,
               ids: Iterable[int] | None = None, status: str | None = None) -> list[TeamOut]:
    """The teams ``viewer`` may see (by id), optionally only those of one readiness."""
    stmt: Any = viewer.teams(
        select(Team, Organization.name, Organization.kind)
        .join(Organization, Team.organization_id == Organization.id).order_by(Team.id))
    wanted = None if ids is None else list(ids)
    if wanted is not None:
        stmt = stmt.where(Team.id.in_(wanted))
    if status:
        stmt = stmt.where(Team.status == status)
    rows = session.execute(stmt).all()
    jobs = current_jobs(session, wanted)
    changes = last_duty_changes(session, wanted)
    gps = last_gps_status(session, wanted)
    out = []
    for t, org_name, org_kind in rows:
        lon, lat, source = team_origin(t, now, fresh_s)
        gps_state, gps_at = gps.get(t.id, (None, None))
        if gps_state == "ok" or (gps_at is not None and t.position_at is not None
                                 and _aware(t.position_at) > _aware(gps_at)):
            gps_state, gps_at = None, None  # working, or a fix arrived after the report
        out.append(TeamOut(
            id=t.id, code=t.code, name=t.name, phone=t.phone, organization_id=t.organization_id,
            organization_name=org_name, organization_kind=org_kind, status=t.status,
            on_duty=t.on_duty, retired=t.retired, roster=t.roster, job=jobs.get(t.id),
            last_duty_change=changes.get(t.id), lon=lon, lat=lat, position_source=source,
            position_at=t.position_at, gps_status=gps_state, gps_status_at=gps_at))
    return out


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
