"""Deadlines survive a crash: kill -9 the server while an offer is open, start it again.

The offer timeout is a row; the restarted server's job loop fires it close to its time, once,
and offers the next team — also with two workers sharing the loop.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from bench._server import free_port
from dispatch.models import Assignment, IncidentEvent, ScheduledTask
from tests import factories
from tests.dispatch import scenario
from tests.dispatch.live_servers import start_server

OFFER_TIMEOUT_S = 8


def kill_hard(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGKILL)  # the whole group: uvicorn's workers too
    proc.wait(timeout=10)


@pytest.mark.slow
def test_offer_timeout_fires_after_kill_9(db: sessionmaker[Session], engine: Engine,
                                          tmp_path: Path, geo_cache_dir: Path) -> None:
    with db() as s:
        net = scenario.build(s)
        factories.make_user(s, "operator", username="op-restart")
        s.commit()
    env = {
        "RESCUE_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "RESCUE_SECRET_KEY": "restart-test-" + "k" * 32,
        "RESCUE_VAR_DIR": str(tmp_path / "var"),
        "RESCUE_GEO_CACHE_DIR": str(geo_cache_dir),
        "RESCUE_OFFER_TIMEOUT_S": str(OFFER_TIMEOUT_S),
        "RESCUE_JOB_POLL_S": "0.2",
    }
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server(env, port)
    try:
        token = httpx.post(f"{base}/api/v1/auth/token", data={
            "username": "op-restart", "password": factories.PASSWORD}).json()["access_token"]
        h = {"Authorization": f"Bearer {token}"}
        inc = httpx.post(f"{base}/api/v1/incidents", headers=h, json={
            "rescue_code": net.rescue_code, "channel": "call"}).json()["id"]
        detail = httpx.post(f"{base}/api/v1/incidents/{inc}/confirm", headers=h).json()
        first = detail["assignments"][0]
        assert first["state"] == "offered"
        accept_by = datetime.fromisoformat(first["accept_by"])
    finally:
        kill_hard(proc)

    # While the server is dead nothing happens to the offer.
    with db() as s:
        assert s.get(Assignment, first["id"]).state == "offered"

    workers = 2 if engine.dialect.name == "postgresql" else 1
    proc = start_server(env, port, workers=workers)
    try:
        deadline = time.monotonic() + OFFER_TIMEOUT_S + 20
        while time.monotonic() < deadline:
            with db() as s:
                a = s.get(Assignment, first["id"])
                if a.state != "offered":
                    break
            time.sleep(0.2)
        time.sleep(1.0)  # let a second worker try (and fail) to handle it again
    finally:
        kill_hard(proc)

    with db() as s:
        a = s.get(Assignment, first["id"])
        assert a.state == "timed_out"
        assert a.timed_out_at >= accept_by  # never before its deadline (order, not seconds)
        timeouts = s.scalar(select(func.count()).where(
            IncidentEvent.incident_id == inc, IncidentEvent.type == "offer_timed_out"))
        handled = s.scalars(select(ScheduledTask).where(
            ScheduledTask.assignment_id == first["id"],
            ScheduledTask.kind == "offer_timeout")).all()
        nxt = s.scalars(select(Assignment).where(Assignment.incident_id == inc,
                                                 Assignment.id != first["id"])).all()
    assert timeouts == 1
    assert [t.status for t in handled] == ["done"]
    assert len(nxt) == 1 and nxt[0].state == "offered" and nxt[0].team_id == net.a_far
    assert datetime.now(UTC) > accept_by
