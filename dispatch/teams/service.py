"""Reading teams: one row shape for the team list, the console's team panel and live updates.

The same function feeds ``GET /api/v1/teams``, the stream snapshot and the hub's per-event
enrichment, so a row pushed live replaces a row in the panel as it is.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from dispatch import lifecycle
from dispatch.dispatching.service import team_origin
from dispatch.models import Assignment, Organization, Team
from dispatch.teams.models import TeamEvent

Row = dict[str, Any]


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat()


def current_jobs(session: Session, team_ids: Iterable[int] | None = None) -> dict[int, Row]:
    """Each team's oldest open assignment (the job it is on, or the offer it must answer)."""
    stmt = (select(Assignment.team_id, Assignment.id, Assignment.incident_id, Assignment.state)
            .where(Assignment.state.in_(lifecycle.OPEN_ASSIGNMENT_STATES))
            .order_by(Assignment.id.desc()))
    if team_ids is not None:
        stmt = stmt.where(Assignment.team_id.in_(list(team_ids)))
    return {team_id: {"assignment_id": a_id, "incident_id": inc_id, "state": state}
            for team_id, a_id, inc_id, state in session.execute(stmt)}


def last_duty_changes(session: Session, team_ids: Iterable[int] | None = None) -> dict[int, Row]:
    """Each team's latest duty change: who, through which channel, why, when."""
    latest = select(func.max(TeamEvent.id)).where(TeamEvent.type.in_(("duty_on", "duty_off")))
    if team_ids is not None:
        latest = latest.where(TeamEvent.team_id.in_(list(team_ids)))
    latest = latest.group_by(TeamEvent.team_id)
    cols = select(TeamEvent.team_id, TeamEvent.source, TeamEvent.actor, TeamEvent.role,
                  TeamEvent.reason, TeamEvent.at).where(TeamEvent.id.in_(latest))
    return {team_id: {"source": source, "actor": actor, "role": role, "reason": reason,
                      "at": _iso(at)}
            for team_id, source, actor, role, reason, at in session.execute(cols)}


def team_rows(session: Session, *, now: datetime, fresh_s: float,
              ids: Iterable[int] | None = None, status: str | None = None,
              scope: Select[Any] | None = None) -> list[Row]:
    """Team rows (by id). ``scope``, a ``select(Team.id)``, limits them to what a viewer may
    see; ``status`` filters on readiness."""
    stmt = (select(Team, Organization.name, Organization.kind)
            .join(Organization, Team.organization_id == Organization.id).order_by(Team.id))
    if ids is not None:
        ids = list(ids)
        stmt = stmt.where(Team.id.in_(ids))
    if status:
        stmt = stmt.where(Team.status == status)
    if scope is not None:
        stmt = stmt.where(Team.id.in_(scope))
    rows = session.execute(stmt).all()
    jobs = current_jobs(session, ids)
    changes = last_duty_changes(session, ids)
    out = []
    for t, org_name, org_kind in rows:
        lon, lat, source = team_origin(t, now, fresh_s)
        out.append({"id": t.id, "code": t.code, "name": t.name, "phone": t.phone,
                    "organization_id": t.organization_id, "organization_name": org_name,
                    "organization_kind": org_kind, "status": t.status, "on_duty": t.on_duty,
                    "retired": t.retired, "roster": t.roster, "job": jobs.get(t.id),
                    "last_duty_change": changes.get(t.id),
                    "lon": lon, "lat": lat, "position_source": source,
                    "position_at": _iso(t.position_at)})
    return out
