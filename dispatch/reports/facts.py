"""Keeping ``report_fact`` in step with the timeline, and reading it back as KPI rows."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from datetime import datetime

from sqlalchemy import delete, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dispatch.models import Incident, IncidentEvent
from dispatch.reports.kpis import Event, Facts, facts_from_timeline
from dispatch.reports.models import ReportFact

CHUNK = 500
FACT_FIELDS = tuple(Facts.__dataclass_fields__)


def stale_ids(session: Session, start: datetime | None = None,
              end: datetime | None = None) -> list[int]:
    """Incidents (received in ``[start, end)``) without a fact row or with an outdated one."""
    stmt = (select(Incident.id).outerjoin(ReportFact, ReportFact.incident_id == Incident.id)
            .where(or_(ReportFact.seq.is_(None), ReportFact.seq != Incident.last_event_seq)))
    if start is not None:
        stmt = stmt.where(Incident.received_at >= start)
    if end is not None:
        stmt = stmt.where(Incident.received_at < end)
    return list(session.scalars(stmt))


def compute(session: Session, ids: Sequence[int]) -> dict[int, tuple[int, Facts]]:
    """Facts from the timeline of each incident in ``ids`` (with the seq they reflect)."""
    out: dict[int, tuple[int, Facts]] = {}
    for i in range(0, len(ids), CHUNK):
        chunk = list(ids[i:i + CHUNK])
        events: dict[int, list[Event]] = defaultdict(list)
        last: dict[int, int] = {}
        rows = session.execute(
            select(IncidentEvent.incident_id, IncidentEvent.seq, IncidentEvent.type,
                   IncidentEvent.at, IncidentEvent.payload)
            .where(IncidentEvent.incident_id.in_(chunk))
            .order_by(IncidentEvent.incident_id, IncidentEvent.seq))
        for inc, seq, type_, at, payload in rows:
            events[inc].append(Event(type_, at, payload or {}))
            last[inc] = seq
        seqs = dict(session.execute(select(Incident.id, Incident.last_event_seq)
                                    .where(Incident.id.in_(chunk))).all())
        for inc in chunk:
            out[inc] = (int(seqs.get(inc) or last.get(inc, 0)),
                        facts_from_timeline(events.get(inc, [])))
    return out


def refresh(session: Session, start: datetime | None = None,
            end: datetime | None = None) -> int:
    """Recompute stale facts of the period; returns how many. The caller commits.

    Delete-then-insert inside the caller's transaction; two reports refreshing the same
    incident at once may both insert, so a unique violation is left to the caller to retry
    (:func:`ensure_fresh`).
    """
    ids = stale_ids(session, start, end)
    if not ids:
        return 0
    computed = compute(session, ids)
    for i in range(0, len(ids), CHUNK):
        chunk = ids[i:i + CHUNK]
        session.execute(delete(ReportFact).where(ReportFact.incident_id.in_(chunk)))
        session.execute(insert(ReportFact), [
            {"incident_id": inc, "seq": computed[inc][0], **asdict(computed[inc][1])}
            for inc in chunk])
    return len(ids)


def ensure_fresh(session: Session, start: datetime | None = None,
                 end: datetime | None = None) -> int:
    """Refresh the period's facts in the caller's unit of work (a report request commits them
    with its own end); when a concurrent report refreshed the same incidents first, start
    again once (the refresh is idempotent)."""
    for attempt in (1, 2):
        try:
            return refresh(session, start, end)
        except IntegrityError:
            session.rollback()
            if attempt == 2:
                raise
    return 0


def facts_of(row: Iterable[object]) -> Facts:
    return Facts(*row)


FACT_COLUMNS = tuple(getattr(ReportFact, f) for f in FACT_FIELDS)
