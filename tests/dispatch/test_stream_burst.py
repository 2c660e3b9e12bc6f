"""The stream hub enriches a burst of events (a judging round's incidents) with one read of
their rows, and still delivers each event, in order, with its own incident's row."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from dispatch.bus import InProcessBus
from dispatch.events import Actor
from dispatch.incidents.schemas import IncidentCreate
from dispatch.incidents.service import create_incident
from dispatch.scoping import Visibility
from dispatch.settings import Settings
from dispatch.stream import snapshot
from dispatch.stream.hub import Hub
from dispatch.uow import unit_of_work
from tests import factories
from tests.conftest import Clock


def test_a_burst_of_events_is_enriched_by_one_read_and_delivered_in_order(
        db: sessionmaker[Session], settings: Settings, clock: Clock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    with unit_of_work(db) as s:
        operator = factories.make_user(s, "operator")
        ids = [create_incident(s, data=IncidentCreate(
            elevator_id=factories.make_elevator(s).id, channel="alarm"),
            actor=Actor("device:t", None, "telemetry"), user_id=None, now=clock.now,
            settings=settings)[0].id for _ in range(5)]
    with db() as s:
        viewer = Visibility.for_user(operator, s)
    reads: list[list[int]] = []
    real = snapshot.incident_rows

    def counting(session: Session, v: Visibility, **kw: Any) -> Any:
        reads.append(list(kw.get("ids") or []))
        return real(session, v, **kw)

    monkeypatch.setattr(snapshot, "incident_rows", counting)
    burst = [{"type": "received", "seq": 1000 + k, "incident_id": i}
             for k, i in enumerate(ids + ids[:2])]  # two incidents twice

    async def run() -> list[dict[str, Any]]:
        hub = Hub(db, InProcessBus(), fresh_s=60.0, now=lambda: clock.now)
        client = hub.add(viewer)
        await hub.dispatch_many(burst)
        await hub.dispatch_many(burst[:1])  # already delivered: dropped by its seq
        out = []
        while not client.queue.empty():
            out.append(json.loads(client.queue.get_nowait()[1]))
        return out

    got = asyncio.run(run())
    assert reads == [sorted(ids)], "one read for the whole burst"
    assert [m["seq"] for m in got] == [m["seq"] for m in burst]
    assert [m["incident"]["id"] for m in got] == [m["incident_id"] for m in burst]
