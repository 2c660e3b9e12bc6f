"""Partners: registration and keys (admin), the inbound interface (a partner hands an
entrapment over, reads its own view, reports the fire brigade's steps), replays and the pull
feed. Services flush; the request's unit of work commits."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, joinedload

from dispatch import lifecycle, timers
from dispatch.errors import Problem
from dispatch.events import Actor, append_event, transition
from dispatch.incidents import service as incidents
from dispatch.incidents.schemas import IncidentCreate
from dispatch.models import Elevator, Incident, Zone
from dispatch.partners.alerts import queue_alert
from dispatch.partners.handover import ACCEPTED_EVENT
from dispatch.partners.models import Partner, PartnerDelivery, PartnerReport
from dispatch.partners.outbox import HANDOVER_KEY, incident_body, iso, visibility
from dispatch.partners.schemas import (
    DeliveryOut,
    PartnerCreate,
    PartnerOut,
    PartnerUpdate,
    ReportOut,
    StatusIn,
    TransferIn,
)
from dispatch.settings import Settings
from dispatch.telemetry import signing
from geo.coords import convert

# --- keys ---------------------------------------------------------------------------------


def new_api_key() -> str:
    return "pk_" + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()


def authenticate(session: Session, key: str) -> Partner | None:
    """The enabled partner whose API key this is (constant-time comparison of the hashes)."""
    digest = hash_key(key)
    partner = session.scalar(select(Partner).where(Partner.api_key_hash == digest))
    if partner is None or not hmac.compare_digest(partner.api_key_hash, digest):
        return None
    return partner if partner.enabled else None


# --- admin --------------------------------------------------------------------------------


def zone_id_for(session: Session, region: str | None) -> int | None:
    if region is None or region == "":
        return None
    zone_id = session.scalar(select(Zone.id).where(or_(Zone.code == region, Zone.name == region)))
    if zone_id is None:
        raise Problem(422, "Unknown region", f"no zone with code or name {region!r}",
                      field="region")
    return zone_id


def partner_out(session: Session, p: Partner) -> PartnerOut:
    zone = session.get(Zone, p.region_zone_id) if p.region_zone_id else None
    code = zone.code if zone else None
    return PartnerOut(id=p.id, name=p.name, kind=p.kind, url=p.url, events=list(p.events or []),
                      region=code, duty_phone=p.duty_phone, enabled=p.enabled, paused=p.paused,
                      failures=p.failures, created_at=p.created_at)


def create_partner(session: Session, data: PartnerCreate, *, app_secret: str,
                   now: datetime) -> tuple[Partner, str, str]:
    """A new partner; returns it with its API key and secret (shown once)."""
    if session.scalar(select(Partner.id).where(Partner.name == data.name)):
        raise Problem(409, "Partner exists", f"a partner named {data.name!r} exists",
                      field="name")
    key, secret = new_api_key(), signing.new_secret()
    p = Partner(name=data.name, kind=data.kind, url=data.url, events=list(data.events),
                region_zone_id=zone_id_for(session, data.region), duty_phone=data.duty_phone,
                api_key_hash=hash_key(key), secret_sealed=signing.seal(secret, app_secret),
                enabled=True, paused=False, failures=0, created_at=now)
    session.add(p)
    session.flush()
    return p, key, secret


def get_partner(session: Session, partner_id: int, *, for_update: bool = False) -> Partner:
    p = session.get(Partner, partner_id, with_for_update=for_update)
    if p is None:
        raise Problem(404, "Partner not found", f"no partner {partner_id}", field="partner_id")
    return p


def update_partner(session: Session, p: Partner, data: PartnerUpdate) -> Partner:
    fields = data.model_fields_set
    if "url" in fields:
        p.url = data.url
    if "events" in fields and data.events is not None:
        p.events = list(data.events)
    if "region" in fields:
        p.region_zone_id = zone_id_for(session, data.region)
    if "duty_phone" in fields:
        p.duty_phone = data.duty_phone
    if "enabled" in fields and data.enabled is not None:
        p.enabled = data.enabled
    session.flush()
    return p


def rotate_secret(p: Partner, *, app_secret: str) -> str:
    secret = signing.new_secret()
    p.secret_sealed = signing.seal(secret, app_secret)
    return secret


def resume(session: Session, p: Partner, *, now: datetime) -> int:
    """Unpause: failures reset, and every row that waited (pending or failed) is due now."""
    p.paused, p.failures = False, 0
    result = session.execute(
        update(PartnerDelivery)
        .where(PartnerDelivery.partner_id == p.id,
               PartnerDelivery.status.in_(("pending", "failed")))
        .values(status="pending", next_at=now),
        execution_options={"synchronize_session": False})
    return int(getattr(result, "rowcount", 0) or 0)


def replay(session: Session, *, now: datetime, delivery_id: int | None = None,
           partner_id: int | None = None, since: datetime | None = None,
           until: datetime | None = None) -> int:
    """Send rows again (same delivery id: a receiver that has it already dedups)."""
    stmt = update(PartnerDelivery).where(PartnerDelivery.status != "feed")
    if delivery_id is not None:
        stmt = stmt.where(PartnerDelivery.id == delivery_id)
    if partner_id is not None:
        stmt = stmt.where(PartnerDelivery.partner_id == partner_id)
    if since is not None:
        stmt = stmt.where(PartnerDelivery.created_at >= since)
    if until is not None:
        stmt = stmt.where(PartnerDelivery.created_at < until)
    result = session.execute(stmt.values(status="pending", next_at=now),
                             execution_options={"synchronize_session": False})
    return int(getattr(result, "rowcount", 0) or 0)


def delivery_out(r: PartnerDelivery) -> DeliveryOut:
    return DeliveryOut(id=r.id, partner_id=r.partner_id, incident_id=r.incident_id,
                       event_type=r.event_type, delivery_id=r.delivery_id, seq=r.seq,
                       status=r.status, attempts=r.attempts, next_at=r.next_at,
                       last_error=r.last_error, response_code=r.response_code,
                       created_at=r.created_at, delivered_at=r.delivered_at)


def report_out(r: PartnerReport, name: str) -> ReportOut:
    return ReportOut(id=r.id, partner_id=r.partner_id, partner=name, external_id=r.external_id,
                     body=r.body, incident_id=r.incident_id, resolved=r.resolved,
                     answer_status=r.answer_status, answer=r.answer, created_at=r.created_at)


def resolve_report(session: Session, report_id: int, *, incident_id: int | None, note: str,
                   by: str, now: datetime) -> PartnerReport:
    """An operator dealt with an unresolved transfer (recorded it as ``incident_id``, or found
    it needs nothing); the partner's later reads see that incident."""
    r = session.get(PartnerReport, report_id, with_for_update=True)
    if r is None:
        raise Problem(404, "Report not found", f"no partner report {report_id}",
                      field="report_id")
    if r.resolved:
        raise Problem(409, "Already resolved", field="report_id")
    if incident_id is not None and session.get(Incident, incident_id) is None:
        raise Problem(422, "Unknown incident", f"no incident {incident_id}", field="incident_id")
    r.resolved, r.incident_id = True, incident_id
    r.body = {**r.body, "resolution": {"by": by, "note": note, "at": iso(now),
                                       "incident_id": incident_id}}
    session.flush()
    return r


# --- inbound ------------------------------------------------------------------------------


def actor_for(p: Partner) -> Actor:
    return Actor(f"partner:{p.name}"[:64], None, "partner")


def _find_elevator(session: Session, data: TransferIn) -> tuple[Elevator | None, str, str]:
    """The elevator a transfer means, or None with the field at fault and why."""
    if data.rescue_code:
        from dispatch.elevators import service as elevators

        e = elevators.find_by_rescue_code(session, data.rescue_code.strip())
        return e, "rescue_code", f"no elevator with rescue code {data.rescue_code}"
    if data.register_code:
        e = session.scalar(select(Elevator).where(
            Elevator.register_code == data.register_code.strip()))
        return e, "register_code", f"no elevator with register code {data.register_code}"
    assert data.address is not None and data.lon is not None and data.lat is not None
    lon, lat = (float(v) for v in convert(data.lon, data.lat, src=data.crs, dst="wgs84"))
    candidates = session.scalars(select(Elevator).where(
        Elevator.address == data.address.strip())).all()
    near = [e for e in candidates
            if abs(e.location.lon - lon) < 0.002 and abs(e.location.lat - lat) < 0.002]
    return (near[0] if len(near) == 1 else None), "address", (
        f"no single elevator at {data.address!r} near ({data.lon}, {data.lat}); "
        "send rescue_code or register_code")


def receive_transfer(session: Session, p: Partner, data: TransferIn, *, now: datetime,
                     settings: Settings) -> tuple[int, dict[str, Any]]:
    """Record a handed-over entrapment: ``(status, body)``. The same ``external_id`` answers
    the first answer again; an unknown elevator is a 422 naming the field, and the report is
    kept unresolved for an operator (and announced on the console)."""
    # one transfer of a partner at a time: the same external_id sent twice at once is answered
    # the first answer, never a unique-constraint error
    session.execute(select(Partner.id).where(Partner.id == p.id).with_for_update())
    known = session.scalar(select(PartnerReport).where(
        PartnerReport.partner_id == p.id, PartnerReport.external_id == data.external_id))
    if known is not None:
        return known.answer_status, {**known.answer, "repeated": True}
    body = data.model_dump(mode="json")
    report = PartnerReport(partner_id=p.id, external_id=data.external_id, body=body,
                           answer_status=0, answer={}, resolved=False, created_at=now)
    session.add(report)
    elevator, field, why = _find_elevator(session, data)
    if elevator is not None and not elevator.in_service:
        why = f"elevator {elevator.rescue_code} is not in service"
        elevator = None
    if elevator is not None and not visibility(p).sees_zone(elevator.zone_id):
        elevator, why = None, "the elevator is outside your region"
    if elevator is None:
        problem = Problem(422, "Unknown elevator", f"{why}; the report is kept for an operator",
                          field=field, external_id=data.external_id, resolved=False).body()
        report.answer_status, report.answer = 422, problem
        session.flush()
        queue_alert(session, "partner_report_unresolved", now, {
            "report_id": report.id, "partner": p.name, "partner_kind": p.kind,
            "external_id": data.external_id, "field": field, "detail": why,
            "address": data.address, "caller_phone": data.caller_phone})
        return 422, problem
    notes = f"[{p.name} {data.external_id}] {data.notes or ''}".strip()[:2000]
    create = IncidentCreate(elevator_id=elevator.id, channel="transfer",
                            caller_phone=data.caller_phone, trapped_count=data.trapped_count,
                            injured=data.injured, vulnerable=data.vulnerable, notes=notes)
    session.info[HANDOVER_KEY] = (p.id, data.external_id)
    try:
        incident, duplicate = incidents.create_incident(
            session, data=create, actor=actor_for(p), user_id=None, now=now, settings=settings)
    finally:
        session.info.pop(HANDOVER_KEY, None)
    report.incident_id, report.resolved = incident.id, True
    answer = {"external_id": data.external_id, "incident_id": incident.id,
              "state": incident.state, "duplicate": duplicate,
              "merged_into": incident.merged_into_id, "received_at": iso(incident.received_at)}
    report.answer_status, report.answer = (200 if duplicate else 201), answer
    session.flush()
    return report.answer_status, answer


def _incident_of(session: Session, p: Partner, external_id: str) -> tuple[
        PartnerReport | None, Incident | None]:
    """A partner's incident by its own id, or (for a handover pushed to it) by our id."""
    report = session.scalar(select(PartnerReport).where(
        PartnerReport.partner_id == p.id, PartnerReport.external_id == external_id))
    incident_id: int | None = report.incident_id if report is not None else None
    if report is None and external_id.isdigit() and len(external_id) < 10:
        pushed = session.scalar(select(PartnerDelivery.incident_id).where(
            PartnerDelivery.partner_id == p.id,
            PartnerDelivery.incident_id == int(external_id)).limit(1))
        incident_id = pushed
    if incident_id is None:
        if report is None:
            raise Problem(404, "Not found", f"no incident {external_id!r} of yours",
                          field="external_id")
        return report, None
    incident = session.scalar(select(Incident).options(
        joinedload(Incident.zone), joinedload(Incident.elevator))
        .where(Incident.id == incident_id).with_for_update(of=Incident))
    assert incident is not None
    if incident.merged_into_id is not None:
        incident = session.scalar(select(Incident).options(
            joinedload(Incident.zone), joinedload(Incident.elevator))
            .where(Incident.id == incident.merged_into_id).with_for_update(of=Incident))
        assert incident is not None
    if not visibility(p).sees_zone(incident.zone_id):
        raise Problem(404, "Not found", f"no incident {external_id!r} of yours",
                      field="external_id")
    return report, incident


def partner_view(session: Session, p: Partner, external_id: str) -> dict[str, Any]:
    report, incident = _incident_of(session, p, external_id)
    out: dict[str, Any] = {"external_id": external_id,
                           "incident_id": incident.id if incident else None,
                           "resolved": report.resolved if report else True}
    if incident is not None:
        out["state"] = incident.state
        out["incident"] = incident_body(session, incident, None, external_id=(
            report.external_id if report else None))
    return out


FIRE_EVENTS = {"accepted": ACCEPTED_EVENT, "declined": "fire_brigade_declined",
               "arrived": "fire_brigade_arrived", "released": "fire_brigade_released"}


def record_fire_status(session: Session, p: Partner, external_id: str, data: StatusIn, *,
                       now: datetime, settings: Settings) -> dict[str, Any]:
    """A fire_119 partner's step on a level-3 handover, on the timeline as the fire brigade's.
    Its arrival (and release) move the incident like a team's: arrival stops the clock."""
    if p.kind != "fire_119":
        raise Problem(403, "Forbidden", "only fire_119 partners report fire brigade steps",
                      field="status")
    _, incident = _incident_of(session, p, external_id)
    if incident is None:
        raise Problem(409, "Unresolved report", "this report has no incident yet",
                      field="external_id")
    at = data.at or now
    if at > now + timedelta(minutes=2):
        raise Problem(422, "Time in the future", field="at")
    payload: dict[str, Any] = {"partner_id": p.id, "partner": p.name, "fire_brigade": True,
                               "status": data.status}
    if data.note:
        payload["note"] = data.note
    target = {"arrived": lifecycle.ARRIVED, "released": lifecycle.RELEASED}.get(data.status)
    if target is not None and target in lifecycle.allowed_next(incident.state):
        ev = transition(session, incident, target, actor=actor_for(p), at=at, payload=payload,
                        event_type=data.status)
        if target == lifecycle.ARRIVED:
            timers.cancel(session, incident_id=incident.id, now=now, why="arrived (119)",
                          kinds=("sla_warning", "sla_overdue"))
        else:
            timers.cancel(session, incident_id=incident.id, now=now, why="released (119)",
                          kinds=("sla_warning", "sla_overdue", "trapped_reminder"))
            timers.schedule(session, "callback_due",
                            at + timedelta(minutes=settings.callback_delay_min),
                            incident_id=incident.id)
    else:
        ev = append_event(session, incident, type=FIRE_EVENTS[data.status], actor=actor_for(p),
                          at=at, payload=payload)
    session.flush()
    return {"incident_id": incident.id, "state": incident.state, "recorded": ev.type,
            "seq": ev.seq}


def feed(session: Session, p: Partner, *, since: int, limit: int, now: datetime,
         settings: Settings) -> tuple[list[dict[str, Any]], int]:
    """Rows after ``since`` (a row id), oldest first, only those older than the feed lag: a row
    whose transaction is still committing gets a lower id than one already visible, so a cursor
    that ran past it would skip it."""
    settled = now - timedelta(seconds=settings.partner_feed_lag_s)
    rows = session.scalars(select(PartnerDelivery).where(
        PartnerDelivery.partner_id == p.id, PartnerDelivery.id > since,
        PartnerDelivery.created_at <= settled).order_by(PartnerDelivery.id).limit(limit)).all()
    return [r.payload for r in rows], (rows[-1].id if rows else since)
