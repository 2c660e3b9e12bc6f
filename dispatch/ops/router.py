"""``/healthz`` (the process answers), ``/readyz`` (it can do its job) and ``/metrics``.

A load balancer sends traffic only to a ready host and a supervisor restarts one that is not
alive, so the two must differ: ``/healthz`` touches nothing (a slow database must not get every
worker restarted), ``/readyz`` checks what a request needs and names what is missing.
"""

from __future__ import annotations

import hmac
import ipaddress
import time
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel
from sqlalchemy import text

from dispatch.deps import Public
from dispatch.errors import Problem
from dispatch.ops import metrics
from dispatch.routing import router_loaded

router = APIRouter(tags=["ops"])
_FORWARDED = (b"forwarded", b"x-forwarded-for", b"x-real-ip")


class Health(BaseModel):
    status: str
    pid: int


class Ready(BaseModel):
    status: str
    checks: dict[str, str]


@router.get("/healthz", response_model=Health, dependencies=[Public])
async def healthz() -> Health:
    """Alive: the event loop answers. No database, so a database outage does not make a
    supervisor restart healthy workers."""
    import os

    return Health(status="ok", pid=os.getpid())


class Check:
    """What one readiness check found: ``ok``, a reason it does not apply, or the fault."""

    def __init__(self, fault: str | None = None, *, skipped: str | None = None) -> None:
        self.fault = fault
        self.skipped = skipped

    @property
    def text(self) -> str:
        return self.fault or self.skipped or "ok"


def check_database(request: Request) -> Check:
    """Reachable, and migrated to exactly the code's heads."""
    heads: frozenset[str] = request.app.state.ops.alembic_heads
    try:
        with request.app.state.engine.connect() as conn:
            found = frozenset(r[0] for r in conn.execute(
                text("SELECT version_num FROM alembic_version")))
    except Exception as exc:
        return Check(f"unreachable or not migrated ({type(exc).__name__})")
    if found != heads:
        return Check(f"at revision {','.join(sorted(found)) or 'none'}, code expects "
                     f"{','.join(sorted(heads))} (run `rescue db upgrade`)")
    return Check()


def check_redis(request: Request) -> Check:
    client = request.app.state.ops.redis
    if client is None:
        return Check(skipped="not configured")
    try:
        client.ping()
    except Exception as exc:
        return Check(f"unreachable ({type(exc).__name__})")
    return Check()


def check_router(request: Request) -> Check:
    return Check(None if router_loaded(request.app.state.settings) else "road graph not loaded")


def check_jobs(request: Request) -> Check:
    settings = request.app.state.settings
    if not settings.run_jobs:
        return Check(skipped="not run in this process")
    jobs = getattr(request.app.state, "jobs", None)
    if jobs is None or not jobs.alive:
        return Check("job loop not running")
    if jobs.last_tick is None:
        return Check("job loop has not completed a pass yet")
    age = time.monotonic() - jobs.last_tick
    if age > settings.ready_job_tick_s:
        return Check(f"job loop last ticked {age:.0f} s ago "
                     f"(limit {settings.ready_job_tick_s:g} s)")
    return Check()


CHECKS = {"database": check_database, "redis": check_redis, "road_graph": check_router,
          "job_loop": check_jobs}


@router.get("/readyz", response_model=Ready, dependencies=[Public],
            responses={503: {"description": "Not ready: problem+json naming each failing "
                             "check"}})
def readyz(request: Request) -> Ready:
    """Ready: database reachable and at the code's migration heads, Redis reachable (when
    configured), road graph loaded, job loop ticked recently (when this process runs it)."""
    results = {name: check(request) for name, check in CHECKS.items()}
    failing = [name for name, r in results.items() if r.fault]
    checks = {name: r.text for name, r in results.items()}
    if failing:
        raise Problem(503, "Not ready", "; ".join(f"{n}: {results[n].fault}" for n in failing),
                      checks=checks, failing=failing)
    return Ready(status="ready", checks=checks)


def _is_local(request: Request) -> bool:
    """A direct connection from this machine. A request relayed by a proxy on this machine
    carries a forwarding header and is *not* local (else the proxy would open the door)."""
    if any(k in _FORWARDED for k, _ in request.scope.get("headers", ())):
        return False
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def metrics_token(request: Request) -> None:
    """Access rule ``metrics-token``: a bearer token equal to ``RESCUE_METRICS_TOKEN``, or a
    direct local connection while ``RESCUE_METRICS_LOCALHOST`` is on."""
    settings = request.app.state.settings
    if settings.metrics_localhost and _is_local(request):
        return
    expected = settings.metrics_token
    auth = request.headers.get("authorization", "")
    given = auth[7:] if auth.lower().startswith("bearer ") else ""
    if not expected:
        raise Problem(403, "Metrics are local only",
                      "set RESCUE_METRICS_TOKEN to scrape from another host")
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Problem(401, "Metrics token required", "send Authorization: Bearer <token>",
                      headers={"WWW-Authenticate": "Bearer"})


metrics_token.__access_roles__ = ("metrics-token",)  # type: ignore[attr-defined]
MetricsAccess = Annotated[None, Depends(metrics_token)]


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {}},
                             "description": "Prometheus text exposition"}})
def metrics_endpoint(request: Request, _: MetricsAccess) -> Response:
    """Prometheus metrics of every worker of this host plus the database gauges."""
    body, content_type = metrics.render(request.app.state.engine, request.app.state.ops.clock)
    return Response(body, media_type=content_type)

