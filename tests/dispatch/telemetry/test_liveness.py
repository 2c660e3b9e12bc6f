"""Terminal liveness without a broker, on SQLite and PostGIS: the signed HTTP heartbeat, the
batched flush, offline alerts, mains-lost heartbeats and offline terminals grouped into area
power cuts, the office's terminal review (region scoped), a restarted process re-seeding."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from dispatch.telemetry import liveness
from dispatch.telemetry.liveness_models import DeviceLiveness, TerminalAlert
from dispatch.telemetry.liveness_store import MemoryStore
from dispatch.telemetry.signing import sign
from tests import factories
from tests.conftest import Api
from tests.dispatch.telemetry.device import Terminal, ago, ev, register


@pytest.fixture
def admin(api: Api) -> dict[str, str]:
    return api.user("admin")


def heartbeat(api: Api, t: Terminal, seq: int, *, secret: str | None = None,
              **kw: Any) -> Any:
    raw = json.dumps({"seq": seq, "at": api.clock.now.isoformat(), **kw}).encode()
    stamp = str(int(api.clock.now.timestamp()))
    return api.client.post("/api/v1/telemetry/heartbeat", content=raw, headers={
        "Content-Type": "application/json", "X-Device-Id": t.device_id, "X-Timestamp": stamp,
        "X-Signature": sign(secret or t.secret, stamp, raw)})


def fleet(api: Api, admin: dict[str, str], n: int, zone: str = "小店区",
          **kw: Any) -> list[Terminal]:
    with api.db() as s:
        lifts = [factories.make_elevator(s, zone_name=zone, **kw).id for _ in range(n)]
        s.commit()
    return [register(api, admin, lift) for lift in lifts]


def _sweep(api: Api) -> tuple[int, int]:
    app: Any = api.client.app
    return liveness.sweep(app.state.sessionmaker, app.state.liveness, settings=api.settings,
                          now=api.clock.now)


def _flush(api: Api) -> int:
    app: Any = api.client.app
    return liveness.flush(app.state.sessionmaker, app.state.liveness, settings=api.settings,
                          now=api.clock.now, force=True)


def test_http_heartbeat_is_signed_and_writes_no_row_until_the_flush(
        api: Api, admin: dict[str, str]) -> None:
    [t] = fleet(api, admin, 1)
    bad = heartbeat(api, t, 1, secret="wrong")
    assert bad.status_code == 401 and bad.json()["field"] == "X-Signature"
    r = heartbeat(api, t, 1, mode="43", floor=5, door_zone=True)
    assert r.status_code == 200, r.text
    assert r.json() == {"device_id": t.device_id, "seq": 1, "state": "online",
                        "was_offline": False, "mode": "inspection"}
    bad_body = api.client.post("/api/v1/telemetry/heartbeat", content=b'{"seq": -1}', headers={
        "X-Device-Id": t.device_id, "X-Timestamp": str(int(api.clock.now.timestamp())),
        "X-Signature": sign(t.secret, str(int(api.clock.now.timestamp())), b'{"seq": -1}')})
    assert bad_body.status_code == 422 and bad_body.json()["field"] in ("seq", "at")
    for seq in range(2, 30):  # a minute of beats: still no row
        api.clock.advance(seconds=2)
        assert heartbeat(api, t, seq, mode="43", floor=5, door_zone=False).status_code == 200
    with api.db() as s:
        assert s.scalar(select(func.count()).select_from(DeviceLiveness)) == 0
    assert _flush(api) == 1
    assert _flush(api) == 0  # nothing changed since
    with api.db() as s:
        row = s.get(DeviceLiveness, t.device_id)
    assert row is not None and row.last_seq == 29 and row.mode == "inspection"
    assert row.floor == "5" and row.door_zone is False and row.last_seen_at == api.clock.now


def test_the_flush_runs_at_most_once_per_interval() -> None:
    store = MemoryStore()
    assert store.acquire_flush(60) is True
    assert store.acquire_flush(60) is False


def test_offline_then_back_over_http_and_the_flag_for_a_callers_elevator(
        api: Api, admin: dict[str, str]) -> None:
    op = api.user("operator")
    beating, eventing = fleet(api, admin, 2)
    for t in (beating, eventing):
        assert heartbeat(api, t, 1).status_code == 200
    api.clock.advance(seconds=179)
    assert _sweep(api) == (0, 0)  # 179 s < 60 s × 3
    api.clock.advance(seconds=2)
    assert _sweep(api) == (2, 0)
    flag = api.client.get(f"/api/v1/telemetry/liveness?elevator_id={beating.elevator_id}",
                          headers=op).json()
    assert flag["terminal_offline"] is True
    assert flag["terminals"][0]["offline_since"] is not None
    api.clock.advance(seconds=3)
    r = heartbeat(api, beating, 2)  # back by a heartbeat
    assert r.json()["was_offline"] is True
    assert eventing.ok([ev("e1", "02", ago(api, 1))])["stored"] == 1  # back by an event
    with api.db() as s:
        alerts = s.scalars(select(TerminalAlert).order_by(TerminalAlert.device_id)).all()
    assert [(a.device_id, a.cleared_at, a.cleared_by) for a in alerts] == sorted(
        [(beating.device_id, api.clock.now, "message"),
         (eventing.device_id, api.clock.now, "message")])
    flag = api.client.get(f"/api/v1/telemetry/liveness?elevator_id={beating.elevator_id}",
                          headers=op).json()
    assert flag["terminal_offline"] is False
    listed = api.client.get("/api/v1/telemetry/offline?state=all", headers=op).json()
    assert len(listed) == 2 and all(a["cleared_by"] == "message" for a in listed)
    crew = api.user("crew")
    assert api.client.get("/api/v1/telemetry/offline", headers=crew).status_code == 403


def test_a_restarted_process_reseeds_its_memory_store_and_still_detects_silence(
        api: Api, admin: dict[str, str]) -> None:
    [t] = fleet(api, admin, 1)
    assert heartbeat(api, t, 1).status_code == 200
    assert _flush(api) == 1
    app: Any = api.client.app
    fresh = MemoryStore()  # what a new process starts with
    assert liveness.seed_store(app.state.sessionmaker, fresh) == 1
    api.clock.advance(seconds=200)
    assert liveness.sweep(app.state.sessionmaker, fresh, settings=api.settings,
                          now=api.clock.now) == (1, 0)
    again = MemoryStore()  # and once more: the offline state comes back from the database
    liveness.seed_store(app.state.sessionmaker, again)
    assert again.silent(api.clock.now.timestamp()) == []


def test_mains_lost_heartbeats_and_silent_terminals_form_area_power_cuts(
        api: Api, admin: dict[str, str]) -> None:
    op = api.user("operator")
    lost = fleet(api, admin, 5, "小店区")
    silent = fleet(api, admin, 5, "迎泽区")
    for i, t in enumerate(lost + silent):
        assert heartbeat(api, t, i, mode="normal").status_code == 200
    api.clock.advance(seconds=30)
    for t in lost:  # mains lost within a minute
        api.clock.advance(seconds=5)
        assert heartbeat(api, t, 100, mode="41").status_code == 200
        assert heartbeat(api, t, 101, mode="power_cut").status_code == 200  # no second alert
    api.clock.advance(seconds=200)
    for t in lost:  # on battery, still beating: not offline
        assert heartbeat(api, t, 102, mode="41").status_code == 200
    assert _sweep(api) == (5, 0)  # the other district's terminals went silent
    cuts = api.client.get("/api/v1/telemetry/power-cuts", headers=op).json()
    by_zone = {c["zone"]: c for c in cuts}
    assert set(by_zone) == {"小店区", "迎泽区"}
    assert by_zone["小店区"]["elevator_count"] == 5
    assert by_zone["小店区"]["sources"] == {"heartbeat_mains_lost": 5}
    assert by_zone["迎泽区"]["sources"] == {"offline": 5}
    alerts = api.client.get("/api/v1/telemetry/offline?kind=mains_lost", headers=op).json()
    assert len(alerts) == 5
    assert heartbeat(api, lost[0], 103, mode="40").status_code == 200  # mains back
    alerts = api.client.get("/api/v1/telemetry/offline?kind=mains_lost", headers=op).json()
    assert len(alerts) == 4


def test_office_review_lists_longest_offline_and_online_rates_in_its_region(
        api: Api, admin: dict[str, str]) -> None:
    with api.db() as s:
        company = factories.make_org(s, name="太原安达电梯维保")
        s.commit()
        company_id = company.id
    xd = fleet(api, admin, 4, "小店区", maintenance_company_id=company_id)
    yz = fleet(api, admin, 2, "迎泽区")
    for t in xd[:3] + yz:
        assert heartbeat(api, t, 1).status_code == 200
    api.clock.advance(seconds=100)
    for t in xd[1:3]:
        assert heartbeat(api, t, 2).status_code == 200
    api.clock.advance(seconds=100)  # xd[0] and both of yz are silent 200 s
    assert _sweep(api) == (3, 0)
    api.clock.advance(seconds=100)
    assert heartbeat(api, xd[1], 3).status_code == 200
    api.clock.advance(seconds=100)  # xd[2] silent 200 s now
    assert _sweep(api) == (1, 0)
    _flush(api)
    sup = api.user("supervisor")
    longest = api.client.get("/api/v1/reports/terminals/offline", headers=sup).json()
    assert {o["device_id"] for o in longest[:3]} == {xd[0].device_id, yz[0].device_id,
                                                     yz[1].device_id}
    assert longest[3]["device_id"] == xd[2].device_id  # offline for less time
    assert [o["offline_for_s"] for o in longest] == [200.0, 200.0, 200.0, 0.0]
    first = next(o for o in longest if o["device_id"] == xd[0].device_id)
    assert first["maintenance_company"] == "太原安达电梯维保" and first["zone"] == "小店区"
    office = api.user("office", region="小店区")
    mine = api.client.get("/api/v1/reports/terminals/offline", headers=office).json()
    assert [o["device_id"] for o in mine] == [xd[0].device_id, xd[2].device_id]
    zones = api.client.get("/api/v1/reports/terminals/online-rate?group_by=zone",
                           headers=sup).json()
    assert {z["key"]: (z["terminals"], z["online"], z["offline"], z["never_seen"],
                       z["online_rate"]) for z in zones} == {
        "小店区": (4, 1, 2, 1, 0.25), "迎泽区": (2, 0, 2, 0, 0.0)}
    companies = api.client.get("/api/v1/reports/terminals/online-rate?group_by=company",
                               headers=office).json()
    assert [(c["key"], c["terminals"], c["online"]) for c in companies] == [
        ("太原安达电梯维保", 4, 1)]
    operator = api.user("operator")
    assert api.client.get("/api/v1/reports/terminals/offline",
                          headers=operator).status_code == 403


def test_terminal_alert_events_reach_only_the_region_they_belong_to() -> None:
    from dispatch.scoping import Visibility

    msg = {"seq": None, "type": "terminal_offline", "incident_id": None, "team_id": None,
           "elevator_id": 5, "zone_id": 7}
    office = Visibility(1, "o", "office", None, 7, "小店区")
    other = Visibility(2, "p", "office", None, 8, "迎泽区")
    operator = Visibility(3, "q", "operator", None, None, None)
    crew = Visibility(4, "c", "crew", 9, None, None)
    assert office.wants_event(msg, 7, set()) is True
    assert other.wants_event(msg, 7, set()) is False
    assert operator.wants_event(msg, 7, set()) is True
    assert crew.wants_event(msg, 7, set()) is False
