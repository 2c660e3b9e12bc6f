"""Helpers for websocket tests with Starlette's TestClient: receive with a timeout."""

from __future__ import annotations

import json
from typing import Any

import anyio
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect


def recv(ws: WebSocketTestSession, timeout: float = 5.0) -> dict[str, Any]:
    """The next frame as JSON; fails the test instead of hanging when nothing comes."""

    async def get() -> Any:
        with anyio.fail_after(timeout):
            return await ws._send_rx.receive()

    message = ws.portal.call(get)
    if message["type"] == "websocket.close":
        raise WebSocketDisconnect(message.get("code", 1000), message.get("reason", ""))
    return json.loads(message["text"])


def recv_until(ws: WebSocketTestSession, kind: str, timeout: float = 5.0) -> list[dict[str, Any]]:
    """Frames up to and including the first of type ``kind``."""
    out = []
    while True:
        msg = recv(ws, timeout)
        out.append(msg)
        if msg.get("type") == kind:
            return out


def connect(client: Any, headers: dict[str, str], query: str = "") -> WebSocketTestSession:
    token = headers["Authorization"].split()[1]
    sep = "&" if query else ""
    return client.websocket_connect(f"/api/v1/stream?{query}{sep}token={token}")
