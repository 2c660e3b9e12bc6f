"""Telemetry routes: the signed device API, device registration (admin), console views."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlalchemy import select

from dispatch.deps import Admin, AnyUser, Now, SessionDep, SettingsDep, Staff, ViewerDep
from dispatch.errors import Problem
from dispatch.incidents.service import load_incident
from dispatch.ops.metrics import count_telemetry
from dispatch.security.ids import Id, QueryId
from dispatch.telemetry import codes, liveness, service
from dispatch.telemetry.auth import SignedDevice
from dispatch.telemetry.models import Device
from dispatch.telemetry.schemas import (
    AlarmFacts,
    AlarmOut,
    BatchResult,
    CodeOut,
    DeviceCreate,
    DeviceCreated,
    DeviceOut,
    PowerCut,
    parse_batch,
)

router = APIRouter(prefix="/api/v1/telemetry", tags=["telemetry"])


@router.post("/events", response_model=BatchResult)
def post_events(device: SignedDevice, session: SessionDep, settings: SettingsDep,
                now: Now, request: Request) -> BatchResult:
    """A signed batch of 1–500 terminal events (README, "Device API").

    Exactly once per ``(device, event_id)``: a resent batch answers the same outcomes with
    ``duplicate: true`` and changes nothing. A malformed event is a 422 naming
    ``events.<index>.<field>``, and nothing of that batch is stored."""
    events, raw = parse_batch(device.body)
    horizon = now + timedelta(seconds=settings.telemetry_max_skew_s)
    for i, ev in enumerate(events):
        if ev.occurred_at > horizon:
            raise Problem(422, "Invalid event batch",
                          f"events.{i}.occurred_at: later than the server clock allows",
                          field=f"events.{i}.occurred_at", event_index=i,
                          event_field="occurred_at")
    result = service.ingest(session, device_id=device.id, elevator_id=device.elevator_id,
                            events=events, raw=raw, now=now, settings=settings)
    count_telemetry(result.results)  # issue 18 (the unit of work commits after the return)
    tr = liveness.record(request.app.state.liveness,  # a sign of life (issue 19)
                         [liveness.beat(device.id, device.elevator_id, now)])
    liveness.apply_transitions(session, tr, now)
    return result


@router.post("/devices", status_code=201, response_model=DeviceCreated)
def add_device(body: DeviceCreate, user: Admin, session: SessionDep,
               request: Request) -> DeviceCreated:
    """Register a terminal to an elevator. The secret is shown once; put it in the device."""
    device, secret = service.add_device(session, elevator_id=body.elevator_id,
                                        device_id=body.device_id, label=body.label,
                                        app_secret=request.app.state.secret_key)
    return DeviceCreated(device_id=device.id, secret=secret, elevator_id=device.elevator_id)


@router.get("/devices", response_model=list[DeviceOut])
def list_devices(user: Admin, session: SessionDep,
                 elevator_id: QueryId = None,
                 limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[DeviceOut]:
    """Registered terminals (never their secrets)."""
    stmt = select(Device)
    if elevator_id is not None:
        stmt = stmt.where(Device.elevator_id == elevator_id)
    return [DeviceOut(device_id=d.id, elevator_id=d.elevator_id, active=d.active, label=d.label,
                      created_at=d.created_at)
            for d in session.scalars(stmt.order_by(Device.created_at, Device.id).limit(limit))]


@router.get("/alarms", response_model=list[AlarmOut])
def list_alarms(_: Staff, viewer: ViewerDep, session: SessionDep,
                elevator_id: QueryId = None,
                incident_id: QueryId = None,
                device_id: Annotated[str | None, Query(max_length=64)] = None,
                outcome: Annotated[str | None, Query(max_length=16)] = None,
                limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[AlarmOut]:
    """Stored alarms newest first, each with its code name (unknown codes as sent) and fate."""
    return service.list_alarms(session, viewer, elevator_id=elevator_id, incident_id=incident_id,
                               device_id=device_id, outcome=outcome, limit=limit)


@router.get("/incidents/{incident_id}", response_model=AlarmFacts)
def incident_alarm_facts(incident_id: Id, _: Staff, viewer: ViewerDep,
                         session: SessionDep) -> AlarmFacts:
    """Alarm facts of an incident: alarm count and the "recovered by itself" flag."""
    incident = load_incident(session, incident_id, viewer)
    facts = service.alarm_facts(session, incident)
    if facts is None:
        raise Problem(404, "No alarms", f"incident {incident_id} has no telemetry alarms",
                      field="incident_id")
    return facts


@router.get("/recovered", response_model=list[AlarmFacts])
def recovered(_: Staff, viewer: ViewerDep, session: SessionDep) -> list[AlarmFacts]:
    """Active incidents whose lift reported "back to normal" soon after the alarm: verify by
    calling back before cancelling (never closed automatically)."""
    return service.recovered_open(session, viewer)


@router.get("/power-cuts", response_model=list[PowerCut])
def power_cuts(_: Staff, viewer: ViewerDep, session: SessionDep, settings: SettingsDep, now: Now,
               hours: Annotated[float, Query(gt=0, le=168)] = 6) -> list[PowerCut]:
    """Area power cuts (many elevators of one district losing mains power within minutes)
    in the last ``hours``, newest first, with their incidents."""
    return service.power_cuts(session, viewer, since=now - timedelta(hours=hours),
                              settings=settings)


@router.get("/codes", response_model=list[CodeOut])
def code_table(user: AnyUser) -> list[CodeOut]:
    """The code table (GB/T 24476-style numbers and retrofit events)."""
    return [CodeOut(code=c.code, kind=c.kind, name_zh=c.name_zh, name_en=c.name_en,
                    entrapment=c.entrapment, mode=c.mode) for c in codes.table()]
