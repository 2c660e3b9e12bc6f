"""Routes of terminal liveness (issue 19): the signed HTTP heartbeat, the console's offline
alerts and per-elevator flag, the consumer status, and the office's terminal review."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select

from dispatch.deps import Admin, Now, SessionDep, SettingsDep, Staff, ViewerDep, require_roles
from dispatch.errors import Problem
from dispatch.models import Elevator, User
from dispatch.telemetry import liveness
from dispatch.telemetry.auth import SignedDevice
from dispatch.telemetry.liveness_schemas import (
    AlertOut,
    ElevatorLiveness,
    HeartbeatResult,
    OfflineTerminal,
    OnlineRate,
    parse_heartbeat,
)

router = APIRouter(prefix="/api/v1/telemetry", tags=["telemetry"])
review_router = APIRouter(prefix="/api/v1/reports/terminals", tags=["reports"])
Reviewer = Annotated[User, Depends(require_roles("office", "supervisor", "admin"))]


@router.post("/heartbeat", response_model=HeartbeatResult)
def post_heartbeat(device: SignedDevice, session: SessionDep, request: Request,
                   now: Now) -> HeartbeatResult:
    """A signed heartbeat ``{seq, at, mode?, floor?, door_zone?}`` (same headers as events).
    Writes no row: the last-seen state goes to the liveness store; only a change of state
    (back from offline, mains lost or back) is written."""
    hb = parse_heartbeat(device.body)
    beat = liveness.beat(device.id, device.elevator_id, now, hb)
    tr = liveness.record(request.app.state.liveness, [beat])
    if tr:
        liveness.apply_transitions(session, tr, now)
    return HeartbeatResult(device_id=device.id, seq=hb.seq, state="online",
                           was_offline=bool(tr.back_online), mode=beat.mode)


@router.get("/offline", response_model=list[AlertOut])
def offline_alerts(_: Staff, viewer: ViewerDep, session: SessionDep,
                   state: Literal["open", "all"] = "open",
                   kind: Literal["offline", "mains_lost"] | None = None,
                   elevator_id: Annotated[int | None, Query(gt=0)] = None,
                   limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[AlertOut]:
    """Terminal alerts (``offline``, ``mains_lost``), newest first; open ones by default.
    Not incidents: a dead alarm line to be repaired, and a hint of an area power cut."""
    return liveness.list_alerts(session, viewer, open_only=state == "open", kind=kind,
                                elevator_id=elevator_id, limit=limit)


@router.get("/liveness", response_model=ElevatorLiveness)
def elevator_liveness(_: Staff, viewer: ViewerDep, session: SessionDep, request: Request, now: Now,
                      settings: SettingsDep,
                      elevator_id: Annotated[int, Query(gt=0)]) -> ElevatorLiveness:
    """For the operator taking a call about an elevator: ``terminal_offline: true`` means its
    alarm terminal is silent (an entrapment there may not raise an alarm)."""
    if session.scalar(viewer.elevators(select(Elevator.id).where(
            Elevator.id == elevator_id))) is None:
        raise Problem(404, "Elevator not found", f"no elevator {elevator_id} you may see",
                      field="elevator_id")
    return liveness.elevator_liveness(session, request.app.state.liveness,
                                      elevator_id=elevator_id, now=now, settings=settings)


@router.get("/mqtt")
def mqtt_status(_: Admin, request: Request) -> dict[str, Any]:
    """This process's MQTT consumer (or ``null`` when ``RESCUE_MQTT_URL`` is unset) and the
    deployment's counters (messages, stored, refused by reason, heartbeats)."""
    consumer = getattr(request.app.state, "mqtt", None)
    return {"consumer": consumer.status() if consumer is not None else None,
            "counters": request.app.state.liveness.counters()}


@review_router.get("/offline", response_model=list[OfflineTerminal])
def offline_longest(_: Reviewer, viewer: ViewerDep, session: SessionDep, now: Now,
                    district: Annotated[str | None, Query(max_length=64)] = None,
                    limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[OfflineTerminal]:
    """Terminals offline now, longest first (own region for an office account)."""
    return liveness.offline_longest(session, viewer, now=now, district=district, limit=limit)


@review_router.get("/online-rate", response_model=list[OnlineRate])
def online_rate(_: Reviewer, viewer: ViewerDep, session: SessionDep,
                group_by: Literal["zone", "company"] = "zone",
                district: Annotated[str | None, Query(max_length=64)] = None) -> list[OnlineRate]:
    """Online rate of the registered terminals per zone or per maintenance company (state as
    of the last flush, at most ``RESCUE_HEARTBEAT_FLUSH_S`` old)."""
    return liveness.online_rate(session, viewer, group_by=group_by, district=district)
