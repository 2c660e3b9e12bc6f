"""``POST /api/v1/teams/{id}/duty`` on both backends: who may, the open-job rule, the team
event, the live message, and that an off-duty team is not offered work."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from dispatch.models import Team
from dispatch.teams.models import TeamEvent
from tests.conftest import Api
from tests.dispatch import scenario
from tests.dispatch.stream_helpers import connect, recv, recv_until


def duty(api: Api, team_id: int, headers: dict[str, str], on: bool,
         reason: str | None = None) -> Any:
    body: dict[str, Any] = {"on_duty": on}
    if reason is not None:
        body["reason"] = reason
    return api.client.post(f"/api/v1/teams/{team_id}/duty", headers=headers, json=body)


def events(api: Api, team_id: int) -> list[TeamEvent]:
    with api.db() as s:
        return list(s.scalars(select(TeamEvent).where(TeamEvent.team_id == team_id)
                              .order_by(TeamEvent.id)))


def on_duty(api: Api, team_id: int) -> bool:
    with api.db() as s:
        return s.get(Team, team_id).on_duty


def offer(api: Api, op: dict[str, str], net: scenario.Scenario) -> dict[str, Any]:
    r = api.client.post("/api/v1/incidents", headers=op,
                        json={"rescue_code": net.rescue_code, "channel": "call"})
    assert r.status_code == 201, r.text
    detail = api.client.post(f"/api/v1/incidents/{r.json()['id']}/confirm", headers=op).json()
    return detail["assignments"][-1]


def test_crew_puts_its_own_team_off_and_on_duty(api: Api, net) -> None:
    crew = api.user("crew", team_id=net.a_near, username="crew-li")
    r = duty(api, net.a_near, crew, False, "车辆加油")
    assert r.status_code == 200, r.text
    row = r.json()
    assert row["id"] == net.a_near and row["on_duty"] is False and row["name"] == "并州一组"
    assert row["organization_name"] == "并州电梯维保有限公司"
    assert row["organization_kind"] == "maintenance_company" and row["job"] is None
    assert row["last_duty_change"]["source"] == "crew"
    assert row["last_duty_change"]["reason"] == "车辆加油"
    assert on_duty(api, net.a_near) is False
    api.clock.advance(minutes=40)
    assert duty(api, net.a_near, crew, True).json()["on_duty"] is True
    [off, on] = events(api, net.a_near)
    assert (off.type, off.source, off.actor, off.role, off.reason) == \
        ("duty_off", "crew", "crew-li", "crew", "车辆加油")
    assert off.payload == {"from": True, "to": False, "via": "app"}
    assert (on.type, on.reason) == ("duty_on", None)
    assert (on.at - off.at).total_seconds() == 40 * 60


def test_a_repeated_request_changes_nothing(api: Api, net) -> None:
    crew = api.user("crew", team_id=net.a_near)
    assert duty(api, net.a_near, crew, True).json()["on_duty"] is True
    assert events(api, net.a_near) == []


def test_crew_cannot_touch_another_team(api: Api, net) -> None:
    crew = api.user("crew", team_id=net.a_near)
    r = duty(api, net.b_near, crew, False)
    assert r.status_code == 404 and r.json()["field"] == "team_id"
    assert r.headers["content-type"].startswith("application/problem+json")
    loose = api.user("crew")  # a crew login not attached to any team
    assert duty(api, net.a_near, loose, False).status_code == 404
    assert on_duty(api, net.b_near) is True and on_duty(api, net.a_near) is True
    assert events(api, net.b_near) == []


def test_operators_and_offices_may_not_change_duty(api: Api, net, op) -> None:
    for headers in (op, api.user("office")):
        r = duty(api, net.a_near, headers, False, "测试")
        assert r.status_code == 403 and "allowed: crew, supervisor, admin" in r.json()["detail"]
    assert on_duty(api, net.a_near) is True


def test_supervisor_and_admin_change_duty_with_a_reason(api: Api, net) -> None:
    sup = api.user("supervisor", username="sup-zhao")
    r = duty(api, net.station, sup, False)
    assert r.status_code == 422 and r.json()["field"] == "reason"
    assert duty(api, net.station, sup, False, " ").status_code == 422
    assert duty(api, net.station, sup, False, "人员不足").json()["on_duty"] is False
    admin = api.user("admin", username="admin-qian")
    assert duty(api, net.station, admin, True, "人员已补齐").json()["on_duty"] is True
    [off, on] = events(api, net.station)
    assert (off.source, off.actor, off.role, off.reason) == \
        ("supervisor", "sup-zhao", "supervisor", "人员不足")
    assert (on.source, on.actor, on.role) == ("supervisor", "admin-qian", "admin")
    listed = api.client.get(f"/api/v1/teams/{net.station}/events", headers=sup).json()
    assert [(e["type"], e["actor"]) for e in listed] == \
        [("duty_on", "admin-qian"), ("duty_off", "sup-zhao")]


def test_a_team_with_an_open_job_cannot_go_off_duty(api: Api, net, op) -> None:
    a = offer(api, op, net)
    assert a["team_id"] == net.a_near and a["state"] == "offered"
    crew = api.user("crew", team_id=net.a_near)
    r = duty(api, net.a_near, crew, False)
    assert r.status_code == 409
    body = r.json()
    assert body["assignment_id"] == a["id"] and body["incident_id"] == a["incident_id"]
    assert body["assignment_state"] == "offered" and f"#{a['id']}" in body["detail"]
    api.client.post(f"/api/v1/assignments/{a['id']}/accept", headers=crew)
    sup = api.user("supervisor")
    r = duty(api, net.a_near, sup, False, "调走")
    assert r.status_code == 409 and r.json()["assignment_state"] == "accepted"
    assert on_duty(api, net.a_near) is True and events(api, net.a_near) == []
    teams = {t["id"]: t for t in api.client.get("/api/v1/teams", headers=op).json()}
    assert teams[net.a_near]["job"] == {"assignment_id": a["id"],
                                        "incident_id": a["incident_id"], "state": "accepted"}


def test_a_retired_team_does_not_come_back_on_duty(api: Api, net) -> None:
    with api.db() as s:
        s.get(Team, net.fire).on_duty = False
        s.get(Team, net.fire).retired = True
        s.commit()
    r = duty(api, net.fire, api.user("supervisor"), True, "恢复")
    assert r.status_code == 409 and r.json()["title"] == "Team retired"


def test_an_off_duty_team_is_not_offered_work(api: Api, net, op) -> None:
    crew = api.user("crew", team_id=net.a_near)
    assert duty(api, net.a_near, crew, False, "下班").status_code == 200
    a = offer(api, op, net)
    assert a["team_id"] == net.a_far and a["level"] == 1  # the next level-1 team
    assert net.a_near not in {r["team_id"] for r in a["ranking"]}
    assert duty(api, net.a_near, crew, True).status_code == 200


def test_duty_changes_reach_the_console_live(api: Api, net, op) -> None:
    crew = api.user("crew", team_id=net.a_near)
    other_crew = api.user("crew", team_id=net.b_near)
    with connect(api.client, op) as ws, connect(api.client, other_crew) as ws_other:
        snap = recv(ws)
        assert {t["id"]: t["on_duty"] for t in snap["teams"]}[net.a_near] is True
        recv_until(ws, "ready")
        recv_until(ws_other, "ready")
        assert duty(api, net.a_near, crew, False, "吃饭").status_code == 200
        msg = recv(ws)
        assert msg["type"] == "team_duty" and msg["team_id"] == net.a_near
        assert msg["seq"] is None and msg["data"]["source"] == "crew"
        assert msg["data"]["reason"] == "吃饭" and msg["data"]["on_duty"] is False
        assert msg["team"]["on_duty"] is False
        assert msg["team"]["last_duty_change"]["reason"] == "吃饭"
        ws_other.send_text("ping")  # another team's crew gets nothing but its pong
        assert recv(ws_other)["type"] == "pong"


def test_bad_bodies_are_refused_naming_the_field(api: Api, net) -> None:
    crew = api.user("crew", team_id=net.a_near)
    r = api.client.post(f"/api/v1/teams/{net.a_near}/duty", headers=crew, json={"on": False})
    assert r.status_code == 422 and r.json()["field"] in ("on_duty", "on")
    r = api.client.post(f"/api/v1/teams/{net.a_near}/duty", headers=crew,
                        json={"on_duty": False, "reason": "x" * 501})
    assert r.status_code == 422 and r.json()["field"] == "reason"
    assert on_duty(api, net.a_near) is True
