"""Prometheus metrics: what is counted where, and the scrape.

Counters and histograms live in the process that observes them. Under ``rescue serve --workers
N`` each worker writes them to memory-mapped files in ``PROMETHEUS_MULTIPROC_DIR`` (set by the
command before the workers start) and a scrape of any worker adds all of them up. Facts that
belong to the database rather than to a process (active incidents, the outbox backlog, the
oldest due task) are read at scrape time by ``DatabaseCollector`` with a few indexed queries, so
every host reports the same truth and nothing drifts.

Label values are bounded sets (route *templates*, states, channels, task kinds, roles), never ids
or raw paths: a label per incident would grow the series without end.
"""

from __future__ import annotations

import logging
import os
import weakref
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    values,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import Engine, case, func, select
from sqlalchemy.orm import Session

log = logging.getLogger("rescue.metrics")
disable_created_metrics()  # the *_created series double the output for nothing we alert on

_FAST = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_ROUTER = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)

HTTP_REQUESTS = Counter(
    "rescue_http_requests", "HTTP requests answered, by route template and status.",
    ["method", "route", "status"])
HTTP_SECONDS = Histogram(
    "rescue_http_request_duration_seconds", "Time to answer an HTTP request (first byte of "
    "the body sent), by route template and status.", ["method", "route", "status"],
    buckets=_FAST)
DISPATCH_SECONDS = Histogram(
    "rescue_dispatch_decision_seconds", "One dispatch decision: candidates, road-time ranking "
    "and booking (dispatch_incident), by outcome (offered / no_team).", ["outcome"],
    buckets=_FAST)
ROUTER_SECONDS = Histogram(
    "rescue_router_query_seconds", "One road-router query (travel_times for a ranking, matrix "
    "for a surge plan).", ["kind"], buckets=_ROUTER)
JOBS_FIRED = Counter(
    "rescue_jobs_fired", "Scheduled tasks (deadlines, reminders, retries) handled by the job "
    "loop, by kind and result (done / failed).", ["kind", "result"])
JOB_SECONDS = Histogram(
    "rescue_job_duration_seconds", "Time to handle one scheduled task, by kind.", ["kind"],
    buckets=_FAST)
JOB_LOOP_TICK = Gauge(
    "rescue_job_loop_last_tick_timestamp_seconds", "When this host's job loop last finished "
    "a pass (Unix time; the newest over the live workers).", multiprocess_mode="livemax")
WEBSOCKET_CLIENTS = Gauge(
    "rescue_websocket_clients", "Live console/crew websockets, by role.", ["role"],
    multiprocess_mode="livesum")
TELEMETRY_EVENTS = Counter(
    "rescue_telemetry_events", "Terminal events received, by outcome (created, joined, "
    "recorded, filtered, flagged, not_in_service, duplicate).", ["outcome"])
DB_POOL_IN_USE = Gauge(
    "rescue_db_pool_in_use", "Database connections checked out of the pool (all live "
    "workers of this host).", multiprocess_mode="livesum")


def multiprocess_mode() -> bool:
    """True when values live in files shared by the workers (chosen when prometheus_client
    was first imported, from ``PROMETHEUS_MULTIPROC_DIR``)."""
    return bool(getattr(values.ValueClass, "_multiprocess", False))


def observe_dispatch(seconds: float, *, offered: bool) -> None:
    DISPATCH_SECONDS.labels("offered" if offered else "no_team").observe(seconds)


def observe_router(seconds: float, kind: str) -> None:
    ROUTER_SECONDS.labels(kind).observe(seconds)


def observe_job(kind: str, result: str, seconds: float) -> None:
    JOBS_FIRED.labels(kind, result).inc()
    JOB_SECONDS.labels(kind).observe(seconds)


def count_telemetry(results: Iterable[Any]) -> None:
    """Count a batch's per-event answers (``EventResult``-like: ``outcome``, ``duplicate``)."""
    for r in results:
        TELEMETRY_EVENTS.labels("duplicate" if r.duplicate else r.outcome).inc()


_engines: weakref.WeakSet[Engine] = weakref.WeakSet()


def track_pool(engine: Engine) -> None:
    """Report this engine's pool in ``rescue_db_pool_in_use`` (see ``sample_pool``)."""
    _engines.add(engine)


def sample_pool() -> None:
    """Set the gauge to the connections this process has checked out now. Sampled after
    each request and at each scrape rather than counted by pool events, which do not pair
    up when a connection fails (a counted gauge would drift and never recover)."""
    DB_POOL_IN_USE.set(sum(getattr(e.pool, "checkedout", lambda: 0)() for e in list(_engines)))


class DatabaseCollector:
    """Scrape-time gauges read from the database (same answer on every host and worker)."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime] | None = None) -> None:
        self.engine = engine
        self.clock = clock or (lambda: datetime.now(UTC))

    def describe(self) -> list[Metric]:
        return []  # no registration-time query

    def collect(self) -> Iterator[Metric]:
        from dispatch.lifecycle import ACTIVE_STATES
        from dispatch.models import Incident, ScheduledTask
        from dispatch.notifications.models import Notification

        ok = GaugeMetricFamily("rescue_metrics_database_up", "1 when the scrape-time queries "
                               "below succeeded.")
        now = self.clock()
        try:
            with Session(self.engine) as s:
                states = s.execute(
                    select(Incident.state, func.count(),
                           func.sum(case((Incident.at_risk.is_(True), 1), else_=0)))
                    .where(Incident.state.in_(sorted(ACTIVE_STATES)))
                    .group_by(Incident.state)).all()
                outbox = s.execute(
                    select(Notification.channel, func.count(), func.min(Notification.created_at))
                    .where(Notification.status.in_(("pending", "sending")))
                    .group_by(Notification.channel)).all()
                oldest_due, due = s.execute(
                    select(func.min(ScheduledTask.due_at), func.count())
                    .where(ScheduledTask.status == "pending",
                           ScheduledTask.due_at <= now)).one()
        except Exception as exc:  # a scrape must still answer, saying the DB part is missing
            log.warning("metrics: database queries failed: %s", type(exc).__name__)
            ok.add_metric([], 0)
            yield ok
            return
        ok.add_metric([], 1)
        yield ok
        active = GaugeMetricFamily("rescue_incidents_active", "Open incidents by state.",
                                   labels=["state"])
        counts = {state: (n, risk or 0) for state, n, risk in states}
        for state in sorted(ACTIVE_STATES):
            active.add_metric([state], counts.get(state, (0, 0))[0])
        yield active
        yield GaugeMetricFamily("rescue_incidents_at_risk", "Open incidents flagged at risk of "
                                "missing their arrival deadline.",
                                value=sum(r for _, r in counts.values()))
        backlog = GaugeMetricFamily("rescue_outbox_backlog", "Notifications not yet handed to "
                                    "the provider (pending or sending), by channel.",
                                    labels=["channel"])
        age = GaugeMetricFamily("rescue_outbox_oldest_age_seconds", "Age of the oldest "
                                "undelivered notification, by channel.", labels=["channel"])
        seen: dict[str, tuple[int, Any]] = {"sms": (0, None), "voice": (0, None)}
        seen.update({channel: (n, oldest) for channel, n, oldest in outbox})
        for channel, (n, oldest) in sorted(seen.items()):
            backlog.add_metric([channel], n)
            age.add_metric([channel], _age(now, oldest))
        yield backlog
        yield age
        yield GaugeMetricFamily("rescue_jobs_due", "Scheduled tasks due and not yet handled.",
                                value=due)
        yield GaugeMetricFamily("rescue_job_loop_lag_seconds", "now − due time of the oldest "
                                "due task (0 when nothing is due): how late deadlines fire.",
                                value=_age(now, oldest_due))


def _age(now: datetime, then: datetime | None) -> float:
    if then is None:
        return 0.0
    if then.tzinfo is None:  # an aggregate on SQLite bypasses the column type
        then = then.replace(tzinfo=UTC)
    return max(0.0, (now - then).total_seconds())


class _Sources:
    def __init__(self, *sources: Any) -> None:
        self.sources = sources

    def collect(self) -> Iterator[Metric]:
        for source in self.sources:
            yield from source.collect()


def render(engine: Engine, clock: Callable[[], datetime] | None = None) -> tuple[bytes, str]:
    """The text exposition for one scrape: process metrics (all workers) + database gauges."""
    sample_pool()
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_mode():
        process: Any = CollectorRegistry()
        MultiProcessCollector(process)
    else:
        process = REGISTRY
    registry.register(_Sources(process, DatabaseCollector(engine, clock)))
    return generate_latest(registry), CONTENT_TYPE_LATEST


def forget_this_process() -> None:
    """On worker shutdown: drop its live gauges from the shared files."""
    if multiprocess_mode() and os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client.multiprocess import mark_process_dead

        mark_process_dead(os.getpid())
