"""Lookup by the caller's phone number: the elevators of that number's past incidents."""

from __future__ import annotations

from datetime import datetime

from tests import factories
from tests.conftest import Api


def _elevators(api: Api) -> tuple[int, int, int]:
    with api.db() as s:
        a = factories.make_elevator(s, rescue_code="150001", address="太原市小店区长治路1号")
        b = factories.make_elevator(s, rescue_code="150002", address="太原市小店区长治路2号")
        c = factories.make_elevator(s, zone_name="清徐县", rescue_code="150003",
                                    address="太原市清徐县美锦大街3号")
        s.commit()
        return a.id, b.id, c.id


def _report(api: Api, h: dict[str, str], elevator_id: int, phone: str | None) -> dict:
    r = api.client.post("/api/v1/incidents", headers=h, json={
        "elevator_id": elevator_id, "channel": "call", "caller_phone": phone})
    assert r.status_code == 201, r.text
    return r.json()


def test_caller_history_most_recent_first_in_any_spelling(api: Api) -> None:
    a, b, c = _elevators(api)
    op = api.user("operator")
    first = _report(api, op, a, "138 0351 0000")
    api.clock.advance(hours=30)
    _report(api, op, b, "+8613803510000")  # the IVR's E.164 form of the same number
    api.clock.advance(hours=30)
    last_a = _report(api, op, a, "13803510000")
    _report(api, op, c, "13900000001")  # someone else
    api.clock.advance(hours=30)

    for spelling in ("13803510000", "+86 138 0351 0000", "+8613803510000"):
        r = api.client.get("/api/v1/elevators/by-caller", params={"phone": spelling}, headers=op)
        assert r.status_code == 200, r.text
        rows = r.json()
        assert [row["elevator"]["id"] for row in rows] == [a, b], spelling
        assert rows[0]["last_incident_id"] == last_a["id"] != first["id"]
        assert datetime.fromisoformat(rows[0]["last_incident_at"]) == datetime.fromisoformat(
            last_a["received_at"])
        assert [row["incidents"] for row in rows] == [2, 1]
        assert rows[0]["elevator"]["address"] == "太原市小店区长治路1号"

    # the same through the lookup box: a query that is a phone number
    for q in ("138 0351 0000", "+8613803510000"):
        got = api.client.get("/api/v1/elevators/lookup", params={"q": q}, headers=op)
        assert got.status_code == 200
        assert [e["id"] for e in got.json()] == [a, b], q
    nobody = api.client.get("/api/v1/elevators/by-caller", params={"phone": "13700000000"},
                            headers=op)
    assert nobody.status_code == 200 and nobody.json() == []


def test_landline_spellings_match(api: Api) -> None:
    a, _, _ = _elevators(api)
    op = api.user("operator")
    _report(api, op, a, "0351-7654321")
    for spelling in ("0351-7654321", "03517654321", "+863517654321"):
        rows = api.client.get("/api/v1/elevators/by-caller", params={"phone": spelling},
                              headers=op).json()
        assert [row["elevator"]["id"] for row in rows] == [a], spelling


def test_office_sees_only_its_region_and_crews_are_refused(api: Api) -> None:
    a, _, c = _elevators(api)
    op = api.user("operator")
    _report(api, op, a, "13803510000")
    api.clock.advance(hours=30)
    _report(api, op, c, "13803510000")
    everything = api.client.get("/api/v1/elevators/by-caller", params={"phone": "13803510000"},
                                headers=op).json()
    assert [row["elevator"]["id"] for row in everything] == [c, a]
    with api.db() as s:
        qingxu = factories.make_zone(s, "清徐县").id
    office = api.user("office", region_zone_id=qingxu)
    mine = api.client.get("/api/v1/elevators/by-caller", params={"phone": "13803510000"},
                          headers=office).json()
    assert [row["elevator"]["id"] for row in mine] == [c]
    crew = api.user("crew")
    r = api.client.get("/api/v1/elevators/by-caller", params={"phone": "13803510000"},
                       headers=crew)
    assert r.status_code == 403
    assert api.client.get("/api/v1/elevators/by-caller",
                          params={"phone": "13803510000"}).status_code == 401


def test_not_a_phone_number_is_a_problem_naming_the_field(api: Api) -> None:
    op = api.user("operator")
    r = api.client.get("/api/v1/elevators/by-caller", params={"phone": "12345"}, headers=op)
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["field"] == "phone"
