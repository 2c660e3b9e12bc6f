"""Exactly once through a real server restart (issue 19 acceptance), on SQLite and PostGIS:
a uvicorn server with ``RESCUE_MQTT_URL`` consumes a stream of QoS 1 event messages from a real
Mosquitto, is killed (SIGKILL: no DISCONNECT, nothing acknowledged that was in hand) while
messages are in flight, more arrive while it is down, and the restarted server's consumer
(same client id, so the same persistent session) stores the rest, each event once.

The in-process test in ``test_mqtt.py`` pins down the commit-then-crash-before-PUBACK window
deterministically; this one shows the same guarantee for the process the operator deploys."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from bench._server import free_port
from dispatch.settings import Settings
from dispatch.telemetry.models import Alarm
from tests import factories
from tests.conftest import Api
from tests.dispatch.live_servers import start_server, stop
from tests.dispatch.telemetry.device import Terminal, register
from tests.dispatch.telemetry.mqtt_helpers import (
    Publisher,
    forget_session,
    mqtt_settings,
    needs_broker,
    queued_alarms,
    stored_alarms,
    wait_for,
)

pytestmark = needs_broker


def _server_env(ms: Settings, var_dir: Path, client_base: str) -> dict[str, str]:
    return {"RESCUE_DATABASE_URL": ms.database_url,
            "RESCUE_SECRET_KEY": ms.resolved_secret_key(),
            "RESCUE_VAR_DIR": str(var_dir), "RESCUE_GEO_CACHE_DIR": str(ms.geo_cache_dir),
            "RESCUE_REDIS_URL": "", "RESCUE_RUN_JOBS": "false", "RESCUE_LOG_LEVEL": "WARNING",
            "RESCUE_MQTT_URL": ms.mqtt_url or "", "RESCUE_MQTT_TOPIC_PREFIX": ms.mqtt_topic_prefix,
            "RESCUE_MQTT_SHARE_GROUP": ms.mqtt_share_group, "RESCUE_MQTT_CLIENT_ID": client_base,
            "RESCUE_MQTT_BATCH_MS": "20", "RESCUE_MQTT_SESSION_EXPIRY_S": "300"}


def _consumer_status(base: str, admin: dict[str, str]) -> dict[str, Any] | None:
    try:
        r = httpx.get(f"{base}/api/v1/telemetry/mqtt", headers=admin, timeout=2)
    except httpx.HTTPError:
        return None
    consumer = r.json().get("consumer") if r.status_code == 200 else None
    return consumer if isinstance(consumer, dict) else None


def _login(base: str, username: str) -> dict[str, str]:
    r = httpx.post(f"{base}/api/v1/auth/token",
                   data={"username": username, "password": factories.PASSWORD}, timeout=10)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_each_event_stored_once_through_a_killed_and_restarted_server(
        api: Api, settings: Settings, tmp_path: Path) -> None:
    ms = mqtt_settings(settings)
    admin = api.user("admin")
    with api.db() as s:
        lifts = [factories.make_elevator(s).id for _ in range(8)]
        u = factories.make_user(s, "admin")
        s.commit()
        admin_name = u.username
    fleet: list[Terminal] = [register(api, admin, lift) for lift in lifts]
    client_base = f"srv-{uuid.uuid4().hex[:8]}"
    env = _server_env(ms, tmp_path / "var", client_base)
    sent: list[tuple[str, str]] = []
    stop_sending = threading.Event()
    pub = Publisher(ms)

    def terminals() -> None:
        """Faults from the fleet, two events per message, every seventh message resent (a
        terminal that lost the PUBACK), until told to stop."""
        i = 0
        while not stop_sending.is_set():
            t = fleet[i % len(fleet)]
            at = (datetime.now(UTC) - timedelta(seconds=20)).isoformat()
            events = [{"event_id": f"r{i:05d}-{j}", "code": "02", "occurred_at": at}
                      for j in range(2)]
            for _ in range(2 if i % 7 == 0 else 1):
                pub.send(t.device_id, "events", {"events": events}, secret=t.secret,
                         ts=int(time.time()))
            sent.extend((t.device_id, e["event_id"]) for e in events)
            i += 1
            time.sleep(0.004)

    port = free_port()
    proc = start_server(env, port)
    base = f"http://127.0.0.1:{port}"
    sender = threading.Thread(target=terminals, daemon=True)
    try:
        token = _login(base, admin_name)
        wait_for(lambda: bool((_consumer_status(base, token) or {}).get("connected")),
                 what="the server's consumer connected")
        time.sleep(0.3)  # its SUBACK
        sender.start()
        wait_for(lambda: stored_alarms(api) >= 200, what="the first events stored")
        os.killpg(proc.pid, signal.SIGKILL)  # killed mid-stream, messages in flight
        proc.wait(timeout=10)
        at_kill = stored_alarms(api)
        time.sleep(0.5)  # the stream goes on while no server runs: the broker queues it
        stop_sending.set()  # (briefly: a default Mosquitto queues 1,000 messages a session)
        sender.join(timeout=10)
        pub.flush(30)
        assert stored_alarms(api) == at_kill
        distinct = set(sent)
        assert at_kill < len(distinct)  # the kill really left events to deliver
        proc = start_server(env, port)  # the same client id: the same sessions come back
        wait_for(lambda: stored_alarms(api) >= len(distinct), timeout=60,
                 what="every event stored after the restart")
        wait_for(lambda: queued_alarms(api) == 0, timeout=60,
                 what="every event judged, those the killed server had only stored too")
        token = _login(base, admin_name)
        wait_for(lambda: (_consumer_status(base, token) or {}).get("queued") == 0,
                 what="the restarted consumer drained")
        status = _consumer_status(base, token)
        time.sleep(0.3)
    finally:
        stop_sending.set()
        pub.close()
        stop(proc)
        forget_session(ms, f"{client_base}-0")
    with api.db() as s:
        rows = [(d, e) for d, e in s.execute(select(Alarm.device_id, Alarm.event_id))]
        outcomes = set(s.scalars(select(Alarm.outcome)))
    assert len(rows) == len(set(sent)) and set(rows) == set(sent)  # each exactly once
    assert outcomes == {"recorded"}  # judged once stored (faults: no incident)
    assert status is not None and status["client_id"] == f"{client_base}-0"
    assert status["sessions"] == [f"{client_base}-0.events", f"{client_base}-0.heartbeat"]
    assert status["counts"]["events_stored"] == len(rows) - at_kill  # the rest, after restart
