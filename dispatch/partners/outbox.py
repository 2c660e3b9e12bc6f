"""The partner outbox: an event hook that turns timeline events into ``partner_delivery`` rows
in the transaction of the event (one write path: the row exists iff the change committed).

=========================  ===================================================================
timeline event             partner event type
=========================  ===================================================================
received                   ``incident.received`` (+ ``province.status`` 01)
confirmed                  ``incident.confirmed``
offered (main team)        ``incident.dispatched``
accepted (main team)       ``incident.accepted`` (+ 02)
arrived                    ``incident.arrived`` (+ 04)
released                   ``incident.released``
closed                     ``incident.closed`` (+ 00 when closed after a release)
cancelled / false_alarm    ``incident.cancelled`` / ``incident.false_alarm`` (+ 05)
escalated, level_escalated ``incident.escalated`` (level 2/3; level 3 is the 119 handover)
sla_warning / sla_overdue  ``incident.at_risk`` / ``incident.overdue``
=========================  ===================================================================
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dispatch.models import (
    Assignment,
    Elevator,
    Incident,
    IncidentEvent,
    Organization,
    Team,
    Zone,
)
from dispatch.partners.models import Partner, PartnerDelivery, PartnerReport
from dispatch.scoping import Visibility
from geo.coords import wgs84_to_gcj02

SCHEMA_VERSION: Final = 1
CHINA_TIME: Final = timezone(timedelta(hours=8))
EVENT_TYPES: Final = (
    "incident.received", "incident.confirmed", "incident.dispatched", "incident.accepted",
    "incident.arrived", "incident.released", "incident.closed", "incident.cancelled",
    "incident.false_alarm", "incident.escalated", "incident.at_risk", "incident.overdue",
    "power_cut.detected", "province.status",
)
SIMPLE: Final[dict[str, str]] = {
    "received": "incident.received", "confirmed": "incident.confirmed",
    "arrived": "incident.arrived", "released": "incident.released",
    "closed": "incident.closed", "cancelled": "incident.cancelled",
    "false_alarm": "incident.false_alarm", "sla_warning": "incident.at_risk",
    "sla_overdue": "incident.overdue",
}

PROVINCE_STATUS: Final[dict[str, tuple[str, str]]] = {
    # partner event type → (platform status code, meaning)
    "incident.received": ("01", "occurred"),
    "incident.accepted": ("02", "responding"),
    "incident.arrived": ("04", "on site"),
    "incident.closed": ("00", "completed"),
    "incident.false_alarm": ("05", "false alarm"),
}
"""The provincial platform's status codes (``province.status``); ``00`` only for an incident
closed after a release (a cancelled one is not "completed")."""

_SEQ: Final = "partner_tx_memo"
HANDOVER_KEY: Final = "partner_inbound"
"""``session.info`` key: the (partner id, external id) of a transfer being recorded, so the
incident's first event already carries the partner's own id."""


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(CHINA_TIME).isoformat()


def partner_type(incident: Incident, ev: IncidentEvent) -> tuple[str, int | None] | None:
    """The partner event type (and level for escalations) of a timeline event, if any."""
    p = ev.payload or {}
    if ev.type in SIMPLE:
        return SIMPLE[ev.type], None
    if ev.type == "offered" and not p.get("parallel"):
        return "incident.dispatched", None
    if ev.type == "accepted" and not p.get("parallel"):
        return "incident.accepted", None
    if ev.type == "escalated":
        return "incident.escalated", 3
    if ev.type == "level_escalated" and int(p.get("to") or 0) >= 2:
        return "incident.escalated", int(p["to"])
    return None


def province_code(event_type: str, incident: Incident) -> str | None:
    row = PROVINCE_STATUS.get(event_type)
    if row is None:
        return None
    if event_type == "incident.closed" and incident.released_at is None:
        return None
    return row[0]


def _team(session: Session, incident: Incident,
          payload: dict[str, Any]) -> tuple[Team | None, Organization | None, float | None]:
    team_id = payload.get("team_id")
    a: Assignment | None = None
    if team_id is None and incident.id is not None and incident.accepted_at is not None:
        a = session.scalar(select(Assignment).where(
            Assignment.incident_id == incident.id, Assignment.parallel.is_(False),
            Assignment.accepted_at.is_not(None)).order_by(Assignment.id.desc()).limit(1))
        team_id = a.team_id if a else None
    team = session.get(Team, team_id) if team_id is not None else None
    org = session.get(Organization, team.organization_id) if team is not None else None
    return team, org, (a.eta_s if a else payload.get("eta_s"))


def incident_body(session: Session, incident: Incident, ev: IncidentEvent | None, *,
                  external_id: str | None, level: int | None = None) -> dict[str, Any]:
    """The incident part of every event (also the partner's own view)."""
    elevator = session.get(Elevator, incident.elevator_id)
    zone = session.get(Zone, incident.zone_id)
    assert elevator is not None and zone is not None
    lon, lat = elevator.location.lon, elevator.location.lat
    glon, glat = wgs84_to_gcj02(lon, lat)
    team, org, eta = _team(session, incident, (ev.payload or {}) if ev is not None else {})
    return {
        "id": incident.id, "external_id": external_id, "state": incident.state,
        "level": level or incident.response_level or 1,
        "register_code": elevator.register_code, "rescue_code": elevator.rescue_code,
        "zone": {"code": zone.code, "name": zone.name},
        "address": elevator.address,
        "location": {"wgs84": {"lon": round(lon, 7), "lat": round(lat, 7)},
                     "gcj02": {"lon": round(float(glon), 7), "lat": round(float(glat), 7)}},
        "trapped_count": incident.trapped_count, "injured": bool(incident.injured),
        "vulnerable": bool(incident.vulnerable),
        "team": None if team is None else {"id": team.id, "name": team.name},
        "company": None if org is None else {"id": org.id, "name": org.name},
        "eta_s": None if eta is None else round(float(eta)),
        "received_at": iso(incident.received_at), "accepted_at": iso(incident.accepted_at),
        "arrived_at": iso(incident.arrived_at), "released_at": iso(incident.released_at),
        "closed_at": iso(incident.closed_at), "cancelled_at": iso(incident.cancelled_at),
        "sla_deadline": iso(incident.sla_deadline),
    }


def handover_body(session: Session, incident: Incident) -> dict[str, Any]:
    """What a fire crew needs on a level-3 handover."""
    elevator = session.get(Elevator, incident.elevator_id)
    assert elevator is not None
    unit = (session.get(Organization, elevator.use_unit_id)
            if elevator.use_unit_id is not None else None)
    return {"address": elevator.address, "building": elevator.building, "floor": None,
            "floors": elevator.floors, "trapped_count": incident.trapped_count,
            "injured": bool(incident.injured), "vulnerable": bool(incident.vulnerable),
            "caller_phone": incident.caller_phone,
            "use_unit_phone": unit.phone if unit is not None else None}


def envelope(event_type: str, delivery_id: str, at: datetime, incident: dict[str, Any] | None,
             data: dict[str, Any]) -> dict[str, Any]:
    return {"version": SCHEMA_VERSION, "type": event_type, "delivery_id": delivery_id,
            "occurred_at": iso(at), "incident": incident, "data": data}


def visibility(p: Partner) -> Visibility:
    return Visibility.for_partner(p.name, p.region_zone_id)


def _tx_cache(session: Session) -> dict[Any, Any]:
    """Per-transaction memo (partners, queue numbers): read once, then counted in memory."""
    tx = session.get_transaction()
    cached = session.info.get(_SEQ)
    if cached is None or cached[0] is not tx:
        cached = session.info[_SEQ] = (tx, {})
    return cached[1]


def partners_for(session: Session, incident: Incident) -> list[Partner]:
    memo = _tx_cache(session)
    if "partners" not in memo:
        memo["partners"] = list(session.scalars(
            select(Partner).where(Partner.enabled.is_(True)).order_by(Partner.id)))
    return [p for p in memo["partners"] if visibility(p).sees_zone(incident.zone_id)]


def _external_ids(session: Session, incident: Incident) -> dict[int, str]:
    if incident.channel != "transfer":
        return {}
    found = {pid: ext for pid, ext in session.execute(
        select(PartnerReport.partner_id, PartnerReport.external_id)
        .where(PartnerReport.incident_id == incident.id))}
    inbound = session.info.get(HANDOVER_KEY)
    if inbound is not None:
        found.setdefault(inbound[0], inbound[1])
    return found


def _next_seq(session: Session, partner_id: int, incident_id: int) -> int:
    """The next number of a (incident, partner) queue: read once per transaction, then counted
    in the session (the incident row is locked by its writer, so no one else adds to it)."""
    seqs: dict[tuple[int, int], int] = _tx_cache(session).setdefault("seq", {})
    key = (partner_id, incident_id)
    if key not in seqs:
        seqs[key] = int(session.scalar(select(func.max(PartnerDelivery.seq)).where(
            PartnerDelivery.partner_id == partner_id,
            PartnerDelivery.incident_id == incident_id)) or 0)
    seqs[key] += 1
    return seqs[key]


def _add(session: Session, partner: Partner, incident: Incident, event_type: str, at: datetime,
         body: dict[str, Any], data: dict[str, Any]) -> PartnerDelivery:
    delivery_id = str(uuid.uuid4())
    assert incident.id is not None
    row = PartnerDelivery(
        partner_id=partner.id, incident_id=incident.id, event_type=event_type,
        payload=envelope(event_type, delivery_id, at, body, data), delivery_id=delivery_id,
        seq=_next_seq(session, partner.id, incident.id),
        status="pending" if partner.url else "feed", attempts=0, next_at=at, created_at=at)
    session.add(row)
    return row


def subscribed(partner: Partner, event_type: str) -> bool:
    return not partner.events or event_type in partner.events


def write_partner_outbox(session: Session, incident: Incident, ev: IncidentEvent) -> None:
    """The event hook (registered by ``install_event_hooks``); most events cost a dict lookup."""
    mapped = partner_type(incident, ev)
    if mapped is None:
        return
    event_type, level = mapped
    partners = partners_for(session, incident)
    if not partners:
        return
    if incident.id is None:
        session.flush()  # a new incident's first event: rows need its id
        seqs = _tx_cache(session).setdefault("seq", {})
        for p in partners:  # nothing queued for it yet: no need to ask
            seqs[(p.id, incident.id)] = 0
    externals = _external_ids(session, incident)
    handover = event_type == "incident.escalated" and (level or 0) >= 3
    data: dict[str, Any] = {"event": ev.type}
    if level is not None:
        data["level"] = level
    fire_partners = []
    common = incident_body(session, incident, ev, external_id=None, level=level)
    for partner in partners:
        body = {**common, "external_id": externals.get(partner.id)}
        if subscribed(partner, event_type):
            extra = dict(data)
            if handover and partner.kind == "fire_119":
                extra["handover"] = handover_body(session, incident)
                fire_partners.append(partner)
            _add(session, partner, incident, event_type, ev.at, body, extra)
        code = province_code(event_type, incident)
        if (partner.kind == "province_platform" and code is not None
                and subscribed(partner, "province.status")):
            _add(session, partner, incident, "province.status", ev.at, body,
                 {"status_code": code, "meaning": PROVINCE_STATUS[event_type][1],
                  "register_code": body["register_code"], "event": event_type})
    if fire_partners:
        from dispatch.partners.handover import start_handover

        start_handover(session, incident, ev, fire_partners)
