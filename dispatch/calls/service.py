"""The one write path for calls and seats (issue 15).

Every change to a ``call`` or ``seat`` row happens here, inside the caller's unit of work
(services flush, the unit of work commits). Live news about calls (a call ringing, answered,
abandoned) is queued on the session and published on the bus only after the commit
(:mod:`dispatch.live`), like timeline events. An incident linked to a call gets a
timeline row through :func:`dispatch.events.append_event`.

Caller numbers are stored in full but only ever logged masked (``notify.phones.mask``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from dispatch import lifecycle
from dispatch.calls.models import Call, Seat
from dispatch.elevators.caller import phone_or_none, spellings
from dispatch.errors import Problem
from dispatch.events import Actor, append_event, transition
from dispatch.live import queue_live
from dispatch.models import Elevator, Incident, User
from dispatch.scoping import Visibility
from dispatch.settings import Settings
from notify.phones import mask

log = logging.getLogger("rescue.calls")
QUEUE_NAME = "hotline"
WAITING = "queued"
OPEN_CALL = ("ivr", "queued", "answered", "dialing")


# --- live messages ------------------------------------------------------------------------
def call_row(call: Call, *, operator: str | None = None) -> dict[str, Any]:
    """A call as the API and the consoles show it (full number: callers of this strip it for
    users who may not read it, :func:`for_viewer`)."""
    return {"id": call.id, "direction": call.direction, "status": call.status,
            "from": call.from_number, "from_masked": mask(call.from_number),
            "to_masked": mask(call.to_number),
            "rescue_code": call.rescue_code, "queued_at": _iso(call.queued_at),
            "answered_at": _iso(call.answered_at), "ended_at": _iso(call.ended_at),
            "operator_id": call.operator_id, "operator": operator,
            "incident_id": call.incident_id,
            "recording": bool(call.recording_sid) and call.recording_deleted_at is None,
            "recording_duration_s": call.recording_duration_s,
            "recording_deleted_at": _iso(call.recording_deleted_at),
            "callback_of_id": call.callback_of_id, "called_back_at": _iso(call.called_back_at),
            "conference": call.conference, "leg": call.leg}


def for_viewer(row: dict[str, Any], viewer: Visibility) -> dict[str, Any]:
    """Operators and supervisors read the caller's number; everyone else the masked one."""
    if viewer.sees_caller_numbers:
        return row
    return {**row, "from": row.get("from_masked")}


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def _queue_message(session: Session, type_: str, call: Call, at: datetime) -> None:
    session.flush()
    queue_live(session, {"seq": None, "type": type_, "incident_id": None, "team_id": None,
                         "at": at.isoformat(), "call": call_row(call)})



# --- inbound calls ------------------------------------------------------------------------
def by_sid(session: Session, sid: str, *, lock: bool = False) -> Call | None:
    stmt = select(Call).where(Call.call_sid == sid)
    return session.scalar(stmt.with_for_update() if lock else stmt)


def register_inbound(session: Session, params: Mapping[str, str], *, now: datetime) -> Call:
    """The hotline rang (``/twilio/voice``): one row per call SID (a repeat returns it)."""
    sid = params["CallSid"]
    call = by_sid(session, sid)
    if call is None:
        call = Call(call_sid=sid, direction="inbound", from_number=params.get("From") or None,
                    to_number=params.get("To") or None, status="ivr", created_at=now)
        session.add(call)
        session.flush()
        log.info("hotline call %s from %s", call.id, mask(call.from_number))
    return call


def _ensure(session: Session, params: Mapping[str, str], now: datetime) -> Call:
    call = by_sid(session, params["CallSid"], lock=True)
    return call if call is not None else register_inbound(session, params, now=now)


def note_code(session: Session, params: Mapping[str, str], code: str, *, now: datetime) -> None:
    """The caller keyed a rescue code (kept for the screen-pop)."""
    if not params.get("CallSid"):
        return
    call = _ensure(session, params, now)
    call.rescue_code = code[:32]


def ivr_incident(session: Session, params: Mapping[str, str], incident: Incident, *,
                 now: datetime) -> None:
    """The IVR recorded an incident for this call: link them (timeline row)."""
    if not params.get("CallSid"):
        return
    call = _ensure(session, params, now)
    link(session, call, incident, actor=Actor("ivr", None, "ivr"), now=now)


def enqueue(session: Session, params: Mapping[str, str], *, now: datetime,
            code: str | None = None) -> Call:
    """The caller asked for an operator: the call waits in the queue, ringing on every
    console."""
    call = _ensure(session, params, now)
    if code:
        call.rescue_code = code[:32]
    if call.status in ("ivr", "abandoned"):
        call.status, call.queued_at = WAITING, now
        _queue_message(session, "call_ringing", call, now)
        log.info("call %s queued (from %s)", call.id, mask(call.from_number))
    return call


def call_ended(session: Session, params: Mapping[str, str], *, now: datetime,
               call_id: int | None = None) -> Call | None:
    """A call status callback or the queue's action: ``completed``/``no-answer``/… or
    ``QueueResult=hangup`` ends the call; a caller gone while queued is ``abandoned``."""
    sid = params.get("CallSid") or ""
    call = by_sid(session, sid, lock=True) if sid else None
    if call is None and call_id is not None:
        call = session.get(Call, call_id, with_for_update=True)
    if call is None:
        return None
    status = params.get("CallStatus") or ""
    if call.conference is not None:
        return _conference_leg(session, call, status, now)
    queue_result = params.get("QueueResult") or ""
    if queue_result in ("redirected", "bridged", "bridging-in-process"):
        return call  # an operator took it (the answer changed the call)
    final = status in ("completed", "busy", "no-answer", "failed", "canceled") or \
        queue_result in ("hangup", "leave", "error", "system-error", "queue-full")
    if not final or call.status in ("completed", "abandoned", "failed"):
        return call
    call.ended_at = now
    if call.status == WAITING:
        call.status = "abandoned"
        _queue_message(session, "call_abandoned", call, now)
        log.info("call %s abandoned after %ss", call.id,
                 int((now - (call.queued_at or now)).total_seconds()))
    elif call.status == "dialing" and status in ("busy", "no-answer", "failed", "canceled"):
        call.status = "failed"
        _queue_message(session, "call_ended", call, now)
    else:
        call.status = "completed"
        if call.callback_of_id is not None:
            original = session.get(Call, call.callback_of_id)
            if original is not None and original.called_back_at is None:
                original.called_back_at = now  # when the call-back ended, not the click
                _queue_message(session, "call_called_back", original, now)
        _queue_message(session, "call_ended", call, now)
    if call.incident_id is not None:
        incident = session.get(Incident, call.incident_id)
        if incident is not None:
            append_event(session, incident, type="call_ended", actor=Actor.system("twilio"),
                         at=now, payload={"call_id": call.id, "status": call.status,
                                          "direction": call.direction})
            if call.status == "completed" and call.callback_of_id is not None:
                _callback_done(session, incident, call, now)
    return call


def _callback_done(session: Session, incident: Incident, call: Call, now: datetime) -> None:
    """A completed call-back after the release is the incident's follow-up call (回访): its
    ``callback_done`` step is stamped when the call ended, through the write path."""
    if incident.callback_done_at is not None:
        return
    if lifecycle.CALLBACK_DONE not in lifecycle.allowed_next(incident.state):
        return  # not released yet (a call-back during the rescue is not the follow-up)
    transition(session, incident, lifecycle.CALLBACK_DONE, actor=Actor.system("twilio"),
               at=now, payload={"call_id": call.id})


LEG_STATUS = {"queued": "dialing", "initiated": "dialing", "ringing": "ringing",
              "in-progress": "in_progress", "answered": "in_progress", "completed": "completed",
              "busy": "busy", "no-answer": "no_answer", "failed": "failed",
              "canceled": "failed"}
LEG_FINAL = ("completed", "busy", "no_answer", "failed")


def _conference_leg(session: Session, call: Call, status: str, now: datetime) -> Call:
    """A leg of a three-way call moved on: its status shows live on the incident's timeline
    (``conference_leg``); late or repeated reports never move a finished leg back."""
    new = LEG_STATUS.get(status)
    if new is None or new == call.status or call.status in LEG_FINAL:
        return call
    call.status = new
    if new in LEG_FINAL:
        call.ended_at = now
    if call.incident_id is not None:
        incident = session.get(Incident, call.incident_id)
        if incident is not None:
            append_event(session, incident, type="conference_leg", actor=Actor.system("twilio"),
                         at=now, payload={"call_id": call.id, "leg": call.leg, "status": new,
                                          "conference": call.conference})
    return call


def conference_leg(session: Session, incident: Incident, *, conference: str, leg: str,
                   to: str, user: User, now: datetime, existing: Call | None = None) -> Call:
    """A leg row of a three-way call (``existing``: the caller's live hotline call, which is
    redirected into the conference instead of being called)."""
    if existing is not None:
        existing.conference, existing.leg, existing.status = conference, leg, "in_progress"
        existing.incident_id = incident.id
        call = existing
    else:
        call = Call(call_sid=f"pending-{conference}-{leg}", direction="outbound",
                    from_number=None, to_number=to, status="dialing", created_at=now,
                    operator_id=user.id, incident_id=incident.id, conference=conference,
                    leg=leg)
        session.add(call)
    session.flush()
    append_event(session, incident, type="conference_leg", actor=Actor(user.username, user.role),
                 at=now, payload={"call_id": call.id, "leg": leg, "status": call.status,
                                  "conference": conference})
    return call


def conference_legs(session: Session, incident_id: int, *, live_only: bool = False
                    ) -> list[Call]:
    stmt = select(Call).where(Call.incident_id == incident_id, Call.conference.is_not(None))
    if live_only:
        stmt = stmt.where(Call.status.not_in(LEG_FINAL))
    return list(session.scalars(stmt.order_by(Call.id)))


def recording_done(session: Session, params: Mapping[str, str], *, now: datetime,
                   call_id: int | None) -> Call | None:
    """Recording status callback: keep the recording's SID and duration on the call."""
    if (params.get("RecordingStatus") or "completed") != "completed":
        return None
    call = session.get(Call, call_id, with_for_update=True) if call_id is not None else None
    if call is None and params.get("CallSid"):
        call = by_sid(session, params["CallSid"], lock=True)
    sid = params.get("RecordingSid")
    if call is None or not sid:
        return None
    call.recording_sid = sid[:64]
    try:
        call.recording_duration_s = int(params.get("RecordingDuration") or 0)
    except ValueError:
        call.recording_duration_s = None
    if call.incident_id is not None:
        incident = session.get(Incident, call.incident_id)
        if incident is not None:
            append_event(session, incident, type="call_recorded", actor=Actor.system("twilio"),
                         at=now, payload={"call_id": call.id,
                                          "duration_s": call.recording_duration_s})
    return call


# --- seats and answering ------------------------------------------------------------------
def set_seat(session: Session, user: User, *, phone: str, available: bool,
             now: datetime) -> Seat:
    seat = session.scalar(select(Seat).where(Seat.user_id == user.id).with_for_update())
    if seat is None:
        seat = Seat(user_id=user.id, phone=phone, available=available, updated_at=now)
        session.add(seat)
    else:
        seat.phone, seat.available, seat.updated_at = phone, available, now
    session.flush()
    log.info("seat of %s: desk %s, %s", user.username, mask(phone),
             "available" if available else "away")
    return seat


def seat_of(session: Session, user: User) -> Seat | None:
    return session.scalar(select(Seat).where(Seat.user_id == user.id))


def oldest_waiting(session: Session) -> Call | None:
    return session.scalar(select(Call).where(Call.status == WAITING, Call.operator_id.is_(None))
                          .order_by(Call.queued_at, Call.id).limit(1))


def claim(session: Session, call_id: int, user: User, *, now: datetime) -> Call:
    """Exactly one operator wins a ringing call: a conditional UPDATE … WHERE operator IS NULL
    (the database serialises the two writers; the loser updates nothing and gets 409)."""
    result = session.execute(
        update(Call).where(Call.id == call_id, Call.status == WAITING,
                           Call.operator_id.is_(None))
        .values(operator_id=user.id, status="answered", answered_at=now)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        if session.get(Call, call_id) is None:
            raise Problem(404, "No such call", field="call_id")
        raise Problem(409, "Call already taken", "another operator answered this call, or the "
                      "caller has hung up", field="call_id")
    call = session.get(Call, call_id, populate_existing=True)
    assert call is not None
    _queue_message(session, "call_answered", call, now)
    log.info("call %s answered by %s", call.id, user.username)
    return call


def link(session: Session, call: Call, incident: Incident, *, actor: Actor,
         now: datetime) -> None:
    """Link a call to an incident: the incident's timeline shows the call."""
    if call.incident_id == incident.id:
        return
    call.incident_id = incident.id
    append_event(session, incident, type="call_linked", actor=actor, at=now,
                 payload={"call_id": call.id, "direction": call.direction,
                          "status": call.status})
    _queue_message(session, "call_updated", call, now)


def start_callback(session: Session, original: Call, user: User, seat: Seat, *,
                   now: datetime) -> Call:
    """An outbound call-back row (the provider call is placed by the router after this)."""
    if original.direction != "inbound" or not original.from_number:
        raise Problem(422, "Nothing to call back", "the call has no caller number",
                      field="call_id")
    call = Call(call_sid=f"pending-{original.id}-{now.timestamp():.6f}-{user.id}",
                direction="outbound", from_number=seat.phone, to_number=original.from_number,
                status="dialing", created_at=now, operator_id=user.id,
                incident_id=original.incident_id, callback_of_id=original.id)
    session.add(call)
    session.flush()
    return call


# --- screen-pop ---------------------------------------------------------------------------
def _incident_brief(i: Incident, elevators: dict[int, Elevator]) -> dict[str, Any]:
    e = elevators.get(i.elevator_id)
    return {"id": i.id, "state": i.state, "channel": i.channel,
            "received_at": i.received_at.isoformat(), "elevator_id": i.elevator_id,
            "address": e.address if e else None, "rescue_code": e.rescue_code if e else None}


def screen_pop(session: Session, call: Call) -> dict[str, Any]:
    """What the operator sees while the call rings: the number's past incidents and
    elevators, open incidents on those elevators, and what the IVR recorded."""
    past: list[Incident] = []
    if call.from_number:
        past = list(session.scalars(
            select(Incident).where(Incident.caller_phone.in_(
                spellings(phone_or_none(call.from_number) or call.from_number)))
            .order_by(Incident.received_at.desc()).limit(20)))
    elevator_ids = {i.elevator_id for i in past}
    keyed: Elevator | None = None
    if call.rescue_code:
        keyed = session.scalar(select(Elevator).where(Elevator.rescue_code == call.rescue_code))
        if keyed is not None:
            elevator_ids.add(keyed.id)
    elevators = {e.id: e for e in session.scalars(
        select(Elevator).where(Elevator.id.in_(elevator_ids)))} if elevator_ids else {}
    open_incidents = list(session.scalars(
        select(Incident).where(Incident.elevator_id.in_(elevator_ids),
                               Incident.state.in_(lifecycle.ACTIVE_STATES))
        .order_by(Incident.received_at.desc()).limit(20))) if elevator_ids else []
    ivr = session.get(Incident, call.incident_id) if call.incident_id else None
    if ivr is not None and ivr.elevator_id not in elevators:
        e = session.get(Elevator, ivr.elevator_id)
        if e is not None:
            elevators[e.id] = e
    return {
        "past_incidents": [_incident_brief(i, elevators) for i in past],
        "elevators": [{"id": e.id, "rescue_code": e.rescue_code, "address": e.address}
                      for e in sorted(elevators.values(), key=lambda e: e.id)],
        "open_incidents": [_incident_brief(i, elevators) for i in open_incidents],
        "ivr_incident": _incident_brief(ivr, elevators) if ivr is not None else None,
        "keyed_elevator": ({"id": keyed.id, "rescue_code": keyed.rescue_code,
                            "address": keyed.address} if keyed is not None else None),
    }


# --- retention ----------------------------------------------------------------------------
def expired_recordings(session: Session, *, now: datetime, settings: Settings,
                       limit: int = 100) -> list[Call]:
    cutoff = now - timedelta(days=settings.call_recording_retention_days)
    return list(session.scalars(
        select(Call).where(Call.recording_sid.is_not(None), Call.recording_deleted_at.is_(None),
                           Call.created_at < cutoff)
        .order_by(Call.id).limit(limit).with_for_update()))


def mark_recording_deleted(call: Call, *, now: datetime) -> None:
    call.recording_deleted_at = now
