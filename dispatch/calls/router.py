"""The phone desk (issue 15): Twilio webhooks of the hotline queue and the staff API.

Twilio webhooks (access rule ``twilio-signed``, see ``dispatch.notifications.webhooks``):
``/twilio/queue/wait`` (the queue's wait message), ``/twilio/queue/leave`` (the caller left the
queue), ``/twilio/calls/status`` (call status callbacks of the hotline number and of call-backs),
``/twilio/recording`` (recording status callbacks). Each is idempotent by the row's state.

Staff API: ``/api/v1/calls`` (ringing, abandoned; one call with its screen-pop), answering,
linking to an incident, call-backs, the recording proxy, and ``/api/v1/seats/me``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch import lifecycle
from dispatch.calls import provider, service, twiml
from dispatch.calls.models import Call
from dispatch.deps import Now, Operator, SessionDep, SettingsDep, Staff, ViewerDep
from dispatch.errors import Problem
from dispatch.events import Actor
from dispatch.incidents.schemas import normalise_phone
from dispatch.models import Assignment, Elevator, Incident, Organization, Team, User
from dispatch.notifications.webhooks import XML, TwilioSigned
from dispatch.scoping import Visibility
from dispatch.security.ids import Id, QueryId
from dispatch.settings import Settings
from notify.phones import to_e164

twilio_router = APIRouter(prefix="/twilio", tags=["twilio"])
router = APIRouter(prefix="/api/v1", tags=["calls"])


# --- Twilio webhooks ----------------------------------------------------------------------
@twilio_router.post("/queue/wait")
def queue_wait(signed: TwilioSigned) -> Response:
    """Twilio's ``waitUrl`` for the hotline queue: re-announces the caller's position."""
    try:
        position = int(signed.params.get("QueuePosition") or 0)
    except ValueError:
        position = 0
    return Response(twiml.wait(max(0, min(position, 999))), media_type=XML)


@twilio_router.post("/queue/leave")
def queue_leave(signed: TwilioSigned, session: SessionDep, now: Now,
                c: QueryId = None) -> Response:
    """The ``<Enqueue action>``: ``QueueResult=hangup`` marks a waiting call abandoned."""
    service.call_ended(session, signed.params, now=now, call_id=c)
    r = '<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>'
    return Response(r, media_type=XML)


@twilio_router.post("/calls/status", status_code=204)
def call_status(signed: TwilioSigned, session: SessionDep, now: Now,
                c: QueryId = None) -> Response:
    """Status callback of a hotline call or a call-back: the call's end is recorded (a caller
    gone while waiting is abandoned; a completed call-back stamps the original call)."""
    if not signed.params.get("CallSid"):
        raise Problem(422, "Missing SID", "CallSid is required", field="CallSid")
    call = service.call_ended(session, signed.params, now=now, call_id=c)
    if call is not None and call.call_sid.startswith("pending-") and signed.params.get(
            "CallSid"):
        call.call_sid = signed.params["CallSid"][:64]  # the callback beat the create answer
    return Response(status_code=204)


@twilio_router.post("/recording", status_code=204)
def recording(signed: TwilioSigned, session: SessionDep, now: Now,
              c: QueryId = None) -> Response:
    """Recording status callback: the recording's SID and duration are kept on the call."""
    if not signed.params.get("RecordingSid"):
        raise Problem(422, "Missing SID", "RecordingSid is required", field="RecordingSid")
    service.recording_done(session, signed.params, now=now, call_id=c)
    return Response(status_code=204)


# --- staff API ----------------------------------------------------------------------------
class SeatIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    phone: str = Field(min_length=3, max_length=32)
    available: bool = True

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str) -> str:
        return to_e164(normalise_phone(v))


class LinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    incident_id: int = Field(ge=1, le=2**31 - 1)


def _names(session: Session, calls: list[Call]) -> dict[int, str]:
    ids = {c.operator_id for c in calls if c.operator_id is not None}
    if not ids:
        return {}
    return dict(session.execute(select(User.id, User.username).where(User.id.in_(ids))).all())


def _rows(session: Session, calls: list[Call], viewer: Visibility) -> list[dict[str, Any]]:
    names = _names(session, calls)
    return [service.for_viewer(service.call_row(c, operator=names.get(c.operator_id or 0)),
                               viewer) for c in calls]


def _load(session: Session, call_id: int) -> Call:
    call = session.get(Call, call_id)
    if call is None:
        raise Problem(404, "No such call", field="call_id")
    return call


def _seat(session: Session, user: User) -> Any:
    seat = service.seat_of(session, user)
    if seat is None or not seat.available:
        raise Problem(409, "No seat", "sign in to a seat with your desk phone first "
                      "(PUT /api/v1/seats/me)", field="seat")
    return seat


@router.get("/calls")
def list_calls(_: Staff, viewer: ViewerDep, session: SessionDep,
               status: Annotated[Literal["ringing", "abandoned", "answered", "all"],
                                 Query()] = "ringing",
               limit: Annotated[int, Query(ge=1, le=200)] = 50) -> dict[str, Any]:
    """Ringing calls (oldest first), abandoned ones not yet called back, answered ones, or all
    (newest first). Operators and supervisors read caller numbers; others see them masked."""
    stmt = select(Call)
    if status == "ringing":
        stmt = stmt.where(Call.status == service.WAITING).order_by(Call.queued_at, Call.id)
    elif status == "abandoned":
        stmt = stmt.where(Call.status == "abandoned", Call.called_back_at.is_(None)) \
            .order_by(Call.ended_at.desc(), Call.id.desc())
    elif status == "answered":
        stmt = stmt.where(Call.status == "answered").order_by(Call.answered_at.desc())
    else:
        stmt = stmt.order_by(Call.id.desc())
    calls = list(session.scalars(stmt.limit(limit)))
    return {"items": _rows(session, calls, viewer)}


@router.get("/calls/{call_id}")
def read_call(call_id: Id, _: Staff, viewer: ViewerDep, session: SessionDep) -> dict[str, Any]:
    """One call with its screen-pop (the caller's history)."""
    call = _load(session, call_id)
    [row] = _rows(session, [call], viewer)
    pop = service.screen_pop(session, call)
    if not viewer.sees_everything:  # a regional office reads its own region only
        visible = set(session.scalars(viewer.incidents(select(Incident.id))))
        for key in ("past_incidents", "open_incidents"):
            pop[key] = [i for i in pop[key] if i["id"] in visible]
        if pop["ivr_incident"] and pop["ivr_incident"]["id"] not in visible:
            pop["ivr_incident"] = None
    return {**row, "screen_pop": pop}


def _answer(session: Session, settings: Settings, user: User, call_id: int, now: datetime,
            viewer: Visibility) -> dict[str, Any]:
    seat = _seat(session, user)
    call = service.claim(session, call_id, user, now=now)
    provider.redirect(settings, call.call_sid, twiml.connect(settings, call.id, seat.phone))
    [row] = _rows(session, [call], viewer)
    return row


@router.post("/calls/answer")
def answer_oldest(user: Operator, viewer: ViewerDep, session: SessionDep,
                  settings: SettingsDep, now: Now) -> dict[str, Any]:
    """接听: connect the oldest ringing call to my seat's desk phone."""
    _seat(session, user)
    call = service.oldest_waiting(session)
    if call is None:
        raise Problem(409, "No call is waiting", field="call_id")
    return _answer(session, settings, user, call.id, now, viewer)


@router.post("/calls/{call_id}/answer")
def answer(call_id: Id, user: Operator, viewer: ViewerDep, session: SessionDep,
           settings: SettingsDep, now: Now) -> dict[str, Any]:
    """接听 this call: exactly one operator wins it (409 for the others); the caller is
    redirected to my desk phone and the call leaves every console."""
    return _answer(session, settings, user, call_id, now, viewer)


@router.post("/calls/{call_id}/link")
def link_call(call_id: Id, body: LinkIn, user: Operator, viewer: ViewerDep,
              session: SessionDep, now: Now) -> dict[str, Any]:
    """Link the call to an incident: the incident's timeline shows it."""
    call = _load(session, call_id)
    incident = session.scalar(viewer.incidents(select(Incident))
                              .where(Incident.id == body.incident_id))
    if incident is None:
        raise Problem(404, "No such incident", field="incident_id")
    service.link(session, call, incident, actor=Actor(user.username, user.role), now=now)
    [row] = _rows(session, [call], viewer)
    return row


@router.post("/calls/{call_id}/callback", status_code=201)
def call_back(call_id: Id, user: Operator, viewer: ViewerDep, session: SessionDep,
              settings: SettingsDep, now: Now) -> dict[str, Any]:
    """回拨: the centre's number calls my desk phone, then the caller. The original call's
    ``called_back_at`` is set when that call completes, not now."""
    seat = _seat(session, user)
    original = _load(session, call_id)
    call = service.start_callback(session, original, user, seat, now=now)
    base = settings.public_base_url.rstrip("/")
    sid = provider.place(settings, to=seat.phone,
                         twiml=twiml.callback(settings, call.id, original.from_number or "",
                                              provider.config(settings).from_number or None),
                         status_callback=f"{base}/twilio/calls/status?c={call.id}")
    if service.by_sid(session, sid) is None:
        call.call_sid = sid
    [row] = _rows(session, [call], viewer)
    return row


@router.get("/calls/{call_id}/recording")
def play_recording(call_id: Id, _: Operator, session: SessionDep,
                   settings: SettingsDep) -> StreamingResponse:
    """The call's recording, streamed through this server from the provider (operators and
    supervisors only; the page never gets a provider link)."""
    call = _load(session, call_id)
    if not call.recording_sid or call.recording_deleted_at is not None:
        raise Problem(404, "No recording", "this call has no recording (or it was deleted "
                      "after the retention period)", field="call_id")
    chunks, ctype = provider.recording_stream(settings, call.recording_sid)
    return StreamingResponse(chunks, media_type=ctype, headers={
        "Cache-Control": "no-store",
        "Content-Disposition": f'inline; filename="call-{call.id}.mp3"'})


@router.get("/incidents/{incident_id}/calls")
def incident_calls(incident_id: Id, _: Staff, viewer: ViewerDep,
                   session: SessionDep) -> dict[str, Any]:
    """The calls linked to an incident (its timeline shows them)."""
    if session.scalar(viewer.incidents(select(Incident.id)).where(
            Incident.id == incident_id)) is None:
        raise Problem(404, "No such incident", field="incident_id")
    calls = list(session.scalars(select(Call).where(Call.incident_id == incident_id)
                                 .order_by(Call.id)))
    return {"items": _rows(session, calls, viewer)}


class ConferenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    use_unit: bool = False


@router.post("/incidents/{incident_id}/conference", status_code=201)
def start_conference(incident_id: Id, body: ConferenceIn, user: Operator, viewer: ViewerDep,
                     session: SessionDep, settings: SettingsDep, now: Now) -> dict[str, Any]:
    """接通救援队: my desk phone, the caller (the live hotline call is moved in; otherwise the
    caller is called) and the accepted team's phone (and optionally the use unit's) in one
    Twilio conference. Each leg's status shows live on the timeline (``conference_leg``)."""
    seat = _seat(session, user)
    incident = session.scalar(viewer.incidents(select(Incident)).where(Incident.id == incident_id))
    if incident is None:
        raise Problem(404, "No such incident", field="incident_id")
    if service.conference_legs(session, incident.id, live_only=True):
        raise Problem(409, "A three-way call is already running", field="incident_id")
    team = session.scalar(select(Team).join(Assignment, Assignment.team_id == Team.id).where(
        Assignment.incident_id == incident.id,
        Assignment.state.in_((lifecycle.ACCEPTED, lifecycle.EN_ROUTE, lifecycle.ON_SCENE))))
    if team is None:
        raise Problem(409, "No accepted team", "the three-way call needs a team that has "
                      "accepted", field="incident_id")
    live = session.scalar(select(Call).where(Call.incident_id == incident.id,
                                             Call.direction == "inbound",
                                             Call.status == "answered")
                          .order_by(Call.id.desc()).limit(1))
    caller = live.from_number if live is not None else incident.caller_phone
    name = f"incident-{incident.id}-{int(now.timestamp())}"
    base = settings.public_base_url.rstrip("/")
    legs: list[tuple[str, str | None]] = [("operator", seat.phone), ("team", team.phone)]
    if caller:
        legs.insert(1, ("caller", caller))
    if body.use_unit:
        elevator = session.get(Elevator, incident.elevator_id)
        unit = session.get(Organization, elevator.use_unit_id) if elevator and \
            elevator.use_unit_id else None
        if unit is None or not unit.phone:
            raise Problem(422, "The use unit has no phone", field="use_unit")
        legs.append(("use_unit", unit.phone))
    rows = []
    for leg, phone in legs:
        assert phone is not None
        number = to_e164(phone)
        moving = live if leg == "caller" and live is not None else None
        call = service.conference_leg(session, incident, conference=name, leg=leg, to=number,
                                      user=user, now=now, existing=moving)
        doc = twiml.conference(settings, name, moderator=leg == "operator")
        if moving is not None:
            provider.redirect(settings, moving.call_sid, doc)
        else:
            call.call_sid = provider.place(settings, to=number, twiml=doc,
                                           status_callback=f"{base}/twilio/calls/status"
                                           f"?c={call.id}")[:64]
        rows.append(call)
    return {"conference": name, "legs": _rows(session, rows, viewer)}


@router.post("/incidents/{incident_id}/conference/end")
def end_conference(incident_id: Id, _: Operator, viewer: ViewerDep, session: SessionDep,
                   settings: SettingsDep) -> dict[str, Any]:
    """End the three-way call: every leg still up is hung up (their status callbacks record
    the end)."""
    if session.scalar(viewer.incidents(select(Incident.id)).where(
            Incident.id == incident_id)) is None:
        raise Problem(404, "No such incident", field="incident_id")
    legs = service.conference_legs(session, incident_id, live_only=True)
    if not legs:
        raise Problem(409, "No three-way call is running", field="incident_id")
    for leg in legs:
        if not leg.call_sid.startswith("pending-"):
            provider.hang_up(settings, leg.call_sid)
    return {"ended": [leg.id for leg in legs]}


@router.get("/seats/me")
def my_seat(user: Operator, session: SessionDep) -> dict[str, Any]:
    seat = service.seat_of(session, user)
    if seat is None:
        return {"phone": None, "available": False}
    return {"phone": seat.phone, "available": seat.available}


@router.put("/seats/me")
def put_seat(body: SeatIn, user: Operator, session: SessionDep, now: Now) -> dict[str, Any]:
    """Sign in to a seat with a desk phone (``available: false`` to step away)."""
    seat = service.set_seat(session, user, phone=body.phone, available=body.available, now=now)
    return {"phone": seat.phone, "available": seat.available}
