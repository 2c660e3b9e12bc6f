"""Terminal liveness (issue 19): heartbeats into the store, offline detection and clearance,
the batched flush to ``device_liveness``, terminal alerts and their views.

Who writes what, and why it is race-free with many workers:
- ``device_liveness.state`` changes only by conditional updates (``… WHERE state='online'`` to
  go offline, ``… WHERE state='offline'`` to come back), so two sweepers never raise one alert
  twice and two consumers never clear one twice;
- alerts are rows (``terminal_alert``) written in the same transaction as the state change, and
  the live ``terminal_*`` stream events are published only after that commit;
- the deadline itself is the last-seen time in the store (Redis, or memory re-seeded from the
  database), never a timer in memory.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from dispatch.errors import Problem
from dispatch.live import queue_live
from dispatch.models import Elevator, Organization, Zone
from dispatch.scoping import Visibility
from dispatch.settings import Settings
from dispatch.telemetry import codes
from dispatch.telemetry.liveness_models import DeviceLiveness, TerminalAlert
from dispatch.telemetry.liveness_schemas import (
    AlertOut,
    ElevatorLiveness,
    HeartbeatIn,
    OfflineTerminal,
    OnlineRate,
    TerminalState,
)
from dispatch.telemetry.liveness_store import Beat, LivenessStore, Seen, Transitions
from dispatch.telemetry.models import Device
from dispatch.uow import unit_of_work

log = logging.getLogger("rescue.liveness")
MAINS_LOST = "power_lost"


def _ts(at: datetime) -> float:
    return at.timestamp()


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _insert(session: Session, table: Any) -> Any:
    return (postgresql.insert(table) if session.get_bind().dialect.name == "postgresql"
            else sqlite.insert(table))


def offline_after_s(settings: Settings) -> float:
    """Silence longer than this is offline: the expected interval × the factor."""
    return settings.heartbeat_interval_s * settings.offline_factor


def heartbeat_mode(mode: str | None) -> str | None:
    """A heartbeat's mode in the code table's words (``41``/``power_cut`` → ``power_lost``);
    an unknown mode is kept as sent."""
    if mode is None:
        return None
    code = codes.lookup(mode)
    return code.mode if code.mode else mode


def beat(device_id: str, elevator_id: int, now: datetime, hb: HeartbeatIn | None = None) -> Beat:
    """The sign of life a message gives: a heartbeat's state, or just "heard from"."""
    if hb is None:
        return Beat(device_id, elevator_id, _ts(now))
    mode = heartbeat_mode(hb.mode)
    return Beat(device_id, elevator_id, _ts(now), True, hb.seq, mode,
                None if hb.floor is None else str(hb.floor), hb.door_zone,
                None if mode is None else mode == MAINS_LOST)


# --- live events ----------------------------------------------------------------------------


def _queue(session: Session, type_: str, rows: Sequence[dict[str, Any]], at: datetime) -> None:
    for r in rows:
        queue_live(session, {
            "seq": None, "type": type_, "incident_id": None, "team_id": None,
            "elevator_id": r["elevator_id"], "zone": r.get("zone"), "zone_id": r.get("zone_id"),
            "at": at.isoformat(), "data": {k: (v.isoformat() if isinstance(v, datetime) else v)
                                           for k, v in r.items()}})


def _places(session: Session, elevator_ids: set[int]) -> dict[int, tuple[int, str, str, str]]:
    """elevator id → (zone id, zone name, rescue code, address), one query."""
    if not elevator_ids:
        return {}
    rows = session.execute(select(Elevator.id, Elevator.zone_id, Zone.name, Elevator.rescue_code,
                                  Elevator.address).join(Zone, Zone.id == Elevator.zone_id)
                           .where(Elevator.id.in_(elevator_ids)))
    return {e: (z, zn, rc, a) for e, z, zn, rc, a in rows}


# --- transitions (a terminal comes back, or reports mains lost / back) -----------------------

def apply_transitions(session: Session, tr: Transitions, now: datetime) -> None:
    """Write what the store noticed: clear offline alerts of terminals heard from again,
    raise / clear ``mains_lost`` alerts. Flushes; the caller's unit of work commits."""
    if tr.back_online:
        _clear_offline(session, tr.back_online, now, by="message")
    if tr.mains_back:
        _clear(session, "mains_lost", tr.mains_back, now, by="heartbeat",
               event="terminal_mains_back")
    if tr.mains_lost:
        open_ = set(session.scalars(select(TerminalAlert.device_id).where(
            TerminalAlert.kind == "mains_lost", TerminalAlert.cleared_at.is_(None),
            TerminalAlert.device_id.in_(tr.mains_lost))))
        new = [d for d in tr.mains_lost if d not in open_]
        devices = dict(session.execute(select(Device.id, Device.elevator_id)
                                       .where(Device.id.in_(new))).all())
        _raise(session, "mains_lost", [(d, devices[d], None) for d in new if d in devices], now,
               event="terminal_mains_lost")
    session.flush()


def _raise(session: Session, kind: str, rows: Sequence[tuple[str, int, datetime | None]],
           now: datetime, *, event: str) -> int:
    if not rows:
        return 0
    places = _places(session, {e for _, e, _ in rows})
    alerts = [TerminalAlert(kind=kind, device_id=d, elevator_id=e,
                            zone_id=places.get(e, (None,))[0], raised_at=now, last_seen_at=seen)
              for d, e, seen in rows]
    session.add_all(alerts)
    session.flush()
    _queue(session, event, [{"alert_id": a.id, "kind": kind, "device_id": a.device_id,
                             "elevator_id": a.elevator_id, "zone_id": a.zone_id,
                             "zone": places.get(a.elevator_id, (0, None))[1],
                             "rescue_code": places.get(a.elevator_id, (0, 0, None))[2],
                             "last_seen_at": a.last_seen_at} for a in alerts], now)
    return len(alerts)


def _clear(session: Session, kind: str, device_ids: Sequence[str], now: datetime, *, by: str,
           event: str) -> int:
    rows = session.execute(
        update(TerminalAlert).where(TerminalAlert.kind == kind,
                                    TerminalAlert.cleared_at.is_(None),
                                    TerminalAlert.device_id.in_(list(device_ids)))
        .values(cleared_at=now, cleared_by=by)
        .returning(TerminalAlert.id, TerminalAlert.device_id, TerminalAlert.elevator_id,
                   TerminalAlert.raised_at),
        execution_options={"synchronize_session": False}).all()
    places = _places(session, {r.elevator_id for r in rows})
    _queue(session, event, [{"alert_id": r.id, "kind": kind, "device_id": r.device_id,
                             "elevator_id": r.elevator_id,
                             "zone_id": places.get(r.elevator_id, (None,))[0],
                             "zone": places.get(r.elevator_id, (0, None))[1],
                             "rescue_code": places.get(r.elevator_id, (0, 0, None))[2],
                             "raised_at": r.raised_at} for r in rows], now)
    return len(rows)


def _clear_offline(session: Session, device_ids: Sequence[str], now: datetime, *, by: str) -> int:
    back = list(session.scalars(
        update(DeviceLiveness).where(DeviceLiveness.device_id.in_(list(device_ids)),
                                     DeviceLiveness.state == "offline")
        .values(state="online", offline_since=None, last_seen_at=now)
        .returning(DeviceLiveness.device_id),
        execution_options={"synchronize_session": False}))
    if not back:
        return 0
    return _clear(session, "offline", back, now, by=by, event="terminal_online")


def record(store: LivenessStore, beats: Sequence[Beat]) -> Transitions:
    """Put signs of life into the store; what changed state comes back for the database."""
    tr = store.record(beats)
    n_hb = sum(b.heartbeat for b in beats)
    store.incr({"heartbeats": n_hb} if n_hb else {})
    return tr


# --- the sweep (job loop) --------------------------------------------------------------------

def sweep(factory: sessionmaker[Session], store: LivenessStore, *, settings: Settings,
          now: datetime, chunk: int = 1000) -> tuple[int, int]:
    """Raise an ``offline`` alert for every terminal silent longer than the limit, and clear
    alerts of terminals heard from since (the store may know before the database). Returns
    (raised, cleared)."""
    cutoff = _ts(now) - offline_after_s(settings)
    silent = store.silent(cutoff)
    raised = 0
    for i in range(0, len(silent), chunk):
        part = silent[i:i + chunk]
        with unit_of_work(factory) as session:
            session.execute(_insert(session, DeviceLiveness).on_conflict_do_nothing(
                index_elements=["device_id"]),
                [{"device_id": s.device_id, "elevator_id": s.elevator_id, "state": "online",
                  "last_seen_at": _dt(s.at), "last_seq": s.seq, "mode": s.mode,
                  "floor": s.floor, "door_zone": s.door_zone} for s in part])
            seen = {s.device_id: s for s in part}
            went = session.execute(
                update(DeviceLiveness).where(DeviceLiveness.device_id.in_(list(seen)),
                                             DeviceLiveness.state == "online")
                .values(state="offline", offline_since=now)
                .returning(DeviceLiveness.device_id, DeviceLiveness.elevator_id),
                execution_options={"synchronize_session": False}).all()
            raised += _raise(session, "offline",
                             [(d, e, _dt(seen[d].at)) for d, e in went], now,
                             event="terminal_offline")
        store.mark_offline(seen)
    cleared = _reconcile(factory, store, now=now)
    if raised or cleared:
        log.info("liveness sweep: %d terminals offline, %d back", raised, cleared)
        store.incr({"offline_raised": raised, "offline_cleared": cleared})
    return raised, cleared


def _reconcile(factory: sessionmaker[Session], store: LivenessStore, *, now: datetime) -> int:
    """Offline in the database but heard from since (e.g. the store's offline mark was lost):
    clear. Cheap: only the offline terminals are read."""
    with factory() as session:
        offline = session.execute(select(DeviceLiveness.device_id, DeviceLiveness.offline_since)
                                  .where(DeviceLiveness.state == "offline")).all()
    if not offline:
        return 0
    seen = store.last_seen([d for d, _ in offline])
    back = [d for d, since in offline if d in seen and since is not None
            and seen[d] > _ts(since)]
    if not back:
        return 0
    with unit_of_work(factory) as session:
        return _clear_offline(session, back, now, by="message")


# --- the flush and the seed ------------------------------------------------------------------

def flush(factory: sessionmaker[Session], store: LivenessStore, *, settings: Settings,
          now: datetime, force: bool = False, chunk: int = 2000) -> int:
    """Write the changed terminals' last-seen state to ``device_liveness`` in batches, at most
    once per ``heartbeat_flush_s`` across all workers (a Redis lock; memory: this process)."""
    if not force and not store.acquire_flush(settings.heartbeat_flush_s * 0.95):
        return 0
    dirty = store.take_dirty()
    for i in range(0, len(dirty), chunk):
        part = dirty[i:i + chunk]
        with unit_of_work(factory) as session:
            stmt = _insert(session, DeviceLiveness)
            ex = stmt.excluded
            stmt = stmt.on_conflict_do_update(index_elements=["device_id"], set_={
                "last_seen_at": func.coalesce(
                    case((ex.last_seen_at > DeviceLiveness.last_seen_at, ex.last_seen_at),
                         else_=DeviceLiveness.last_seen_at), ex.last_seen_at),
                "last_seq": func.coalesce(ex.last_seq, DeviceLiveness.last_seq),
                "mode": func.coalesce(ex.mode, DeviceLiveness.mode),
                "floor": func.coalesce(ex.floor, DeviceLiveness.floor),
                "door_zone": func.coalesce(ex.door_zone, DeviceLiveness.door_zone),
                "elevator_id": ex.elevator_id, "flushed_at": ex.flushed_at})
            session.execute(stmt, [
                {"device_id": s.device_id, "elevator_id": s.elevator_id, "state": "online",
                 "last_seen_at": _dt(s.at), "last_seq": s.seq, "mode": s.mode,
                 "floor": s.floor, "door_zone": s.door_zone, "flushed_at": now}
                for s in part])
    if dirty:
        store.incr({"flushed": len(dirty)})
    return len(dirty)


def seed_store(factory: sessionmaker[Session], store: LivenessStore) -> int:
    """Give an empty store the database's last-seen times (a restarted process with a memory
    store, or a wiped Redis), so silent terminals still go offline."""
    with factory() as session:
        rows = session.execute(select(
            DeviceLiveness.device_id, DeviceLiveness.elevator_id, DeviceLiveness.last_seen_at,
            DeviceLiveness.last_seq, DeviceLiveness.mode, DeviceLiveness.floor,
            DeviceLiveness.door_zone, DeviceLiveness.state)).all()
    return store.seed((Seen(d, e, _ts(at), q, m, f, z), st == "offline")
                      for d, e, at, q, m, f, z, st in rows)


# --- views -----------------------------------------------------------------------------------

def _district(session: Session, viewer: Visibility, district: str | None) -> str | None:
    """The district a review covers: an office's own region, 403 for another one."""
    district, outside = viewer.district_for_report(district)
    if outside:
        raise Problem(403, "Outside your region", f"this account sees only {district}",
                      field="district")
    return district


def elevator_liveness(session: Session, store: LivenessStore, *, elevator_id: int,
                      now: datetime, settings: Settings) -> ElevatorLiveness:
    """The terminals of an elevator and whether they are alive, from the store's live times
    (fresher than the database) and the database's offline state."""
    devices = list(session.scalars(select(Device.id).where(Device.elevator_id == elevator_id,
                                                           Device.active.is_(True))
                                   .order_by(Device.id)))
    rows = {r.device_id: r for r in session.scalars(
        select(DeviceLiveness).where(DeviceLiveness.device_id.in_(devices)))}
    live = store.last_seen(devices)
    limit = offline_after_s(settings)
    out: list[TerminalState] = []
    for d in devices:
        row = rows.get(d)
        seen = live.get(d)
        last = _dt(seen) if seen is not None else (row.last_seen_at if row else None)
        if last is None:
            state = "unknown"
        elif (row is not None and row.state == "offline" and (seen is None or row.offline_since
                                                               is None or seen <= _ts(
                                                                   row.offline_since))):
            state = "offline"
        else:
            state = "offline" if (now - last).total_seconds() > limit else "online"
        out.append(TerminalState(device_id=d, state=state, last_seen_at=last,
                                 offline_since=row.offline_since if row and state == "offline"
                                 else None, mode=row.mode if row else None))
    return ElevatorLiveness(elevator_id=elevator_id,
                            terminal_offline=any(t.state == "offline" for t in out),
                            terminals=out)


def list_alerts(session: Session, viewer: Visibility, *, open_only: bool, kind: str | None,
                elevator_id: int | None, limit: int) -> list[AlertOut]:
    stmt = (select(TerminalAlert, Elevator.rescue_code, Elevator.address, Zone.name)
            .join(Elevator, Elevator.id == TerminalAlert.elevator_id)
            .join(Zone, Zone.id == Elevator.zone_id))
    if open_only:
        stmt = stmt.where(TerminalAlert.cleared_at.is_(None))
    if kind:
        stmt = stmt.where(TerminalAlert.kind == kind)
    if elevator_id is not None:
        stmt = stmt.where(TerminalAlert.elevator_id == elevator_id)
    stmt = viewer.elevators(stmt, TerminalAlert.elevator_id)
    rows = session.execute(stmt.order_by(TerminalAlert.raised_at.desc(), TerminalAlert.id.desc())
                           .limit(limit)).all()
    return [AlertOut(id=a.id, kind=a.kind, device_id=a.device_id, elevator_id=a.elevator_id,
                     rescue_code=rc, address=addr, zone=zn, raised_at=a.raised_at,
                     last_seen_at=a.last_seen_at, cleared_at=a.cleared_at,
                     cleared_by=a.cleared_by) for a, rc, addr, zn in rows]


def offline_longest(session: Session, viewer: Visibility, *, now: datetime,
                    district: str | None,
                    limit: int) -> list[OfflineTerminal]:
    """Terminals offline now, longest first: the list an office sends to the companies."""
    company = Organization
    stmt = (select(DeviceLiveness, Elevator.rescue_code, Elevator.address, Zone.name,
                   company.name)
            .join(Elevator, Elevator.id == DeviceLiveness.elevator_id)
            .join(Zone, Zone.id == Elevator.zone_id)
            .outerjoin(company, company.id == Elevator.maintenance_company_id)
            .join(Device, Device.id == DeviceLiveness.device_id)
            .where(DeviceLiveness.state == "offline", Device.active.is_(True)))
    stmt = viewer.elevators(stmt, DeviceLiveness.elevator_id)
    district = _district(session, viewer, district)
    if district:
        stmt = stmt.where(Zone.name == district)
    rows = session.execute(stmt.order_by(DeviceLiveness.offline_since, DeviceLiveness.device_id)
                           .limit(limit)).all()
    return [OfflineTerminal(
        device_id=r.device_id, elevator_id=r.elevator_id, rescue_code=rc, address=addr, zone=zn,
        maintenance_company=cn, offline_since=r.offline_since or now,
        last_seen_at=r.last_seen_at,
        offline_for_s=round((now - (r.offline_since or now)).total_seconds(), 1))
        for r, rc, addr, zn, cn in rows]


def online_rate(session: Session, viewer: Visibility, *, group_by: str,
                district: str | None) -> list[OnlineRate]:
    """Per zone or maintenance company: registered active terminals, how many are online,
    offline, never heard from, and the online rate (online / terminals)."""
    key = Zone.name if group_by == "zone" else func.coalesce(Organization.name, "—")
    state = DeviceLiveness.state
    stmt = (select(key, func.count(Device.id),
                   func.sum(case((state == "online", 1), else_=0)),
                   func.sum(case((state == "offline", 1), else_=0)),
                   func.sum(case((state.is_(None), 1), else_=0)))
            .select_from(Device)
            .join(Elevator, Elevator.id == Device.elevator_id)
            .join(Zone, Zone.id == Elevator.zone_id)
            .outerjoin(Organization, Organization.id == Elevator.maintenance_company_id)
            .outerjoin(DeviceLiveness, DeviceLiveness.device_id == Device.id)
            .where(Device.active.is_(True)).group_by(key).order_by(key))
    stmt = viewer.elevators(stmt, Device.elevator_id)
    district = _district(session, viewer, district)
    if district:
        stmt = stmt.where(Zone.name == district)
    out = []
    for k, n, on, off, never in session.execute(stmt).all():
        out.append(OnlineRate(key=str(k), terminals=int(n), online=int(on or 0),
                              offline=int(off or 0), never_seen=int(never or 0),
                              online_rate=round(int(on or 0) / n, 4) if n else None))
    return out


def power_lost_reports(session: Session, viewer: Visibility, *,
                       since: datetime) -> list[tuple[int, int, datetime, str]]:
    """(zone, elevator, at, source) of terminal alerts that point at an area power cut:
    terminals going offline, and heartbeats reporting mains lost."""
    stmt = (select(Elevator.zone_id, TerminalAlert.elevator_id, TerminalAlert.raised_at,
                   TerminalAlert.kind)
            .join(Elevator, Elevator.id == TerminalAlert.elevator_id)
            .where(TerminalAlert.raised_at >= since,
                   TerminalAlert.kind.in_(("offline", "mains_lost"))))
    stmt = viewer.elevators(stmt, TerminalAlert.elevator_id)
    return [(z, e, at, kind) for z, e, at, kind in session.execute(stmt).all()]

