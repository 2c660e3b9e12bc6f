"""Dispatch over HTTP on both backends: ranking, offers, declines, timeouts, crew steps."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from dispatch.models import Assignment, ScheduledTask, Team
from tests.conftest import Api
from tests.dispatch import scenario


def new_incident(api: Api, op: dict[str, str], sc: scenario.Scenario, **kw: Any) -> int:
    r = api.client.post("/api/v1/incidents", headers=op,
                        json={"rescue_code": sc.rescue_code, "channel": "call", **kw})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def confirm(api: Api, op: dict[str, str], incident_id: int) -> dict[str, Any]:
    r = api.client.post(f"/api/v1/incidents/{incident_id}/confirm", headers=op)
    assert r.status_code == 200, r.text
    return r.json()


def current(detail: dict[str, Any]) -> dict[str, Any]:
    return detail["assignments"][-1]


def team_status(api: Api, team_id: int) -> str:
    with api.db() as s:
        return s.get(Team, team_id).status


def test_confirm_offers_the_nearest_level1_team_with_the_reasons(api: Api, net, op) -> None:
    inc = new_incident(api, op, net, trapped_count=2)
    detail = confirm(api, op, inc)
    assert detail["state"] == "dispatched"
    a = current(detail)
    assert a["team_id"] == net.a_near and a["level"] == 1 and a["state"] == "offered"
    assert datetime.fromisoformat(a["accept_by"]) - api.clock.now == timedelta(seconds=180)
    ranking = {r["team_id"]: r for r in a["ranking"]}
    assert set(ranking) == {net.a_near, net.a_far, net.b_near, net.station, net.fire}
    chosen = ranking[net.a_near]
    assert chosen["chosen"] and chosen["makes_deadline"] and chosen["travel_s"] > 0
    assert chosen["eta_s"] == pytest.approx(chosen["travel_s"] + 120, abs=0.2)
    # the 1 km team of another company is faster by road, but level 1 arrives in time
    assert ranking[net.b_near]["travel_s"] < chosen["travel_s"]
    assert not ranking[net.b_near]["chosen"] and "level-1" in ranking[net.b_near]["reason_en"]
    assert ranking[net.a_far]["travel_s"] > chosen["travel_s"]
    assert team_status(api, net.a_near) == "offered"
    types = [e["type"] for e in detail["timeline"]]
    assert types == ["received", "confirmed", "offered"]


def test_two_declines_escalate_to_level2(api: Api, net, op) -> None:
    inc = new_incident(api, op, net)
    first = current(confirm(api, op, inc))
    crew_a = api.user("crew", team_id=net.a_near)
    r = api.client.post(f"/api/v1/assignments/{first['id']}/decline", headers=crew_a,
                        json={"reason": "车辆故障"})
    assert r.status_code == 200 and r.json()["state"] == "declined"
    assert team_status(api, net.a_near) == "available"
    detail = api.client.get(f"/api/v1/incidents/{inc}", headers=op).json()
    second = current(detail)
    assert second["team_id"] == net.a_far and second["level"] == 1
    crew_far = api.user("crew", team_id=net.a_far)
    api.client.post(f"/api/v1/assignments/{second['id']}/decline", headers=crew_far,
                    json={"reason": "人员不足"})
    detail = api.client.get(f"/api/v1/incidents/{inc}", headers=op).json()
    third = current(detail)
    assert third["level"] == 2 and third["team_id"] == net.b_near
    assert detail["response_level"] == 2
    types = [e["type"] for e in detail["timeline"]]
    assert types.count("declined") == 2 and "level_escalated" in types
    assert types[-1] == "offered"
    # the level-1 teams that declined are not in the new record at all
    assert {r["team_id"] for r in third["ranking"]}.isdisjoint({net.a_near, net.a_far})


def test_offer_timeout_fires_from_the_database_and_moves_on(api: Api, net, op) -> None:
    inc = new_incident(api, op, net)
    first = current(confirm(api, op, inc))
    api.clock.advance(seconds=179)
    api.run_jobs()
    assert current(api.client.get(f"/api/v1/incidents/{inc}", headers=op).json())["id"] == \
        first["id"]
    api.clock.advance(seconds=2)
    assert api.run_jobs() >= 1
    detail = api.client.get(f"/api/v1/incidents/{inc}", headers=op).json()
    states = [(a["team_id"], a["state"]) for a in detail["assignments"]]
    assert states == [(net.a_near, "timed_out"), (net.a_far, "offered")]
    assert [e["type"] for e in detail["timeline"]].count("offer_timed_out") == 1
    assert api.run_jobs() == 0  # nothing fires twice
    with api.db() as s:
        done = s.scalar(select(func.count()).where(ScheduledTask.kind == "offer_timeout",
                                                   ScheduledTask.status == "done"))
    assert done == 1


def test_crew_walks_the_job_and_the_incident_follows(api: Api, net, op) -> None:
    inc = new_incident(api, op, net, trapped_count=3)
    a = current(confirm(api, op, inc))
    crew = api.user("crew", team_id=net.a_near)
    mine = api.client.get("/api/v1/assignments/mine", headers=crew).json()
    assert [m["id"] for m in mine] == [a["id"]]
    steps = [("accept", None, "accepted"), ("depart", None, "en_route"),
             ("arrive", None, "arrived"), ("release", {"released_count": 3}, "released")]
    for step, body, incident_state in steps:
        api.clock.advance(minutes=2)
        r = api.client.post(f"/api/v1/assignments/{a['id']}/{step}", headers=crew, json=body)
        assert r.status_code == 200, (step, r.text)
        detail = api.client.get(f"/api/v1/incidents/{inc}", headers=op).json()
        assert detail["state"] == incident_state, step
    assert team_status(api, net.a_near) == "busy"
    assert detail["arrived_at"] is not None and detail["released_at"] is not None
    bad = api.client.post(f"/api/v1/assignments/{a['id']}/clear", headers=crew,
                          json={"cause_code": "gremlins"})
    assert bad.status_code == 422 and bad.json()["field"] == "cause_code"
    r = api.client.post(f"/api/v1/assignments/{a['id']}/clear", headers=crew,
                        json={"cause_code": "door_system"})
    assert r.status_code == 200 and r.json()["state"] == "cleared"
    assert team_status(api, net.a_near) == "available"
    detail = api.client.get(f"/api/v1/incidents/{inc}", headers=op).json()
    assert detail["state"] == "cleared"
    ev = detail["timeline"][-1]
    assert ev["type"] == "cleared" and ev["payload"]["cause_code"] == "door_system"
    # the callback task is due 30 min after the release
    api.clock.advance(minutes=31)
    api.run_jobs()
    detail = api.client.get(f"/api/v1/incidents/{inc}", headers=op).json()
    assert "callback_due" in [e["type"] for e in detail["timeline"]]
    assert api.client.post(f"/api/v1/incidents/{inc}/callback", headers=op).json()["state"] \
        == "callback_done"


def test_crews_see_and_touch_only_their_own_jobs(api: Api, net, op) -> None:
    inc = new_incident(api, op, net)
    a = current(confirm(api, op, inc))
    stranger = api.user("crew", team_id=net.b_near)
    r = api.client.post(f"/api/v1/assignments/{a['id']}/accept", headers=stranger)
    assert r.status_code == 404
    assert api.client.get("/api/v1/assignments/mine", headers=stranger).json() == []
    assert api.client.get(f"/api/v1/incidents/{inc}", headers=stranger).status_code == 403
    assert api.client.post(f"/api/v1/teams/{net.a_near}/position", headers=stranger,
                           json={"lon": 112.56, "lat": 37.83}).status_code == 404


def test_operator_records_a_phoned_in_step_with_a_past_time(api: Api, net, op) -> None:
    inc = new_incident(api, op, net)
    a = current(confirm(api, op, inc))
    api.clock.advance(minutes=5)
    url = f"/api/v1/assignments/{a['id']}/accept"
    future = (api.clock.now + timedelta(minutes=2)).isoformat()
    assert api.client.post(url, headers=op, json={"at": future}).json()["field"] == "at"
    before = (api.clock.now - timedelta(minutes=6)).isoformat()
    r = api.client.post(url, headers=op, json={"at": before})
    assert r.status_code == 422 and "previous step" in r.json()["title"]
    crew = api.user("crew", team_id=net.a_near)
    earlier = (api.clock.now - timedelta(minutes=3)).isoformat()
    r = api.client.post(url, headers=crew, json={"at": earlier})
    assert r.status_code == 422 and r.json()["field"] == "at"
    ok = api.client.post(url, headers=op, json={"at": earlier})
    assert ok.status_code == 200
    assert datetime.fromisoformat(ok.json()["accepted_at"]) == api.clock.now - timedelta(minutes=3)
    detail = api.client.get(f"/api/v1/incidents/{inc}", headers=op).json()
    ev = detail["timeline"][-1]
    assert ev["type"] == "accepted" and ev["payload"]["on_behalf_of_team"] is True
    assert ev["payload"]["via"] == "phone-in" and ev["actor_role"] == "operator"
    assert datetime.fromisoformat(detail["accepted_at"]) == api.clock.now - timedelta(minutes=3)


def test_override_needs_a_reason_and_is_recorded(api: Api, net, op) -> None:
    inc = new_incident(api, op, net)
    no_reason = api.client.post(f"/api/v1/incidents/{inc}/dispatch", headers=op,
                                json={"team_id": net.station})
    assert no_reason.status_code == 422
    r = api.client.post(f"/api/v1/incidents/{inc}/dispatch", headers=op,
                        json={"team_id": net.station, "reason": "维保单位电话无人接听"})
    assert r.status_code == 200, r.text
    a = r.json()
    assert a["team_id"] == net.station and a["override_reason"] == "维保单位电话无人接听"
    lines = {x["team_id"]: x for x in a["ranking"]}
    assert lines[net.station]["chosen"] and "override" in lines[net.station]["reason_en"]
    assert not lines[net.a_near]["chosen"] and "rule's choice" in lines[net.a_near]["reason_en"]
    again = api.client.post(f"/api/v1/incidents/{inc}/dispatch", headers=op)
    assert again.status_code == 409


def test_a_booked_team_is_not_offered_a_second_incident(api: Api, net, op) -> None:
    first = current(confirm(api, op, new_incident(api, op, net)))
    with api.db() as s:
        from tests import factories

        other = factories.make_elevator(s, rescue_code="250002", location=scenario.AT_2KM,
                                        maintenance_company_id=net.company_id)
        s.commit()
    r = api.client.post("/api/v1/incidents", headers=op,
                        json={"elevator_id": other.id, "channel": "call"})
    second = current(confirm(api, op, r.json()["id"]))
    assert first["team_id"] == net.a_near
    assert second["team_id"] == net.a_far  # the nearer level-1 team is booked


def test_no_free_team_flags_at_risk_and_retries(api: Api, net, op) -> None:
    with api.db() as s:
        s.execute(Team.__table__.update().values(on_duty=False))
        s.commit()
    inc = new_incident(api, op, net)
    detail = confirm(api, op, inc)
    assert detail["at_risk"] is True and detail["assignments"] == []
    assert detail["timeline"][-1]["type"] == "no_team_available"
    with api.db() as s:
        s.execute(Team.__table__.update().where(Team.id == net.station).values(on_duty=True))
        s.commit()
    api.clock.advance(seconds=31)
    api.run_jobs()
    detail = api.client.get(f"/api/v1/incidents/{inc}", headers=op).json()
    assert detail["state"] == "dispatched" and current(detail)["team_id"] == net.station


def test_critical_priority_also_alerts_the_fire_brigade(api: Api, net, op) -> None:
    inc = new_incident(api, op, net, injured=True, priority="critical")
    detail = confirm(api, op, inc)
    by_team = {a["team_id"]: a for a in detail["assignments"]}
    assert by_team[net.a_near]["parallel"] is False
    assert by_team[net.fire]["parallel"] is True and by_team[net.fire]["level"] == 3
    assert "level3_alerted" in [e["type"] for e in detail["timeline"]]


def test_escalate_to_119(api: Api, net, op) -> None:
    inc = new_incident(api, op, net)
    confirm(api, op, inc)
    r = api.client.post(f"/api/v1/incidents/{inc}/escalate", headers=op,
                        json={"reason": "轿厢冒烟"})
    assert r.status_code == 200 and r.json()["team_id"] == net.fire
    detail = api.client.get(f"/api/v1/incidents/{inc}", headers=op).json()
    assert detail["state"] == "escalated" and detail["response_level"] == 3


def test_gps_refreshes_eta_and_marks_arrival_after_dwell(api: Api, net, op) -> None:
    inc = new_incident(api, op, net)
    a = current(confirm(api, op, inc))
    crew = api.user("crew", team_id=net.a_near)
    api.client.post(f"/api/v1/assignments/{a['id']}/accept", headers=crew)
    url = f"/api/v1/teams/{net.a_near}/position"
    far = api.client.post(url, headers=crew, json={"lon": scenario.AT_1KM.lon,
                                                   "lat": scenario.AT_1KM.lat}).json()
    assert far["eta_s"] < a["eta_s"] and "arrived" not in far
    near = {"lon": scenario.ELEVATOR_AT.lon + 0.0003, "lat": scenario.ELEVATOR_AT.lat}
    api.clock.advance(seconds=60)
    assert api.client.post(url, headers=crew, json=near).json()["distance_m"] < 100
    api.clock.advance(seconds=31)
    assert api.client.post(url, headers=crew, json=near).json()["arrived"] is True
    detail = api.client.get(f"/api/v1/incidents/{inc}", headers=op).json()
    assert detail["state"] == "arrived"
    assert current(detail)["arrived_automatically"] is True
    ev = next(e for e in detail["timeline"] if e["type"] == "arrived")
    assert ev["payload"]["automatic"] is True and ev["payload"]["via"] == "gps"
    teams = {t["id"]: t for t in api.client.get("/api/v1/teams", headers=op).json()}
    assert teams[net.a_near]["position_source"] == "gps"


def test_cancelling_the_incident_stands_the_team_down(api: Api, net, op) -> None:
    inc = new_incident(api, op, net)
    a = current(confirm(api, op, inc))
    r = api.client.post(f"/api/v1/incidents/{inc}/cancel", headers=op,
                        json={"reason": "电梯已自行恢复", "outcome": "false_alarm"})
    assert r.status_code == 200
    assert team_status(api, a["team_id"]) == "available"
    with api.db() as s:
        assert s.get(Assignment, a["id"]).state == "cancelled"
        pending = s.scalar(select(func.count()).where(ScheduledTask.incident_id == inc,
                                                      ScheduledTask.status == "pending"))
    assert pending == 0


def test_sla_warning_and_overdue_fire_on_time(api: Api, net, op) -> None:
    inc = new_incident(api, op, net)
    api.clock.advance(minutes=20)
    api.run_jobs()
    types = [e["type"] for e in
             api.client.get(f"/api/v1/incidents/{inc}", headers=op).json()["timeline"]]
    assert "sla_warning" in types and "trapped_update_due" in types
    assert "sla_overdue" not in types
    api.clock.advance(minutes=10)
    api.run_jobs()
    detail = api.client.get(f"/api/v1/incidents/{inc}", headers=op).json()
    assert "sla_overdue" in [e["type"] for e in detail["timeline"]] and detail["at_risk"]


def test_surge_assigns_waiting_incidents_by_one_plan(api: Api, net, op) -> None:
    from tests import factories

    with api.db() as s:
        s.execute(Team.__table__.update().values(on_duty=False))
        points = [scenario.ELEVATOR_AT, scenario.AT_1KM, scenario.AT_2KM, scenario.AT_3KM,
                  scenario.AT_4KM, scenario.AT_6KM]
        elevators = [factories.make_elevator(s, rescue_code=f"26000{i}", location=p,
                                             maintenance_company_id=net.company_id).id
                     for i, p in enumerate(points)]
        s.commit()
    incidents = []
    for e in elevators:
        r = api.client.post("/api/v1/incidents", headers=op,
                            json={"elevator_id": e, "channel": "call",
                                  "vulnerable": e == elevators[-1]})
        incidents.append(r.json()["id"])
        confirm(api, op, r.json()["id"])
    with api.db() as s:  # three teams come back on duty
        s.execute(Team.__table__.update().where(
            Team.id.in_([net.a_near, net.b_near, net.station])).values(on_duty=True))
        s.commit()
    api.clock.advance(seconds=31)
    api.run_jobs()
    with api.db() as s:
        offers = s.execute(select(Assignment.incident_id, Assignment.team_id, Assignment.ranking)
                           .where(Assignment.state == "offered")).all()
        pending = s.execute(select(ScheduledTask.incident_id, func.count())
                            .where(ScheduledTask.kind == "redispatch",
                                   ScheduledTask.status == "pending")
                            .group_by(ScheduledTask.incident_id)).all()
    assert len(offers) == 3
    assert len({t for _, t, _ in offers}) == 3  # each team once
    assert incidents[-1] in {i for i, _, _ in offers}  # the vulnerable person is served
    for _, team, ranking in offers:
        chosen = [r for r in ranking if r["chosen"]]
        assert chosen[0]["team_id"] == team and "surge" in chosen[0]["reason_en"]
    waiting = set(incidents) - {i for i, _, _ in offers}
    assert {i for i, _ in pending} == waiting and all(n == 1 for _, n in pending)
