"""The live stream on both bus backends: snapshot, replay, live events, who sees what.

With Redis, actions are made on a second app instance (another "worker") sharing the database
and the Redis server, so every live event below crossed Redis to reach the socket.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from starlette.websockets import WebSocketDisconnect

from dispatch.app import create_app
from dispatch.deps import get_now
from dispatch.models import IncidentEvent
from tests import factories
from tests.conftest import Api
from tests.dispatch import scenario
from tests.dispatch.stream_helpers import connect, recv, recv_until

REDIS_URL = os.environ.get("RESCUE_TEST_REDIS_URL")
BUSES = ["inprocess", pytest.param("redis", marks=pytest.mark.skipif(
    not REDIS_URL, reason="RESCUE_TEST_REDIS_URL not set (run through scripts/test-services.sh)"))]


@dataclass
class Live:
    watch: TestClient   # where the sockets connect (worker A)
    api: Api            # where changes are made (worker B with Redis, else the same app)
    net: scenario.Scenario
    kind: str


@pytest.fixture(params=BUSES)
def live(request: pytest.FixtureRequest, db, settings, clock) -> Iterator[Live]:
    kind = request.param
    if kind == "redis":
        settings = settings.model_copy(update={"redis_url": REDIS_URL})
    with db() as s:
        net = scenario.build(s)
        s.commit()
    app_a = create_app(settings)
    app_a.dependency_overrides[get_now] = clock
    app_b = create_app(settings) if kind == "redis" else app_a
    app_b.dependency_overrides[get_now] = clock
    with TestClient(app_a) as a:
        if app_b is app_a:
            yield Live(a, Api(a, db, clock, settings), net, kind)
        else:
            with TestClient(app_b) as b:
                yield Live(a, Api(b, db, clock, settings), net, kind)


def new_incident(live: Live, op: dict[str, str], **kw: Any) -> int:
    body = {"rescue_code": live.net.rescue_code, "channel": "call", **kw}
    body = {k: v for k, v in body.items() if v is not None}
    r = live.api.client.post("/api/v1/incidents", headers=op, json=body)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def post(live: Live, url: str, headers: dict[str, str], json: Any = None) -> dict[str, Any]:
    r = live.api.client.post(url, headers=headers, json=json)
    assert r.status_code == 200, r.text
    return r.json()


def max_seq(live: Live) -> int:
    with live.api.db() as s:
        return int(s.scalar(select(func.max(IncidentEvent.id))) or 0)


def test_snapshot_has_the_board_with_clocks_assignments_and_teams(live: Live) -> None:
    op = live.api.user("operator")
    inc = new_incident(live, op, trapped_count=2, injured=True)
    offer = post(live, f"/api/v1/incidents/{inc}/confirm", op)["assignments"][0]
    with connect(live.watch, op) as ws:
        snap = recv(ws)
        assert snap["type"] == "snapshot"
        assert snap["me"]["role"] == "operator" and snap["me"]["read_only"] is False
        assert snap["last_seq"] == max_seq(live)
        [row] = snap["incidents"]
        assert row["id"] == inc and row["state"] == "dispatched" and row["injured"] is True
        assert row["trapped_count"] == 2 and row["zone"]["name"] == "小店区"
        assert row["sla_minutes"] == 30
        assert row["sla_deadline"].startswith("2026-11-30T09:00:00")
        assert row["assignment"]["team_id"] == live.net.a_near == offer["team_id"]
        assert row["assignment"]["state"] == "offered" and row["assignment"]["accept_by"]
        assert row["elevator"]["rescue_code"] == "250001"
        # navigation coordinates for Chinese map apps are shifted from WGS-84 (~500 m here)
        assert row["elevator"]["gcj02"][0] != pytest.approx(row["elevator"]["lon"], abs=1e-3)
        teams = {t["id"]: t for t in snap["teams"]}
        assert teams[live.net.a_near]["status"] == "offered"
        assert teams[live.net.b_near]["status"] == "available"
        assert recv(ws) == {"type": "ready", "replayed": 0}


def test_live_events_carry_the_board_row(live: Live) -> None:
    op = live.api.user("operator")
    with connect(live.watch, op) as ws:
        recv_until(ws, "ready")
        inc = new_incident(live, op, vulnerable=True)
        ev = recv(ws)
        assert ev["type"] == "received" and ev["incident_id"] == inc
        assert ev["seq"] == max_seq(live)
        assert ev["incident"]["state"] == "received" and ev["incident"]["vulnerable"] is True
        post(live, f"/api/v1/incidents/{inc}/confirm", op)
        confirmed, offered = recv(ws), recv(ws)
        assert confirmed["type"] == "confirmed" and offered["type"] == "offered"
        assert offered["team_id"] == live.net.a_near
        assert offered["incident"]["assignment"]["team_id"] == live.net.a_near
        assert offered["team"]["status"] == "offered"
        assert confirmed["seq"] < offered["seq"]


def test_since_replays_what_a_console_missed(live: Live) -> None:
    op = live.api.user("operator")
    crew = live.api.user("crew", team_id=live.net.a_near)
    inc = new_incident(live, op)
    with connect(live.watch, op) as ws:
        seen = recv(ws)["last_seq"]
    detail = post(live, f"/api/v1/incidents/{inc}/confirm", op)
    post(live, f"/api/v1/assignments/{detail['assignments'][0]['id']}/accept", crew)
    with connect(live.watch, op, f"since={seen}") as ws:
        frames = recv_until(ws, "ready")
    snap, *replayed, ready = frames
    assert snap["incidents"][0]["state"] == "accepted"
    assert [f["type"] for f in replayed] == ["confirmed", "offered", "accepted"]
    assert all(f["replay"] and f["incident_id"] == inc for f in replayed)
    assert [f["seq"] for f in replayed] == sorted(f["seq"] for f in replayed)
    assert replayed[0]["seq"] > seen and ready == {"type": "ready", "replayed": 3}


def test_crews_see_only_their_teams_jobs(live: Live) -> None:
    op = live.api.user("operator")
    with live.api.db() as s:
        other = factories.make_elevator(s, rescue_code="250002",
                                        location=scenario.AT_4KM,
                                        maintenance_company_id=live.net.company_id)
        s.commit()
        other_code = other.rescue_code
    mine = new_incident(live, op, caller_phone="13812345678")
    a_mine = post(live, f"/api/v1/incidents/{mine}/confirm", op)["assignments"][0]
    assert a_mine["team_id"] == live.net.a_near
    crew = live.api.user("crew", team_id=live.net.a_near)
    with connect(live.watch, crew) as ws:
        snap = recv(ws)
        assert [r["id"] for r in snap["incidents"]] == [mine]
        assert [t["id"] for t in snap["teams"]] == [live.net.a_near]
        assert snap["me"]["read_only"] is False
        recv_until(ws, "ready")
        # an incident of another team: nothing of it reaches this crew
        r = live.api.client.post("/api/v1/incidents", headers=op,
                                 json={"rescue_code": other_code, "channel": "call"})
        theirs = r.json()["id"]
        post(live, f"/api/v1/incidents/{theirs}/confirm", op)
        # … while its own job's events do, without the caller's number or the board
        post(live, f"/api/v1/assignments/{a_mine['id']}/accept", crew)
        ev = recv(ws)
        assert ev["type"] == "accepted" and ev["incident_id"] == mine
        assert ev["team"]["status"] == "busy" and "caller_phone" not in ev["data"]
        assert ev["incident"]["state"] == "accepted"
        assert {a["team_id"] for a in ev["incident"]["assignments"]} == {live.net.a_near}
        post(live, f"/api/v1/teams/{live.net.a_near}/position", crew,
             {"lon": 112.5700, "lat": 37.8380})
        fix = recv(ws)
        while fix["type"] != "team_position":  # the fix may refresh the ETA first
            assert fix["incident_id"] == mine
            fix = recv(ws)
        assert fix["team_id"] == live.net.a_near and fix["seq"] is None
        ws.send_text("ping")
        assert recv(ws)["type"] == "pong"


def test_team_positions_reach_the_console(live: Live) -> None:
    op = live.api.user("operator")
    crew = live.api.user("crew", team_id=live.net.b_near)
    with connect(live.watch, op) as ws:
        recv_until(ws, "ready")
        post(live, f"/api/v1/teams/{live.net.b_near}/position", crew,
             {"lon": 112.5601, "lat": 37.8302, "accuracy_m": 8})
        fix = recv(ws)
        assert fix["type"] == "team_position" and fix["team_id"] == live.net.b_near
        assert fix["data"] == {"lon": 112.5601, "lat": 37.8302, "accuracy_m": 8.0}


def test_offices_are_read_only_and_see_their_region(live: Live) -> None:
    op = live.api.user("operator")
    office = live.api.user("office", region="小店区")
    with live.api.db() as s:
        far = factories.make_elevator(s, zone_name="清徐县", rescue_code="350001")
        s.commit()
        far_code = far.rescue_code
    inc = new_incident(live, op)
    with connect(live.watch, office) as ws:
        snap = recv(ws)
        assert snap["me"]["read_only"] is True
        assert [r["id"] for r in snap["incidents"]] == [inc]
        recv_until(ws, "ready")
        r = live.api.client.post("/api/v1/incidents", headers=op,
                                 json={"rescue_code": far_code, "channel": "call"})
        assert r.status_code == 201
        post(live, f"/api/v1/incidents/{inc}/confirm", op)
        first = recv(ws)
        assert first["type"] == "confirmed" and first["incident_id"] == inc  # not 清徐's
        ws.send_json({"type": "confirm", "incident_id": inc})
        while (frame := recv(ws))["type"] != "error":
            assert frame["incident_id"] == inc
        assert frame["status"] == 405 and "read-only" in frame["detail"]
    r = live.api.client.post(f"/api/v1/incidents/{inc}/cancel", headers=office,
                             json={"reason": "测试"})
    assert r.status_code == 403


def test_a_socket_without_a_valid_token_is_refused(live: Live) -> None:
    with pytest.raises(WebSocketDisconnect) as exc, \
            live.watch.websocket_connect("/api/v1/stream?token=not-a-token") as ws:
        recv(ws)
    assert exc.value.code == 1008
    with pytest.raises(WebSocketDisconnect) as exc, \
            live.watch.websocket_connect("/api/v1/stream") as ws:
        recv(ws)
    assert exc.value.code == 1008


def test_reconnecting_consoles_share_one_board_build_until_something_changes(live: Live) -> None:
    op = live.api.user("operator")
    sup = live.api.user("supervisor")
    hub = live.watch.app.state.hub
    new_incident(live, op)
    built = hub.snapshots_built
    with connect(live.watch, op) as ws1, connect(live.watch, sup) as ws2:
        s1, s2 = recv(ws1), recv(ws2)
    assert hub.snapshots_built == built + 1
    assert s1["incidents"] == s2["incidents"] and len(s1["incidents"]) == 1
    assert (s1["me"]["role"], s2["me"]["role"]) == ("operator", "supervisor")
    second = new_incident(live, op, rescue_code=None, elevator_id=_other_elevator(live))
    with connect(live.watch, op) as ws:
        snap = recv(ws)
    assert hub.snapshots_built == built + 2
    assert second in {r["id"] for r in snap["incidents"]} and snap["last_seq"] == max_seq(live)


def _other_elevator(live: Live) -> int:
    with live.api.db() as s:
        e = factories.make_elevator(s, maintenance_company_id=live.net.company_id)
        s.commit()
        return e.id
