"""Incident intake and operator steps (``/api/v1/incidents``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError

from dispatch import idempotency, lifecycle
from dispatch.deps import Now, Operator, SessionDep, SettingsDep, Staff
from dispatch.events import Actor
from dispatch.incidents import service
from dispatch.incidents.schemas import CancelIn, IncidentCreate, IncidentOut, IncidentPage, NoteIn
from dispatch.models import User

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
    source = f"api:incidents:{user.id}"
    digest = idempotency.request_hash(body.model_dump())
    if idempotency_key:
        stored = idempotency.replay(session, source=source, key=idempotency_key, digest=digest)
        if stored:
            return JSONResponse(stored.body, status_code=stored.status)
    incident, duplicate = service.create_incident(
        session, data=body, actor=actor_of(user), user_id=user.id, now=now,
        duplicate_window=timedelta(minutes=settings.duplicate_window_min))
    status = 200 if duplicate else 201
    payload = service.incident_out(incident, duplicate=duplicate).model_dump(mode="json")
    if idempotency_key:
        idempotency.remember(session, source=source, key=idempotency_key, digest=digest,
                             status=status, body=payload)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        stored = (idempotency.replay(session, source=source, key=idempotency_key, digest=digest)
                  if idempotency_key else None)
        if stored is None:
            raise
        return JSONResponse(stored.body, status_code=stored.status)
    return JSONResponse(payload, status_code=status)


@router.get("", response_model=IncidentPage)
def list_incidents(
    user: Staff,
    session: SessionDep,
    state: Literal["active", "closed"] = "active",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> IncidentPage:
    total, items = service.list_incidents(session, user, state=state, limit=limit, offset=offset)
    return IncidentPage(total=total, limit=limit, offset=offset, items=items)


@router.get("/{incident_id}", response_model=IncidentOut)
def read_incident(incident_id: int, user: Staff, session: SessionDep) -> IncidentOut:
    incident = service.load_incident(session, incident_id, user)
    counts = service.duplicate_counts(session, [incident.id])
    return service.incident_out(incident, duplicate_reports=counts.get(incident.id, 0),
                                events=service.timeline(session, incident.id))


def _step(session: SessionDep, user: User, incident_id: int, to_state: str, now: Now,
          payload: dict[str, object] | None = None, outcome: str | None = None) -> IncidentOut:
    incident = service.load_incident(session, incident_id, user, for_update=True)
    service.change_state(session, incident, to_state, actor=actor_of(user), now=now,
                         payload=payload)
    if outcome and not incident.outcome:
        incident.outcome = outcome
    session.commit()
    return service.incident_out(incident, events=service.timeline(session, incident.id))


@router.post("/{incident_id}/confirm", response_model=IncidentOut)
def confirm(incident_id: int, user: Operator, session: SessionDep, now: Now,
            body: NoteIn | None = None) -> IncidentOut:
    """The operator has identified the elevator and checked that people are trapped."""
    note = body.note if body else None
    return _step(session, user, incident_id, lifecycle.CONFIRMED, now,
                 {"note": note} if note else None)


@router.post("/{incident_id}/cancel", response_model=IncidentOut)
def cancel(incident_id: int, body: CancelIn, user: Operator, session: SessionDep,
           now: Now) -> IncidentOut:
    """Cancel, or mark a false alarm (``outcome: false_alarm``); the reason is required."""
    return _step(session, user, incident_id, body.outcome, now, {"reason": body.reason},
                 outcome=body.outcome)


@router.post("/{incident_id}/close", response_model=IncidentOut)
def close(incident_id: int, user: Operator, session: SessionDep, now: Now,
          body: NoteIn | None = None) -> IncidentOut:
    note = body.note if body else None
    return _step(session, user, incident_id, lifecycle.CLOSED, now,
                 {"note": note} if note else None, outcome="released")
