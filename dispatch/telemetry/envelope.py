"""The MQTT message envelope and topics (issue 19). Pure functions, no I/O.

MQTT has no headers, so what the HTTP device API carries in ``X-Timestamp`` / ``X-Signature``
travels inside the message. A terminal publishes, on ``<prefix>/<device_id>/events`` or
``<prefix>/<device_id>/heartbeat``, the UTF-8 JSON object::

    {"ts": "1796027400", "sig": "<lower-hex HMAC-SHA256>", "body": "<the JSON text, as a string>"}

``body`` is the batch (``{"events": [...]}``, exactly as the HTTP API takes it) or the heartbeat
(``{"seq", "at", "mode"?, "floor"?, "door_zone"?}``) as *text*: the signature is computed over
``ts + "." + body`` byte for byte (the HTTP rule), so no JSON re-serialisation can break it.
The device id is the topic's, never the payload's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from dispatch.telemetry import signing

KINDS = ("events", "heartbeat")


class EnvelopeError(ValueError):
    """A message that is not a well-formed envelope; ``field`` names what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True, slots=True)
class Topic:
    device_id: str
    kind: str  # "events" | "heartbeat"


@dataclass(frozen=True, slots=True)
class Envelope:
    ts: str
    sig: str
    body: bytes


def topic_for(prefix: str, device_id: str, kind: str) -> str:
    return f"{prefix.rstrip('/')}/{device_id}/{kind}"


def subscription(prefix: str, group: str, kind: str) -> str:
    """The shared subscription of one lane: ``$share/<group>/<prefix>/+/<kind>``."""
    return f"$share/{group}/{prefix.rstrip('/')}/+/{kind}"


def subscriptions(prefix: str, group: str) -> list[str]:
    """The shared subscriptions of a consumer, one per kind."""
    return [subscription(prefix, group, kind) for kind in KINDS]


def parse_topic(topic: str, prefix: str) -> Topic | None:
    """``<prefix>/<device_id>/<kind>`` → Topic; anything else (or a bad device id) → None."""
    head = prefix.rstrip("/") + "/"
    if not topic.startswith(head):
        return None
    rest = topic[len(head):].split("/")
    if len(rest) != 2 or rest[1] not in KINDS or not 0 < len(rest[0]) <= 64:
        return None
    return Topic(rest[0], rest[1])


def open_envelope(payload: bytes) -> Envelope:
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EnvelopeError("envelope", f"not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise EnvelopeError("envelope", "must be a JSON object {ts, sig, body}")
    ts, sig, body = data.get("ts"), data.get("sig"), data.get("body")
    if isinstance(ts, int) and not isinstance(ts, bool):
        ts = str(ts)
    if not isinstance(ts, str) or not ts.isdigit() or len(ts) > 20:
        raise EnvelopeError("ts", "Unix seconds (decimal digits)")
    if not isinstance(sig, str) or not 0 < len(sig) <= 128:
        raise EnvelopeError("sig", "lower-hex HMAC-SHA256 of ts + '.' + body")
    if not isinstance(body, str):
        raise EnvelopeError("body", "the signed JSON text, as a string")
    return Envelope(ts, sig, body.encode())


def seal_envelope(secret: str, ts: int | str, body: bytes | str) -> bytes:
    """What a terminal publishes (used by tests, the bench and the README example)."""
    text = body if isinstance(body, str) else body.decode()
    stamp = str(ts)
    return json.dumps({"ts": stamp, "sig": signing.sign(secret, stamp, text.encode()),
                       "body": text}, ensure_ascii=False, separators=(",", ":")).encode()

