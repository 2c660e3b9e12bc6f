"""Two real server processes and a real Redis: a console on A sees what happens on B, and
keeps seeing it while Redis is away (the workers read the timeline) and after it is back."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from websockets.sync.client import ClientConnection, connect

from tests import factories
from tests.dispatch import scenario
from tests.dispatch.live_servers import PrivateRedis, servers

REDIS_URL = os.environ.get("RESCUE_TEST_REDIS_URL")
pytestmark = pytest.mark.slow


def _env(engine: Engine, tmp_path: Path, geo_cache_dir: Path, redis_url: str) -> dict[str, str]:
    return {
        "RESCUE_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "RESCUE_SECRET_KEY": "stream-workers-test-" + "k" * 32,
        "RESCUE_VAR_DIR": str(tmp_path / "var"),
        "RESCUE_GEO_CACHE_DIR": str(geo_cache_dir),
        "RESCUE_REDIS_URL": redis_url,
        "RESCUE_STREAM_POLL_S": "0.3",
    }


def _seed(db: sessionmaker[Session]) -> scenario.Scenario:
    with db() as s:
        net = scenario.build(s)
        factories.make_user(s, "operator", username="op-live")
        s.commit()
    return net


def _token(base: str) -> str:
    r = httpx.post(f"{base}/api/v1/auth/token",
                   data={"username": "op-live", "password": factories.PASSWORD}, timeout=10)
    r.raise_for_status()
    return str(r.json()["access_token"])


@contextmanager
def _socket(base: str, token: str,
            since: int | None = None) -> Iterator[tuple[ClientConnection, dict[str, Any]]]:
    url = base.replace("http", "ws") + f"/api/v1/stream?token={token}"
    if since is not None:
        url += f"&since={since}"
    with connect(url, open_timeout=10) as ws:
        snap = json.loads(ws.recv(timeout=10))
        assert snap["type"] == "snapshot"
        yield ws, snap


def _next_event(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    """The next frame that is a timeline event (skipping ``ready`` and GPS fixes)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no event")
        msg = json.loads(ws.recv(timeout=left))
        if msg.get("seq") is not None:
            return msg


def _report(base: str, token: str, code: str) -> int:
    r = httpx.post(f"{base}/api/v1/incidents", headers={"Authorization": f"Bearer {token}"},
                   json={"rescue_code": code, "channel": "call"}, timeout=10)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


@pytest.mark.skipif(not REDIS_URL, reason="RESCUE_TEST_REDIS_URL not set")
def test_a_console_on_worker_a_sees_an_event_made_on_worker_b(
        db: sessionmaker[Session], engine: Engine, tmp_path: Path, geo_cache_dir: Path) -> None:
    net = _seed(db)
    assert REDIS_URL
    with servers(_env(engine, tmp_path, geo_cache_dir, REDIS_URL), 2) as (a, b):
        token = _token(a)
        with _socket(a, token) as (ws, snap):
            assert snap["incidents"] == []
            inc = _report(b, token, net.rescue_code)
            ev = _next_event(ws)  # live, pushed (the speed is bench/fanout.py's business)
            assert ev["type"] == "received" and ev["incident_id"] == inc
            assert ev["incident"]["state"] == "received"


@pytest.mark.skipif(not shutil.which("redis-server"), reason="redis-server not installed")
def test_redis_outage_keeps_the_servers_working_and_consoles_current(
        db: sessionmaker[Session], engine: Engine, tmp_path: Path, geo_cache_dir: Path) -> None:
    net = _seed(db)
    with db() as s:
        codes = [factories.make_elevator(s, maintenance_company_id=net.company_id).rescue_code
                 for _ in range(3)]
        s.commit()
    redis = PrivateRedis(tmp_path)
    redis.start()
    try:
        with servers(_env(engine, tmp_path, geo_cache_dir, redis.url), 2) as (a, b):
            token = _token(a)
            with _socket(a, token) as (ws, _):
                _report(b, token, codes[0])
                assert _next_event(ws)["type"] == "received"

                redis.stop()
                # worker B still records calls; worker A's console still hears of them (from
                # the timeline table, since Redis cannot carry them)
                inc = _report(b, token, codes[1])
                ev = _next_event(ws, timeout=6)
                assert ev["incident_id"] == inc and ev["incident"]["state"] == "received"
                last = ev["seq"]

            redis.start()  # same port: the workers reconnect by themselves
            inc3 = _report(b, token, codes[2])
            # a console that reconnects with ?since= gets what it missed, then live events
            with _socket(a, token, since=last) as (ws, snap):
                assert {r["id"] for r in snap["incidents"]} >= {inc, inc3}
                ev = _next_event(ws)
                assert ev["replay"] and ev["incident_id"] == inc3
                time.sleep(1.5)  # give the listeners time to resubscribe
                inc4 = _report(b, token, net.rescue_code)
                ev = _next_event(ws)
                assert ev["incident_id"] == inc4
    finally:
        redis.stop()
