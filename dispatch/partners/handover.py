"""The 119 handover: a level-3 escalation is pushed to every ``fire_119`` partner of the region
(``outbox``), their duty phones get an SMS through the notifications outbox, and a durable
deadline alerts the operator if no fire partner answered ``accepted`` in time."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch import lifecycle, timers
from dispatch.dispatching.service import DispatchContext
from dispatch.events import append_event
from dispatch.models import Elevator, Incident, IncidentEvent, ScheduledTask
from dispatch.notifications.models import Notification
from dispatch.partners.models import Partner
from notify.phones import to_e164

ACCEPTED_EVENT = "fire_brigade_accepted"
UNACKNOWLEDGED_EVENT = "handover_unacknowledged"


def start_handover(session: Session, incident: Incident, ev: IncidentEvent,
                   partners: list[Partner]) -> None:
    """In the escalation's transaction: the duty-phone SMS and the acknowledgement deadline."""
    elevator = session.get(Elevator, incident.elevator_id)
    assert elevator is not None
    for p in partners:
        if not p.duty_phone:
            continue
        session.add(Notification(
            incident=incident, event=ev, channel="sms", recipient_kind="partner",
            recipient_id=p.id, to=to_e164(p.duty_phone), lang="zh-CN", template="fire_handover",
            data={"address": elevator.address, "building": elevator.building,
                  "rescue_code": elevator.rescue_code,
                  "trapped": incident.trapped_count, "injured": "是" if incident.injured else "否",
                  "caller": incident.caller_phone or "-", "incident_id": incident.id},
            status="pending", attempts=0, next_try_at=ev.at, created_at=ev.at))
    if not timers.has_pending(session, incident_id=incident.id, kind="partner_handover"):
        # fires at once; the handler waits RESCUE_PARTNER_HANDOVER_ACK_S from this due time
        timers.schedule(session, "partner_handover", ev.at, incident_id=incident.id)


def acknowledged(session: Session, incident_id: int) -> bool:
    return session.scalar(select(IncidentEvent.id).where(
        IncidentEvent.incident_id == incident_id,
        IncidentEvent.type == ACCEPTED_EVENT).limit(1)) is not None


def on_partner_handover(session: Session, task: ScheduledTask, ctx: DispatchContext) -> str:
    """First firing: schedule the deadline; at the deadline: alert unless acknowledged."""
    assert task.incident_id is not None
    deadline = task.result == "deadline"
    if not deadline:
        due = task.due_at + timedelta(seconds=ctx.settings.partner_handover_ack_s)
        nxt = timers.schedule(session, "partner_handover", due, incident_id=task.incident_id)
        nxt.result = "deadline"
        return "waiting for a fire partner's acknowledgement"
    incident = session.scalar(select(Incident).where(Incident.id == task.incident_id)
                              .with_for_update(of=Incident))
    assert incident is not None
    if acknowledged(session, incident.id):
        return "acknowledged"
    if incident.state not in lifecycle.ACTIVE_STATES or incident.released_at is not None:
        return "no longer needed"
    append_event(session, incident, type=UNACKNOWLEDGED_EVENT, actor=ctx.actor, at=ctx.now,
                 payload={"waited_s": round(ctx.settings.partner_handover_ack_s),
                          "why": "no fire_119 partner accepted the level-3 handover"})
    return "operator alerted"
