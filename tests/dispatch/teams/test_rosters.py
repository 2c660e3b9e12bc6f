"""Rosters across boundaries with the injected clock, through the real job loop, on both
backends. The test clock starts Monday 2026-11-30 08:30 UTC = 16:30 in Asia/Shanghai."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from dispatch.jobs import run_due_tasks
from dispatch.models import ScheduledTask, Team
from dispatch.routing import router_for
from dispatch.teams.models import TeamEvent
from dispatch.teams.rosters import ensure_roster_boundaries, reschedule_roster
from tests.conftest import Api
from tests.dispatch import scenario
from tests.dispatch.stream_helpers import connect, recv, recv_until

WEEKDAYS = "Mo-Fr 08:00-20:00"


def utc(day: int, hh: int, mm: int = 0) -> datetime:
    """A UTC time on 30 November (``day`` 30, a Monday) or in early December (``day`` 1–5)."""
    return datetime(2026, 11, day, hh, mm, tzinfo=UTC) if day > 3 else \
        datetime(2026, 12, day, hh, mm, tzinfo=UTC)


def give_roster(api: Api, team_id: int, roster: str | None, *, apply_now: bool = False) -> None:
    with api.db() as s:
        team = s.get(Team, team_id)
        team.roster = roster
        reschedule_roster(s, team, now=api.clock.now, tz=api.settings.timezone,
                          apply_now=apply_now)
        s.commit()


def pending(api: Api, team_id: int) -> list[datetime]:
    with api.db() as s:
        return list(s.scalars(select(ScheduledTask.due_at).where(
            ScheduledTask.team_id == team_id, ScheduledTask.kind == "roster_boundary",
            ScheduledTask.status == "pending")))


def state(api: Api, team_id: int) -> bool:
    with api.db() as s:
        return s.get(Team, team_id).on_duty


def run_at(api: Api, when: datetime) -> None:
    api.clock.now = when
    api.run_jobs()


def duty_events(api: Api, team_id: int) -> list[tuple[str, str, str | None]]:
    with api.db() as s:
        return [(e.type, e.source, e.reason) for e in s.scalars(
            select(TeamEvent).where(TeamEvent.team_id == team_id).order_by(TeamEvent.id))]


def set_duty(api: Api, team_id: int, headers: dict[str, str], on: bool, reason: str) -> None:
    r = api.client.post(f"/api/v1/teams/{team_id}/duty", headers=headers,
                        json={"on_duty": on, "reason": reason})
    assert r.status_code == 200, r.text


def new_offer(api: Api, op: dict[str, str], net: scenario.Scenario) -> dict[str, Any]:
    r = api.client.post("/api/v1/incidents", headers=op,
                        json={"rescue_code": net.rescue_code, "channel": "call"})
    d = api.client.post(f"/api/v1/incidents/{r.json()['id']}/confirm", headers=op).json()
    return d["assignments"][-1]


def test_boundaries_switch_duty_and_manual_changes_hold_until_the_next(api: Api, net) -> None:
    give_roster(api, net.a_near, WEEKDAYS)
    assert pending(api, net.a_near) == [utc(30, 12)]  # Monday 20:00 in Shanghai
    run_at(api, utc(30, 11, 59))
    assert state(api, net.a_near) is True and duty_events(api, net.a_near) == []

    run_at(api, utc(30, 12))  # 20:00: off by roster
    assert state(api, net.a_near) is False
    assert duty_events(api, net.a_near) == [("duty_off", "roster", f"roster {WEEKDAYS}")]
    assert pending(api, net.a_near) == [utc(1, 0)]  # Tuesday 08:00

    sup = api.user("supervisor")
    api.clock.now = utc(30, 13)  # 21:00: a supervisor calls the team in for the night
    set_duty(api, net.a_near, sup, True, "夜间加班")
    run_at(api, utc(30, 23, 59))
    assert state(api, net.a_near) is True  # the manual change holds …
    run_at(api, utc(1, 0))  # … through the next boundary, where the roster agrees
    assert state(api, net.a_near) is True and pending(api, net.a_near) == [utc(1, 12)]

    crew = api.user("crew", team_id=net.a_near)
    api.clock.now = utc(1, 2)  # Tuesday 10:00: the crew goes off (vehicle repair)
    set_duty(api, net.a_near, crew, False, "车辆维修")
    run_at(api, utc(1, 11, 59))
    assert state(api, net.a_near) is False
    run_at(api, utc(1, 12))  # 20:00 off, as the team already is
    run_at(api, utc(2, 0))  # Wednesday 08:00: the roster puts it back on duty
    assert state(api, net.a_near) is True
    assert duty_events(api, net.a_near) == [
        ("duty_off", "roster", f"roster {WEEKDAYS}"), ("duty_on", "supervisor", "夜间加班"),
        ("duty_off", "crew", "车辆维修"), ("duty_on", "roster", f"roster {WEEKDAYS}")]
    assert pending(api, net.a_near) == [utc(2, 12)]


def test_a_team_off_roster_is_not_offered_work(api: Api, net, op) -> None:
    api.clock.now = utc(30, 13)  # Monday 21:00 in Shanghai
    give_roster(api, net.a_near, WEEKDAYS, apply_now=True)
    api.run_jobs()
    assert state(api, net.a_near) is False
    a = new_offer(api, op, net)
    assert a["team_id"] == net.a_far
    assert net.a_near not in {r["team_id"] for r in a["ranking"]}


def test_a_boundary_does_not_send_a_team_off_in_the_middle_of_a_job(api: Api, net, op) -> None:
    give_roster(api, net.a_near, WEEKDAYS)
    api.clock.now = utc(30, 11, 50)
    a = new_offer(api, op, net)
    assert a["team_id"] == net.a_near
    crew = api.user("crew", team_id=net.a_near)
    api.client.post(f"/api/v1/assignments/{a['id']}/accept", headers=crew)
    run_at(api, utc(30, 12))
    assert state(api, net.a_near) is True and pending(api, net.a_near) == [utc(30, 12, 5)]
    api.clock.now = utc(30, 12, 3)
    for step, body in (("arrive", {}), ("release", {"released_count": 1}),
                       ("clear", {"cause_code": "door_system"})):
        r = api.client.post(f"/api/v1/assignments/{a['id']}/{step}", headers=crew, json=body)
        assert r.status_code == 200, r.text
    run_at(api, utc(30, 12, 5))
    assert state(api, net.a_near) is False
    assert duty_events(api, net.a_near) == [("duty_off", "roster", f"roster {WEEKDAYS}")]
    assert pending(api, net.a_near) == [utc(1, 0)]


def test_changing_a_roster_replans_and_can_apply_at_once(api: Api, net) -> None:
    give_roster(api, net.station, WEEKDAYS)
    give_roster(api, net.station, "Mo-Su 18:00-06:00", apply_now=True)
    assert pending(api, net.station) == [api.clock.now]  # the old boundary is cancelled
    api.run_jobs()  # 16:30 local: off until 18:00
    assert state(api, net.station) is False and pending(api, net.station) == [utc(30, 10)]
    give_roster(api, net.station, None)
    assert pending(api, net.station) == []


def test_24_7_needs_no_boundary(api: Api, net) -> None:
    with api.db() as s:
        s.get(Team, net.b_near).on_duty = False
        s.commit()
    give_roster(api, net.b_near, "24/7")
    assert pending(api, net.b_near) == []  # nothing ever changes: no row
    give_roster(api, net.b_near, "24/7", apply_now=True)
    api.run_jobs()
    assert state(api, net.b_near) is True and pending(api, net.b_near) == []


def test_start_up_plans_missing_boundaries_once(api: Api, net) -> None:
    with api.db() as s:
        for team_id, roster in ((net.a_near, WEEKDAYS), (net.a_far, "Sa,Su 09:00-17:00"),
                                (net.fire, WEEKDAYS)):
            s.get(Team, team_id).roster = roster
        s.get(Team, net.fire).retired = True
        s.commit()
    give_roster(api, net.a_far, "Sa,Su 09:00-17:00")  # already planned
    with api.db() as s:
        assert ensure_roster_boundaries(s, now=api.clock.now, tz="Asia/Shanghai") == 1
        assert ensure_roster_boundaries(s, now=api.clock.now, tz="Asia/Shanghai") == 0
        s.commit()
    assert pending(api, net.a_near) == [utc(30, 12)]
    assert pending(api, net.a_far) == [datetime(2026, 12, 5, 1, tzinfo=UTC)]  # Sat 09:00
    assert pending(api, net.fire) == []
    assert state(api, net.a_near) is True  # the current duty is not touched at start-up


def test_a_roster_change_reaches_the_console_live(api: Api, net, op) -> None:
    give_roster(api, net.a_near, WEEKDAYS)
    with connect(api.client, op) as ws:
        recv_until(ws, "ready")
        api.clock.now = utc(30, 12)
        # the server's own job loop (its session factory publishes after commit)
        run_due_tasks(api.client.app.state.sessionmaker, settings=api.settings,
                      router=router_for(api.settings), now=api.clock.now, worker="test")
        msg = recv(ws)
    assert msg["type"] == "team_duty" and msg["team_id"] == net.a_near
    assert msg["data"]["source"] == "roster" and msg["data"]["actor"] == "system"
    assert msg["team"]["on_duty"] is False and msg["team"]["roster"] == WEEKDAYS
