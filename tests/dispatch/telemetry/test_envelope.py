"""The MQTT envelope and topics (pure)."""

from __future__ import annotations

import json

import pytest

from dispatch.telemetry import envelope, signing


def test_topics_and_shared_subscriptions() -> None:
    assert envelope.topic_for("rescue/v1", "dev_1", "events") == "rescue/v1/dev_1/events"
    assert envelope.subscriptions("rescue/v1", "rescue") == [
        "$share/rescue/rescue/v1/+/events", "$share/rescue/rescue/v1/+/heartbeat"]
    assert envelope.parse_topic("rescue/v1/dev_1/heartbeat", "rescue/v1") == envelope.Topic(
        "dev_1", "heartbeat")
    for bad in ("rescue/v1/dev_1/other", "rescue/v2/dev_1/events", "rescue/v1/a/b/events",
                "rescue/v1//events"):
        assert envelope.parse_topic(bad, "rescue/v1") is None, bad


def test_a_sealed_envelope_opens_and_verifies_byte_for_byte() -> None:
    body = '{"events":[{"event_id":"1","code":"11","occurred_at":1796027380}]}'
    raw = envelope.seal_envelope("s3cret", 1796027400, body)
    env = envelope.open_envelope(raw)
    assert env.ts == "1796027400" and env.body == body.encode()
    assert signing.verify("s3cret", env.ts, env.body, env.sig)
    assert not signing.verify("other", env.ts, env.body, env.sig)
    as_int = json.loads(raw)
    as_int["ts"] = 1796027400  # an integer ts means the same text
    assert envelope.open_envelope(json.dumps(as_int).encode()).ts == "1796027400"


@pytest.mark.parametrize(("payload", "field"), [
    (b"not json", "envelope"), (b"[]", "envelope"),
    (b'{"ts":"12a","sig":"00","body":"{}"}', "ts"),
    (b'{"ts":"1","body":"{}"}', "sig"),
    (b'{"ts":"1","sig":"00","body":{"events":[]}}', "body"),
])
def test_malformed_envelopes_name_the_field(payload: bytes, field: str) -> None:
    with pytest.raises(envelope.EnvelopeError) as err:
        envelope.open_envelope(payload)
    assert err.value.field == field

