"""The write path on both backends: closing frees the team, every field change is on the
timeline with old → new, and the office audit lists the SMS and calls really sent."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from dispatch.models import Team, Zone
from tests.conftest import Api
from tests.dispatch.test_dispatch_api import confirm, current, new_incident


def _post(api: Api, who: dict[str, str], path: str, body: dict | None = None) -> dict:
    r = api.client.post(path, headers=who, json=body or {})
    assert r.status_code == 200, r.text
    return r.json()


def test_closing_after_release_clears_the_assignment_and_frees_the_team(api: Api, net,
                                                                         op) -> None:
    inc = new_incident(api, op, net)
    a = current(confirm(api, op, inc))
    crew = api.user("crew", team_id=a["team_id"])
    for step, body in (("accept", None), ("arrive", None), ("release", {"released_count": 1})):
        _post(api, crew, f"/api/v1/assignments/{a['id']}/{step}", body)
    closed = _post(api, op, f"/api/v1/incidents/{inc}/close")
    assert closed["state"] == "closed"
    assert [x["state"] for x in closed["assignments"]] == ["cleared"]
    with api.db() as s:
        assert s.get(Team, a["team_id"]).status == "available"
    ev = next(e for e in closed["timeline"] if e["type"] == "cleared_on_close")
    assert ev["payload"]["assignment_id"] == a["id"] and ev["payload"]["reason"] == "closed"
    # the freed team can be dispatched again at once
    again = new_incident(api, op, net)
    assert current(confirm(api, op, again))["team_id"] == a["team_id"]


def test_cancelling_records_the_outcome_on_the_same_event(api: Api, net, op) -> None:
    inc = new_incident(api, op, net)
    out = _post(api, op, f"/api/v1/incidents/{inc}/cancel",
                {"reason": "误报，电梯正常", "outcome": "false_alarm"})
    ev = out["timeline"][-1]
    assert ev["type"] == "false_alarm"
    assert ev["payload"]["changes"] == {"outcome": {"from": None, "to": "false_alarm"}}


def test_a_deadline_moved_by_the_dispatch_clock_is_on_the_timeline(api: Api, net, op) -> None:
    with api.db() as s:
        zone_id = s.scalar(select(Zone.id).where(Zone.name == "小店区"))
        zone = s.get(Zone, zone_id)
        zone.clock_start = "dispatched"
        s.commit()
    inc = new_incident(api, op, net)
    api.clock.advance(minutes=3)
    detail = confirm(api, op, inc)
    ev = next(e for e in detail["timeline"] if e["type"] == "incident_updated")
    change = ev["payload"]["changes"]["sla_deadline"]
    assert datetime.fromisoformat(change["to"]) - datetime.fromisoformat(change["from"]) \
        == api.clock.now - datetime.fromisoformat(detail["received_at"])
    assert ev["payload"]["why"] == "clock starts at dispatch"
    assert datetime.fromisoformat(detail["sla_deadline"]) == datetime.fromisoformat(change["to"])


def test_the_audit_lists_the_notifications_sent(api: Api, net, op) -> None:
    inc = new_incident(api, op, net)
    a = current(confirm(api, op, inc))
    office = api.user("office")
    audit = api.client.get(f"/api/v1/reports/incidents/{inc}/audit", headers=office).json()
    (n,) = audit["notifications"]
    assert (n["channel"], n["recipient_kind"], n["template"], n["status"], n["attempts"]) == \
        ("sms", "team", "offer_sms", "pending", 0)
    assert n["error"] is None
    assert a["state"] == "offered"


def test_choosing_another_team_stands_the_first_one_down_in_one_step(api: Api, net,
                                                                     op) -> None:
    inc = new_incident(api, op, net)
    first = current(confirm(api, op, inc))
    assert first["team_id"] == net.a_near
    r = api.client.post(f"/api/v1/incidents/{inc}/dispatch", headers=op,
                        json={"team_id": net.station, "reason": "救援站离得更近"})
    assert r.status_code == 200, r.text
    assert r.json()["team_id"] == net.station and r.json()["state"] == "offered"
    detail = api.client.get(f"/api/v1/incidents/{inc}", headers=op).json()
    states = {a["team_id"]: a["state"] for a in detail["assignments"]}
    assert states == {net.a_near: "cancelled", net.station: "offered"}
    with api.db() as s:
        assert s.get(Team, net.a_near).status == "available"
    down = next(e for e in detail["timeline"] if e["type"] == "assignment_cancelled")
    assert down["payload"]["reassigned_to"] == net.station
    told = [n for n in detail["notifications"] if n["template"] == "offer_withdrawn"]
    assert [n["recipient_kind"] for n in told] == ["team"]
    # the same team again is refused, naming the field
    again = api.client.post(f"/api/v1/incidents/{inc}/dispatch", headers=op,
                            json={"team_id": net.station, "reason": "再派一次"})
    assert again.status_code == 409 and again.json()["field"] == "team_id"


def test_reassigning_a_team_on_its_way_puts_the_incident_back_to_dispatched(api: Api, net,
                                                                            op) -> None:
    inc = new_incident(api, op, net)
    first = current(confirm(api, op, inc))
    crew = api.user("crew", team_id=first["team_id"])
    _post(api, crew, f"/api/v1/assignments/{first['id']}/accept")
    r = api.client.post(f"/api/v1/incidents/{inc}/dispatch", headers=op,
                        json={"team_id": net.b_near, "reason": "车辆故障"})
    assert r.status_code == 200, r.text
    detail = api.client.get(f"/api/v1/incidents/{inc}", headers=op).json()
    assert detail["state"] == "dispatched"
    types = [e["type"] for e in detail["timeline"]][-3:]
    assert types == ["assignment_cancelled", "awaiting_team", "offered"]
