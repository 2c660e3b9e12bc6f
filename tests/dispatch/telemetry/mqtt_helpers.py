"""Real-broker helpers for the MQTT tests: a publishing terminal fleet, consumers on an
isolated topic prefix and share group (the machine's broker is shared), session clean-up."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import func, select

from dispatch.settings import Settings
from dispatch.telemetry.envelope import KINDS, seal_envelope, topic_for
from dispatch.telemetry.models import Alarm
from dispatch.telemetry.mqtt import MqttConsumer, parse_url
from tests.conftest import Api

MQTT_URL = os.environ.get("RESCUE_TEST_MQTT_URL")
needs_broker = pytest.mark.skipif(
    not MQTT_URL, reason="RESCUE_TEST_MQTT_URL not set (run through scripts/test-services.sh)")


def mqtt_settings(settings: Settings) -> Settings:
    """The test settings on the test broker, with a topic prefix and share group of this test
    alone (other people's runs on the same broker never see our messages)."""
    tag = uuid.uuid4().hex[:10]
    return settings.model_copy(update={
        "mqtt_url": MQTT_URL, "mqtt_topic_prefix": f"rescue-test/{tag}",
        "mqtt_share_group": f"g{tag}", "mqtt_batch_ms": 20.0, "mqtt_session_expiry_s": 300})


class Publisher:
    """Terminals publishing signed envelopes at QoS 1 over one connection."""

    def __init__(self, settings: Settings) -> None:
        addr = parse_url(settings.mqtt_url or "")
        self.prefix = settings.mqtt_topic_prefix
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2,
                                  client_id=f"pub-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5)
        self.client.max_inflight_messages_set(1000)
        self.client.connect(addr.host, addr.port)
        self.client.loop_start()
        self.infos: list[Any] = []

    def send(self, device_id: str, kind: str, body: dict[str, Any] | str, *, secret: str,
             ts: int, payload: bytes | None = None) -> None:
        text = body if isinstance(body, str) else json.dumps(body, separators=(",", ":"))
        raw = payload if payload is not None else seal_envelope(secret, ts, text)
        self.infos.append(self.client.publish(topic_for(self.prefix, device_id, kind), raw,
                                              qos=1))

    def flush(self, timeout: float = 10) -> None:
        for info in self.infos:
            info.wait_for_publish(timeout)
        self.infos.clear()

    def close(self) -> None:
        self.flush()
        self.client.disconnect()
        self.client.loop_stop()


def forget_session(settings: Settings, client_id: str) -> None:
    """Remove a test consumer's persistent sessions (one per lane) from the broker."""
    addr = parse_url(settings.mqtt_url or "")
    for kind in KINDS:
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{client_id}.{kind}",
                        protocol=mqtt.MQTTv5)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 0
        c.connect(addr.host, addr.port, clean_start=True, properties=props)
        c.loop_start()
        time.sleep(0.1)
        c.disconnect()
        c.loop_stop()


@contextmanager
def consumers(api: Api, settings: Settings) -> Iterator[Callable[..., MqttConsumer]]:
    """Make consumers on the app's session factory (its publish-after-commit hooks) and
    liveness store; all are stopped and their sessions removed at the end."""
    made: list[MqttConsumer] = []
    ids: set[str] = set()
    app = api.client.app

    def make(client_id: str | None = None, *, start: bool = True) -> MqttConsumer:
        cid = client_id or f"test-{uuid.uuid4().hex[:8]}"
        c = MqttConsumer(app.state.sessionmaker, app.state.liveness,  # type: ignore[attr-defined]
                         settings=settings, app_secret=settings.resolved_secret_key(),
                         clock=api.clock, client_id=cid)
        made.append(c)
        ids.add(cid)
        if start:
            c.start()
            assert c.connected.wait(10), "consumer did not connect"
            time.sleep(0.2)  # the SUBACK
        return c

    try:
        yield make
    finally:
        for c in made:
            if not c._stop.is_set():
                c.stop()
        for cid in ids:
            forget_session(settings, cid)


def stored_alarms(api: Api) -> int:
    with api.db() as s:
        return s.scalar(select(func.count()).select_from(Alarm)) or 0


def queued_alarms(api: Api) -> int:
    """Stored events the consumer has not judged yet."""
    with api.db() as s:
        return s.scalar(select(func.count()).select_from(Alarm)
                        .where(Alarm.outcome == "queued")) or 0


def wait_for(check: Callable[[], bool], timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or check}")
