"""Heartbeats over a real Mosquitto: offline detection and clearance with an injected clock,
on SQLite and PostGIS. Each heartbeat lands in the liveness store, not in a row."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from dispatch.settings import Settings
from dispatch.telemetry import liveness
from dispatch.telemetry.liveness_models import DeviceLiveness, TerminalAlert
from tests import factories
from tests.conftest import Api
from tests.dispatch.telemetry.device import Terminal, register
from tests.dispatch.telemetry.mqtt_helpers import (
    Publisher,
    consumers,
    mqtt_settings,
    needs_broker,
    wait_for,
)

pytestmark = needs_broker


@pytest.fixture
def ms(settings: Settings) -> Settings:
    return mqtt_settings(settings)


def test_a_silent_terminal_goes_offline_and_its_next_message_clears_it(
        api: Api, ms: Settings) -> None:
    admin, op = api.user("admin"), api.user("operator")
    with api.db() as s:
        lifts = [factories.make_elevator(s).id for _ in range(2)]
        s.commit()
    quiet, chatty = (register(api, admin, lift) for lift in lifts)
    app: Any = api.client.app
    store, factory = app.state.liveness, app.state.sessionmaker
    live: list[dict[str, Any]] = []
    app.state.bus.subscribe(lambda m: live.append(m) if m["type"].startswith("terminal") else None)
    pub = Publisher(ms)

    def beat(t: Terminal, seq: int, **kw: Any) -> None:
        now = int(api.clock.now.timestamp())
        pub.send(t.device_id, "heartbeat", {"seq": seq, "at": now, **kw}, secret=t.secret,
                 ts=now)
        pub.flush()

    with consumers(api, ms) as make:
        c = make()
        beat(quiet, 1, mode="normal", floor=3)
        beat(chatty, 1)
        wait_for(lambda: len(store.last_seen([quiet.device_id, chatty.device_id])) == 2)
        with api.db() as s:  # heartbeats write no row
            assert s.scalar(select(func.count()).select_from(DeviceLiveness)) == 0
        assert liveness.flush(factory, store, settings=ms, now=api.clock.now) == 2
        api.clock.advance(seconds=100)
        beat(chatty, 2)
        wait_for(lambda: c.stats.snapshot().get("heartbeats") == 3)
        api.clock.advance(seconds=90)  # quiet: 190 s > 60 s × 3; chatty: 90 s
        assert liveness.sweep(factory, store, settings=ms, now=api.clock.now) == (1, 0)
        assert liveness.sweep(factory, store, settings=ms, now=api.clock.now) == (0, 0)
        alerts = api.client.get("/api/v1/telemetry/offline", headers=op).json()
        assert [(a["kind"], a["device_id"], a["cleared_at"]) for a in alerts] == [
            ("offline", quiet.device_id, None)]
        flag = api.client.get(f"/api/v1/telemetry/liveness?elevator_id={lifts[0]}",
                              headers=op).json()
        assert flag["terminal_offline"] is True
        assert flag["terminals"][0]["state"] == "offline"
        other = api.client.get(f"/api/v1/telemetry/liveness?elevator_id={lifts[1]}",
                               headers=op).json()
        assert other["terminal_offline"] is False
        assert [m["type"] for m in live] == ["terminal_offline"]
        assert live[0]["elevator_id"] == lifts[0] and live[0]["incident_id"] is None
        assert live[0]["data"]["device_id"] == quiet.device_id

        api.clock.advance(seconds=5)
        beat(quiet, 2)  # it is back
        wait_for(lambda: len(live) == 2, what="the terminal_online event")
    pub.close()
    assert live[1]["type"] == "terminal_online" and live[1]["elevator_id"] == lifts[0]
    with api.db() as s:
        alert = s.scalar(select(TerminalAlert))
        row = s.get(DeviceLiveness, quiet.device_id)
    assert alert is not None and alert.cleared_by == "message"
    assert alert.cleared_at == api.clock.now
    assert row is not None and row.state == "online" and row.offline_since is None
    flag = api.client.get(f"/api/v1/telemetry/liveness?elevator_id={lifts[0]}",
                          headers=op).json()
    assert flag["terminal_offline"] is False
    assert api.client.get("/api/v1/telemetry/offline", headers=op).json() == []
    assert liveness.sweep(factory, store, settings=ms, now=api.clock.now) == (0, 0)
