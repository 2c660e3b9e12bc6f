"""Per-process fan-out: one bus subscription, many websocket clients, each filtered by role.

Every event is enriched once per worker (the incident's board row and the team's row, read from
the database, which is the source of truth) and serialised once per audience, so 250 consoles on
a worker cost one query and two ``json.dumps`` per event, not 250. Events that arrive together
(a judging round commits a hundred incidents at once in an alarm storm) are enriched together:
one read of their incidents' rows and one of their teams', not one per event.

While the bus reports its inter-worker link down (Redis gone), the hub reads new timeline rows
from the table every ``poll_s`` and delivers those it has not seen, so consoles stay current;
when the link is back it catches up once more and stops polling.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from dispatch.bus import BUS_STATUS, EventBus, Message, queue_subscriber
from dispatch.calls.service import for_viewer
from dispatch.events import event_message
from dispatch.models import IncidentEvent
from dispatch.ops.metrics import WEBSOCKET_CLIENTS
from dispatch.scoping import Visibility
from dispatch.stream import snapshot

log = logging.getLogger("rescue.stream")
Row = dict[str, Any]
QueueItem = tuple[int | None, str]


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=str)


class StreamClient:
    """One websocket: who it is (its ``Visibility``), the jobs a crew follows, its queue."""

    def __init__(self, viewer: Visibility, *, max_queue: int) -> None:
        self.viewer = viewer
        self.jobs: set[int] = set()
        self.queue: asyncio.Queue[QueueItem] = asyncio.Queue(maxsize=max_queue)
        self.overflowed = False

    @property
    def is_crew(self) -> bool:
        return self.viewer.is_crew

    @property
    def team_id(self) -> int | None:
        return self.viewer.team_id

    def wants(self, msg: Message, zone_id: int | None) -> bool:
        return self.viewer.wants_event(msg, zone_id, self.jobs)

    def push(self, seq: int | None, text: str) -> None:
        try:
            self.queue.put_nowait((seq, text))
        except asyncio.QueueFull:
            self.overflowed = True  # the socket closes; the page reconnects with ?since=


ENRICH_BURST = 200  # messages waiting together are enriched by one read
Enriched = tuple[dict[int, Row], dict[int, Row]]  # incident rows, team rows, by id


def _refs(msg: Message) -> tuple[int | None, int | None]:
    """The incident and team whose rows go with a message (a team's GPS fix carries none)."""
    incident_id, team_id = msg.get("incident_id"), msg.get("team_id")
    if incident_id is None and (team_id is None or msg.get("type") == "team_position"):
        return None, None
    return (int(incident_id) if incident_id is not None else None,
            int(team_id) if team_id is not None else None)


def crew_view(msg: Message, viewer: Visibility) -> Message:
    """An event as a crew may read it: no caller number, no board or team rows of others."""
    data = viewer.redact(dict(msg.get("data") or {}))
    return {**{k: v for k, v in msg.items() if k not in ("incident", "team")}, "data": data}


class Hub:
    def __init__(self, sessions: sessionmaker[Session], bus: EventBus, *, fresh_s: float,
                 poll_s: float = 1.0, max_queue: int = 2000,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.sessions = sessions
        self.bus = bus
        self.fresh_s = fresh_s
        self.poll_s = poll_s
        self.max_queue = max_queue
        self.now = now
        self.clients: set[StreamClient] = set()
        self.delivered = 0
        self.degraded = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._inbox: asyncio.Queue[Message] | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._cursor = 0
        self._recent: set[int] = set()
        self._recent_order: collections.deque[int] = collections.deque()
        self._positions_version = 0
        self._snap_lock = threading.Lock()
        self._snap: tuple[tuple[int, int], float, str] | None = None
        self.snapshots_built = 0

    # -- life cycle -------------------------------------------------------------------------
    async def ensure_started(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is loop:
            return
        await self.stop()
        self._loop = loop
        self._inbox = asyncio.Queue()
        self._cursor = await asyncio.to_thread(self._max_seq)
        self._unsubscribe = self.bus.subscribe(queue_subscriber(loop, self._inbox))
        self._tasks = [loop.create_task(self._consume(), name="stream-hub")]
        if not getattr(self.bus, "healthy", True):
            self._set_degraded(True)

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, RuntimeError):
                await task
        self._tasks = []
        self._loop = None
        self.degraded = False

    def add(self, viewer: Visibility) -> StreamClient:
        client = StreamClient(viewer, max_queue=self.max_queue)
        self.clients.add(client)
        WEBSOCKET_CLIENTS.labels(client.viewer.role).inc()  # issue 18
        return client

    def remove(self, client: StreamClient) -> None:
        if client in self.clients:
            WEBSOCKET_CLIENTS.labels(client.viewer.role).dec()
        self.clients.discard(client)

    # -- the consumer -----------------------------------------------------------------------
    async def _consume(self) -> None:
        assert self._inbox is not None
        while True:
            burst = [await self._inbox.get()]
            while len(burst) < ENRICH_BURST and not self._inbox.empty():
                burst.append(self._inbox.get_nowait())
            await self.dispatch_many(burst)

    async def dispatch_many(self, msgs: list[Message]) -> None:
        """Deliver messages in order, their rows read in one go."""
        rows: Enriched | None = None
        events = [m for m in msgs if m.get("type") != BUS_STATUS
                  and m.get("seq") not in self._recent]  # a repeat is dropped unread
        if self.clients and any(_refs(m) != (None, None) for m in events):
            try:
                rows = await asyncio.to_thread(self._enrich_many, events)
            except Exception:  # each message then reads its own
                log.exception("stream hub: could not read the rows of %d events", len(events))
        for msg in msgs:
            try:
                if msg.get("type") == BUS_STATUS:
                    await self._on_status(str(msg.get("state")))
                else:
                    await self.dispatch(msg, rows)
            except Exception:  # one bad message must not stop the stream
                log.exception("stream hub: could not deliver %r", msg.get("type"))

    def board_snapshot(self, build: Callable[[], Row], *, max_age_s: float = 5.0
                       ) -> tuple[int, str]:
        """The full board as JSON (without ``type``, ``now`` and ``me``), shared by every
        unscoped staff console: 500 consoles reconnecting at once (a restart, Redis back) cost
        one build, not 500. Reused only while no event or GPS fix has arrived since and for at
        most ``max_age_s``. Called from worker threads."""
        with self._snap_lock:
            key = (self._max_seq(), self._positions_version)
            if self._snap and self._snap[0] == key and time.monotonic() - self._snap[1] < max_age_s:
                return key[0], self._snap[2]
            body = build()
            for k in ("type", "now", "me"):
                body.pop(k, None)
            text = dumps(body)
            self.snapshots_built += 1
            self._snap = (key, time.monotonic(), text)
            return key[0], text

    async def dispatch(self, msg: Message, rows: Enriched | None = None) -> None:
        """Deliver one message; ``rows``: its incident's and team's rows already read (with
        others'), else they are read here."""
        seq = msg.get("seq")
        if msg.get("type") in ("team_position", "team_duty", "team_gps"):  # no seq: the shared
            self._positions_version += 1  # snapshot must not outlive them
        if seq is not None:
            if seq in self._recent:
                return
            self._remember(int(seq))
        if not self.clients:
            return
        if "call" in msg and str(msg.get("type", "")).startswith("call_"):
            self._dispatch_call(msg)  # issue 15: the phone desk
            return
        incident_id, team_id = _refs(msg)
        if rows is None and (incident_id, team_id) != (None, None):
            rows = await asyncio.to_thread(self._enrich_many, [msg])
        incident = rows[0].get(incident_id) if rows and incident_id is not None else None
        team = rows[1].get(team_id) if rows and team_id is not None else None
        zone = incident["zone"]["id"] if incident else msg.get("zone_id")  # terminal alerts
        staff_text: str | None = None
        crew_texts: dict[int | None, str] = {}
        for client in list(self.clients):
            if not client.wants(msg, zone):
                continue
            if client.is_crew:
                if client.team_id not in crew_texts:
                    crew_texts[client.team_id] = await self._crew_text(msg, team, client.viewer)
                client.push(seq, crew_texts[client.team_id])
            else:
                if staff_text is None:
                    staff_text = dumps({**msg, "incident": incident, "team": team})
                client.push(seq, staff_text)
            self.delivered += 1

    def _dispatch_call(self, msg: Message) -> None:
        """A phone-desk message (call ringing, answered, abandoned…): to staff consoles only,
        with the caller's number for operators and supervisors and masked for the others."""
        texts: dict[bool, str] = {}
        for client in list(self.clients):
            if not client.viewer.sees_calls:
                continue
            full = client.viewer.sees_caller_numbers
            if full not in texts:
                texts[full] = dumps({**msg, "call": for_viewer(msg["call"], client.viewer)})
            client.push(None, texts[full])
            self.delivered += 1

    async def _crew_text(self, msg: Message, team: Row | None, viewer: Visibility) -> str:
        """The crew's version: no caller number, and the incident row with only this team's
        assignments (never another team's)."""
        out = crew_view(msg, viewer)
        if team is not None and team["id"] == viewer.team_id:
            out["team"] = team
        if msg.get("incident_id") is not None and viewer.team_id is not None:
            rows = await asyncio.to_thread(self._rows_for, viewer, int(msg["incident_id"]))
            if rows:
                out["incident"] = rows[0]
        return dumps(out)

    def _rows_for(self, viewer: Visibility, incident_id: int) -> list[Row]:
        with self.sessions() as session:
            return snapshot.incident_rows(session, viewer, ids=[incident_id])

    def _remember(self, seq: int) -> None:
        self._recent.add(seq)
        self._recent_order.append(seq)
        if len(self._recent_order) > 20_000:
            self._recent.discard(self._recent_order.popleft())
        self._cursor = max(self._cursor, seq)

    def _enrich_many(self, msgs: list[Message]) -> Enriched:
        """The board rows of these messages' incidents and teams (every row: the hub filters
        per client afterwards), by id."""
        incident_ids: set[int] = set()
        team_ids: set[int] = set()
        for msg in msgs:
            incident_id, team_id = _refs(msg)
            if incident_id is not None:
                incident_ids.add(incident_id)
            if team_id is not None:
                team_ids.add(team_id)
        everything = Visibility.internal()
        with self.sessions() as session:
            incidents = (snapshot.incident_rows(session, everything, ids=sorted(incident_ids))
                         if incident_ids else [])
            teams = (snapshot.team_rows(session, everything, now=self.now(),
                                        fresh_s=self.fresh_s, ids=sorted(team_ids))
                     if team_ids else [])
        return {r["id"]: r for r in incidents}, {t["id"]: t for t in teams}

    # -- degraded mode (the bus cannot reach the other workers) ------------------------------
    async def _on_status(self, state: str) -> None:
        if state == "down":
            self._set_degraded(True)
        elif state == "up":
            self._set_degraded(False)
            await self.catch_up()

    def _set_degraded(self, degraded: bool) -> None:
        if degraded == self.degraded:
            return
        self.degraded = degraded
        if degraded and self._loop is not None:
            self._tasks.append(self._loop.create_task(self._poll(), name="stream-poll"))

    async def _poll(self) -> None:
        while self.degraded:
            try:
                await self.catch_up()
            except Exception:
                log.exception("stream hub: catch-up from the timeline failed")
            await asyncio.sleep(self.poll_s)

    async def catch_up(self) -> int:
        """Deliver timeline rows committed since the last one seen (from any worker)."""
        rows = await asyncio.to_thread(self._events_after, self._cursor)
        for i in range(0, len(rows), ENRICH_BURST):
            await self.dispatch_many(rows[i:i + ENRICH_BURST])
        return len(rows)

    def _events_after(self, cursor: int) -> list[Message]:
        with self.sessions() as session:
            return [event_message(ev) for ev in snapshot.events_since(session, cursor, limit=1000)]

    def _max_seq(self) -> int:
        with self.sessions() as session:
            return int(session.scalar(select(func.max(IncidentEvent.id))) or 0)
