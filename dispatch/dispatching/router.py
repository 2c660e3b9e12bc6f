"""Dispatch routes: offer/override/escalate an incident; a team's steps; GPS positions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from dispatch import lifecycle
from dispatch.deps import Now, Operator, SessionDep, SettingsDep, Staff, require_roles
from dispatch.dispatching import service, steps
from dispatch.dispatching.schemas import (
    AssignmentOut,
    ClearIn,
    DeclineIn,
    DispatchIn,
    PositionIn,
    ReasonIn,
    ReleaseIn,
    StepIn,
    TeamOut,
    TeamRef,
)
from dispatch.dispatching.surge_service import dispatch_surge
from dispatch.errors import Problem
from dispatch.events import Actor
from dispatch.models import Assignment, Team, User, Zone
from dispatch.routing import router_for
from geo.router import Router

router = APIRouter(tags=["dispatch"])
CrewOrOperator = Annotated[User, Depends(require_roles("crew", "operator", "supervisor"))]


def get_router(settings: SettingsDep) -> Router:
    return router_for(settings)


RouterDep = Annotated[Router, Depends(get_router)]


def context(user: User | None, settings: SettingsDep, router_: Router, now: Now,
            via: str = "api") -> service.DispatchContext:
    actor = Actor(user.username, user.role, via) if user else Actor.system()
    return service.DispatchContext(settings=settings, router=router_, now=now, actor=actor)


def assignment_out(a: Assignment) -> AssignmentOut:
    team = a.team
    return AssignmentOut(
        id=a.id, incident_id=a.incident_id, team_id=a.team_id,
        team=TeamRef(id=team.id, name=team.name, phone=team.phone,
                     organization_id=team.organization_id, status=team.status),
        level=a.level, state=a.state, parallel=a.parallel, offered_at=a.offered_at,
        accept_by=a.accept_by, accepted_at=a.accepted_at, departed_at=a.departed_at,
        arrived_at=a.arrived_at, arrived_automatically=a.arrived_automatically,
        released_at=a.released_at, released_count=a.released_count, cleared_at=a.cleared_at,
        cause_code=a.cause_code, eta_s=a.eta_s, at_risk=a.at_risk, straight_line=a.straight_line,
        override_reason=a.override_reason, decline_reason=a.decline_reason, ranking=a.ranking,
    )


def assignment_view(session: Session, a: Assignment) -> AssignmentOut:
    """The answer to a write: flushed first, so the team's readiness is the one written."""
    session.flush()
    session.refresh(a, attribute_names=["team"])
    session.refresh(a.team)
    return assignment_out(a)


@router.post("/api/v1/incidents/{incident_id}/dispatch", response_model=AssignmentOut | None)
def dispatch(incident_id: int, user: Operator, session: SessionDep, settings: SettingsDep,
             router_: RouterDep, now: Now, body: DispatchIn | None = None) -> AssignmentOut | None:
    """Offer the incident to the best team, or to ``team_id`` (override; reason required).
    Answers ``null`` when no team is free (a retry is scheduled and the incident is at risk)."""
    body = body or DispatchIn()
    incident = service.load_for_dispatch(session, incident_id)
    ctx = context(user, settings, router_, now)
    a = service.dispatch_incident(session, incident, ctx=ctx, team_id=body.team_id,
                                  override_reason=body.reason)
    return None if a is None else assignment_view(session, a)


@router.post("/api/v1/incidents/{incident_id}/escalate", response_model=AssignmentOut | None)
def escalate(incident_id: int, body: ReasonIn, user: Operator, session: SessionDep,
             settings: SettingsDep, router_: RouterDep, now: Now) -> AssignmentOut | None:
    """Escalate to level 3 (fire brigade, 119): the nearest fire team is alerted."""
    incident = service.load_for_dispatch(session, incident_id)
    a = service.escalate_to_119(session, incident, ctx=context(user, settings, router_, now),
                                reason=body.reason)
    return None if a is None else assignment_view(session, a)


class SurgeIn(BaseModel):
    model_config = {"extra": "forbid"}
    zone: str | None = Field(default=None, description="zone name, e.g. 小店区; all if omitted")


class SurgeOut(BaseModel):
    assigned: list[tuple[int, int]]
    waiting: list[int]
    missed_deadlines: int


@router.post("/api/v1/dispatch/surge", response_model=SurgeOut)
def surge(user: Operator, session: SessionDep, settings: SettingsDep, router_: RouterDep,
          now: Now, body: SurgeIn | None = None) -> SurgeOut:
    """Assign every confirmed incident waiting for a team (of a zone) by one global plan:
    fewest missed deadlines, then least total ETA, vulnerable people first."""
    zone_id = None
    if body and body.zone:
        zone_id = session.scalar(select(Zone.id).where(Zone.name == body.zone))
        if zone_id is None:
            raise Problem(422, "Unknown zone", f"no zone named {body.zone}", field="zone")
    result = dispatch_surge(session, ctx=context(user, settings, router_, now), zone_id=zone_id)
    return SurgeOut(assigned=result.assigned, waiting=result.waiting,
                    missed_deadlines=result.missed_deadlines)


def _step(step: str, assignment_id: int, user: User, session: Session, settings: SettingsDep,
          router_: Router, now: Now, data: steps.StepInput) -> AssignmentOut:
    via = "app" if user.role == "crew" else "phone-in"
    a = steps.load_assignment(session, assignment_id, user)
    steps.apply_step(session, a, step, data, ctx=context(user, settings, router_, now, via),
                     user=user)
    return assignment_view(session, a)


@router.post("/api/v1/assignments/{assignment_id}/accept", response_model=AssignmentOut)
def accept(assignment_id: int, user: CrewOrOperator, session: SessionDep, settings: SettingsDep,
           router_: RouterDep, now: Now, body: StepIn | None = None) -> AssignmentOut:
    return _step("accept", assignment_id, user, session, settings, router_, now,
                 steps.StepInput(at=body.at if body else None))


@router.post("/api/v1/assignments/{assignment_id}/decline", response_model=AssignmentOut)
def decline(assignment_id: int, body: DeclineIn, user: CrewOrOperator, session: SessionDep,
            settings: SettingsDep, router_: RouterDep, now: Now) -> AssignmentOut:
    """Decline with a reason: the next candidate gets the offer (two at a level escalate)."""
    return _step("decline", assignment_id, user, session, settings, router_, now,
                 steps.StepInput(at=body.at, reason=body.reason))


@router.post("/api/v1/assignments/{assignment_id}/depart", response_model=AssignmentOut)
def depart(assignment_id: int, user: CrewOrOperator, session: SessionDep, settings: SettingsDep,
           router_: RouterDep, now: Now, body: StepIn | None = None) -> AssignmentOut:
    return _step("depart", assignment_id, user, session, settings, router_, now,
                 steps.StepInput(at=body.at if body else None))


@router.post("/api/v1/assignments/{assignment_id}/arrive", response_model=AssignmentOut)
def arrive(assignment_id: int, user: CrewOrOperator, session: SessionDep, settings: SettingsDep,
           router_: RouterDep, now: Now, body: StepIn | None = None) -> AssignmentOut:
    return _step("arrive", assignment_id, user, session, settings, router_, now,
                 steps.StepInput(at=body.at if body else None))


@router.post("/api/v1/assignments/{assignment_id}/release", response_model=AssignmentOut)
def release(assignment_id: int, body: ReleaseIn, user: CrewOrOperator, session: SessionDep,
            settings: SettingsDep, router_: RouterDep, now: Now) -> AssignmentOut:
    return _step("release", assignment_id, user, session, settings, router_, now,
                 steps.StepInput(at=body.at, released_count=body.released_count))


@router.post("/api/v1/assignments/{assignment_id}/clear", response_model=AssignmentOut)
def clear(assignment_id: int, body: ClearIn, user: CrewOrOperator, session: SessionDep,
          settings: SettingsDep, router_: RouterDep, now: Now) -> AssignmentOut:
    """Fault cleared (cause code from the taxonomy), or left out of service; the team is free."""
    return _step("clear", assignment_id, user, session, settings, router_, now,
                 steps.StepInput(at=body.at, cause_code=body.cause_code,
                                 out_of_service=body.out_of_service))


@router.post("/api/v1/assignments/{assignment_id}/cancel", response_model=AssignmentOut)
def cancel(assignment_id: int, body: ReasonIn, user: Operator, session: SessionDep,
           settings: SettingsDep, router_: RouterDep, now: Now) -> AssignmentOut:
    """Withdraw a team (breakdown, wrong team); with auto-dispatch the next one is offered."""
    return _step("cancel", assignment_id, user, session, settings, router_, now,
                 steps.StepInput(reason=body.reason))


@router.get("/api/v1/assignments/mine", response_model=list[AssignmentOut])
def my_assignments(user: Annotated[User, Depends(require_roles("crew"))],
                   session: SessionDep) -> list[AssignmentOut]:
    """The crew member's team's open assignments (newest first)."""
    rows = session.scalars(
        select(Assignment).options(joinedload(Assignment.team))
        .where(Assignment.team_id == user.team_id,
               Assignment.state.in_(lifecycle.OPEN_ASSIGNMENT_STATES | {lifecycle.RELEASED}))
        .order_by(Assignment.offered_at.desc())).all()
    return [assignment_out(a) for a in rows]


@router.post("/api/v1/teams/{team_id}/position")
def post_position(team_id: int, body: PositionIn, user: CrewOrOperator, session: SessionDep,
                  settings: SettingsDep, router_: RouterDep, now: Now) -> dict[str, object]:
    """A GPS fix: refreshes the ETA shown to the operator; 30 s within 100 m marks arrival."""
    if user.role == "crew" and user.team_id != team_id:
        raise Problem(404, "Team not found", field="team_id")
    team = session.get(Team, team_id, with_for_update=True)
    if team is None:
        raise Problem(404, "Team not found", field="team_id")
    at = body.at or now
    if at > now:
        raise Problem(422, "Time in the future", field="at")
    result = steps.update_position(session, team, lon=body.lon, lat=body.lat,
                                   accuracy_m=body.accuracy_m, at=at,
                                   ctx=context(user, settings, router_, now, "gps"))
    return result


@router.get("/api/v1/teams", response_model=list[TeamOut])
def list_teams(_: Staff, session: SessionDep, settings: SettingsDep, now: Now,
               status: str | None = None) -> list[TeamOut]:
    """Teams with readiness and current position (GPS if fresh, else base)."""
    stmt = select(Team).order_by(Team.id)
    if status:
        stmt = stmt.where(Team.status == status)
    out = []
    for t in session.scalars(stmt):
        lon, lat, source = service.team_origin(t, now, settings.gps_fresh_s)
        out.append(TeamOut(id=t.id, code=t.code, name=t.name, phone=t.phone,
                           organization_id=t.organization_id, status=t.status,
                           on_duty=t.on_duty, lon=lon, lat=lat, position_source=source,
                           position_at=t.position_at))
    return out
