"""A test terminal: registers itself through the admin route and sends signed batches."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from dispatch.telemetry.signing import sign
from tests.conftest import Api


@dataclass
class Terminal:
    api: Api
    device_id: str
    secret: str
    elevator_id: int

    def post(self, events: list[dict[str, Any]], *, ts: int | None = None,
             secret: str | None = None, body: bytes | None = None) -> httpx.Response:
        raw = body if body is not None else json.dumps({"events": events}).encode()
        stamp = str(ts if ts is not None else int(self.api.clock.now.timestamp()))
        return self.api.client.post(
            "/api/v1/telemetry/events", content=raw,
            headers={"Content-Type": "application/json", "X-Device-Id": self.device_id,
                     "X-Timestamp": stamp,
                     "X-Signature": sign(secret or self.secret, stamp, raw)})

    def ok(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        r = self.post(events)
        assert r.status_code == 200, r.text
        return r.json()


def register(api: Api, admin: dict[str, str], elevator_id: int, **kw: Any) -> Terminal:
    r = api.client.post("/api/v1/telemetry/devices", headers=admin,
                        json={"elevator_id": elevator_id, **kw})
    assert r.status_code == 201, r.text
    body = r.json()
    return Terminal(api, body["device_id"], body["secret"], elevator_id)


def ev(event_id: str, code: str, at: datetime, **kw: Any) -> dict[str, Any]:
    return {"event_id": event_id, "code": code, "occurred_at": at.isoformat(), **kw}


def ago(api: Api, seconds: float) -> datetime:
    return api.clock.now - timedelta(seconds=seconds)
