"""Team routes: the team list (console team panel), duty changes, a team's duty history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy import select

from dispatch.deps import Now, SessionDep, SettingsDep, Staff, ViewerDep, require_roles
from dispatch.errors import Problem
from dispatch.events import Actor
from dispatch.models import Team, User
from dispatch.teams import duty
from dispatch.teams.models import TeamEvent
from dispatch.teams.schemas import DutyIn, GpsStatusIn, TeamEventOut, TeamOut
from dispatch.teams.service import team_views

router = APIRouter(tags=["teams"])
DutyUser = Annotated[User, Depends(require_roles("crew", "supervisor", "admin"))]
CrewUser = Annotated[User, Depends(require_roles("crew"))]


@router.get("/api/v1/teams", response_model=list[TeamOut])
def list_teams(_: Staff, viewer: ViewerDep, session: SessionDep, settings: SettingsDep,
               now: Now, status: str | None = None) -> list[TeamOut]:
    """Teams with company, duty, readiness, current job and position (GPS if fresh, else
    base): the console's team panel."""
    return team_views(session, viewer, now=now, fresh_s=settings.gps_fresh_s, status=status)


@router.post("/api/v1/teams/{team_id}/duty", response_model=TeamOut)
def change_duty(team_id: int, body: DutyIn, user: DutyUser, viewer: ViewerDep,
                session: SessionDep, settings: SettingsDep, now: Now) -> TeamOut:
    """Put a team on or off duty: its crew (own team only), a supervisor or an admin (with a
    reason). A team with an open job cannot go off duty (409 naming the assignment). The
    change holds until the team's next roster boundary."""
    if not viewer.may_change_duty(team_id):
        raise Problem(404, "Team not found", field="team_id")
    reason = (body.reason or "").strip() or None
    source = viewer.duty_source
    if source == "supervisor" and (reason is None or len(reason) < 2):
        raise Problem(422, "Reason required",
                      "a supervisor or admin changing a team's duty gives the reason",
                      field="reason")
    team = duty.load_team(session, team_id)
    duty.set_duty(session, team, on_duty=body.on_duty, source=source, reason=reason, at=now,
                  actor=Actor(user.username, user.role, "app" if source == "crew" else "api"))
    session.flush()
    return team_views(session, viewer, now=now, fresh_s=settings.gps_fresh_s, ids=[team_id])[0]


@router.post("/api/v1/teams/{team_id}/gps-status", response_model=TeamOut)
def gps_status(team_id: int, body: GpsStatusIn, user: CrewUser, viewer: ViewerDep,
               session: SessionDep, settings: SettingsDep, now: Now) -> TeamOut:
    """The crew phone reports that it cannot get a position (``denied``: location permission
    refused; ``unavailable``: no fix) or that it works again (``ok``). The console's team
    panel shows ``gps_status`` next to the GPS age until a fix arrives. Only a change is
    recorded (a ``gps_*`` team event)."""
    if not viewer.may_act_on_team(team_id) or session.get(Team, team_id) is None:
        raise Problem(404, "Team not found", field="team_id")
    duty.record_gps_status(session, team_id, body.state,
                           actor=Actor(user.username, user.role, "app"), at=now)
    return team_views(session, viewer, now=now, fresh_s=settings.gps_fresh_s, ids=[team_id])[0]


@router.get("/api/v1/teams/{team_id}/events", response_model=list[TeamEventOut])
def team_events(team_id: int, _: Staff, viewer: ViewerDep, session: SessionDep,
                limit: int = 100) -> list[TeamEventOut]:
    """The team's duty history, newest first."""
    rows = session.scalars(select(TeamEvent).where(
        TeamEvent.team_id == team_id, TeamEvent.team_id.in_(viewer.teams(select(Team.id))))
                           .order_by(TeamEvent.id.desc()).limit(max(1, min(limit, 1000))))
    return [TeamEventOut.model_validate(r, from_attributes=True) for r in rows]
