"""What a console or crew phone needs to draw itself: compact board rows and team rows.

Read-only queries, shared by the websocket snapshot and the hub's per-event enrichment, so a
row pushed live is the same shape as a row in the snapshot (the page just replaces it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from dispatch import lifecycle
from dispatch.models import Assignment, Elevator, Incident, IncidentEvent, Team, User, Zone
from dispatch.scoping import scope_incidents
from dispatch.teams.service import team_rows
from geo.coords import wgs84_to_bd09, wgs84_to_gcj02

Row = dict[str, Any]
STAFF_ROLES = ("operator", "supervisor", "office", "admin")
CREW_VISIBLE_ASSIGNMENTS = lifecycle.OPEN_ASSIGNMENT_STATES | {lifecycle.RELEASED}


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat()


def _assignment_row(a: Assignment, team_name: str) -> Row:
    return {
        "id": a.id, "team_id": a.team_id, "team_name": team_name, "state": a.state,
        "level": a.level, "parallel": a.parallel, "offered_at": _iso(a.offered_at),
        "accept_by": _iso(a.accept_by), "accepted_at": _iso(a.accepted_at),
        "departed_at": _iso(a.departed_at), "arrived_at": _iso(a.arrived_at),
        "released_at": _iso(a.released_at), "released_count": a.released_count,
        "eta_s": None if a.eta_s is None else round(a.eta_s), "eta_at": _iso(a.eta_at),
        "at_risk": a.at_risk, "open": a.state in lifecycle.OPEN_ASSIGNMENT_STATES,
    }


def _current(assignments: Sequence[Row]) -> Row | None:
    """The assignment the board shows: the latest open main one, else the latest one."""
    open_main = [a for a in assignments if a["open"] and not a["parallel"]]
    if open_main:
        return open_main[-1]
    return assignments[-1] if assignments else None


def incident_rows(session: Session, stmt_filter: Select[Any] | None = None, *,
                  ids: Iterable[int] | None = None, team_id: int | None = None) -> list[Row]:
    """Board rows, nearest deadline first. ``stmt_filter`` is a scoped ``select(Incident.id)``;
    ``ids`` picks rows whatever their state (live updates of an incident that just closed)."""
    stmt = (select(Incident, Elevator, Zone)
            .join(Elevator, Incident.elevator_id == Elevator.id)
            .join(Zone, Incident.zone_id == Zone.id))
    if ids is not None:
        stmt = stmt.where(Incident.id.in_(list(ids)))
    if stmt_filter is not None:
        stmt = stmt.where(Incident.id.in_(stmt_filter))
    rows = session.execute(stmt.order_by(Incident.sla_deadline, Incident.id)).all()
    if not rows:
        return []
    incident_ids = [inc.id for inc, _, _ in rows]
    by_incident: dict[int, list[Row]] = {i: [] for i in incident_ids}
    a_stmt = (select(Assignment, Team.name).join(Team, Assignment.team_id == Team.id)
              .where(Assignment.incident_id.in_(incident_ids)).order_by(Assignment.id))
    if team_id is not None:
        a_stmt = a_stmt.where(Assignment.team_id == team_id)
    for a, team_name in session.execute(a_stmt):
        by_incident[a.incident_id].append(_assignment_row(a, team_name))
    dups = dict(session.execute(
        select(Incident.merged_into_id, func.count()).where(
            Incident.merged_into_id.in_(incident_ids)).group_by(Incident.merged_into_id)).all())
    out = []
    for inc, el, zone in rows:
        lon, lat = el.location.lon, el.location.lat
        gcj = wgs84_to_gcj02(lon, lat)
        bd = wgs84_to_bd09(lon, lat)
        assignments = by_incident[inc.id]
        out.append({
            "id": inc.id, "state": inc.state, "active": inc.state in lifecycle.ACTIVE_STATES,
            "allowed_next": sorted(lifecycle.allowed_next(inc.state)),
            "channel": inc.channel, "trapped_count": inc.trapped_count,
            "injured": inc.injured, "vulnerable": inc.vulnerable, "priority": inc.priority,
            "at_risk": inc.at_risk, "response_level": inc.response_level,
            "duplicate_reports": int(dups.get(inc.id, 0)),
            "received_at": _iso(inc.received_at), "sla_minutes": inc.sla_minutes,
            "sla_deadline": _iso(inc.sla_deadline), "dispatched_at": _iso(inc.dispatched_at),
            "arrived_at": _iso(inc.arrived_at), "released_at": _iso(inc.released_at),
            "zone": zone.name, "zone_en": zone.name_en,
            "elevator": {
                "id": el.id, "rescue_code": el.rescue_code, "address": el.address,
                "building": el.building, "site_type": el.site_type, "three_no": el.three_no,
                "lon": lon, "lat": lat, "floors": el.floors,
                "gcj02": [round(float(gcj[0]), 6), round(float(gcj[1]), 6)],
                "bd09": [round(float(bd[0]), 6), round(float(bd[1]), 6)],
            },
            "assignment": _current(assignments),
            "assignments": assignments,
            "last_seq": inc.last_event_seq,
        })
    return out


def crew_incident_ids(session: Session, team_id: int | None) -> set[int]:
    """Incidents this team has a job on (what its crew may follow live)."""
    if team_id is None:
        return set()
    return set(session.scalars(select(Assignment.incident_id).where(
        Assignment.team_id == team_id, Assignment.state.in_(CREW_VISIBLE_ASSIGNMENTS))))


def snapshot(session: Session, user: User, *, now: datetime, fresh_s: float) -> Row:
    """The board (staff) or the crew's own jobs, teams, and the stream position."""
    last_seq = session.scalar(select(func.max(IncidentEvent.id))) or 0
    if user.role == "crew":
        jobs = crew_incident_ids(session, user.team_id)
        incidents = incident_rows(session, ids=jobs, team_id=user.team_id) if jobs else []
        teams = (team_rows(session, now=now, fresh_s=fresh_s, ids=[user.team_id])
                 if user.team_id else [])
    else:
        active = scope_incidents(
            select(Incident.id).where(Incident.state.in_(lifecycle.ACTIVE_STATES)), user)
        incidents = incident_rows(session, active)
        teams = team_rows(session, now=now, fresh_s=fresh_s)
    return {"type": "snapshot", "now": now.isoformat(), "last_seq": last_seq,
            "me": me_of(user), "incidents": incidents, "teams": teams}


def me_of(user: User) -> Row:
    """Who the page is for; offices and admins get the board read-only."""
    return {"id": user.id, "username": user.username, "role": user.role,
            "team_id": user.team_id, "region": user.region, "lang": user.lang,
            "read_only": user.role not in ("operator", "supervisor", "crew")}


def events_since(session: Session, since: int, *, limit: int) -> list[IncidentEvent]:
    return list(session.scalars(select(IncidentEvent).where(IncidentEvent.id > since)
                                .order_by(IncidentEvent.id).limit(limit)))


def zone_of(session: Session, incident_id: int) -> str | None:
    return session.scalar(select(Zone.name).join(Incident, Incident.zone_id == Zone.id)
                          .where(Incident.id == incident_id))
