"""Durable timers: a deadline is a row, never a sleeping coroutine.

Services schedule and cancel rows in the caller's transaction; the job loop (``dispatch.jobs``)
fires them. Kinds: ``offer_timeout``, ``sla_warning``, ``sla_overdue``, ``trapped_reminder``,
``callback_due``, ``redispatch``; and per team ``roster_boundary`` (issue 13, ``team_id`` set).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from dispatch.models import ScheduledTask

KINDS = frozenset({"offer_timeout", "sla_warning", "sla_overdue", "trapped_reminder",
                   "callback_due", "redispatch", "roster_boundary",
                   "partner_handover"})  # issue 14


def schedule(session: Session, kind: str, due_at: datetime, *, incident_id: int | None = None,
             assignment_id: int | None = None, team_id: int | None = None) -> ScheduledTask:
    if kind not in KINDS:
        raise ValueError(f"unknown task kind {kind!r}")
    task = ScheduledTask(kind=kind, due_at=due_at, status="pending", incident_id=incident_id,
                         assignment_id=assignment_id, team_id=team_id)
    session.add(task)
    return task


def has_pending(session: Session, *, incident_id: int, kind: str) -> bool:
    return session.scalar(select(ScheduledTask.id).where(
        ScheduledTask.incident_id == incident_id, ScheduledTask.kind == kind,
        ScheduledTask.status == "pending").limit(1)) is not None


def cancel(session: Session, *, incident_id: int | None = None,
           assignment_id: int | None = None, team_id: int | None = None,
           kinds: Iterable[str] | None = None, now: datetime, why: str) -> None:
    """Cancel pending tasks of an incident, an assignment or a team (optionally some kinds)."""
    stmt = update(ScheduledTask).where(ScheduledTask.status == "pending")
    if incident_id is not None:
        stmt = stmt.where(ScheduledTask.incident_id == incident_id)
    if assignment_id is not None:
        stmt = stmt.where(ScheduledTask.assignment_id == assignment_id)
    if team_id is not None:
        stmt = stmt.where(ScheduledTask.team_id == team_id)
    if kinds is not None:
        stmt = stmt.where(ScheduledTask.kind.in_(list(kinds)))
    session.execute(stmt.values(status="cancelled", handled_at=now, result=why[:200]),
                    execution_options={"synchronize_session": False})
