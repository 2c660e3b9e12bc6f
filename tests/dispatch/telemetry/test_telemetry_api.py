"""The signed device API on SQLite and PostGIS: signatures, skew, exactly once, bad batches,
inspection filtering, merging with calls, "recovered by itself", power cuts, unknown codes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from dispatch.models import Incident, IncidentEvent
from dispatch.telemetry.models import Alarm, Device
from tests import factories
from tests.conftest import Api
from tests.dispatch.telemetry.device import Terminal, ago, ev, register


@pytest.fixture
def admin(api: Api) -> dict[str, str]:
    return api.user("admin")


@pytest.fixture
def lift(api: Api) -> int:
    with api.db() as s:
        e = factories.make_elevator(s, rescue_code="147001")
        s.commit()
        return e.id


@pytest.fixture
def term(api: Api, admin: dict[str, str], lift: int) -> Terminal:
    return register(api, admin, lift)


def counts(api: Api) -> dict[str, int]:
    with api.db() as s:
        return {"alarms": s.scalar(select(func.count()).select_from(Alarm)) or 0,
                "incidents": s.scalar(select(func.count()).select_from(Incident)) or 0,
                "events": s.scalar(select(func.count()).select_from(IncidentEvent)) or 0}


def test_device_secret_is_stored_sealed_not_in_clear(api: Api, term: Terminal) -> None:
    with api.db() as s:
        device = s.get(Device, term.device_id)
        assert device is not None
    assert term.secret not in device.secret_sealed
    assert device.secret_sealed.startswith("v2:")


def test_signed_batch_is_stored_and_an_entrapment_opens_an_alarm_incident(
        api: Api, term: Terminal) -> None:
    body = term.ok([ev("e1", "11", ago(api, 5), floor=7, passenger_present=True,
                       vendor_extra={"rssi": -71})])
    assert body["stored"] == 1 and body["duplicates"] == 0
    [res] = body["results"]
    assert res["outcome"] == "created" and res["kind"] == "entrapment"
    with api.db() as s:
        incident = s.get(Incident, res["incident_id"])
        alarm = s.scalar(select(Alarm))
    assert incident is not None and incident.channel == "alarm"
    assert incident.state == "received" and incident.elevator_id == term.elevator_id
    assert alarm is not None and alarm.raw["vendor_extra"] == {"rssi": -71}
    assert alarm.incident_id == incident.id and alarm.outcome == "created"


def test_bad_signature_is_401_and_nothing_is_stored(api: Api, term: Terminal) -> None:
    r = term.post([ev("e1", "11", ago(api, 5))], secret="not-the-secret")
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["field"] == "X-Signature"
    # the body was altered after signing
    import json
    raw = json.dumps({"events": [ev("e1", "11", ago(api, 5))]}).encode()
    stamp = str(int(api.clock.now.timestamp()))
    from dispatch.telemetry.signing import sign
    r = api.client.post("/api/v1/telemetry/events", content=raw.replace(b"11", b"40"),
                        headers={"X-Device-Id": term.device_id, "X-Timestamp": stamp,
                                 "X-Signature": sign(term.secret, stamp, raw)})
    assert r.status_code == 401
    # an unknown device gets the same answer as a wrong signature (no probing of ids)
    ghost = Terminal(api, "dev_ghost", term.secret, term.elevator_id)
    r = ghost.post([ev("e1", "11", ago(api, 5))])
    assert r.status_code == 401 and r.json()["field"] == "X-Signature"
    r = api.client.post("/api/v1/telemetry/events", json={"events": []})
    assert r.status_code == 401 and r.json()["field"] == "X-Device-Id"
    assert counts(api)["alarms"] == 0 and counts(api)["incidents"] == 0


def test_timestamp_skew_over_five_minutes_is_401(api: Api, term: Terminal) -> None:
    now = int(api.clock.now.timestamp())
    late = term.post([ev("e1", "11", ago(api, 5))], ts=now - 301)
    assert late.status_code == 401 and late.json()["field"] == "X-Timestamp"
    assert late.json()["server_time"] == now
    early = term.post([ev("e1", "11", ago(api, 5))], ts=now + 301)
    assert early.status_code == 401
    within = term.post([ev("e1", "11", ago(api, 5))], ts=now - 290)
    assert within.status_code == 200, within.text
    assert counts(api)["alarms"] == 1


def test_resent_batch_changes_nothing_and_answers_the_same(api: Api, term: Terminal) -> None:
    batch = [ev("a", "11", ago(api, 20)), ev("b", "02", ago(api, 15)), ev("c", "90", ago(api, 9))]
    first = term.ok(batch)
    before = counts(api)
    api.clock.advance(seconds=30)
    again = term.ok(batch)
    assert again["stored"] == 0 and again["duplicates"] == 3
    assert all(r["duplicate"] for r in again["results"])
    strip = [{k: v for k, v in r.items() if k != "duplicate"} for r in first["results"]]
    assert [{k: v for k, v in r.items() if k != "duplicate"} for r in again["results"]] == strip
    assert counts(api) == before
    # an overlapping batch stores only what is new
    more = term.ok([ev("c", "90", ago(api, 39)), ev("d", "03", ago(api, 1))])
    assert more["stored"] == 1 and [r["duplicate"] for r in more["results"]] == [True, False]
    assert counts(api)["alarms"] == 4


def test_same_event_id_twice_in_one_batch_is_stored_once(api: Api, term: Terminal) -> None:
    body = term.ok([ev("x", "02", ago(api, 3)), ev("x", "02", ago(api, 3))])
    assert body["stored"] == 1 and body["duplicates"] == 1
    assert [r["duplicate"] for r in body["results"]] == [False, True]
    assert counts(api)["alarms"] == 1


@pytest.mark.parametrize(("event", "field"), [
    ({"event_id": "bad", "code": "11"}, "events.2.occurred_at"),
    ({"event_id": "bad", "code": "11", "occurred_at": "2026-11-30T08:00:00"},
     "events.2.occurred_at"),
    ({"event_id": "", "code": "11", "occurred_at": "2026-11-30T08:00:00Z"}, "events.2.event_id"),
    ({"event_id": "bad", "code": "11", "occurred_at": "2026-11-30T08:00:00Z", "floor": 999},
     "events.2.floor"),
    ({"event_id": "bad", "code": "11", "occurred_at": "2026-11-30T08:00:00Z",
      "passenger_present": "maybe"}, "events.2.passenger_present"),
    ({"event_id": "bad", "code": "11", "occurred_at": "2026-11-30T09:00:00Z"},
     "events.2.occurred_at"),  # half an hour in the future
])
def test_malformed_event_is_422_naming_index_and_field_and_nothing_is_stored(
        api: Api, term: Terminal, event: dict[str, Any], field: str) -> None:
    good = [ev("g1", "11", ago(api, 5)), ev("g2", "41", ago(api, 4))]
    r = term.post([*good, event])
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["field"] == field
    assert problem["event_index"] == 2 and problem["event_field"] == field.split(".", 2)[2]
    assert counts(api) == {"alarms": 0, "incidents": 0, "events": 0}


def test_batch_size_limits(api: Api, term: Terminal) -> None:
    assert term.post([]).json()["field"] == "events"
    many = [ev(f"e{i}", "02", ago(api, 1)) for i in range(501)]
    r = term.post(many)
    assert r.status_code == 422 and r.json()["field"] == "events"
    assert term.post([], body=b"{not json").json()["field"] == "body"
    assert counts(api)["alarms"] == 0
    full = term.ok([ev(f"e{i}", "02", ago(api, 1)) for i in range(500)])
    assert full["stored"] == 500


def test_inspection_mode_suppresses_alarms_with_a_reason(api: Api, term: Terminal) -> None:
    # unordered on purpose: the rules read events in the order they happened
    body = term.ok([ev("t", "11", ago(api, 30)), ev("i", "43", ago(api, 60)),
                    ev("f", "02", ago(api, 20))])
    by_id = {r["event_id"]: r for r in body["results"]}
    assert by_id["t"]["outcome"] == "filtered" and by_id["t"]["reason"] == "inspection_mode"
    assert by_id["f"]["outcome"] == "filtered" and by_id["i"]["outcome"] == "recorded"
    assert counts(api)["incidents"] == 0
    # back to normal ends inspection: the next entrapment is dispatched
    after = term.ok([ev("n", "40", ago(api, 10)), ev("t2", "11", ago(api, 5))])
    assert [r["outcome"] for r in after["results"]] == ["recorded", "created"]
    assert counts(api)["incidents"] == 1


def test_brushed_alarm_button_is_filtered_held_one_opens(api: Api, term: Terminal) -> None:
    body = term.ok([ev("p1", "90", ago(api, 30), detail={"held_s": 0.4}),
                    ev("p2", "one-key help", ago(api, 10), detail={"held_s": 6})])
    assert [(r["outcome"], r["reason"]) for r in body["results"]] == [
        ("filtered", "button_not_held"), ("created", None)]
    assert body["results"][1]["code"] == "90"


def test_two_alarms_and_a_phone_call_are_one_incident(api: Api, term: Terminal,
                                                      admin: dict[str, str]) -> None:
    first = term.ok([ev("a1", "11", ago(api, 5))])["results"][0]
    assert first["outcome"] == "created"
    api.clock.advance(seconds=40)
    second = term.ok([ev("a2", "trapped between floors", ago(api, 2))])["results"][0]
    assert second["outcome"] == "joined" and second["incident_id"] == first["incident_id"]
    op = api.user("operator")
    call = api.client.post("/api/v1/incidents", headers=op,
                           json={"elevator_id": term.elevator_id, "channel": "call",
                                 "caller_phone": "13800000001"})
    assert call.status_code == 200 and call.json()["merged_into"] == first["incident_id"]
    active = api.client.get("/api/v1/incidents?state=active", headers=op).json()
    assert [i["id"] for i in active["items"]] == [first["incident_id"]]
    assert active["items"][0]["channel"] == "alarm"
    facts = api.client.get(f"/api/v1/telemetry/incidents/{first['incident_id']}",
                           headers=op).json()
    assert facts["alarm_count"] == 2 and facts["recovered_by_itself"] is False
    alarms = api.client.get(f"/api/v1/telemetry/alarms?incident_id={first['incident_id']}",
                            headers=op).json()
    assert sorted(a["event_id"] for a in alarms) == ["a1", "a2"]


def test_alarm_after_a_phone_call_joins_the_callers_incident(api: Api, term: Terminal) -> None:
    op = api.user("operator")
    call = api.client.post("/api/v1/incidents", headers=op,
                           json={"elevator_id": term.elevator_id, "channel": "call"}).json()
    api.clock.advance(seconds=20)
    res = term.ok([ev("a1", "11", ago(api, 1)), ev("a2", "11", ago(api, 0))])["results"]
    assert [r["outcome"] for r in res] == ["joined", "joined"]
    assert {r["incident_id"] for r in res} == {call["id"]}
    detail = api.client.get(f"/api/v1/incidents/{call['id']}", headers=op).json()
    dup = [e for e in detail["timeline"] if e["type"] == "duplicate_report"]
    assert len(dup) == 1 and dup[0]["payload"]["channel"] == "alarm"
    active = api.client.get("/api/v1/incidents?state=active", headers=op).json()
    assert active["total"] == 1


def test_back_to_normal_soon_after_flags_recovered_by_itself(api: Api, term: Terminal) -> None:
    op = api.user("operator")
    created = term.ok([ev("t", "11", ago(api, 40))])["results"][0]
    res = term.ok([ev("n", "40", ago(api, 5))])["results"][0]
    assert res["outcome"] == "flagged" and res["incident_id"] == created["incident_id"]
    detail = api.client.get(f"/api/v1/incidents/{created['incident_id']}", headers=op).json()
    assert detail["state"] == "received"  # not closed: the operator verifies by callback
    flag = detail["timeline"][-1]
    assert flag["type"] == "recovered_by_itself"
    assert flag["payload"]["after_s"] == 35.0
    assert flag["payload"]["action"] == "verify_by_callback"
    facts = api.client.get(f"/api/v1/telemetry/incidents/{created['incident_id']}",
                           headers=op).json()
    assert facts["recovered_by_itself"] is True and facts["recovered_after_s"] == 35.0
    listed = api.client.get("/api/v1/telemetry/recovered", headers=op).json()
    assert [f["incident_id"] for f in listed] == [created["incident_id"]]


def test_back_to_normal_too_late_or_after_confirmation_flags_nothing(api: Api,
                                                                     admin: dict[str, str],
                                                                     term: Terminal) -> None:
    op = api.user("operator")
    late = term.ok([ev("t", "11", ago(api, 100)), ev("n", "40", ago(api, 20))])["results"]
    assert [r["outcome"] for r in late] == ["created", "recorded"]
    with api.db() as s:
        other = factories.make_elevator(s)
        s.commit()
        other_id = other.id
    t2 = register(api, admin, other_id)
    inc = t2.ok([ev("t", "11", ago(api, 30))])["results"][0]["incident_id"]
    r = api.client.post(f"/api/v1/incidents/{inc}/confirm", headers=op, json={})
    assert r.status_code == 200, r.text
    res = t2.ok([ev("n", "40", ago(api, 10))])["results"][0]
    assert res["outcome"] == "recorded" and res["reason"] == "persons_confirmed"
    assert api.client.get("/api/v1/telemetry/recovered", headers=op).json() == []


def test_area_power_cut_groups_a_districts_lifts_with_their_incidents(
        api: Api, admin: dict[str, str]) -> None:
    op = api.user("operator")
    with api.db() as s:
        xd = [factories.make_elevator(s).id for _ in range(6)]
        qx = [factories.make_elevator(s, zone_name="清徐县").id for _ in range(4)]
        s.commit()
    terms = [register(api, admin, e) for e in xd + qx]
    for i, t in enumerate(terms):
        t.ok([ev("p", "power_cut", ago(api, 300 - 20 * i))])
    trapped = terms[2].ok([ev("t", "11", ago(api, 30))])["results"][0]["incident_id"]
    cuts = api.client.get("/api/v1/telemetry/power-cuts", headers=op).json()
    assert len(cuts) == 1  # 4 county lifts stay below the threshold of 5
    [cut] = cuts
    assert cut["zone"] == "小店区" and cut["elevator_count"] == 6
    assert cut["elevator_ids"] == sorted(xd)
    assert [i["id"] for i in cut["incidents"]] == [trapped] and cut["active_incidents"] == 1


def test_reports_far_apart_are_not_one_power_cut(api: Api, admin: dict[str, str]) -> None:
    op = api.user("operator")
    with api.db() as s:
        xd = [factories.make_elevator(s).id for _ in range(5)]
        s.commit()
    for i, e in enumerate(xd):
        register(api, admin, e).ok([ev("p", "41", ago(api, 3600 - 900 * i))])
    assert api.client.get("/api/v1/telemetry/power-cuts", headers=op).json() == []


def test_unknown_codes_are_stored_and_shown(api: Api, term: Terminal) -> None:
    op = api.user("operator")
    body = term.ok([ev("u1", "99", ago(api, 3), detail={"x": 1}),
                    ev("u2", "Lift Levitating", ago(api, 2)), ev("k", 7, ago(api, 1))])
    assert [(r["kind"], r["reason"]) for r in body["results"]] == [
        ("unknown", "unknown_code"), ("unknown", "unknown_code"), ("fault", None)]
    shown = api.client.get(f"/api/v1/telemetry/alarms?elevator_id={term.elevator_id}",
                           headers=op).json()
    by_id = {a["event_id"]: a for a in shown}
    assert by_id["u1"]["code"] == "99" and by_id["u1"]["code_name"] == "未知代码"
    assert by_id["u1"]["raw"]["detail"] == {"x": 1}
    assert by_id["u2"]["code"] == "Lift Levitating"
    assert by_id["k"]["code"] == "07" and by_id["k"]["code_name"] == "楼层位置丢失"
    assert counts(api)["incidents"] == 0


def test_device_routes_are_admin_only_and_never_show_secrets(api: Api, admin: dict[str, str],
                                                             term: Terminal, lift: int) -> None:
    op = api.user("operator")
    assert api.client.post("/api/v1/telemetry/devices", headers=op,
                           json={"elevator_id": lift}).status_code == 403
    listed = api.client.get(f"/api/v1/telemetry/devices?elevator_id={lift}", headers=admin)
    assert [d["device_id"] for d in listed.json()] == [term.device_id]
    assert term.secret not in listed.text
    missing = api.client.post("/api/v1/telemetry/devices", headers=admin,
                              json={"elevator_id": 999999})
    assert missing.status_code == 404 and missing.json()["field"] == "elevator_id"
    named = register(api, admin, lift, device_id="VENDOR-42")
    assert named.device_id == "VENDOR-42"
    again = api.client.post("/api/v1/telemetry/devices", headers=admin,
                            json={"elevator_id": lift, "device_id": "VENDOR-42"})
    assert again.status_code == 409 and again.json()["field"] == "device_id"


def test_inactive_device_is_refused(api: Api, term: Terminal) -> None:
    with api.db() as s:
        d = s.get(Device, term.device_id)
        assert d is not None
        d.active = False
        s.commit()
    assert term.post([ev("e", "11", ago(api, 1))]).status_code == 401


def test_out_of_window_report_opens_a_new_incident(api: Api, term: Terminal) -> None:
    first = term.ok([ev("a", "11", ago(api, 1))])["results"][0]["incident_id"]
    api.clock.advance(minutes=31)
    second = term.ok([ev("b", "11", ago(api, 1))])["results"][0]
    assert second["outcome"] == "created" and second["incident_id"] != first
    assert api.clock.now - timedelta(minutes=31) < api.clock.now
