"""Wire the operations pieces into an app: one call from ``create_app``."""

from __future__ import annotations

from types import SimpleNamespace

from alembic.script import ScriptDirectory
from fastapi import FastAPI

from dispatch.migrate import alembic_config
from dispatch.ops import logs, metrics
from dispatch.ops.middleware import OpsMiddleware
from dispatch.ops.router import router
from dispatch.settings import Settings


def code_heads() -> frozenset[str]:
    """The migration heads this code expects (read from alembic/versions, no database)."""
    return frozenset(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())


def install_ops(app: FastAPI, settings: Settings) -> None:
    """Logging, the request middleware, ``/healthz`` ``/readyz`` ``/metrics``, pool gauge."""
    logs.configure(settings.log_format, settings.log_level)
    redis_client = None
    if settings.redis_url:
        import redis

        redis_client = redis.Redis.from_url(settings.redis_url, socket_timeout=1.0,
                                            socket_connect_timeout=0.5)
    # ``clock``: what "now" is for the scrape-time gauges (tests point it at their clock)
    app.state.ops = SimpleNamespace(alembic_heads=code_heads(), redis=redis_client, clock=None)
    metrics.track_pool(app.state.engine)
    app.add_middleware(OpsMiddleware)
    app.include_router(router)
