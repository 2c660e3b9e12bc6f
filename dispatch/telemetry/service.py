"""Ingestion of device batches and the console's views. Services flush; the request commits.

One batch is one transaction: the per-elevator state row is upserted first (which serialises
batches for one elevator on both backends), already-stored event ids are read back, new events
are judged in the order they happened, entrapments go through the shared intake service
(``create_incident``: same merging and SLA timers as a phone call), and all new alarm rows are
written with one multi-row ``INSERT … ON CONFLICT DO NOTHING``.

The MQTT consumer splits this in two (``accept_many`` stores and acknowledges, ``judge_queued``
applies the same rules to the stored rows later), so that opening incidents never holds back
storage; the HTTP API judges on arrival because it answers with each event's outcome.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from dispatch import lifecycle
from dispatch.elevators.service import get_elevators
from dispatch.errors import Problem
from dispatch.events import Actor, append_event
from dispatch.incidents.schemas import IncidentCreate
from dispatch.incidents.service import create_incident, narrow_to_open_of
from dispatch.models import Elevator, Incident, Zone
from dispatch.scoping import Visibility
from dispatch.settings import Settings
from dispatch.telemetry import codes, liveness, rules, signing
from dispatch.telemetry.models import Alarm, AlarmIncident, Device, ElevatorTelemetry
from dispatch.telemetry.schemas import (
    AlarmFacts,
    AlarmOut,
    BatchResult,
    EventIn,
    EventResult,
    PowerCut,
    PowerCutIncident,
)


def _insert(session: Session, table: Any) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table))


# --- devices ---------------------------------------------------------------------------------

def add_device(session: Session, *, elevator_id: int, app_secret: str,
               device_id: str | None = None, label: str | None = None) -> tuple[Device, str]:
    """Register a terminal; returns the device and its secret (shown once, stored sealed)."""
    if session.get(Elevator, elevator_id) is None:
        raise Problem(404, "Elevator not found", f"no elevator with id {elevator_id}",
                      field="elevator_id")
    device_id = device_id or signing.new_device_id()
    if session.get(Device, device_id) is not None:
        raise Problem(409, "Device exists", f"device {device_id} is already registered",
                      field="device_id")
    secret = signing.new_secret()
    device = Device(id=device_id, elevator_id=elevator_id, label=label,
                    secret_sealed=signing.seal(secret, app_secret))
    session.add(device)
    session.flush()
    return device, secret


# --- ingestion -------------------------------------------------------------------------------

@dataclass
class _Batch:
    session: Session
    device_id: str
    elevator_id: int
    state: ElevatorTelemetry
    now: datetime
    settings: Settings
    actor: Actor
    reads: _Reads
    facts: AlarmIncident | None = None  # the open incident's alarm facts, once looked up
    looked_up: bool = False


@dataclass(slots=True)
class _Ahead:
    """What a judging round read at once for a lift: the elevator with its references, and
    its newest open incident (when it was received, its alarm facts if any)."""

    elevator: Elevator | None
    open_since: datetime | None = None
    facts: AlarmIncident | None = None


class _Reads:
    """The elevators and open incidents of every lift of one call (a batch, a judging round),
    read in two queries the first time an event needs them, not two per lift; a call whose
    events open nothing reads nothing. ``since``: the earliest duplicate window of the call
    (each event still applies its own)."""

    def __init__(self, session: Session, lifts: Sequence[int], *, since: datetime) -> None:
        self.session, self.lifts, self.since = session, lifts, since
        self._rows: dict[int, _Ahead] | None = None

    def of(self, lift: int) -> _Ahead:
        if self._rows is None:
            self._rows = {e.id: _Ahead(e) for e in get_elevators(self.session, self.lifts)}
            found = self.session.execute(narrow_to_open_of(
                select(Incident.elevator_id, Incident.received_at, AlarmIncident).outerjoin(
                    AlarmIncident, AlarmIncident.incident_id == Incident.id),
                self.lifts, since=self.since).order_by(Incident.received_at))
            for elevator_id, received_at, facts in found:  # the newest last, so it stays
                ahead = self._rows.setdefault(elevator_id, _Ahead(None))
                ahead.open_since, ahead.facts = received_at, facts
        return self._rows.get(lift) or _Ahead(None)


def _lock_states(session: Session, elevator_ids: Sequence[int],
                 now: datetime) -> dict[int, ElevatorTelemetry]:
    """Upsert the elevators' rows (taking their row locks, in id order) and load them, in one
    statement."""
    ids = sorted(set(elevator_ids))
    stmt = _insert(session, ElevatorTelemetry).values(
        [{"elevator_id": e, "mode": "normal", "last_event_at": now} for e in ids])
    stmt = stmt.on_conflict_do_update(index_elements=["elevator_id"],
                                      set_={"last_event_at": now})
    rows = session.scalars(stmt.returning(ElevatorTelemetry),
                           execution_options={"populate_existing": True}).all()
    return {r.elevator_id: r for r in rows}


def _open_facts(b: _Batch, ev: EventIn, code: codes.Code) -> tuple[str, AlarmIncident | None]:
    """Create or join the elevator's open incident; returns (outcome, its alarm facts)."""
    if b.looked_up and b.facts is not None:
        return "joined", b.facts
    b.looked_up = True
    session = b.session
    since = b.now - timedelta(minutes=b.settings.duplicate_window_min)
    # is there an open incident, and has it alarm facts (create_incident checks again under
    # the elevator's lock)
    ahead = b.reads.of(b.elevator_id)
    open_since = ahead.open_since
    facts = ahead.facts if open_since is not None and open_since >= since else None
    if facts is not None:
        b.facts = facts
        return "joined", facts
    elevator = ahead.elevator  # with the references the incident needs
    if elevator is None or not elevator.in_service:
        return "not_in_service", None
    floor = f"，楼层 {ev.floor}" if ev.floor is not None else ""
    notes = (f"物联网报警 {code.code} {code.name_zh}（设备 {b.device_id}{floor}）"
             f" · IoT alarm: {code.name_en}")
    data = IncidentCreate(elevator_id=b.elevator_id, channel="alarm", notes=notes)
    incident, duplicate = create_incident(session, data=data, actor=b.actor, user_id=None,
                                          now=b.now, settings=b.settings, elevator=elevator)
    parent_id = incident.merged_into_id if duplicate else incident.id
    assert parent_id is not None
    b.facts = AlarmIncident(incident_id=parent_id, elevator_id=b.elevator_id, alarm_count=0,
                            first_alarm_at=ev.occurred_at, last_alarm_at=ev.occurred_at)
    session.add(b.facts)
    return ("joined" if duplicate else "created"), b.facts


def _recover(b: _Batch, ev: EventIn) -> tuple[str, str | None, int | None]:
    """A "back to normal" soon after an entrapment alarm, persons not confirmed: flag it."""
    state = b.state
    after = rules.recovered_after(state.last_entrapment_at, ev.occurred_at,
                                  window_s=b.settings.telemetry_recovery_window_s)
    if after is None or state.last_incident_id is None or ev.passenger_present:
        return "recorded", None, None
    b.session.flush()  # the entrapment may be earlier in this very batch
    stmt = select(Incident).where(Incident.id == state.last_incident_id)
    if b.session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    incident = b.session.scalar(stmt.execution_options(populate_existing=True))
    facts = b.session.get(AlarmIncident, state.last_incident_id)
    if incident is None or facts is None or incident.state != lifecycle.RECEIVED:
        return "recorded", "persons_confirmed" if incident is not None else None, None
    if facts.recovered_at is not None:
        return "recorded", "already_flagged", incident.id
    facts.recovered_at = b.now
    facts.recovered_after_s = after
    append_event(b.session, incident, type="recovered_by_itself", actor=b.actor, at=b.now,
                 payload={"device_id": b.device_id, "event_id": ev.event_id,
                          "after_s": round(after, 1), "action": "verify_by_callback"})
    return "flagged", None, incident.id


def _apply(b: _Batch, ev: EventIn, code: codes.Code) -> tuple[str, str | None, int | None]:
    verdict = rules.judge(code, mode=b.state.mode, held_s=(ev.detail or {}).get("held_s"),
                          button_hold_s=b.settings.telemetry_button_hold_s)
    outcome, reason, incident_id = "recorded", verdict.reason, None
    too_old = b.now - timedelta(hours=b.settings.telemetry_max_age_h)
    if verdict.action in ("incident", "recover") and ev.occurred_at < too_old:
        outcome, reason = "recorded", "too_old"  # history only (issue 12): no live incident
    elif verdict.action == "filter":
        outcome = "filtered"
    elif verdict.action == "incident":
        outcome, facts = _open_facts(b, ev, code)
        if facts is None:
            return "filtered", "elevator_not_in_service", None
        facts.alarm_count += 1
        facts.last_alarm_at = max(facts.last_alarm_at, ev.occurred_at)
        incident_id = facts.incident_id
        if b.state.last_entrapment_at is None or ev.occurred_at > b.state.last_entrapment_at:
            b.state.last_entrapment_at = ev.occurred_at
        b.state.last_incident_id = incident_id
    elif verdict.action == "recover":
        outcome, reason, incident_id = _recover(b, ev)
    if code.mode and (b.state.mode_since is None or ev.occurred_at >= b.state.mode_since):
        b.state.mode = code.mode
        b.state.mode_since = ev.occurred_at
    return outcome, reason, incident_id


@dataclass(frozen=True, slots=True)
class DeviceBatch:
    """One device's batch, as sent (HTTP request body or MQTT message)."""

    device_id: str
    elevator_id: int
    events: Sequence[EventIn]
    raw: Sequence[dict[str, Any]]


def _context(contexts: dict[int, _Batch], reads: _Reads,
             states: dict[int, ElevatorTelemetry], device_id: str, elevator_id: int,
             now: datetime, settings: Settings) -> _Batch:
    """The elevator's judging context (its open incident looked up once per call), set to
    the device and time of the event at hand."""
    actor = Actor(f"device:{device_id}", None, "telemetry")
    b = contexts.get(elevator_id)
    if b is None:
        b = contexts[elevator_id] = _Batch(reads.session, device_id, elevator_id,
                                           states[elevator_id], now, settings, actor, reads)
    b.device_id, b.actor, b.now = device_id, actor, now
    return b


def ingest(session: Session, *, device_id: str, elevator_id: int, events: Sequence[EventIn],
           raw: Sequence[dict[str, Any]], now: datetime, settings: Settings) -> BatchResult:
    """Store each new event exactly once and apply the rules; resent events change nothing and
    are answered with what became of them the first time."""
    return ingest_many(session, [DeviceBatch(device_id, elevator_id, events, raw)], now=now,
                       settings=settings)[0]


def _stored(session: Session, keys: set[tuple[str, str]]) -> dict[tuple[str, str], Any]:
    """Already-stored events among ``keys``, read by device chunks (superset, then filtered)."""
    by_device: dict[str, set[str]] = {}
    for d, e in keys:
        by_device.setdefault(d, set()).add(e)
    out: dict[tuple[str, str], Any] = {}
    devices = sorted(by_device)
    i = 0
    while i < len(devices):
        chunk: list[str] = []
        n = 0
        while i < len(devices) and (not chunk or n + len(by_device[devices[i]]) < 5000):
            chunk.append(devices[i])
            n += len(by_device[devices[i]])
            i += 1
        eids = set().union(*(by_device[d] for d in chunk))
        for row in session.execute(
                select(Alarm.device_id, Alarm.event_id, Alarm.code, Alarm.kind, Alarm.outcome,
                       Alarm.reason, Alarm.incident_id)
                .where(Alarm.device_id.in_(chunk), Alarm.event_id.in_(eids))):
            if (row.device_id, row.event_id) in keys:
                out[(row.device_id, row.event_id)] = row
    return out


def ingest_many(session: Session, batches: Sequence[DeviceBatch], *, now: datetime,
                settings: Settings) -> list[BatchResult]:
    """``ingest`` for many device batches in one transaction (the MQTT consumer's batch): one
    upsert locks every elevator's state row (in id order), one query finds the stored events,
    one multi-row insert writes the new ones; the rules run per event as for one batch, in
    the order the batches came (events of a batch in the order they happened)."""
    states = _lock_states(session, [b.elevator_id for b in batches], now)
    stored = _stored(session, {(b.device_id, ev.event_id) for b in batches for ev in b.events})
    contexts: dict[int, _Batch] = {}
    reads = _Reads(session, sorted(states),
                   since=now - timedelta(minutes=settings.duplicate_window_min))
    results: dict[tuple[str, str], EventResult] = {}
    rows: list[dict[str, Any]] = []
    per_batch_rows: list[int] = []
    for batch in batches:
        b = _context(contexts, reads, states, batch.device_id, batch.elevator_id, now, settings)
        events, raw, n = batch.events, batch.raw, 0
        for i in rules.order_events([ev.occurred_at for ev in events]):
            ev = events[i]
            key = (batch.device_id, ev.event_id)
            if key in stored or key in results:
                continue
            code = codes.lookup(ev.code)
            outcome, reason, incident_id = _apply(b, ev, code)
            results[key] = EventResult(event_id=ev.event_id, code=code.code, kind=code.kind,
                                       outcome=outcome, reason=reason,
                                       incident_id=incident_id)
            rows.append(dict(device_id=batch.device_id, event_id=ev.event_id,
                             elevator_id=batch.elevator_id, code=code.code, kind=code.kind,
                             occurred_at=ev.occurred_at, received_at=now, raw=raw[i],
                             outcome=outcome, reason=reason, incident_id=incident_id))
            n += 1
        per_batch_rows.append(n)
    session.flush()
    if rows:
        rows.sort(key=lambda r: (r["device_id"], r["event_id"]))  # one lock order for resends
        session.execute(_insert(session, Alarm.__table__).on_conflict_do_nothing(
            index_elements=["device_id", "event_id"]), rows)
    answered: set[tuple[str, str]] = set()
    out: list[BatchResult] = []
    for batch, n in zip(batches, per_batch_rows, strict=True):
        answers: list[EventResult] = []
        for ev in batch.events:
            key = (batch.device_id, ev.event_id)
            if key in stored:
                s = stored[key]
                answers.append(EventResult(event_id=ev.event_id, code=s.code, kind=s.kind,
                                           outcome=s.outcome, reason=s.reason,
                                           incident_id=s.incident_id, duplicate=True))
            elif key not in answered:
                answered.add(key)
                answers.append(results[key])
            else:  # the same event id again (in this batch or an earlier one of this call)
                answers.append(results[key].model_copy(update={"duplicate": True}))
        out.append(BatchResult(device_id=batch.device_id, received=len(batch.events), stored=n,
                               duplicates=len(batch.events) - n, results=answers))
    return out


# --- accepted now, judged next (the MQTT consumer, issue 19) -------------------------------

QUEUED = "queued"


@dataclass(frozen=True, slots=True)
class Accepted:
    stored: int
    duplicates: int


def accept_many(session: Session, batches: Sequence[DeviceBatch], *,
                now: datetime) -> list[Accepted]:
    """Store each new event exactly once, not yet judged (outcome ``queued``), in one
    statement: what the consumer commits before it acknowledges. Judging (the rules, opening
    incidents) is ``judge_queued``'s, from the stored rows, so a storm of incident-opening
    alarms never holds back storage and acknowledgement of the rest."""
    # already stored (resends) are skipped before the insert: on PostgreSQL an insert that
    # conflicts with a row a judge has locked would wait for that judge's whole transaction
    stored = _stored(session, {(b.device_id, ev.event_id) for b in batches for ev in b.events})
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for batch in batches:
        for ev, raw in zip(batch.events, batch.raw, strict=True):
            key = (batch.device_id, ev.event_id)
            if key not in rows and key not in stored:
                code = codes.lookup(ev.code)
                rows[key] = dict(device_id=batch.device_id, event_id=ev.event_id,
                                 elevator_id=batch.elevator_id, code=code.code, kind=code.kind,
                                 occurred_at=ev.occurred_at, received_at=now, raw=raw,
                                 outcome=QUEUED, reason=None, incident_id=None)
    new = _insert_queued(session, [rows[k] for k in sorted(rows)]) if rows else set()
    out = []
    for batch in batches:
        n = 0
        for ev in batch.events:
            key = (batch.device_id, ev.event_id)
            if key in new:
                new.discard(key)  # a second copy in this call is a duplicate
                n += 1
        out.append(Accepted(n, len(batch.events) - n))
    return out


# PostgreSQL: one parameter (the rows as JSON) instead of 11 per row, so the statement text is
# the same every time (psycopg re-parses a long multi-row VALUES statement on every call)
_INSERT_QUEUED_PG = text("""
INSERT INTO alarm (device_id, event_id, elevator_id, code, kind, occurred_at, received_at, raw,
                   outcome)
SELECT r.device_id, r.event_id, r.elevator_id, r.code, r.kind, r.occurred_at, r.received_at,
       r.raw, r.outcome
FROM json_to_recordset(CAST(:rows AS json)) AS r(
    device_id text, event_id text, elevator_id integer, code text, kind text,
    occurred_at timestamptz, received_at timestamptz, raw json, outcome text)
ON CONFLICT (device_id, event_id) DO NOTHING
RETURNING device_id, event_id""")


def _insert_queued(session: Session, rows: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """Insert queued alarm rows, skipping ones already there; returns the keys inserted."""
    if session.get_bind().dialect.name == "postgresql":
        payload = json.dumps(rows, default=datetime.isoformat, ensure_ascii=False)
        return {(d, e) for d, e in session.execute(_INSERT_QUEUED_PG, {"rows": payload})}
    table = Alarm.__table__
    stmt = (_insert(session, table).on_conflict_do_nothing(
        index_elements=["device_id", "event_id"]).returning(table.c.device_id, table.c.event_id))
    return {(d, e) for d, e in session.execute(stmt, rows)}


_JUDGE_LOCKS = 19  # pg advisory lock namespace of the judges (issue 19)
_TRY_LOCK_PG = text("SELECT id FROM unnest(CAST(:ids AS integer[])) AS id "
                    "WHERE pg_try_advisory_xact_lock(:ns, id) LIMIT :n")


def judge_queued(session: Session, *, now: datetime, settings: Settings,
                 elevators: int = 100, only: Sequence[int] | None = None) -> int:
    """Judge the queued events of up to ``elevators`` lifts exactly as ``ingest_many`` judges
    a batch, lift by lift in the order the events happened; returns how many were judged.

    A judge takes a lift only if no other judge has it (on PostgreSQL a transaction-scoped
    advisory lock per lift, tried without waiting, so two consumers' judges take different
    lifts; SQLite has one writer), then locks the lift's state row like any batch and reads
    its queued rows after that: one lift's events are never judged by two transactions at
    once nor out of order. An incident's clock starts when its alarm was stored, not when it
    was judged. ``only``: these lifts (a failed round retried lift by lift)."""
    pg = session.get_bind().dialect.name == "postgresql"
    lifts = (list(only) if only is not None else
             queued_lifts(session, limit=elevators * (4 if pg else 1)))  # others' to skip
    if lifts and pg:  # tried in waiting order; the scan stops at the n-th lock taken
        lifts = list(session.scalars(_TRY_LOCK_PG, {"ids": lifts, "ns": _JUDGE_LOCKS,
                                                    "n": elevators}))
    lifts.sort()
    if not lifts:
        return 0
    states = _lock_states(session, lifts, now)
    queued = session.execute(
        select(Alarm.id, Alarm.device_id, Alarm.elevator_id, Alarm.raw, Alarm.received_at)
        .where(Alarm.outcome == QUEUED, Alarm.elevator_id.in_(lifts))
        .order_by(Alarm.elevator_id, Alarm.occurred_at, Alarm.id)).all()
    contexts: dict[int, _Batch] = {}
    verdicts: list[dict[str, Any]] = []
    reads = _Reads(session, lifts, since=min((r.received_at for r in queued), default=now)
                   - timedelta(minutes=settings.duplicate_window_min))
    for row in queued:
        b = _context(contexts, reads, states, row.device_id, row.elevator_id,
                     row.received_at, settings)
        ev = EventIn.model_validate(row.raw)
        outcome, reason, incident_id = _apply(b, ev, codes.lookup(ev.code))
        verdicts.append({"id": row.id, "outcome": outcome, "reason": reason,
                         "incident_id": incident_id})
    session.flush()
    if verdicts:
        session.execute(update(Alarm), verdicts)
    return len(verdicts)


def fail_queued(session: Session, elevator_id: int, *, reason: str) -> int:
    """Give up judging one lift's queued events (its judging raised): they are kept, marked
    ``failed`` so they no longer hold back the queue, and listed like any alarm."""
    result: Any = session.execute(
        update(Alarm).where(Alarm.outcome == QUEUED, Alarm.elevator_id == elevator_id)
        .values(outcome="failed", reason=reason[:64])
        .execution_options(synchronize_session=False))
    return int(result.rowcount)


def queued_lifts(session: Session, *, limit: int) -> list[int]:
    """Up to ``limit`` lifts with queued events, in the order they have waited (by their first
    stored event), so in a storm no lift's alarm waits behind lifts stored after it."""
    return list(session.scalars(
        select(Alarm.elevator_id).where(Alarm.outcome == QUEUED).group_by(Alarm.elevator_id)
        .order_by(func.min(Alarm.id)).limit(limit)))


# --- views -----------------------------------------------------------------------------------

def alarm_out(a: Alarm) -> AlarmOut:
    code = codes.lookup(a.code)
    return AlarmOut(id=a.id, device_id=a.device_id, event_id=a.event_id,
                    elevator_id=a.elevator_id, code=a.code, code_name=code.name_zh,
                    code_name_en=code.name_en, kind=a.kind, occurred_at=a.occurred_at,
                    received_at=a.received_at, outcome=a.outcome, reason=a.reason,
                    incident_id=a.incident_id, raw=a.raw)


def list_alarms(session: Session, viewer: Visibility, *, elevator_id: int | None,
                incident_id: int | None, device_id: str | None, outcome: str | None,
                limit: int) -> list[AlarmOut]:
    stmt = select(Alarm)
    if elevator_id is not None:
        stmt = stmt.where(Alarm.elevator_id == elevator_id)
    if incident_id is not None:
        stmt = stmt.where(Alarm.incident_id == incident_id)
    if device_id is not None:
        stmt = stmt.where(Alarm.device_id == device_id)
    if outcome is not None:
        stmt = stmt.where(Alarm.outcome == outcome)
    stmt = viewer.alarms(stmt, Alarm.elevator_id)
    rows = session.scalars(stmt.order_by(Alarm.occurred_at.desc(), Alarm.id.desc())
                           .limit(limit)).all()
    return [alarm_out(a) for a in rows]


def alarm_facts(session: Session, incident: Incident) -> AlarmFacts | None:
    facts = session.get(AlarmIncident, incident.id)
    if facts is None:
        return None
    return AlarmFacts(incident_id=incident.id, elevator_id=facts.elevator_id,
                      incident_state=incident.state, alarm_count=facts.alarm_count,
                      first_alarm_at=facts.first_alarm_at, last_alarm_at=facts.last_alarm_at,
                      recovered_by_itself=facts.recovered_at is not None,
                      recovered_at=facts.recovered_at,
                      recovered_after_s=facts.recovered_after_s)


def recovered_open(session: Session, viewer: Visibility) -> list[AlarmFacts]:
    """Active incidents flagged "recovered by itself": the operator's callback list."""
    stmt = viewer.incidents(
        select(Incident, AlarmIncident).join(AlarmIncident,
                                             AlarmIncident.incident_id == Incident.id)
        .where(AlarmIncident.recovered_at.is_not(None),
               Incident.state.in_(lifecycle.ACTIVE_STATES)))
    out = []
    for incident, _ in session.execute(stmt.order_by(AlarmIncident.recovered_at.desc())).all():
        facts = alarm_facts(session, incident)
        assert facts is not None
        out.append(facts)
    return out


def power_cuts(session: Session, viewer: Visibility, *, since: datetime,
               settings: Settings) -> list[PowerCut]:
    """Area power cuts derived from the stored power-lost (41) alarms since ``since``, with
    the incidents of their elevators from one gap before the first report to one gap after
    the last (derived, so it is always consistent with the alarm log and needs no locking)."""
    stmt = (select(Alarm.elevator_id, Alarm.occurred_at, Elevator.zone_id)
            .join(Elevator, Elevator.id == Alarm.elevator_id)
            .where(Alarm.code == "41", Alarm.occurred_at >= since))
    stmt = viewer.elevators(stmt, Elevator.id)
    reports = [rules.PowerLost(z, e, at) for e, at, z in session.execute(stmt).all()]
    sources = [("alarm_41", r) for r in reports]
    for z, e, at, kind in liveness.power_lost_reports(session, viewer, since=since):
        r = rules.PowerLost(z, e, at)  # issue 19: terminals going silent or on lost mains
        reports.append(r)
        sources.append(("heartbeat_mains_lost" if kind == "mains_lost" else "offline", r))
    gap = timedelta(minutes=settings.telemetry_power_cut_gap_min)
    clusters = rules.power_cuts(reports, gap=gap,
                                min_elevators=settings.telemetry_power_cut_min_elevators)
    zones = {z.id: z for z in session.scalars(
        select(Zone).where(Zone.id.in_({c.zone_id for c in clusters})))}
    out: list[PowerCut] = []
    for c in clusters:
        incidents = session.scalars(viewer.incidents(
            select(Incident).where(Incident.elevator_id.in_(c.elevator_ids),
                                   Incident.merged_into_id.is_(None),
                                   Incident.received_at >= c.started_at - gap,
                                   Incident.received_at <= c.last_at + gap))
            .order_by(Incident.received_at)).all()
        zone = zones[c.zone_id]
        out.append(PowerCut(
            id=f"{zone.code}-{c.started_at:%Y%m%dT%H%M%SZ}", zone=zone.name, zone_id=zone.id,
            started_at=c.started_at, last_report_at=c.last_at,
            elevator_count=len(c.elevator_ids), elevator_ids=sorted(c.elevator_ids),
            incidents=[PowerCutIncident(id=i.id, elevator_id=i.elevator_id, state=i.state,
                                        received_at=i.received_at, channel=i.channel)
                       for i in incidents],
            active_incidents=sum(i.state in lifecycle.ACTIVE_STATES for i in incidents),
            sources=dict(Counter(src for src, r in sources
                                 if r.zone_id == c.zone_id and r.elevator_id in c.elevator_ids
                                 and c.started_at <= r.at <= c.last_at))))
    return out
