"""Importing historical incidents from a previous platform (CSV or XLSX).

Why through the timeline: every report reads ``incident_event``; an imported incident gets the
same events a live one would have (received, offered, accepted, arrived, released, cleared,
closed / false_alarm / cancelled), each marked ``imported: true`` with ``via: import``, so the
KPIs treat both alike. Validation is over the whole file first: one bad row and nothing is
written, unless ``skip_bad``. Idempotent on ``external_id`` (kept in the ``inbound_message``
ledger with source ``history-import``).
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from dispatch.dispatching.steps import CAUSE_CODES
from dispatch.events import Actor, append_event
from dispatch.models import Assignment, Elevator, InboundMessage, Incident, Team, Zone
from dispatch.reports import facts

SOURCE: Final = "history-import"
COLUMNS: Final = ("external_id", "rescue_code", "register_code", "channel", "received_at",
                  "dispatched_at", "accepted_at", "arrived_at", "released_at", "closed_at",
                  "level", "team_code", "cause_code", "trapped_count", "outcome", "callback_at")
"""``callback_at`` (optional, after ``released_at``) is an addition to the issue's columns."""
TIMES: Final = ("received_at", "dispatched_at", "accepted_at", "arrived_at", "released_at",
                "closed_at")
CHANNELS: Final = ("call", "ivr", "alarm", "app", "transfer")
OUTCOMES: Final = ("released", "false_alarm", "cancelled")
ACTOR: Final = Actor("import", None, "import")
REQUIRED: Final = ("external_id", "channel", "received_at", "outcome")
"""Besides these, a row names its elevator by ``rescue_code`` or ``register_code``."""


def missing_columns(header: Iterable[str]) -> list[str]:
    """The required columns a file's header lacks (said before any row is read)."""
    have = set(header)
    missing = [c for c in REQUIRED if c not in have]
    if not have & {"rescue_code", "register_code"}:
        missing.append("rescue_code|register_code")
    return missing


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.message}"


@dataclass
class ImportRow:
    line: int
    external_id: str
    elevator_id: int
    zone_id: int
    sla_minutes: int
    zone_name: str
    channel: str
    times: dict[str, datetime | None]
    level: int | None
    team_id: int | None
    cause_code: str | None
    trapped_count: int | None
    outcome: str
    digest: str


@dataclass
class ImportReport:
    rows: int = 0
    written: int = 0
    already: int = 0
    errors: list[RowError] = field(default_factory=list)
    skipped_lines: list[int] = field(default_factory=list)
    incident_ids: list[int] = field(default_factory=list)


def read_file(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, {column: value})`` for each data row; the header is line 1."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            for i, rec in enumerate(reader, start=2):
                yield i, {k.strip(): v for k, v in rec.items() if k}
    elif suffix == ".xlsx":
        from openpyxl import load_workbook

        wb = load_workbook(path, read_only=True, data_only=True)
        rows = wb.worksheets[0].iter_rows(values_only=True)
        header = [str(h).strip() if h is not None else "" for h in next(rows, ())]
        for i, values in enumerate(rows, start=2):
            if all(v is None for v in values):
                continue
            yield i, {h: v for h, v in zip(header, values, strict=False) if h}
    else:
        raise ValueError(f"{path.name}: give a .csv or .xlsx file")


def _text(v: Any) -> str:
    return "" if v is None else str(v).strip()


def _time(v: Any) -> datetime | None:
    if v is None or _text(v) == "":
        return None
    if isinstance(v, datetime):
        raise ValueError("a spreadsheet date has no offset: write it as text, "
                         "e.g. 2026-11-01T08:30:00+08:00")
    t = datetime.fromisoformat(_text(v))
    if t.tzinfo is None:
        raise ValueError("needs an offset, e.g. 2026-11-01T08:30:00+08:00")
    return t


class _Lookups:
    """Registry lookups for a whole file in a few queries."""

    def __init__(self, session: Session, records: list[tuple[int, dict[str, Any]]]) -> None:
        rescue = {_text(r.get("rescue_code")) for _, r in records} - {""}
        register = {_text(r.get("register_code")) for _, r in records} - {""}
        teams = {_text(r.get("team_code")) for _, r in records} - {""}
        self.by_rescue: dict[str, tuple[int, int]] = {}
        self.by_register: dict[str, tuple[int, int]] = {}
        rows: list[Any] = []
        for i in range(0, max(len(rescue), len(register)) + 1, 900):
            r_chunk = sorted(rescue)[i:i + 900]
            g_chunk = sorted(register)[i:i + 900]
            if not r_chunk and not g_chunk:
                continue
            rows += session.execute(
                select(Elevator.id, Elevator.zone_id, Elevator.rescue_code,
                       Elevator.register_code)
                .where(or_(Elevator.rescue_code.in_(r_chunk),
                           Elevator.register_code.in_(g_chunk)))).all()
        for eid, zid, rc, reg in rows:
            self.by_rescue[rc] = (eid, zid)
            self.by_register[reg] = (eid, zid)
        self.zones = {z.id: z for z in session.scalars(select(Zone))}
        self.teams = dict(session.execute(select(Team.code, Team.id)
                                          .where(Team.code.in_(teams))).all()) if teams else {}
        ids = [_text(r.get("external_id")) for _, r in records]
        self.done: set[str] = set()
        for i in range(0, len(ids), 900):
            self.done |= set(session.scalars(
                select(InboundMessage.external_id).where(
                    InboundMessage.source == SOURCE,
                    InboundMessage.external_id.in_(ids[i:i + 900]))))


def _validate(line: int, rec: dict[str, Any], look: _Lookups,
              seen: set[str]) -> tuple[ImportRow | None, list[RowError]]:
    errs: list[RowError] = []

    def err(f: str, m: str) -> None:
        errs.append(RowError(line, f, m))

    ext = _text(rec.get("external_id"))
    if not ext:
        err("external_id", "required")
    elif len(ext) > 128:
        err("external_id", "at most 128 characters")
    elif ext in seen:
        err("external_id", "appears twice in the file")
    seen.add(ext)
    rc, reg = _text(rec.get("rescue_code")), _text(rec.get("register_code"))
    found = look.by_rescue.get(rc) if rc else look.by_register.get(reg) if reg else None
    if not rc and not reg:
        err("rescue_code", "give rescue_code or register_code")
    elif found is None:
        err("rescue_code" if rc else "register_code", f"no elevator {rc or reg}")
    channel = _text(rec.get("channel")) or "call"
    if channel not in CHANNELS:
        err("channel", f"one of {', '.join(CHANNELS)}")
    times: dict[str, datetime | None] = {}
    for name in TIMES:
        try:
            times[name] = _time(rec.get(name))
        except ValueError as exc:
            err(name, str(exc))
            times[name] = None
    try:
        callback = _time(rec.get("callback_at"))
    except ValueError as exc:
        err("callback_at", str(exc))
        callback = None
    if callback is not None and (times["released_at"] is None
                                 or callback < times["released_at"]):
        err("callback_at", "needs released_at, and must come after it")
    if times["received_at"] is None and not any(e.field == "received_at" for e in errs):
        err("received_at", "required")
    last: tuple[str, datetime] | None = None
    for name in TIMES:
        t = times[name]
        if t is None:
            continue
        if last is not None and t < last[1]:
            err(name, f"before {last[0]}")
        last = (name, t)
    outcome = _text(rec.get("outcome"))
    if outcome not in OUTCOMES:
        err("outcome", f"one of {', '.join(OUTCOMES)}")
    if outcome == "released" and times["released_at"] is None:
        err("released_at", "required when outcome is released")
    if outcome != "released" and times["released_at"] is not None:
        err("outcome", "a row with released_at must have outcome released")
    if outcome == "cancelled" and times["arrived_at"] is not None:
        err("outcome", "a team arrived: use false_alarm or released, not cancelled")
    for name in ("accepted_at", "arrived_at"):
        if times[name] is not None and times["dispatched_at"] is None:
            err("dispatched_at", f"required with {name}")
            break
    level: int | None = None
    raw_level = _text(rec.get("level"))
    if raw_level:
        try:
            level = int(float(raw_level))
        except ValueError:
            level = None
        if level not in (1, 2, 3):
            err("level", "1, 2 or 3")
    elif times["dispatched_at"] is not None:
        err("level", "required with dispatched_at")
    team_code = _text(rec.get("team_code"))
    team_id = None
    if team_code:
        team_id = look.teams.get(team_code)
        if team_id is None:
            err("team_code", f"no team {team_code}")
        elif times["dispatched_at"] is None:
            err("dispatched_at", "required with team_code")
    cause = _text(rec.get("cause_code")) or None
    if cause is not None and cause not in CAUSE_CODES:
        err("cause_code", f"one of {', '.join(CAUSE_CODES)}")
    trapped: int | None = None
    raw_trapped = _text(rec.get("trapped_count"))
    if raw_trapped:
        try:
            trapped = int(float(raw_trapped))
            if not 0 <= trapped <= 100:
                raise ValueError
        except ValueError:
            err("trapped_count", "a whole number 0–100")
    if errs or found is None:
        return None, errs
    zone = look.zones[found[1]]
    digest = hashlib.sha256(json.dumps({k: _text(rec.get(k)) for k in COLUMNS},
                                       sort_keys=True).encode()).hexdigest()
    times["callback_at"] = callback
    return ImportRow(line, ext, found[0], zone.id, zone.arrival_limit_min, zone.name, channel,
                     times, level, team_id, cause, trapped, outcome, digest), []


def validate(session: Session, records: Iterable[tuple[int, dict[str, Any]]]
             ) -> tuple[list[ImportRow], list[RowError], int]:
    """Check every row; returns (good rows not yet imported, errors, rows already imported)."""
    recs = list(records)
    look = _Lookups(session, recs)
    good: list[ImportRow] = []
    errors: list[RowError] = []
    seen: set[str] = set()
    already = 0
    for line, rec in recs:
        row, errs = _validate(line, rec, look, seen)
        errors += errs
        if row is None:
            continue
        if row.external_id in look.done:
            already += 1
        else:
            good.append(row)
    return good, errors, already


def write_row(session: Session, row: ImportRow) -> Incident:
    """One incident with the events a live one would have, each marked imported."""
    t = row.times
    received = t["received_at"]
    assert received is not None
    end = t["closed_at"] or t["released_at"] or t["arrived_at"] or t["accepted_at"] \
        or t["dispatched_at"] or received
    final = {"released": "closed" if t["closed_at"] else "released"}.get(row.outcome,
                                                                        row.outcome)
    if final == "released" and row.cause_code:
        final = "cleared"
    inc = Incident(
        elevator_id=row.elevator_id, zone_id=row.zone_id, channel=row.channel,
        trapped_count=row.trapped_count, state=final, outcome=row.outcome,
        sla_minutes=row.sla_minutes, sla_deadline=received + timedelta(minutes=row.sla_minutes),
        received_at=received, dispatched_at=t["dispatched_at"], accepted_at=t["accepted_at"],
        arrived_at=t["arrived_at"], released_at=t["released_at"],
        closed_at=t["closed_at"] if row.outcome == "released" else None,
        cancelled_at=end if row.outcome != "released" else None,
        callback_done_at=t.get("callback_at"),
        cleared_at=(t["closed_at"] or t["released_at"]) if row.cause_code and t["released_at"]
        else None, response_level=row.level or 1, last_event_seq=0,
        notes=f"imported {row.external_id}")
    session.add(inc)
    session.flush()
    mark = {"imported": True, "external_id": row.external_id}
    assignment_id = None
    if row.team_id is not None:
        a = Assignment(
            incident_id=inc.id, team_id=row.team_id, level=row.level or 1,
            state="cleared" if t["released_at"] else "cancelled",
            offered_at=t["dispatched_at"],
            accept_by=t["dispatched_at"] + timedelta(minutes=3),  # type: ignore[operator]
            accepted_at=t["accepted_at"], arrived_at=t["arrived_at"],
            released_at=t["released_at"], released_count=row.trapped_count,
            cleared_at=inc.cleared_at, cause_code=row.cause_code, offered_by="import",
            cancelled_at=None if t["released_at"] else end, ranking=[])
        session.add(a)
        session.flush()
        assignment_id = a.id
    team = {"assignment_id": assignment_id, "team_id": row.team_id, "level": row.level}

    planned: list[tuple[datetime, int, str, dict[str, Any]]] = []

    def ev(type_: str, at: datetime | None, **payload: Any) -> None:
        if at is not None:
            planned.append((at, len(planned), type_, {**mark, **payload}))

    ev("received", received, channel=row.channel, trapped_count=row.trapped_count,
       elevator_id=row.elevator_id, zone=row.zone_name, sla_minutes=row.sla_minutes)
    ev("offered", t["dispatched_at"], **team)
    ev("accepted", t["accepted_at"], **team)
    ev("arrived", t["arrived_at"], **team)
    ev("released", t["released_at"], **team, released_count=row.trapped_count)
    if row.cause_code and t["released_at"]:
        ev("cleared", t["closed_at"] or t["released_at"], **team, cause_code=row.cause_code)
    ev("callback_done", t.get("callback_at"))
    if row.outcome == "released":
        ev("closed", t["closed_at"])
    else:
        ev(row.outcome, end, reason="imported")
    for at, _, type_, payload in sorted(planned, key=lambda p: (p[0], p[1])):
        append_event(session, inc, type=type_, actor=ACTOR, at=at, payload=payload)
    session.add(InboundMessage(source=SOURCE, external_id=row.external_id,
                               request_hash=row.digest, response_status=201,
                               response_body={"incident_id": inc.id}))
    return inc


def import_records(session: Session, records: Iterable[tuple[int, dict[str, Any]]], *,
                   skip_bad: bool = False,
                   progress: Callable[[int, int], None] | None = None) -> ImportReport:
    """Validate all, then write all good rows (or nothing when a row is bad and not
    ``skip_bad``); ``progress(done, total)`` hears of the writing. The caller commits."""
    recs = list(records)
    good, errors, already = validate(session, recs)
    report = ImportReport(rows=len(recs), already=already, errors=errors)
    report.skipped_lines = sorted({e.line for e in errors})
    if errors and not skip_bad:
        return report
    # Imported events carry ``imported: true``, so no hook (SMS outbox) fires for them.
    for n, row in enumerate(good, start=1):
        report.incident_ids.append(write_row(session, row).id)
        if progress is not None and (n % 50 == 0 or n == len(good)):
            progress(n, len(good))
    session.flush()
    report.written = len(good)
    if good:
        times = [r.times["received_at"] for r in good]
        facts.refresh(session, min(times), max(times) + timedelta(seconds=1))  # type: ignore
    return report
