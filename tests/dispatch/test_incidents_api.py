"""Intake and operator steps over HTTP, on SQLite and PostGIS."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests import factories
from tests.conftest import Api


@pytest.fixture
def elevator(api: Api) -> dict[str, object]:
    with api.db() as s:
        company = factories.make_org(s, name="并州电梯维保有限公司")
        e = factories.make_elevator(s, rescue_code="140501", maintenance_company_id=company.id,
                                    address="太原市小店区并州北路12号阳光小区3号楼",
                                    building="阳光小区3号楼")
        q = factories.make_elevator(s, zone_name="清徐县", rescue_code="140502",
                                    address="太原市清徐县美锦大街8号阳光小区1号楼")
        s.commit()
        return {"id": e.id, "register_code": e.register_code, "qingxu_id": q.id}


def test_operator_records_a_call_and_gets_zone_limit_and_deadline(api: Api, elevator) -> None:
    h = api.user("operator")
    r = api.client.post("/api/v1/incidents", headers=h, json={
        "rescue_code": "140501", "channel": "call", "caller_phone": "138 0351 0000",
        "trapped_count": 2, "vulnerable": True})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["state"] == "received"
    assert body["merged_into"] is None and body["duplicate"] is False
    assert body["zone"]["name"] == "小店区" and body["zone"]["kind"] == "district"
    assert body["sla_minutes"] == 30
    received = datetime.fromisoformat(body["received_at"])
    assert received == api.clock.now
    assert datetime.fromisoformat(body["sla_deadline"]) - received == timedelta(minutes=30)
    assert body["caller_phone"] == "13803510000"
    assert body["elevator"]["maintenance_company"]["name"] == "并州电梯维保有限公司"

    detail = api.client.get(f"/api/v1/incidents/{body['id']}", headers=h).json()
    assert [e["type"] for e in detail["timeline"]] == ["received"]
    assert detail["timeline"][0]["actor"].startswith("operator")


def test_county_elevator_gets_sixty_minutes(api: Api, elevator) -> None:
    h = api.user("operator")
    r = api.client.post("/api/v1/incidents", headers=h,
                        json={"elevator_id": elevator["qingxu_id"], "channel": "call"})
    assert r.status_code == 201
    assert r.json()["zone"]["name"] == "清徐县" and r.json()["sla_minutes"] == 60


def test_second_report_is_merged_not_a_new_incident(api: Api, elevator) -> None:
    h = api.user("operator")
    first = api.client.post("/api/v1/incidents", headers=h,
                            json={"rescue_code": "140501", "channel": "call"}).json()
    api.clock.advance(minutes=4)
    second = api.client.post("/api/v1/incidents", headers=h, json={
        "elevator_id": elevator["id"], "channel": "alarm", "injured": True})
    assert second.status_code == 200, second.text
    dup = second.json()
    assert dup["duplicate"] is True and dup["merged_into"] == first["id"]
    assert dup["id"] != first["id"] and dup["state"] == "merged"

    parent = api.client.get(f"/api/v1/incidents/{first['id']}", headers=h).json()
    assert parent["duplicate_reports"] == 1
    assert parent["injured"] is True
    dup_event = parent["timeline"][-1]
    assert dup_event["type"] == "duplicate_report"
    assert dup_event["payload"]["report_id"] == dup["id"]
    active = api.client.get("/api/v1/incidents?state=active", headers=h).json()
    assert [i["id"] for i in active["items"]] == [first["id"]]


def test_report_after_the_window_opens_a_new_incident(api: Api, elevator) -> None:
    h = api.user("operator")
    first = api.client.post("/api/v1/incidents", headers=h,
                            json={"rescue_code": "140501", "channel": "call"}).json()
    api.clock.advance(minutes=31)
    again = api.client.post("/api/v1/incidents", headers=h,
                            json={"rescue_code": "140501", "channel": "call"})
    assert again.status_code == 201 and again.json()["id"] != first["id"]


def test_idempotency_key_replays_the_first_response(api: Api, elevator) -> None:
    h = {**api.user("operator"), "Idempotency-Key": "call-7781"}
    payload = {"rescue_code": "140501", "channel": "call", "trapped_count": 1}
    a = api.client.post("/api/v1/incidents", headers=h, json=payload)
    api.clock.advance(seconds=5)
    b = api.client.post("/api/v1/incidents", headers=h, json=payload)
    assert a.status_code == b.status_code == 201
    assert a.json() == b.json()
    listed = api.client.get("/api/v1/incidents", headers=h).json()
    assert listed["total"] == 1
    other = api.client.post("/api/v1/incidents", headers=h, json={**payload, "trapped_count": 3})
    assert other.status_code == 422 and other.json()["field"] == "Idempotency-Key"


@pytest.mark.parametrize(("payload", "field", "status"), [
    ({"rescue_code": "999999", "channel": "call"}, "rescue_code", 404),
    ({"rescue_code": "140501", "channel": "fax"}, "channel", 422),
    ({"rescue_code": "140501", "channel": "call", "caller_phone": "12345"}, "caller_phone", 422),
    ({"rescue_code": "140501", "channel": "call", "trapped_count": -1}, "trapped_count", 422),
    ({"rescue_code": "140501", "channel": "call", "trapped_count": 101}, "trapped_count", 422),
    ({"channel": "call"}, "body", 422),
])
def test_bad_input_is_a_problem_naming_the_field(api: Api, elevator, payload, field,
                                                 status) -> None:
    h = api.user("operator")
    r = api.client.post("/api/v1/incidents", headers=h, json=payload)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["field"] == field
    assert api.client.get("/api/v1/incidents", headers=h).json()["total"] == 0


def test_unknown_rescue_code_suggests_near_matches(api: Api, elevator) -> None:
    h = api.user("operator")
    r = api.client.post("/api/v1/incidents", headers=h,
                        json={"rescue_code": "140591", "channel": "call"})
    assert r.status_code == 404
    assert "140501" in r.json()["near_matches"]


@pytest.mark.parametrize("phone", ["13912345678", "0351-4567890", "03514567890", "+8613912345678",
                                   "+442071234567"])
def test_accepted_phone_forms(api: Api, elevator, phone: str) -> None:
    h = api.user("operator")
    r = api.client.post("/api/v1/incidents", headers=h,
                        json={"rescue_code": "140501", "channel": "call", "caller_phone": phone})
    assert r.status_code == 201, r.text


def test_operator_steps_and_invalid_transition_is_409(api: Api, elevator) -> None:
    h = api.user("operator")
    inc = api.client.post("/api/v1/incidents", headers=h,
                          json={"rescue_code": "140501", "channel": "call"}).json()
    bad = api.client.post(f"/api/v1/incidents/{inc['id']}/close", headers=h)
    assert bad.status_code == 409
    assert bad.json()["current_state"] == "received"
    assert "confirmed" in bad.json()["allowed_next"] and "closed" not in bad.json()["allowed_next"]
    api.clock.advance(seconds=30)
    ok = api.client.post(f"/api/v1/incidents/{inc['id']}/confirm", headers=h)
    assert ok.status_code == 200 and ok.json()["state"] == "confirmed"
    assert datetime.fromisoformat(ok.json()["confirmed_at"]) == api.clock.now
    cancel = api.client.post(f"/api/v1/incidents/{inc['id']}/cancel", headers=h,
                             json={"reason": "乘客已自行离开", "outcome": "false_alarm"})
    assert cancel.status_code == 200
    assert cancel.json()["state"] == "false_alarm" and cancel.json()["outcome"] == "false_alarm"
    types = [e["type"] for e in cancel.json()["timeline"]]
    # confirming dispatches at once; with no team in this registry nobody can be offered it
    assert types == ["received", "confirmed", "no_team_available", "false_alarm"]
    closed = api.client.get("/api/v1/incidents?state=closed", headers=h).json()
    assert [i["id"] for i in closed["items"]] == [inc["id"]]
    assert api.client.post(f"/api/v1/incidents/{inc['id']}/cancel", headers=h,
                           json={"reason": "x"}).status_code == 422


def test_active_list_is_sorted_by_deadline(api: Api, elevator) -> None:
    h = api.user("operator")
    county = api.client.post("/api/v1/incidents", headers=h,
                             json={"elevator_id": elevator["qingxu_id"], "channel": "call"}).json()
    api.clock.advance(minutes=5)
    city = api.client.post("/api/v1/incidents", headers=h,
                           json={"rescue_code": "140501", "channel": "call"}).json()
    items = api.client.get("/api/v1/incidents?state=active", headers=h).json()["items"]
    assert [i["id"] for i in items] == [city["id"], county["id"]]


def test_lookup_by_codes_and_address_words(api: Api, elevator) -> None:
    h = api.user("operator")
    by_code = api.client.get("/api/v1/elevators/lookup", params={"q": "140501"}, headers=h).json()
    assert [e["id"] for e in by_code] == [elevator["id"]]
    by_reg = api.client.get("/api/v1/elevators/lookup",
                            params={"q": elevator["register_code"]}, headers=h).json()
    assert [e["id"] for e in by_reg] == [elevator["id"]]
    words = api.client.get("/api/v1/elevators/lookup", params={"q": "清徐 阳光小区"},
                           headers=h).json()
    assert [e["id"] for e in words] == [elevator["qingxu_id"]]
    road = api.client.get("/api/v1/elevators/lookup", params={"q": "并州北路 12"},
                          headers=h).json()
    assert [e["id"] for e in road] == [elevator["id"]]
    assert road[0]["district"] == "小店区" and road[0]["use_unit"]["kind"] == "use_unit"
    assert api.client.get("/api/v1/elevators/lookup", params={"q": "100%"},
                          headers=h).json() == []


def test_roles_are_enforced(api: Api, elevator) -> None:
    assert api.client.get("/api/v1/incidents").status_code == 401
    crew = api.user("crew")
    r = api.client.post("/api/v1/incidents", headers=crew,
                        json={"rescue_code": "140501", "channel": "call"})
    assert r.status_code == 403
    office = api.user("office")
    assert api.client.get("/api/v1/incidents", headers=office).status_code == 200
    assert api.client.post("/api/v1/incidents", headers=office,
                           json={"rescue_code": "140501", "channel": "call"}).status_code == 403


def test_office_sees_only_its_region(api: Api, elevator) -> None:
    op = api.user("operator")
    api.client.post("/api/v1/incidents", headers=op,
                    json={"elevator_id": elevator["qingxu_id"], "channel": "call"})
    city = api.client.post("/api/v1/incidents", headers=op,
                           json={"rescue_code": "140501", "channel": "call"}).json()
    qingxu_office = api.user("office", region="清徐县")
    seen = api.client.get("/api/v1/incidents", headers=qingxu_office).json()
    assert [i["zone"]["name"] for i in seen["items"]] == ["清徐县"]
    assert api.client.get(f"/api/v1/incidents/{city['id']}",
                          headers=qingxu_office).status_code == 404


def test_login_sets_cookie_and_rejects_wrong_password(api: Api) -> None:
    with api.db() as s:
        factories.make_user(s, "supervisor", username="sup")
        s.commit()
    bad = api.client.post("/api/v1/auth/token", data={"username": "sup", "password": "nope"})
    assert bad.status_code == 401 and bad.json()["field"] == "password"
    ok = api.client.post("/api/v1/auth/token",
                         data={"username": "sup", "password": factories.PASSWORD})
    assert ok.json()["role"] == "supervisor"
    assert "httponly" in ok.headers["set-cookie"].lower()
    me = api.client.get("/api/v1/auth/me")  # cookie only
    assert me.status_code == 200 and me.json()["username"] == "sup"
