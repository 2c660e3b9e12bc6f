"""Issue 12 findings on input: body limits, JSON depth/NaN/NUL, bounded ids, dates, strict
ints, field names in every 4xx (both backends)."""

from __future__ import annotations

import json
from datetime import timedelta

from tests.conftest import Api
from tests.dispatch import scenario
from tests.dispatch.telemetry.device import Terminal, ago, ev, register

PROBLEM = "application/problem+json"


def problem(r, status: int, field: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body = r.json()
    if field is not None:
        assert body["field"] == field, body
    return body


def terminal(api: Api, admin: dict[str, str], net: scenario.Scenario) -> Terminal:
    return register(api, admin, net.elevator_id)


def test_a_big_unsigned_body_is_refused_before_it_is_read(api: Api) -> None:
    body = b"x" * (2 * 1024 * 1024)
    r = api.client.post("/api/v1/telemetry/events", content=body,
                        headers={"Content-Type": "application/json"})
    problem(r, 401, "X-Device-Id")  # no signature headers: refused unread
    r = api.client.post("/api/v1/telemetry/events", content=body,
                        headers={"X-Device-Id": "d", "X-Timestamp": "1", "X-Signature": "s"})
    problem(r, 413, "body")  # Content-Length is over the limit: refused unread
    chunks = (body[i:i + 65536] for i in range(0, len(body), 65536))  # no Content-Length
    r = api.client.post("/api/v1/telemetry/events", content=chunks,
                        headers={"X-Device-Id": "d", "X-Timestamp": "1", "X-Signature": "s"})
    assert r.json()["limit_bytes"] == api.settings.body_limit_telemetry_bytes
    problem(r, 413, "body")


def test_a_signed_batch_over_the_limit_is_413_and_nothing_is_stored(api: Api, admin, net) -> None:
    term = terminal(api, admin, net)
    events = [ev(f"e{i}", "40", ago(api, 5), detail={"pad": "y" * 2000}) for i in range(400)]
    problem(term.post(events), 413, "body")
    assert api.client.get("/api/v1/telemetry/alarms", headers=admin).json() == []
    ordinary = [ev(f"e{i}", "40", ago(api, 5), floor=3) for i in range(500)]
    assert len(json.dumps({"events": ordinary})) < api.settings.body_limit_telemetry_bytes / 2
    assert term.ok(ordinary)["stored"] == 500


def test_an_anonymous_big_body_is_401_not_parsed(api: Api) -> None:
    body = json.dumps({"notes": "x" * 30_000, "channel": "call"}).encode()
    r = api.client.post("/api/v1/incidents", content=body,
                        headers={"Content-Type": "application/json"})
    assert problem(r, 401)["title"] == "Not authenticated"
    r = api.client.post("/api/v1/incidents", content=b"{" * 200_000,
                        headers={"Content-Type": "application/json"})
    problem(r, 401)


def test_json_routes_have_a_64k_limit(api: Api, op) -> None:
    r = api.client.post("/api/v1/incidents", headers=op,
                        json={"channel": "call", "notes": "x" * 70_000})
    problem(r, 413, "body")


def test_deep_detail_is_422_naming_the_event_and_alarms_still_serve(api: Api, admin,
                                                                    net) -> None:
    term = terminal(api, admin, net)
    deep: dict = {}
    cur = deep
    for _ in range(300):
        cur["x"] = {}
        cur = cur["x"]
    body = problem(term.post([ev("ok", "40", ago(api, 5)), ev("e1", "40", ago(api, 5),
                                                             detail=deep)]), 422)
    assert body["field"].startswith("events.1.detail")
    shallow = {"a": {"b": {"c": 1}}}
    body = problem(term.post([ev("e2", "40", ago(api, 5), detail={"a": {"b": {"c": {"d": {
        "e": 1}}}}})]), 422, "events.0.detail")
    assert term.ok([ev("e3", "40", ago(api, 5), detail=shallow)])["stored"] == 1
    r = api.client.get("/api/v1/telemetry/alarms", headers=admin)
    assert r.status_code == 200 and [a["event_id"] for a in r.json()] == ["e3"]


def test_json_5000_deep_is_422_not_500(api: Api, op) -> None:
    body = b"[" * 5000 + b"]" * 5000
    r = api.client.post("/api/v1/incidents", headers={**op, "Content-Type": "application/json"},
                        content=body)
    problem(r, 422, "body")


def test_nan_and_infinity_are_refused_naming_the_field(api: Api, admin, net) -> None:
    term = terminal(api, admin, net)
    at = ago(api, 5).isoformat()
    raw = ('{"events": [{"event_id": "n1", "code": "90", "occurred_at": "' + at + '", '
           '"detail": {"held_s": NaN}}]}').encode()
    problem(term.post([], body=raw), 422, "events.0.detail.held_s")
    raw = raw.replace(b"NaN", b"Infinity")
    problem(term.post([], body=raw), 422, "events.0.detail.held_s")
    assert api.client.get("/api/v1/telemetry/alarms", headers=admin).json() == []


def test_nul_bytes_are_422_naming_the_field(api: Api, op, admin, net) -> None:
    problem(api.client.get("/api/v1/elevators/search?q=a%00b", headers=op), 422, "q")
    problem(api.client.get("/api/v1/telemetry/alarms?device_id=a%00", headers=admin), 422,
            "device_id")
    problem(api.client.get("/api/v1/reports/summary?from=2026-11-01&to=2026-11-02"
                           "&district=%00", headers=admin), 422, "district")
    r = api.client.post("/api/v1/incidents", headers=op,
                        json={"rescue_code": "a\x00", "channel": "call"})
    problem(r, 422, "rescue_code")
    r = api.client.post("/api/v1/incidents", headers=op,
                        json={"rescue_code": net.rescue_code, "channel": "call",
                              "notes": "x\x00y"})
    problem(r, 422, "notes")
    term = terminal(api, admin, net)
    problem(term.post([ev("a\x00", "40", ago(api, 5))]), 422, "events.0.event_id")
    problem(term.post([ev("a", "4\x000", ago(api, 5))]), 422, "events.0.code")
    r = api.client.post("/api/v1/auth/token", data={"username": "a\x00b", "password": "x"})
    problem(r, 422, "username")


def test_ids_beyond_the_column_are_422(api: Api, op) -> None:
    for path in ("/api/v1/incidents/2147483648", "/api/v1/incidents/99999999999999999999",
                 "/api/v1/elevators/9223372036854775808"):
        problem(api.client.get(path, headers=op), 422)
    problem(api.client.get("/api/v1/incidents/2147483648", headers=op), 422, "incident_id")
    problem(api.client.post("/api/v1/assignments/99999999999999999999/accept", headers=op), 422,
            "assignment_id")
    problem(api.client.get("/api/v1/incidents?offset=99999999999999999999", headers=op), 422,
            "offset")
    assert api.client.get("/api/v1/incidents/2147483647", headers=op).status_code == 404
    r = api.client.post("/api/v1/incidents", headers=op,
                        json={"elevator_id": 2**40, "channel": "call"})
    problem(r, 422, "elevator_id")
    r = api.client.post("/api/v1/incidents", headers=op,
                        json={"elevator_id": 2**70, "channel": "call"})
    problem(r, 422, "elevator_id")


def test_report_dates_outside_2000_2100_are_422(api: Api, admin) -> None:
    r = api.client.get("/api/v1/reports/summary?from=0001-01-01&to=0001-01-02", headers=admin)
    problem(r, 422, "from")
    r = api.client.get("/api/v1/reports/summary?from=2026-01-01&to=9999-12-31", headers=admin)
    problem(r, 422, "to")


def test_telemetry_times_far_off_are_422_and_old_ones_open_nothing(api: Api, admin,
                                                                   net) -> None:
    term = terminal(api, admin, net)
    r = term.post([{"event_id": "x", "code": "11", "occurred_at": "0001-01-01T00:00:00+14:00"}])
    problem(r, 422, "events.0.occurred_at")
    old = term.ok([ev("old", "11", api.clock.now - timedelta(hours=25))])
    [res] = old["results"]
    assert (res["outcome"], res["reason"], res["incident_id"]) == ("recorded", "too_old", None)
    assert api.client.get("/api/v1/incidents", headers=admin).json()["total"] == 0
    fresh = term.ok([ev("new", "11", ago(api, 5))])
    assert fresh["results"][0]["outcome"] == "created"


def test_trapped_count_true_and_malformed_json(api: Api, op, net) -> None:
    r = api.client.post("/api/v1/incidents", headers=op,
                        json={"rescue_code": net.rescue_code, "channel": "call",
                              "trapped_count": True})
    problem(r, 422, "trapped_count")
    r = api.client.post("/api/v1/incidents", headers={**op, "Content-Type": "application/json"},
                        content=b'{"channel": "call",, }')
    problem(r, 422, "body")


def test_non_ascii_signature_is_401_like_any_bad_signature(api: Api, admin, net) -> None:
    term = terminal(api, admin, net)
    raw = json.dumps({"events": [ev("e1", "40", ago(api, 5))]}).encode()
    stamp = str(int(api.clock.now.timestamp()))
    answers = []
    for device in (term.device_id, "dev_unknown"):
        r = api.client.post("/api/v1/telemetry/events", content=raw, headers={
            "X-Device-Id": device, "X-Timestamp": stamp,
            "X-Signature": "é".encode() * 10})
        body = problem(r, 401, "X-Signature")
        answers.append((body["title"], body["detail"]))
    assert answers[0] == answers[1]


def test_gps_fixes_older_than_the_current_one_are_history_only(api: Api, net) -> None:
    crew = api.user("crew", team_id=net.a_near)
    url = f"/api/v1/teams/{net.a_near}/position"
    now = api.clock.now
    r = api.client.post(url, headers=crew, json={"lon": 112.55, "lat": 37.86,
                                                 "at": now.isoformat()})
    assert r.status_code == 200, r.text
    r = api.client.post(url, headers=crew, json={"lon": 112.40, "lat": 37.70,
                                                 "at": (now - timedelta(minutes=2)).isoformat()})
    assert r.status_code == 200 and r.json()["history_only"] is True
    r = api.client.post(url, headers=crew, json={"lon": 112.40, "lat": 37.70,
                                                 "at": "1900-01-01T00:00:00+08:00"})
    problem(r, 422, "at")
    from dispatch.models import Team, TeamPosition
    with api.db() as s:
        team = s.get(Team, net.a_near)
        assert team is not None and team.position_at == now
        assert round(team.position.lon, 2) == 112.55
        assert len(s.query(TeamPosition).filter_by(team_id=net.a_near).all()) == 2
