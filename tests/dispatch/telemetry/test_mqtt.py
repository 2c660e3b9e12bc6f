"""MQTT ingestion against a real Mosquitto (``RESCUE_TEST_MQTT_URL``) on SQLite and PostGIS:
exactly once through a consumer restart with QoS 1 messages in flight, refusal of bad
signatures and timestamps, two consumers sharing one subscription, HTTP and MQTT joining one
incident. Liveness over MQTT is in ``test_mqtt_liveness.py``."""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import select

from dispatch.models import Incident
from dispatch.settings import Settings
from dispatch.telemetry.models import Alarm
from tests import factories
from tests.conftest import Api
from tests.dispatch.telemetry.device import Terminal, ago, ev, register
from tests.dispatch.telemetry.mqtt_helpers import (
    Publisher,
    consumers,
    mqtt_settings,
    needs_broker,
    queued_alarms,
    stored_alarms,
    wait_for,
)

pytestmark = needs_broker


@pytest.fixture
def ms(settings: Settings) -> Settings:
    return mqtt_settings(settings)


@pytest.fixture
def fleet(api: Api) -> list[Terminal]:
    admin = api.user("admin")
    with api.db() as s:
        lifts = [factories.make_elevator(s).id for _ in range(6)]
        s.commit()
    return [register(api, admin, lift) for lift in lifts]


def _stored(api: Api) -> list[tuple[str, str]]:
    with api.db() as s:
        return [(d, e) for d, e in s.execute(select(Alarm.device_id, Alarm.event_id))]


def _plan(api: Api, fleet: list[Terminal], n: int, tag: str) -> list[tuple[Terminal, list[Any]]]:
    """``n`` batches of faults over the fleet, every fifth one resent (a lost PUBACK)."""
    out: list[tuple[Terminal, list[Any]]] = []
    for i in range(n):
        t = fleet[i % len(fleet)]
        events = [ev(f"{tag}{i:04d}-{j}", "02", ago(api, 30)) for j in range(2)]
        out.append((t, events))
        if i % 5 == 0:
            out.append((t, events))
    return out


def _send(pub: Publisher, api: Api, plan: list[tuple[Terminal, list[Any]]]) -> None:
    ts = int(api.clock.now.timestamp())
    for t, events in plan:
        pub.send(t.device_id, "events", {"events": events}, secret=t.secret, ts=ts)
    pub.flush()


def test_exactly_once_through_a_consumer_restart_with_messages_in_flight(
        api: Api, ms: Settings, fleet: list[Terminal]) -> None:
    first, second = _plan(api, fleet, 60, "a"), _plan(api, fleet, 40, "b")
    distinct = {(t.device_id, e["event_id"]) for t, evs in first + second for e in evs}
    pub = Publisher(ms)
    with consumers(api, ms) as make:
        c1 = make("rescue-test-restart")
        c1.pause_before_ack.set()  # it commits its first batch, then holds the PUBACKs
        _send(pub, api, first)
        wait_for(lambda: stored_alarms(api) > 0, what="the first batch committed")
        c1.crash()  # killed: committed-but-unacknowledged and undelivered messages in flight
        in_flight = stored_alarms(api)
        _send(pub, api, second)  # sent while no consumer runs: the broker queues them
        assert stored_alarms(api) == in_flight
        c2 = make("rescue-test-restart")  # the same session comes back
        wait_for(lambda: stored_alarms(api) >= len(distinct), what="all events stored")
        wait_for(lambda: c2.status()["queued"] == 0, what="the queue drained")
    pub.close()
    rows = _stored(api)
    assert len(rows) == len(distinct) and set(rows) == distinct  # each exactly once
    counts = c2.stats.snapshot()
    # the batch c1 committed was delivered again and recognised as already stored
    assert counts.get("events_duplicate", 0) >= in_flight
    assert counts["events_stored"] + c1.stats.snapshot()["events_stored"] == len(distinct)


def test_bad_signature_or_timestamp_is_refused_logged_counted_and_nothing_stored(
        api: Api, ms: Settings, fleet: list[Terminal], caplog: pytest.LogCaptureFixture) -> None:
    t = fleet[0]
    now = int(api.clock.now.timestamp())
    good = {"events": [ev("ok-1", "11", ago(api, 2))]}
    pub = Publisher(ms)
    caplog.set_level(logging.WARNING, logger="rescue.mqtt")
    with consumers(api, ms) as make:
        c = make()
        pub.send(t.device_id, "events", {"events": [ev("x1", "11", ago(api, 2))]},
                 secret="not-the-secret", ts=now)
        pub.send(t.device_id, "events", {"events": [ev("x2", "11", ago(api, 2))]},
                 secret=t.secret, ts=now + 3600)  # from the future
        pub.send(t.device_id, "heartbeat", {"seq": 1, "at": now},
                 secret=t.secret, ts=now - 3600)  # a stale heartbeat
        pub.send("dev_unknown", "events", {"events": [ev("x3", "11", ago(api, 2))]},
                 secret=t.secret, ts=now)
        pub.send(t.device_id, "events", "", secret=t.secret, ts=now,
                 payload=b'{"ts":"1","sig":"00"}')  # no body
        pub.send(t.device_id, "events", {"events": [{"event_id": "x4", "code": "11"}]},
                 secret=t.secret, ts=now)  # signed, but no occurred_at
        pub.send(t.device_id, "events", good, secret=t.secret, ts=now)  # still consuming
        pub.flush()
        wait_for(lambda: stored_alarms(api) == 1, what="the good message")
        wait_for(lambda: c.stats.snapshot().get("messages", 0) == 7, what="all 7 handled")
        wait_for(lambda: queued_alarms(api) == 0, what="the good message judged")
        counts = c.stats.snapshot()
    pub.close()
    assert _stored(api) == [(t.device_id, "ok-1")]
    assert counts["refused_signature"] == 2  # wrong secret, unknown device: one answer
    assert counts["refused_timestamp"] == 2
    assert counts["refused_envelope"] == 1 and counts["refused_body"] == 1
    assert counts["events_stored"] == 1
    with api.db() as s:
        assert len(s.scalars(select(Incident)).all()) == 1
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) == 6
    assert all(t.secret not in m for m in refused)
    assert any("signature" in m for m in refused) and any("timestamp" in m for m in refused)
    assert api.client.app.state.liveness.counters()["refused_signature"] == 2  # type: ignore[attr-defined]


def test_two_consumers_on_one_shared_subscription_store_each_event_once(
        api: Api, ms: Settings, fleet: list[Terminal]) -> None:
    plan = _plan(api, fleet, 150, "s")
    distinct = {(t.device_id, e["event_id"]) for t, evs in plan for e in evs}
    pub = Publisher(ms)
    with consumers(api, ms) as make:
        a, b = make(), make()
        _send(pub, api, plan)
        wait_for(lambda: stored_alarms(api) >= len(distinct), what="all events stored")
        wait_for(lambda: a.stats.snapshot().get("messages", 0)
                 + b.stats.snapshot().get("messages", 0) == len(plan), what="all handled")
        got = Counter({"a": a.stats.snapshot()["messages"], "b": b.stats.snapshot()["messages"]})
    pub.close()
    rows = _stored(api)
    assert len(rows) == len(distinct) and set(rows) == distinct
    assert got["a"] > 0 and got["b"] > 0  # the broker spread the load
    assert got["a"] + got["b"] == len(plan)  # each message went to one of them


def test_http_and_mqtt_events_for_one_elevator_join_the_same_incident(
        api: Api, ms: Settings, fleet: list[Terminal]) -> None:
    admin = api.user("admin")
    http_term = fleet[0]
    mqtt_term = register(api, admin, http_term.elevator_id)  # a second terminal, same lift
    created = http_term.ok([ev("h1", "11", ago(api, 10))])["results"][0]
    assert created["outcome"] == "created"
    pub = Publisher(ms)
    with consumers(api, ms) as make:
        make()
        pub.send(mqtt_term.device_id, "events",
                 {"events": [ev("m1", "11", ago(api, 5)), ev("m2", "90", ago(api, 4),
                                                            detail={"held_s": 9})]},
                 secret=mqtt_term.secret, ts=int(api.clock.now.timestamp()))
        pub.flush()
        wait_for(lambda: stored_alarms(api) == 3, what="the MQTT events")
        wait_for(lambda: queued_alarms(api) == 0, what="the MQTT events judged")
    pub.close()
    with api.db() as s:
        incidents = s.scalars(select(Incident)).all()
        alarms = {a.event_id: a for a in s.scalars(select(Alarm))}
    assert [i.id for i in incidents] == [created["incident_id"]]
    assert {a.incident_id for a in alarms.values()} == {created["incident_id"]}
    assert alarms["m1"].outcome == "joined" and alarms["m2"].outcome == "joined"
    assert alarms["m1"].device_id == mqtt_term.device_id
    op = api.user("operator")
    facts = api.client.get(f"/api/v1/telemetry/incidents/{created['incident_id']}",
                           headers=op).json()
    assert facts["alarm_count"] == 3


def test_lanes_in_separate_processes_heartbeats_and_events_each_go_to_their_own_consumer(
        api: Api, ms: Settings, fleet: list[Terminal]) -> None:
    """``RESCUE_MQTT_LANES``: a heartbeat-only consumer takes heartbeats and leaves the events
    queued for the events consumer (which gets them once it comes), so incident-opening events
    never hold up heartbeats in the same process."""
    beats_only = ms.model_copy(update={"mqtt_lanes": "heartbeat"})
    events_only = ms.model_copy(update={"mqtt_lanes": "events"})
    t = fleet[0]
    pub = Publisher(ms)
    ts = int(api.clock.now.timestamp())
    with consumers(api, beats_only) as make_beats, consumers(api, events_only) as make_events:
        hb = make_beats()
        assert hb.session_ids == [f"{hb.client_id}.heartbeat"]
        # the events lane's session exists before any events consumer runs: messages queue
        evc = make_events()
        evc.stop()
        pub.send(t.device_id, "heartbeat", {"seq": 1, "at": ts}, secret=t.secret, ts=ts)
        pub.send(t.device_id, "events", {"events": [ev("lane-1", "02", ago(api, 30))]},
                 secret=t.secret, ts=ts)
        pub.flush()
        wait_for(lambda: hb.stats.snapshot().get("heartbeats") == 1, what="heartbeat handled")
        assert stored_alarms(api) == 0
        again = make_events(evc.client_id)  # same session: the queued event is delivered
        assert again.session_ids == [f"{evc.client_id}.events"]
        wait_for(lambda: stored_alarms(api) == 1, what="queued event stored")
        assert _stored(api) == [(t.device_id, "lane-1")]
        assert again.stats.snapshot().get("heartbeats", 0) == 0
        assert hb.stats.snapshot()["messages"] == 1
    pub.close()


def test_a_judge_in_its_own_process_judges_what_an_events_consumer_stored(
        api: Api, ms: Settings, fleet: list[Terminal]) -> None:
    """``RESCUE_MQTT_LANES=events`` stores and acknowledges only; a ``judge`` consumer (no
    broker connection) applies the rules to what was stored, opening the incident."""
    events_only = ms.model_copy(update={"mqtt_lanes": "events"})
    judge_only = ms.model_copy(update={"mqtt_lanes": "judge"})
    pub = Publisher(ms)
    ts = int(api.clock.now.timestamp())
    with consumers(api, events_only) as make_events, consumers(api, judge_only) as make_judge:
        make_events()
        pub.send(fleet[0].device_id, "events", {"events": [ev("j-1", "11", ago(api, 5))]},
                 secret=fleet[0].secret, ts=ts)
        pub.send(fleet[1].device_id, "events", {"events": [ev("j-2", "02", ago(api, 5))]},
                 secret=fleet[1].secret, ts=ts)
        pub.flush()
        wait_for(lambda: stored_alarms(api) == 2, what="both events stored")
        time.sleep(0.5)
        assert queued_alarms(api) == 2  # an events-only process judges nothing
        judge = make_judge()
        assert judge.session_ids == []
        wait_for(lambda: queued_alarms(api) == 0, what="the judge judged them")
        assert judge.stats.snapshot()["events_judged"] == 2
    pub.close()
    with api.db() as s:
        fates = {a.event_id: (a.outcome, a.incident_id is not None)
                 for a in s.scalars(select(Alarm))}
        incidents = s.scalars(select(Incident)).all()
    assert fates == {"j-1": ("created", True), "j-2": ("recorded", False)}
    assert [i.elevator_id for i in incidents] == [fleet[0].elevator_id]
    assert incidents[0].channel == "alarm"


def test_unknown_lane_names_are_refused_with_the_setting_named() -> None:
    with pytest.raises(ValueError, match="mqtt_lanes"):
        Settings(mqtt_lanes="events,alarms")
    assert Settings(mqtt_lanes=" heartbeat ,events,heartbeat").mqtt_lane_kinds == (
        "heartbeat", "events")


def test_consume_refuses_an_unknown_lane_before_connecting(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    from typer.testing import CliRunner

    from dispatch.cli import app
    from dispatch.settings import get_settings

    monkeypatch.setenv("RESCUE_DATABASE_URL", f"sqlite:///{tmp_path}/x.db")
    monkeypatch.setenv("RESCUE_MQTT_URL", "mqtt://127.0.0.1:1")  # never reached
    get_settings.cache_clear()
    try:
        r = CliRunner().invoke(app, ["mqtt", "consume", "--lanes", "events,alarms"])
    finally:
        get_settings.cache_clear()
    assert r.exit_code == 2
    assert "--lanes" in r.output and "alarms" in r.output
