"""What inbound Twilio requests do: delivery reports, team replies by SMS or keypad, the hotline.

Services flush; the webhook commits. Every function here is called with parameters whose
signature was already checked (``dispatch.notifications.webhooks``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch import lifecycle
from dispatch.calls import service as calls
from dispatch.calls import twiml as calls_twiml
from dispatch.dispatching.service import DispatchContext
from dispatch.dispatching.steps import StepInput, apply_step, load_assignment
from dispatch.elevators import service as elevators
from dispatch.errors import Problem
from dispatch.events import Actor
from dispatch.incidents.schemas import IncidentCreate
from dispatch.incidents.service import create_incident
from dispatch.models import Assignment, Elevator, Incident, Team
from dispatch.notifications.models import Notification
from dispatch.notifications.status import DELIVERED, FAILED, advances
from dispatch.settings import Settings
from notify import twiml
from notify.phones import variants
from notify.replies import parse_reply
from notify.templates import pick_lang, render

log = logging.getLogger("rescue.notify")


# --- delivery reports ---------------------------------------------------------------------
def apply_status(session: Session, params: Mapping[str, str], *, notification_id: int | None,
                 now: datetime) -> Notification | None:
    """Move a notification on from a status callback (late or repeated reports never move it
    back). Found by provider SID, or by the id in the callback URL when the callback beat the
    send call's answer."""
    sid = params.get("MessageSid") or params.get("CallSid")
    status = params.get("MessageStatus") or params.get("CallStatus")
    if not sid or not status:
        raise Problem(422, "Not a status callback", "MessageSid/CallSid and a status needed",
                      field="MessageSid")
    n = session.scalar(select(Notification).where(Notification.provider_id == sid)
                       .with_for_update())
    if n is None and notification_id is not None:
        n = session.get(Notification, notification_id, with_for_update=True)
        if n is not None and n.provider_id not in (None, sid):
            log.warning("callback for %s names notification %s sent as %s", sid, n.id,
                        n.provider_id)
            return None
        if n is not None:
            n.provider_id = sid
    if n is None:
        return None
    if advances(n.channel, n.status, status):
        n.status, n.status_at = status, now
        if status in DELIVERED:
            n.delivered_at = n.delivered_at or now
        if status in FAILED:
            code = params.get("ErrorCode")
            n.error = f"{status}" + (f" (error {code})" if code else "")
        if n.sent_at is None and status not in ("queued", "initiated"):
            n.sent_at = now
    return n


# --- team replies -------------------------------------------------------------------------
def _teams_by_phone(session: Session, phone: str) -> list[Team]:
    if not phone:
        return []
    return list(session.scalars(select(Team).where(Team.phone.in_(variants(phone)))))


def _answer(session: Session, a: Assignment, action: str, *, ctx: DispatchContext,
            via: str) -> None:
    a = load_assignment(session, a.id, None)
    data = StepInput(reason="电话/短信拒绝 (declined by phone)" if action == "decline" else None)
    apply_step(session, a, action, data, ctx=ctx, viewer=None)


def sms_reply(session: Session, params: Mapping[str, str], *, ctx_for: ContextFactory) -> str:
    """A team's SMS answer to an offer; returns the reply text (sent back as TwiML)."""
    sender = params.get("From", "")
    teams = _teams_by_phone(session, sender)
    lang = pick_lang(teams[0].lang if teams else None)
    reply = parse_reply(params.get("Body", ""))
    if reply is None:
        return render("reply_help", lang, {})
    team_ids = [t.id for t in teams]
    a: Assignment | None = None
    if reply.code is not None:
        a = session.get(Assignment, int(reply.code))
        if a is not None and a.team_id not in team_ids:
            a = None
    elif team_ids:
        open_offers = list(session.scalars(
            select(Assignment).where(Assignment.team_id.in_(team_ids),
                                     Assignment.state == lifecycle.OFFERED)))
        a = open_offers[0] if len(open_offers) == 1 else None
    code = reply.code or "?"
    if a is None:
        return render("reply_bad_code", lang, {"code": code})
    team = next(t for t in teams if t.id == a.team_id)
    if a.state != lifecycle.OFFERED:
        return render("reply_not_open", lang, {
            "code": a.id, "state": a.state,
            "action": "接单" if reply.action == "accept" else "拒绝",
            "action_en": "accepted" if reply.action == "accept" else "declined"})
    ctx = ctx_for(Actor(team.name, "crew", "sms"))
    _answer(session, a, reply.action, ctx=ctx, via="sms")
    incident = session.get(Incident, a.incident_id)
    elevator = session.get(Elevator, incident.elevator_id) if incident else None
    address = elevator.address if elevator else ""
    return render("reply_accepted" if reply.action == "accept" else "reply_declined", lang,
                  {"code": a.id, "address": address})


def offer_keypress(session: Session, params: Mapping[str, str], *, assignment_id: int,
                   ctx_for: ContextFactory) -> str:
    """A key pressed during the offer call; returns TwiML."""
    digits = params.get("Digits", "")
    a = session.get(Assignment, assignment_id)
    teams = _teams_by_phone(session, params.get("To", ""))
    lang = pick_lang(teams[0].lang if teams else None)
    if a is None or a.team_id not in [t.id for t in teams] or a.state != lifecycle.OFFERED:
        return twiml.say(render("call_not_open", lang, {}), lang=lang)
    if digits not in ("1", "2"):
        return twiml.say(render("ivr_no_input", lang, {}), lang=lang)
    team = next(t for t in teams if t.id == a.team_id)
    action = "accept" if digits == "1" else "decline"
    _answer(session, a, action, ctx=ctx_for(Actor(team.name, "crew", "voice")), via="voice")
    return twiml.say(render("call_accepted" if action == "accept" else "call_declined", lang,
                            {}), lang=lang)


# --- hotline IVR --------------------------------------------------------------------------
def _operator(session: Session, params: Mapping[str, str], settings: Settings, lang: str,
              prefix: str = "", *, code: str | None = None, now: datetime) -> str:
    """The caller wants an operator: the phone desk's queue (issue 15), or the fixed desk
    number when the queue is off (``RESCUE_CALL_QUEUE=false``)."""
    if settings.call_queue and params.get("CallSid"):
        call = calls.enqueue(session, params, now=now, code=code)
        return calls_twiml.enqueue(settings, call.id, prefix)
    number = settings.hotline_operator_number
    if not number:
        return twiml.say(prefix + render("ivr_no_operator", lang, {}), lang=lang)
    return twiml.dial(prefix + render("ivr_operator", lang, {}), number, lang=lang)


def ivr_welcome(settings: Settings, lang: str = "zh-CN") -> str:
    base = settings.public_base_url.rstrip("/")
    notice = calls_twiml.RECORDING_NOTICE if settings.call_recording else None
    return twiml.gather(render("ivr_welcome", lang, {}), lang=lang, finish_on_key="#",
                        action=f"{base}/twilio/voice/gather?step=code", timeout_s=10,
                        after=None if settings.call_queue else render("ivr_no_input", lang, {}),
                        redirect=f"{base}/twilio/voice/gather?step=code"
                        if settings.call_queue else None, notice=notice)


def ivr_code(session: Session, params: Mapping[str, str], *, settings: Settings,
             now: datetime) -> str:
    """The caller typed a rescue code: read the address back, or go to an operator (also when
    nothing was typed: the gather timed out)."""
    lang = "zh-CN"
    digits = (params.get("Digits") or "").strip("#*")
    if digits in ("", "0"):
        return _operator(session, params, settings, lang, now=now)
    if settings.call_queue and len(digits) <= 32:
        calls.note_code(session, params, digits, now=now)
    elevator = elevators.find_by_rescue_code(session, digits)
    if elevator is None or not elevator.in_service:
        return _operator(session, params, settings, lang, render(
            "ivr_unknown_code", lang, {"code": " ".join(digits)}), now=now)
    base = settings.public_base_url.rstrip("/")
    confirm = f"{base}/twilio/voice/gather?step=confirm&code={digits}"
    return twiml.gather(render("ivr_readback", lang, {"address": elevator.address}), lang=lang,
                        num_digits=1, timeout_s=10, action=confirm,
                        after=None if settings.call_queue else render("ivr_no_input", lang, {}),
                        redirect=confirm if settings.call_queue else None)


def ivr_confirm(session: Session, params: Mapping[str, str], *, code: str, now: datetime,
                settings: Settings) -> tuple[str, int | None]:
    """1 → an incident (channel ``ivr``, same duplicate merging as the API); 2 → ask again;
    0 or anything else → operator. Returns TwiML and the incident id."""
    lang = "zh-CN"
    digits = params.get("Digits", "")
    if digits == "2":
        return ivr_welcome(settings, lang), None
    if digits != "1":
        return _operator(session, params, settings, lang, code=code, now=now), None
    caller = params.get("From") or None
    try:
        data = IncidentCreate(rescue_code=code, channel="ivr", caller_phone=caller)
    except ValidationError:  # withheld or foreign caller id
        data = IncidentCreate(rescue_code=code, channel="ivr")
    try:
        incident, _dup = create_incident(session, data=data, actor=Actor("ivr", None, "ivr"),
                                         user_id=None, now=now, settings=settings)
    except Problem:
        return _operator(session, params, settings, lang, code=code, now=now), None
    if settings.call_queue:
        calls.ivr_incident(session, params, incident, now=now)
    return twiml.say(render("ivr_created", lang, {}), lang=lang), incident.id


class ContextFactory:
    """Makes the dispatch context for a step done by phone (the actor is the team)."""

    def __init__(self, settings: Settings, router_factory: object, now: datetime) -> None:
        self.settings, self.router_factory, self.now = settings, router_factory, now

    def __call__(self, actor: Actor) -> DispatchContext:
        router = self.router_factory()  # type: ignore[operator]
        return DispatchContext(settings=self.settings, router=router, now=self.now, actor=actor)
