"""How the phone desk plugs into the app (issue 15): routers and the retention job (its live
messages go through ``dispatch.live``)."""

from __future__ import annotations

from datetime import datetime

from fastapi import FastAPI

from dispatch.calls.provider import run_retention
from dispatch.calls.router import router, twilio_router
from dispatch.jobs import JobLoop

RETENTION_PERIOD_S = 3600.0

__all__ = ["add_jobs", "router", "twilio_router"]

def add_jobs(jobs: JobLoop, app: FastAPI) -> None:
    factory, settings = app.state.sessionmaker, app.state.settings

    def retention(now: datetime) -> None:
        if settings.twilio_auth_token or settings.fake_twilio:
            run_retention(factory, settings=settings, now=now)

    jobs.every("call-recording-retention", RETENTION_PERIOD_S, retention)
