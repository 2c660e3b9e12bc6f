"""Writing the outbox: an event hook that turns timeline events into notification rows.

It runs inside the transaction of the event (``dispatch.events.append_event``), so the message
exists if and only if the change that causes it committed — never a message about a rolled-back
offer, never a lost one. It only reads rows the event's writer already has in its session
(``session.get`` hits the identity map) and adds rows; sending is the job loop's business.

What is written:

=====================  =========================================================  ==========
event                  notification                                               to
=====================  =========================================================  ==========
offered,               ``offer_sms``; the loop adds ``offer_call`` (voice), placed  team
level3_alerted         only if the offer is still unanswered after
                       ``RESCUE_NOTIFY_VOICE_AFTER_S``
accepted (main team)   ``use_unit_notice`` (zh-CN "救援队伍已出发，预计 X 分钟到达")  use unit
                       ``caller_status`` when the caller left a mobile number      caller
level1_informed        ``level1_notice`` (a level-2 team took over)               company
assignment_cancelled   ``offer_withdrawn`` (stood down, reassigned, incident over) team
received /             ``insurer_notice`` once per incident, when an injury is     insurer
duplicate_report       reported for an insured elevator
=====================  =========================================================  ==========
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.models import Assignment, Elevator, Incident, IncidentEvent, Organization
from dispatch.notifications.models import Notification
from notify.phones import to_e164

_MOBILE = re.compile(r"^(\+?86)?1[3-9]\d{9}$")
Writer = Callable[[Session, Incident, IncidentEvent], None]


def _add(session: Session, incident: Incident, ev: IncidentEvent, *, channel: str,
         kind: str, to: str | None, template: str, data: dict[str, Any], lang: str | None = None,
         recipient_id: int | None = None, assignment_id: int | None = None) -> Notification:
    n = Notification(incident=incident, event=ev, assignment_id=assignment_id,
                     channel=channel, recipient_kind=kind, recipient_id=recipient_id,
                     to=to_e164(to) if to else None, lang=lang or "zh-CN",
                     template=template, data=data, status="pending", attempts=0,
                     next_try_at=ev.at, created_at=ev.at)
    session.add(n)
    return n


def _place(elevator: Elevator) -> dict[str, Any]:
    return {"address": elevator.address, "rescue_code": elevator.rescue_code}


def _eta_min(eta_s: float | None) -> int | None:
    return None if eta_s is None else max(1, math.ceil(eta_s / 60))


def _offered(session: Session, incident: Incident, ev: IncidentEvent) -> None:
    """One row, on the hot path of every dispatch: the team's number and language are looked
    up when it is sent, and the delivery loop adds the follow-up voice call row when it first
    handles this one (see ``dispatch.notifications.delivery``)."""
    p = ev.payload or {}
    elevator = session.get(Elevator, incident.elevator_id)  # loaded by the dispatcher
    assert elevator is not None
    data = {**_place(elevator), "trapped": incident.trapped_count,
            "accept_by": p.get("accept_by"), "code": str(p["assignment_id"]),
            "team_id": p["team_id"], "assignment_id": p["assignment_id"]}
    _add(session, incident, ev, channel="sms", kind="team", to=None, template="offer_sms",
         data=data, recipient_id=p["team_id"], assignment_id=p["assignment_id"])


def _accepted(session: Session, incident: Incident, ev: IncidentEvent) -> None:
    p = ev.payload or {}
    a = session.get(Assignment, p.get("assignment_id"))
    if a is None or a.parallel:
        return  # the fire brigade's parallel alert does not change what the use unit is told
    elevator = session.get(Elevator, incident.elevator_id)
    assert elevator is not None
    data = {**_place(elevator), "eta_min": _eta_min(a.eta_s), "team_name": p.get("team_name"),
            "assignment_id": a.id}
    if elevator.use_unit_id is not None:
        unit = session.get(Organization, elevator.use_unit_id)
        if unit is not None and unit.phone:
            _add(session, incident, ev, channel="sms", kind="use_unit", to=unit.phone,
                 template="use_unit_notice", data=data, lang=unit.lang, recipient_id=unit.id)
    if incident.caller_phone and _MOBILE.match(incident.caller_phone):
        _add(session, incident, ev, channel="sms", kind="caller", to=incident.caller_phone,
             template="caller_status", data=data)


def _level1_informed(session: Session, incident: Incident, ev: IncidentEvent) -> None:
    p = ev.payload or {}
    org = session.get(Organization, p.get("organization_id"))
    if org is None or not org.phone:
        return
    elevator = session.get(Elevator, incident.elevator_id)
    assert elevator is not None
    _add(session, incident, ev, channel="sms", kind="company", to=org.phone,
         template="level1_notice", data={**_place(elevator),
                                         "taken_over_by": p.get("taken_over_by")},
         lang=org.lang, recipient_id=org.id)


def _injury(session: Session, incident: Incident, ev: IncidentEvent) -> None:
    if not (ev.payload or {}).get("injured"):
        return
    elevator = session.get(Elevator, incident.elevator_id)
    if elevator is None or elevator.insurer_id is None:
        return
    if incident.id is not None and session.scalar(
            select(Notification.id).where(Notification.incident_id == incident.id,
                                          Notification.recipient_kind == "insurer").limit(1)):
        return  # told once per incident
    insurer = session.get(Organization, elevator.insurer_id)
    if insurer is None or not insurer.phone:
        return
    _add(session, incident, ev, channel="sms", kind="insurer", to=insurer.phone,
         template="insurer_notice", data={
             **_place(elevator), "register_code": elevator.register_code,
             "policy_no": elevator.policy_no or "-", "incident_id": incident.id,
             "received_at": incident.received_at.isoformat()},
         lang=insurer.lang, recipient_id=insurer.id)


def _withdrawn(session: Session, incident: Incident, ev: IncidentEvent) -> None:
    """The team is told it is off the job (stood down, reassigned, or the incident ended)."""
    p = ev.payload or {}
    elevator = session.get(Elevator, incident.elevator_id)
    assert elevator is not None
    _add(session, incident, ev, channel="sms", kind="team", to=None, template="offer_withdrawn",
         data={**_place(elevator), "code": str(p["assignment_id"]),
               "reason": str(p.get("reason") or "-")[:120], "team_id": p["team_id"],
               "assignment_id": p["assignment_id"]},
         recipient_id=p["team_id"], assignment_id=p["assignment_id"])


WRITERS: dict[str, Writer] = {
    "offered": _offered,
    "assignment_cancelled": _withdrawn,
    "level3_alerted": _offered,
    "accepted": _accepted,
    "level1_informed": _level1_informed,
    "received": _injury,
    "duplicate_report": _injury,
}


def write_outbox(session: Session, incident: Incident, ev: IncidentEvent) -> None:
    """The event hook (registered by ``create_app``): most events cause no message and cost
    one dict lookup."""
    writer = WRITERS.get(ev.type)
    if writer is not None:
        writer(session, incident, ev)
