"""The job loop: fires due timers (offer timeouts, SLA warnings, reminders, callbacks, rosters).

Each task is claimed and handled in one transaction. On PostgreSQL the claim is
``SELECT … FOR UPDATE SKIP LOCKED``, so every worker can run the loop and each task is handled
by exactly one; on SQLite the claiming ``UPDATE … WHERE status='pending'`` takes the database's
write lock, which does the same. A crash before commit rolls the claim back: the task fires after
restart, late by the downtime, never twice.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, joinedload, sessionmaker

from dispatch import lifecycle, timers
from dispatch.dispatching.service import DispatchContext, dispatch_incident, open_assignments
from dispatch.dispatching.steps import StepInput, apply_step, load_assignment
from dispatch.dispatching.surge_service import dispatch_surge, waiting_incidents
from dispatch.events import Actor, append_event, update_incident
from dispatch.hooks import install_event_hooks
from dispatch.models import Incident, ScheduledTask
from dispatch.notifications.delivery import run_outbox
from dispatch.ops.metrics import JOB_LOOP_TICK, observe_job
from dispatch.partners.delivery import run_partner_outbox
from dispatch.partners.handover import on_partner_handover
from dispatch.settings import Settings
from dispatch.teams.rosters import on_roster_boundary
from dispatch.uow import unit_of_work
from geo.router import Router

log = logging.getLogger("rescue.jobs")
MAX_ATTEMPTS = 5
Handler = Callable[[Session, ScheduledTask, DispatchContext], str]


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _incident(session: Session, task: ScheduledTask) -> Incident:
    incident = session.scalar(
        select(Incident).options(joinedload(Incident.zone), joinedload(Incident.elevator))
        .where(Incident.id == task.incident_id).with_for_update(of=Incident))
    assert incident is not None
    return incident


def on_offer_timeout(session: Session, task: ScheduledTask, ctx: DispatchContext) -> str:
    assert task.assignment_id is not None
    a = load_assignment(session, task.assignment_id, None)
    if a.state != lifecycle.OFFERED:
        return f"assignment already {a.state}"
    apply_step(session, a, "timeout", StepInput(), ctx=ctx, viewer=None)
    return "timed out"


def on_sla_warning(session: Session, task: ScheduledTask, ctx: DispatchContext) -> str:
    incident = _incident(session, task)
    if incident.arrived_at is not None or incident.state not in lifecycle.ACTIVE_STATES:
        return "no longer needed"
    left = (incident.sla_deadline - ctx.now).total_seconds()
    append_event(session, incident, type="sla_warning", actor=ctx.actor, at=ctx.now,
                 payload={"seconds_left": round(left)})
    return "warned"


def on_sla_overdue(session: Session, task: ScheduledTask, ctx: DispatchContext) -> str:
    incident = _incident(session, task)
    if incident.arrived_at is not None or incident.state not in lifecycle.ACTIVE_STATES:
        return "no longer needed"
    update_incident(session, incident, actor=ctx.actor, at=ctx.now, why="arrival deadline passed",
                    event_type="sla_overdue",
                    payload={"deadline": incident.sla_deadline.isoformat()}, at_risk=True)
    return "overdue"


def on_trapped_reminder(session: Session, task: ScheduledTask, ctx: DispatchContext) -> str:
    incident = _incident(session, task)
    if incident.released_at is not None or incident.state not in lifecycle.ACTIVE_STATES:
        return "no longer needed"
    append_event(session, incident, type="trapped_update_due", actor=ctx.actor, at=ctx.now,
                 payload={"minutes_trapped": round((ctx.now - incident.received_at)
                                                   .total_seconds() / 60)})
    timers.schedule(session, "trapped_reminder",
                    ctx.now + timedelta(minutes=ctx.settings.trapped_reminder_min),
                    incident_id=incident.id)
    return "reminded"


def on_callback_due(session: Session, task: ScheduledTask, ctx: DispatchContext) -> str:
    incident = _incident(session, task)
    if incident.callback_done_at is not None or incident.state == lifecycle.CLOSED:
        return "no longer needed"
    append_event(session, incident, type="callback_due", actor=ctx.actor, at=ctx.now)
    return "callback due"


def on_redispatch(session: Session, task: ScheduledTask, ctx: DispatchContext) -> str:
    incident = _incident(session, task)
    if (incident.state not in (lifecycle.CONFIRMED, lifecycle.RECEIVED, lifecycle.ESCALATED)
            or any(not a.parallel for a in open_assignments(session, incident.id))):
        return "no longer needed"
    if incident.state == lifecycle.RECEIVED and incident.confirmed_at is None:
        return "waiting for confirmation"
    waiting = waiting_incidents(session, zone_id=incident.zone_id)
    if len(waiting) >= ctx.settings.surge_min_waiting:
        result = dispatch_surge(session, ctx=ctx, zone_id=incident.zone_id)
        return f"surge: {len(result.assigned)} offered, {len(result.waiting)} waiting"
    assignment = dispatch_incident(session, incident, ctx=ctx)
    return "offered" if assignment else "still no team"


HANDLERS: dict[str, Handler] = {
    "offer_timeout": on_offer_timeout,
    "sla_warning": on_sla_warning,
    "sla_overdue": on_sla_overdue,
    "trapped_reminder": on_trapped_reminder,
    "callback_due": on_callback_due,
    "redispatch": on_redispatch,
    "roster_boundary": on_roster_boundary,  # issue 13
    "partner_handover": on_partner_handover,  # issue 14
}


def _claim(session: Session, now: datetime, worker: str) -> ScheduledTask | None:
    candidate = (select(ScheduledTask.id)
                 .where(ScheduledTask.status == "pending", ScheduledTask.due_at <= now)
                 .order_by(ScheduledTask.due_at, ScheduledTask.id).limit(1)
                 .with_for_update(skip_locked=True))
    task_id = session.scalar(candidate)
    if task_id is None:
        return None
    claimed = session.execute(
        update(ScheduledTask).where(ScheduledTask.id == task_id,
                                    ScheduledTask.status == "pending")
        .values(status="running", handled_by=worker),
        execution_options={"synchronize_session": False})
    if getattr(claimed, "rowcount", 0) != 1:
        return None
    return session.get(ScheduledTask, task_id, populate_existing=True)


def run_due_tasks(factory: sessionmaker[Session], *, settings: Settings, router: Router,
                  now: datetime, worker: str | None = None, limit: int = 1000) -> int:
    """Handle every task due at ``now``, each in its own unit of work; returns how many."""
    install_event_hooks(factory)
    worker = worker or worker_name()
    handled = 0
    while handled < limit:
        task_id: int | None = None
        kind, incident_id, due, started = "", None, now, time.perf_counter()
        try:
            with unit_of_work(factory) as session:
                task = _claim(session, now, worker)
                if task is None:
                    return handled
                task_id = task.id
                kind, incident_id, due = task.kind, task.incident_id, task.due_at
                started = time.perf_counter()
                ctx = DispatchContext(settings=settings, router=router, now=now,
                                      actor=Actor.system(f"job:{task.kind}"))
                result = HANDLERS[task.kind](session, task, ctx)
                task.status, task.handled_at, task.result = "done", now, result[:200]
        except Exception as exc:
            if task_id is None:
                raise
            log.exception("task %s (%s) failed", task_id, kind, extra=_job_fields(
                kind, task_id, incident_id, "failed", started, now - due))
            observe_job(kind, "failed", time.perf_counter() - started)
            _record_failure(factory, task_id, now, exc)
        else:
            observe_job(kind, "done", time.perf_counter() - started)
            log.info("task %s (%s): %s", task_id, kind, result[:200], extra=_job_fields(
                kind, task_id, incident_id, "done", started, now - due))
        handled += 1
    return handled


def _job_fields(kind: str, task_id: int, incident_id: int | None, result: str,
                started: float, late: timedelta) -> dict[str, object]:
    """The structured part of a job's log line (issue 18): ``lag_ms`` is how late it fired."""
    return {"job": kind, "task_id": task_id, "incident_id": incident_id, "result": result,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            "lag_ms": round(late.total_seconds() * 1000, 1)}


def _record_failure(factory: sessionmaker[Session], task_id: int, now: datetime,
                    exc: Exception) -> None:
    with unit_of_work(factory) as session:
        task = session.get(ScheduledTask, task_id)
        if task is None:
            return
        task.attempts += 1
        task.result = f"{type(exc).__name__}: {exc}"[:200]
        if task.attempts >= MAX_ATTEMPTS:
            task.status = "failed"
        else:
            task.due_at = now + timedelta(seconds=5 * 2 ** task.attempts)


class JobLoop:
    """A daemon thread that polls for due tasks (started by the app's lifespan)."""

    def __init__(self, factory: sessionmaker[Session], *, settings: Settings,
                 router: Callable[[], Router]) -> None:
        install_event_hooks(factory)
        self.factory = factory
        self.settings = settings
        self.router = router
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.worker = worker_name()
        self.last_tick: float | None = None  # time.monotonic() of the last finished pass
        self._periodic: list[_Periodic] = []

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stop.is_set()

    def every(self, name: str, period_s: float, step: Callable[[datetime], object]) -> None:
        """Run ``step(now)`` from the loop at most every ``period_s`` (e.g. the terminal
        offline sweep of issue 19, whose deadlines live in the store, not here)."""
        self._periodic.append(_Periodic(name, period_s, step))

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="rescue-jobs", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        from dispatch.security.outage import is_outage, outage_line

        down = False  # issue 12: one log line per database outage, backing off meanwhile
        delay = self.settings.job_poll_s
        while not self._stop.is_set():
            failed: BaseException | None = None
            for name, work in (("job loop iteration", self._tasks),
                               ("outbox delivery", self._outbox),  # outbox: issue 5
                               ("partner delivery", self._partners)):  # issue 14
                try:
                    work()
                except Exception as exc:
                    if is_outage(exc):
                        failed = exc
                        break
                    log.exception("%s failed", name)
            if failed is not None:
                if not down:
                    log.error("%s; the job loop backs off until it is back", outage_line(failed))
                down, delay = True, min(max(delay * 2, 1.0), 30.0)
            else:
                if down:
                    log.warning("database reachable again; the job loop resumes")
                down, delay = False, self.settings.job_poll_s
                self.last_tick = time.monotonic()  # issue 18: /readyz reads it
                JOB_LOOP_TICK.set(time.time())
                for p in self._periodic:  # issue 19: the terminal offline sweep
                    p.run_if_due(datetime.now(UTC))
            self._stop.wait(delay)

    def _tasks(self) -> None:
        run_due_tasks(self.factory, settings=self.settings, router=self.router(),
                      now=datetime.now(UTC), worker=self.worker)

    def _partners(self) -> None:
        run_partner_outbox(self.factory, settings=self.settings, now=datetime.now(UTC),
                           clock=lambda: datetime.now(UTC))

    def _outbox(self) -> None:
        run_outbox(self.factory, settings=self.settings, now=datetime.now(UTC),
                   clock=lambda: datetime.now(UTC))


class _Periodic:
    def __init__(self, name: str, period_s: float, step: Callable[[datetime], object]) -> None:
        self.name, self.period_s, self.step = name, period_s, step
        self._next = 0.0

    def run_if_due(self, now: datetime) -> None:
        mono = time.monotonic()
        if mono < self._next:
            return
        self._next = mono + self.period_s
        try:
            self.step(now)
        except Exception:
            log.exception("periodic step %s failed", self.name)
