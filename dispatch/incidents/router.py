"""Incident intake and operator steps (``/api/v1/incidents``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from dispatch import idempotency, lifecycle
from dispatch.deps import Now, Operator, RouterDep, SessionDep, SettingsDep, Staff, ViewerDep
from dispatch.dispatching.service import DispatchContext, dispatch_incident, end_open_work
from dispatch.events import Actor
from dispatch.incidents import service
from dispatch.incidents.schemas import CancelIn, IncidentCreate, IncidentOut, IncidentPage, NoteIn
from dispatch.models import Incident, User
from dispatch.scoping import Visibility
from dispatch.security.ids import Id, Offset

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])


def actor_of(user: User) -> Actor:
    return Actor(user.username, user.role, "api")


@router.post("", status_code=201, response_model=IncidentOut,
             responses={200: {"model": IncidentOut, "description": "duplicate report, merged"}})
def create_incident(
    body: IncidentCreate,
    user: Operator,
    session: SessionDep,
    settings: SettingsDep,
    now: Now,
    idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
) -> JSONResponse:
    """Record a report. A second report for an elevator with an open entrapment answers 200
    with ``duplicate: true`` and ``merged_into``; the same ``Idempotency-Key`` with the same body
    returns the first response again."""
    def record() -> tuple[int, dict[str, object]]:
        incident, duplicate = service.create_incident(
            session, data=body, actor=actor_of(user), user_id=user.id, now=now,
            settings=settings)
        out = service.incident_out(incident, duplicate=duplicate).model_dump(mode="json")
        return (200 if duplicate else 201), out

    if not idempotency_key:
        status, payload = record()
        return JSONResponse(payload, status_code=status)
    stored = idempotency.run_once(session, source=f"api:incidents:{user.id}",
                                  key=idempotency_key,
                                  digest=idempotency.request_hash(body.model_dump()),
                                  effect=record)
    return JSONResponse(stored.body, status_code=stored.status)


@router.get("", response_model=IncidentPage)
def list_incidents(
    _: Staff,
    viewer: ViewerDep,
    session: SessionDep,
    state: Literal["active", "closed"] = "active",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> IncidentPage:
    total, items = service.list_incidents(session, viewer, state=state, limit=limit,
                                          offset=offset)
    return IncidentPage(total=total, limit=limit, offset=offset, items=items)


@router.get("/{incident_id}", response_model=IncidentOut)
def read_incident(incident_id: Id, _: Staff, viewer: ViewerDep,
                  session: SessionDep) -> IncidentOut:
    """One incident with its timeline and assignments (each with its ranking record)."""
    incident = service.load_incident(session, incident_id, viewer)
    return service.incident_detail(session, incident, viewer)


def _step(session: Session, user: User, viewer: Visibility, incident_id: int, to_state: str,
          now: Now, payload: dict[str, object] | None = None, outcome: str | None = None,
          then: Callable[[Incident], object] | None = None) -> IncidentOut:
    incident = service.load_incident(session, incident_id, viewer, for_update=True)
    service.change_state(session, incident, to_state, actor=actor_of(user), now=now,
                         payload=payload, outcome=outcome)
    if then is not None:
        then(incident)
    session.flush()
    return service.incident_detail(session, incident, viewer)


@router.post("/{incident_id}/confirm", response_model=IncidentOut)
def confirm(incident_id: Id, user: Operator, viewer: ViewerDep, session: SessionDep,
            settings: SettingsDep, router_: RouterDep, now: Now,
            body: NoteIn | None = None) -> IncidentOut:
    """The operator has identified the elevator and checked that people are trapped; with
    ``RESCUE_AUTO_DISPATCH`` the best team is offered the job in the same transaction."""
    note = body.note if body else None

    def auto_dispatch(incident: Incident) -> None:
        if settings.auto_dispatch:
            dispatch_incident(session, incident,
                              ctx=DispatchContext.for_user(user, settings, router_, now))

    return _step(session, user, viewer, incident_id, lifecycle.CONFIRMED, now,
                 {"note": note} if note else None, then=auto_dispatch)


@router.post("/{incident_id}/callback", response_model=IncidentOut)
def callback_done(incident_id: Id, user: Operator, viewer: ViewerDep, session: SessionDep,
                  now: Now,
                  body: NoteIn | None = None) -> IncidentOut:
    """The operator called the passenger or the use unit back after the release."""
    note = body.note if body else None
    return _step(session, user, viewer, incident_id, lifecycle.CALLBACK_DONE, now,
                 {"note": note} if note else None)


def _ending(session: Session, user: User, settings: SettingsDep, router_: RouterDep, now: Now,
            why: str) -> Callable[[Incident], None]:
    def end(incident: Incident) -> None:
        end_open_work(session, incident, ctx=DispatchContext.for_user(user, settings, router_, now),
                      why=why)

    return end


@router.post("/{incident_id}/cancel", response_model=IncidentOut)
def cancel(incident_id: Id, body: CancelIn, user: Operator, viewer: ViewerDep,
           session: SessionDep,
           settings: SettingsDep, router_: RouterDep, now: Now) -> IncidentOut:
    """Cancel, or mark a false alarm (``outcome: false_alarm``); the reason is required.
    Teams still on the job are stood down and the incident's timers stop."""
    return _step(session, user, viewer, incident_id, body.outcome, now, {"reason": body.reason},
                 outcome=body.outcome,
                 then=_ending(session, user, settings, router_, now, body.outcome))


@router.post("/{incident_id}/close", response_model=IncidentOut)
def close(incident_id: Id, user: Operator, viewer: ViewerDep, session: SessionDep,
          settings: SettingsDep,
          router_: RouterDep, now: Now, body: NoteIn | None = None) -> IncidentOut:
    note = body.note if body else None
    return _step(session, user, viewer, incident_id, lifecycle.CLOSED, now,
                 {"note": note} if note else None, outcome="released",
                 then=_ending(session, user, settings, router_, now, "closed"))
