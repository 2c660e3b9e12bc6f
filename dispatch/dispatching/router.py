"""Dispatch routes: offer/override/escalate an incident; a team's steps; GPS positions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from dispatch.deps import (
    Now,
    Operator,
    RouterDep,
    SessionDep,
    SettingsDep,
    ViewerDep,
    require_roles,
)
from dispatch.dispatching import service, steps
from dispatch.dispatching.choose import DEFAULT_LIMIT, TeamChoices, team_choices
from dispatch.dispatching.schemas import (
    AssignmentOut,
    ClearIn,
    DeclineIn,
    DispatchIn,
    PositionIn,
    ReasonIn,
    ReleaseIn,
    StepIn,
)
from dispatch.dispatching.surge_service import dispatch_surge
from dispatch.dispatching.views import assignment_out
from dispatch.errors import Problem
from dispatch.models import Assignment, Team, User, Zone
from dispatch.scoping import CREW_VISIBLE_ASSIGNMENTS, Visibility
from dispatch.security.ids import Id
from geo.router import Router

router = APIRouter(tags=["dispatch"])
CrewOrOperator = Annotated[User, Depends(require_roles("crew", "operator", "supervisor"))]
context = service.DispatchContext.for_user


def assignment_view(session: Session, a: Assignment) -> AssignmentOut:
    """The answer to a write: flushed first, so the team's readiness is the one written."""
    session.flush()
    session.refresh(a, attribute_names=["team"])
    session.refresh(a.team)
    return assignment_out(a)


@router.post("/api/v1/incidents/{incident_id}/dispatch", response_model=AssignmentOut | None)
def dispatch(incident_id: Id, user: Operator, session: SessionDep, settings: SettingsDep,
             router_: RouterDep, now: Now, body: DispatchIn | None = None) -> AssignmentOut | None:
    """Offer the incident to the best team, or to ``team_id`` (override; reason required).
    Answers ``null`` when no team is free (a retry is scheduled and the incident is at risk)."""
    body = body or DispatchIn()
    incident = service.load_for_dispatch(session, incident_id)
    ctx = context(user, settings, router_, now)
    a = service.dispatch_incident(session, incident, ctx=ctx, team_id=body.team_id,
                                  override_reason=body.reason)
    return None if a is None else assignment_view(session, a)


@router.get("/api/v1/incidents/{incident_id}/teams", response_model=TeamChoices)
def choose_team_list(incident_id: Id, user: Operator, session: SessionDep,
                     settings: SettingsDep, router_: RouterDep, now: Now,
                     q: Annotated[str, Query(max_length=60, description="words of the team's "
                                             "name, code or company")] = "",
                     limit: Annotated[int, Query(ge=1, le=500)] = DEFAULT_LIMIT) -> TeamChoices:
    """For 指定队伍 (choose team): the rule's candidates now (ETA, level, in time or not), then
    every free on-duty team matching ``q`` with its company and road ETA, fastest first."""
    return team_choices(session, incident_id, ctx=context(user, settings, router_, now),
                        q=q.strip(), limit=limit)


@router.post("/api/v1/incidents/{incident_id}/escalate", response_model=AssignmentOut | None)
def escalate(incident_id: Id, body: ReasonIn, user: Operator, session: SessionDep,
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


def _step(step: str, assignment_id: int, user: User, viewer: Visibility, session: Session,
          settings: SettingsDep, router_: Router, now: Now,
          data: steps.StepInput) -> AssignmentOut:
    a = steps.load_assignment(session, assignment_id, viewer)
    steps.apply_step(session, a, step, data,
                     ctx=context(user, settings, router_, now, viewer.step_channel),
                     viewer=viewer)
    return assignment_view(session, a)


@router.post("/api/v1/assignments/{assignment_id}/accept", response_model=AssignmentOut)
def accept(assignment_id: Id, user: CrewOrOperator, viewer: ViewerDep,
           session: SessionDep, settings: SettingsDep,
           router_: RouterDep, now: Now, body: StepIn | None = None) -> AssignmentOut:
    return _step("accept", assignment_id, user, viewer, session, settings, router_, now,
                 steps.StepInput(at=body.at if body else None))


@router.post("/api/v1/assignments/{assignment_id}/decline", response_model=AssignmentOut)
def decline(assignment_id: Id, body: DeclineIn, user: CrewOrOperator, viewer: ViewerDep,
            session: SessionDep,
            settings: SettingsDep, router_: RouterDep, now: Now) -> AssignmentOut:
    """Decline with a reason: the next candidate gets the offer (two at a level escalate)."""
    return _step("decline", assignment_id, user, viewer, session, settings, router_, now,
                 steps.StepInput(at=body.at, reason=body.reason))


@router.post("/api/v1/assignments/{assignment_id}/depart", response_model=AssignmentOut)
def depart(assignment_id: Id, user: CrewOrOperator, viewer: ViewerDep,
           session: SessionDep, settings: SettingsDep,
           router_: RouterDep, now: Now, body: StepIn | None = None) -> AssignmentOut:
    return _step("depart", assignment_id, user, viewer, session, settings, router_, now,
                 steps.StepInput(at=body.at if body else None))


@router.post("/api/v1/assignments/{assignment_id}/arrive", response_model=AssignmentOut)
def arrive(assignment_id: Id, user: CrewOrOperator, viewer: ViewerDep,
           session: SessionDep, settings: SettingsDep,
           router_: RouterDep, now: Now, body: StepIn | None = None) -> AssignmentOut:
    return _step("arrive", assignment_id, user, viewer, session, settings, router_, now,
                 steps.StepInput(at=body.at if body else None))


@router.post("/api/v1/assignments/{assignment_id}/release", response_model=AssignmentOut)
def release(assignment_id: Id, body: ReleaseIn, user: CrewOrOperator, viewer: ViewerDep,
            session: SessionDep,
            settings: SettingsDep, router_: RouterDep, now: Now) -> AssignmentOut:
    return _step("release", assignment_id, user, viewer, session, settings, router_, now,
                 steps.StepInput(at=body.at, released_count=body.released_count))


@router.post("/api/v1/assignments/{assignment_id}/clear", response_model=AssignmentOut)
def clear(assignment_id: Id, body: ClearIn, user: CrewOrOperator, viewer: ViewerDep,
          session: SessionDep,
          settings: SettingsDep, router_: RouterDep, now: Now) -> AssignmentOut:
    """Fault cleared (cause code from the taxonomy), or left out of service; the team is free."""
    return _step("clear", assignment_id, user, viewer, session, settings, router_, now,
                 steps.StepInput(at=body.at, cause_code=body.cause_code,
                                 out_of_service=body.out_of_service))


@router.post("/api/v1/assignments/{assignment_id}/cancel", response_model=AssignmentOut)
def cancel(assignment_id: Id, body: ReasonIn, user: Operator, viewer: ViewerDep,
           session: SessionDep,
           settings: SettingsDep, router_: RouterDep, now: Now) -> AssignmentOut:
    """Withdraw a team (breakdown, wrong team); with auto-dispatch the next one is offered."""
    return _step("cancel", assignment_id, user, viewer, session, settings, router_, now,
                 steps.StepInput(reason=body.reason))


@router.get("/api/v1/assignments/mine", response_model=list[AssignmentOut])
def my_assignments(_: Annotated[User, Depends(require_roles("crew"))], viewer: ViewerDep,
                   session: SessionDep) -> list[AssignmentOut]:
    """The crew member's team's open assignments (newest first)."""
    rows = session.scalars(viewer.assignments(
        select(Assignment).options(joinedload(Assignment.team))
        .where(Assignment.state.in_(CREW_VISIBLE_ASSIGNMENTS))
        .order_by(Assignment.offered_at.desc()))).all()
    return [assignment_out(a) for a in rows]


@router.post("/api/v1/teams/{team_id}/position")
def post_position(team_id: Id, body: PositionIn, user: CrewOrOperator, viewer: ViewerDep,
                  session: SessionDep, settings: SettingsDep, router_: RouterDep,
                  now: Now) -> dict[str, object]:
    """A GPS fix: refreshes the ETA shown to the operator; 30 s within 100 m marks arrival."""
    if not viewer.may_act_on_team(team_id):
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
