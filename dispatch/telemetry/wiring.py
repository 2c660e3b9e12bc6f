"""How terminal liveness and the MQTT consumer plug into the server process (issue 19):
``install`` at app creation, ``add_jobs`` into the job loop, ``start``/``stop`` in the
lifespan. ``rescue mqtt consume`` uses the same pieces without serving HTTP."""

from __future__ import annotations

import logging
from datetime import datetime

from fastapi import FastAPI

from dispatch.jobs import JobLoop
from dispatch.settings import Settings
from dispatch.telemetry import liveness
from dispatch.telemetry.liveness_store import make_store
from dispatch.telemetry.mqtt import MqttConsumer

log = logging.getLogger("rescue.mqtt")


def install(app: FastAPI, settings: Settings) -> None:
    """The liveness store (Redis when configured); its alerts go out as live messages."""
    app.state.liveness = make_store(settings.redis_url, scope=settings.database_url)
    app.state.mqtt = None


def add_jobs(jobs: JobLoop, app: FastAPI) -> None:
    factory, store, settings = app.state.sessionmaker, app.state.liveness, app.state.settings

    def sweep(now: datetime) -> None:
        liveness.sweep(factory, store, settings=settings, now=now)

    def flush(now: datetime) -> None:
        liveness.flush(factory, store, settings=settings, now=now)

    jobs.every("terminal-offline-sweep", settings.offline_sweep_s, sweep)
    jobs.every("heartbeat-flush", min(settings.heartbeat_flush_s, 10.0), flush)


def start(app: FastAPI) -> MqttConsumer | None:
    settings: Settings = app.state.settings
    try:
        liveness.seed_store(app.state.sessionmaker, app.state.liveness)
    except Exception:  # an empty or unmigrated database: nothing to seed
        log.warning("liveness: could not seed the store from the database", exc_info=True)
    if not settings.mqtt_url:
        return None
    consumer = MqttConsumer(app.state.sessionmaker, app.state.liveness, settings=settings,
                            app_secret=app.state.secret_key)
    consumer.start()
    app.state.mqtt = consumer
    return consumer


def stop(app: FastAPI, consumer: MqttConsumer | None) -> None:
    if consumer is not None:
        consumer.stop()
    app.state.mqtt = None
    getattr(app.state.liveness, "close", lambda: None)()

