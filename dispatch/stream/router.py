"""``GET /api/v1/stream`` (websocket): a snapshot, the missed events, then live events.

Protocol (server → client, JSON text frames):
``{"type": "snapshot", "now", "last_seq", "me", "incidents", "teams"}`` first; then, with
``?since=SEQ``, every timeline event after SEQ that the user may see (``"replay": true``); then
``{"type": "ready", "replayed": n}``; then live events ``{seq, type, incident_id, team_id, at,
data}`` (for staff also ``incident``: the board row, ``team``: the team row; ``seq`` is null for
GPS fixes, type ``team_position``). The socket is read-only: a client may send ``ping`` (answered
``pong``); anything else is answered with an error frame. Changes go through the REST API.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect
from sqlalchemy import select

from dispatch.deps import StreamIdentity, StreamUser
from dispatch.events import event_message
from dispatch.models import Incident
from dispatch.stream import snapshot
from dispatch.stream.hub import Hub, StreamClient, crew_view, dumps

router = APIRouter(tags=["stream"])
REPLAY_LIMIT = 5000


def _snapshot(ws: WebSocket, who: StreamIdentity) -> tuple[int, str, list[int]]:
    """(last_seq, the snapshot frame as text, incident ids in it)."""
    now = datetime.now(UTC)
    fresh_s = ws.app.state.settings.gps_fresh_s
    viewer, lang = who.viewer, who.lang

    def build() -> dict[str, Any]:
        with ws.app.state.sessionmaker() as session:
            return snapshot.snapshot(session, viewer, lang=lang, now=now, fresh_s=fresh_s)

    if viewer.sees_everything:
        last_seq, body = ws.app.state.hub.board_snapshot(build)
        head = dumps({"type": "snapshot", "now": now.isoformat(), "me": viewer.me(lang)})
        return last_seq, head[:-1] + "," + body[1:], []
    snap = build()
    return int(snap["last_seq"]), dumps(snap), [row["id"] for row in snap["incidents"]]


def _replay(ws: WebSocket, since: int, upto: int) -> tuple[list[dict[str, Any]], dict[int, int]]:
    with ws.app.state.sessionmaker() as session:
        rows = [ev for ev in snapshot.events_since(session, since, limit=REPLAY_LIMIT)
                if ev.id <= upto]
        ids = {ev.incident_id for ev in rows}
        zones = dict(session.execute(select(Incident.id, Incident.zone_id)
                                     .where(Incident.id.in_(ids))).all()) if ids else {}
        return [event_message(ev) for ev in rows], zones


async def _sender(ws: WebSocket, client: StreamClient, skip_upto: int) -> None:
    while True:
        seq, text = await client.queue.get()
        if client.overflowed:
            await ws.close(code=1013, reason="too slow; reconnect with since")
            return
        if seq is not None and seq <= skip_upto:
            continue  # already in the snapshot or the replay
        await ws.send_text(text)


async def _receiver(ws: WebSocket, client: StreamClient) -> None:
    while True:
        raw = await ws.receive_text()
        try:
            kind = json.loads(raw).get("type") if raw.startswith("{") else raw.strip()
        except ValueError:
            kind = None
        if kind == "ping":
            client.push(None, dumps({"type": "pong", "now": datetime.now(UTC).isoformat()}))
        else:
            client.push(None, dumps({"type": "error", "status": 405,
                                     "detail": "the stream is read-only; use the REST API"}))


@router.websocket("/api/v1/stream")
async def stream(websocket: WebSocket, who: StreamUser,
                 since: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None) -> None:
    """Live board for consoles (all roles; crews see their team's jobs, offices read-only)."""
    hub: Hub = websocket.app.state.hub
    await hub.ensure_started()
    await websocket.accept()
    client = hub.add(who.viewer)  # registered before the snapshot: nothing falls between
    try:
        upto, text, ids = await asyncio.to_thread(_snapshot, websocket, who)
        if client.is_crew:
            client.jobs = set(ids)
        await websocket.send_text(text)
        replayed = 0
        if since is not None and since < upto:
            messages, zones = await asyncio.to_thread(_replay, websocket, since, upto)
            for msg in messages:
                if client.wants(msg, zones.get(msg["incident_id"])):
                    out = crew_view(msg, client.viewer) if client.is_crew else msg
                    await websocket.send_text(dumps({**out, "replay": True}))
                    replayed += 1
            if len(messages) >= REPLAY_LIMIT:
                await websocket.send_text(dumps({"type": "replay_truncated"}))
        await websocket.send_text(dumps({"type": "ready", "replayed": replayed}))
        tasks = [asyncio.create_task(_sender(websocket, client, upto)),
                 asyncio.create_task(_receiver(websocket, client))]
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        for task in (*done, *pending):
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
                await task
    except WebSocketDisconnect:
        pass
    finally:
        hub.remove(client)
