"""The README's MQTT envelope example: the signatures are what the server computes, and the
consumer's processing (no broker needed for that part) stores the events and the heartbeat."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from dispatch.telemetry import envelope, signing
from dispatch.telemetry.models import Alarm, Device
from dispatch.telemetry.mqtt import Inbound, Processor
from dispatch.telemetry.signing import seal
from tests import factories
from tests.conftest import Api

README = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")


def _example() -> dict[str, Any]:
    block = README.split("<!-- mqtt-envelope-example -->", 1)[1].split("```", 2)[1]
    lines = [ln for ln in block.splitlines() if ln.strip()]
    fields = dict(re.findall(r"^(device id|secret)\s+(\S+)$", block, flags=re.M))
    msgs = {}
    for i, ln in enumerate(lines):
        m = re.match(r"^(events|heartbeat)\s+(\S+)$", ln)
        if m:
            msgs[m.group(1)] = (m.group(2), lines[i + 1].strip())
    assert set(msgs) == {"events", "heartbeat"}
    return {**fields, "messages": msgs}


def test_the_envelopes_open_and_their_signatures_are_recomputed() -> None:
    ex = _example()
    for kind, (topic, payload) in ex["messages"].items():
        t = envelope.parse_topic(topic, "rescue/v1")
        assert t == envelope.Topic(ex["device id"], kind)
        env = envelope.open_envelope(payload.encode())
        assert signing.verify(ex["secret"], env.ts, env.body, env.sig)
        assert envelope.seal_envelope(ex["secret"], env.ts, env.body) == json.dumps(
            json.loads(payload), separators=(",", ":")).encode()
    http = README.split("<!-- telemetry-signature-example -->", 1)[1].split("```", 2)[1]
    http_sig = re.search(r"^signature\s+(\S+)$", http, flags=re.M)
    events_sig = json.loads(ex["messages"]["events"][1])["sig"]
    assert http_sig is not None and events_sig == http_sig.group(1)  # the same rule


def test_the_consumer_stores_the_example(api: Api) -> None:
    ex = _example()
    app: Any = api.client.app
    (topic_e, events), (topic_h, hb) = ex["messages"]["events"], ex["messages"]["heartbeat"]
    api.clock.now = datetime.fromtimestamp(int(json.loads(events)["ts"]), UTC)
    with api.db() as s:
        lift = factories.make_elevator(s)
        s.add(Device(id=ex["device id"], elevator_id=lift.id,
                     secret_sealed=seal(ex["secret"], api.settings.resolved_secret_key())))
        s.commit()
    p = Processor(app.state.sessionmaker, app.state.liveness, settings=api.settings,
                  app_secret=api.settings.resolved_secret_key(), clock=api.clock)
    counts = p.process([Inbound(topic_e, events.encode(), 1, 1),
                        Inbound(topic_h, hb.encode(), 2, 1)])
    assert counts["events_stored"] == 2 and counts["heartbeats"] == 1
    assert not any(k.startswith("refused") for k in counts)
    with api.db() as s:
        outcomes = {a.event_id: a.outcome for a in s.scalars(select(Alarm))}
    assert outcomes == {"000187": "queued", "000188": "queued"}  # stored, acknowledged next
    assert p.judge() == 2
    with api.db() as s:
        outcomes = {a.event_id: a.outcome for a in s.scalars(select(Alarm))}
    assert outcomes == {"000187": "created", "000188": "recorded"}
    assert app.state.liveness.last_seen([ex["device id"]]) == {
        ex["device id"]: api.clock.now.timestamp()}
