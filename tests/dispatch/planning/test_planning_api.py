"""Planning API on both backends: coverage against per-elevator searches, what-if, plans,
suggestions, export, replay against the KPI code, roles and region scoping."""

from __future__ import annotations

import csv
import io
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from dispatch.db import LonLat
from dispatch.models import Organization, Team
from dispatch.routing import router_for
from dispatch.settings import Settings
from tests import factories
from tests.conftest import Api
from tests.dispatch.reports import handset
from tests.dispatch.reports.handset import FROM, TO

A = LonLat(112.5935, 37.796)  # the company's base (south-east of the graph)
B = LonLat(112.58, 37.807)  # a rescue station nearby
# elevators from the south-east corner of the road graph towards the north-west, in 小店区
# (for the test the zone rule is read as is); two more in 清徐县
FRACTIONS = [0.0, 0.1, 0.2, 0.4, 0.6, 0.8, 0.9, 0.95, 1.0]
TURNOUT_S = 600.0  # a slow turnout puts the far elevators in all three bands


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"turnout_s": TURNOUT_S})


def build(api: Api) -> dict[str, Any]:
    with api.db() as s:
        company = factories.make_org(s, name="甲维保公司")
        station = factories.make_org(s, "rescue_station", name="救援站")
        els = [factories.make_elevator(s, zone_name="小店区", maintenance_company_id=company.id,
                                       location=LonLat(112.605 - f * 0.115, 37.785 + f * 0.11))
               for f in FRACTIONS]
        els += [factories.make_elevator(s, zone_name="清徐县", maintenance_company_id=company.id)
                for _ in range(2)]
        t1 = factories.make_team(s, organization=company, base_location=A)
        t2 = factories.make_team(s, organization=station, base_location=B)
        factories.make_team(s, organization=station, base_location=LonLat(112.49, 37.895),
                            on_duty=False)  # off duty: not a base now
        s.commit()
        return {"elevators": [(e.id, e.location.lon, e.location.lat) for e in els],
                "teams": [t1.id, t2.id]}


def expected_bands(api: Api, bases: list[tuple[float, float]],
                   elevators: list[tuple[int, float, float]]) -> list[int]:
    """One search per elevator (the router dispatch uses), then the policy's arrival test."""
    router = router_for(api.settings)
    out = []
    for _, lon, lat in elevators:
        road = float(router.travel_times(bases, (lon, lat)).seconds.min())
        limit = 1800.0 if abs(lat - factories.QINGXU.lat) > 1e-6 else 3600.0
        eta = road + api.settings.turnout_s
        out.append(0 if eta <= limit - api.settings.safety_margin_s else
                   1 if eta <= limit else 2)
    return out


def get(api: Api, who: dict[str, str], path: str, **params: Any) -> Any:
    r = api.client.get(f"/api/v1/planning/{path}", headers=who, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def test_coverage_matches_one_search_per_elevator(api: Api) -> None:
    data = build(api)
    sup = api.user("supervisor")
    body = get(api, sup, "coverage")
    bases = [(A.lon, A.lat), (B.lon, B.lat)]
    want = expected_bands(api, bases, data["elevators"])
    assert [p[2] for p in body["points"]] == want
    assert body["stations"] == 2  # the off-duty team is not a base
    assert 0 in want and 2 in want  # the case exercises more than one band
    t = body["today"]
    assert t["elevators"] == 11
    assert 1 in want
    assert t["within"] == sum(1 for b in want if b <= 1)
    assert t["safe"] == want.count(0)
    zones = {z["zone"]: z for z in t["zones"]}
    assert zones["小店区"]["elevators"] == 9 and zones["清徐县"]["elevators"] == 2
    assert body["uncovered_n"] == want.count(2)
    assert {u["elevator_id"] for u in body["uncovered"]} == {
        e[0] for e, b in zip(data["elevators"], want, strict=True) if b == 2}


def test_what_if_station_equals_a_real_team_there(api: Api) -> None:
    data = build(api)
    sup = api.user("supervisor")
    far = data["elevators"][8]  # the farthest, beyond the limit today
    added = {"added": [{"lon": far[1], "lat": far[2], "teams": 1}], "removed": []}
    r = api.client.post("/api/v1/planning/coverage", headers=sup, json=added)
    assert r.status_code == 200, r.text
    what_if = r.json()
    assert what_if["plan"]["within"] > what_if["today"]["within"]
    # a real team at that spot, full recomputation: the same bands
    with api.db() as s:
        factories.make_team(s, organization=factories.make_org(s, "rescue_station"),
                            base_location=LonLat(far[1], far[2]))
        s.commit()
    full = get(api, sup, "coverage")
    assert [p[2] for p in what_if["points"]] == [p[2] for p in full["points"]]
    assert what_if["plan"]["zones"] == full["today"]["zones"]


def test_switching_a_team_off(api: Api) -> None:
    data = build(api)
    sup = api.user("supervisor")
    r = api.client.post("/api/v1/planning/coverage", headers=sup,
                        json={"removed": [data["teams"][1]]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["plan"]["within"] < body["today"]["within"]
    want = expected_bands(api, [(A.lon, A.lat)], data["elevators"])
    assert [p[2] for p in body["points"]] == want


def test_plans_saved_named_scoped_and_compared(api: Api) -> None:
    data = build(api)
    sup = api.user("supervisor")
    office = api.user("office", region="小店区")
    other = api.user("office", region="清徐县")
    far = data["elevators"][8]
    layout = {"added": [{"lon": far[1], "lat": far[2], "teams": 2, "name": "东站"}]}
    r = api.client.put("/api/v1/planning/plans/方案A", headers=office, json=layout)
    assert r.status_code == 200, r.text
    assert r.json()["added"][0]["teams"] == 2
    assert [p["name"] for p in get(api, office, "plans")] == ["方案A"]
    assert get(api, other, "plans") == []  # another region's office does not see it
    assert [p["name"] for p in get(api, sup, "plans")] == ["方案A"]
    cmp = get(api, office, "coverage", plan="方案A")
    assert cmp["plan"]["within"] >= cmp["today"]["within"]
    assert {z["zone"] for z in cmp["today"]["zones"]} == {"小店区"}  # region only
    assert len(cmp["points"]) == 9
    r = api.client.get("/api/v1/planning/plans/方案A/export.csv", headers=office)
    assert r.status_code == 200
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert [x["change"] for x in rows] == ["add", "today", "plan"]
    assert rows[0]["name"] == "东站" and rows[0]["teams"] == "2"
    assert float(rows[2]["within_share"]) == cmp["plan"]["within_share"]
    r = api.client.get("/api/v1/planning/coverage", headers=other, params={"plan": "方案A"})
    assert r.status_code == 404 and r.json()["field"] == "plan"
    assert api.client.delete("/api/v1/planning/plans/方案A", headers=office).status_code == 204
    assert get(api, office, "plans") == []


def test_suggestions_raise_coverage_step_by_step(api: Api) -> None:
    build(api)
    sup = api.user("supervisor")
    r = api.client.post("/api/v1/planning/suggest", headers=sup, params={"k": 3}, json={})
    assert r.status_code == 200, r.text
    sug = r.json()["suggestions"]
    today = get(api, sup, "coverage", points=False)["today"]["within"]
    assert sug, "an uncovered elevator exists, so a pick must help"
    shares = [s["within"] for s in sug]
    assert shares == sorted(shares) and shares[0] > today
    assert all(s["newly_covered"] >= 1 for s in sug)


def test_uncovered_export_csv(api: Api) -> None:
    build(api)
    sup = api.user("supervisor")
    r = api.client.get("/api/v1/planning/coverage/uncovered.csv", headers=sup)
    assert r.status_code == 200
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert len(rows) == get(api, sup, "coverage", points=False)["uncovered_n"] > 0
    assert {"rescue_code", "building", "zone", "best_eta_min"} <= set(rows[0])
    assert api.client.get("/api/v1/planning/coverage/uncovered.xlsx",
                          headers=sup).status_code == 200


def test_bad_input_and_roles(api: Api) -> None:
    build(api)
    sup = api.user("supervisor")
    r = api.client.post("/api/v1/planning/coverage", headers=sup,
                        json={"added": [{"lon": 500, "lat": 37.8}]})
    assert r.status_code == 422 and r.json()["field"] == "added[0]"
    r = api.client.post("/api/v1/planning/coverage", headers=sup,
                        json={"added": [{"lon": 112.5, "lat": 37.8, "teams": 0}]})
    assert r.status_code == 422 and r.json()["field"] == "added[0].teams"
    for role in ("operator", "crew"):
        who = api.user(role)
        assert api.client.get("/api/v1/planning/coverage", headers=who).status_code == 403
    assert api.client.get("/api/v1/planning/coverage").status_code == 401


def test_replay_is_deterministic_and_reports_the_actual_kpis(api: Api) -> None:
    with api.db() as s:
        hs = handset.build(s)
        x = s.get(Organization, hs.company_x)
        y = s.get(Organization, hs.company_y)
        factories.make_team(s, organization=x, base_location=factories.XIAODIAN)
        factories.make_team(s, organization=y, base_location=factories.QINGXU)
        s.commit()
    office = api.user("office")
    period = {"from": FROM.isoformat(), "to": TO.isoformat()}
    a = get(api, office, "replay", **period)
    b = get(api, office, "replay", **period)
    assert a == b
    summary = api.client.get("/api/v1/reports/summary", headers=office, params=period).json()
    (row,) = summary["rows"]
    assert a["entrapments"] == row["entrapments"] == 8
    assert a["actual"]["arrival_within_limit_rate"] == row["arrival_within_limit_rate"]
    assert a["actual"]["arrival_p50_s"] == row["arrival_time"]["p50"]
    # every elevator sits at its company's base: the replay always sends level 1 in time
    assert a["today"]["level_share"]["1"] == 1.0
    assert a["today"]["arrival_within_limit_rate"] == 1.0
    assert a["today"]["busiest_teams"][0]["jobs"] >= 1
    # a plan switching the company's urban team off: level 2 cannot exist, so fewer arrive
    with api.db() as s:
        team_x = s.scalars(select(Team).where(
            Team.organization_id == hs.company_x)).one()
        tid = team_x.id
    r = api.client.put("/api/v1/planning/plans/无甲", headers=office, json={"removed": [tid]})
    assert r.status_code == 200
    c = get(api, office, "replay", **period, plan="无甲")
    assert c["plan"]["arrival_within_limit_rate"] < c["today"]["arrival_within_limit_rate"]
    assert np.isclose(c["today"]["arrival_within_limit_rate"], 1.0)


@pytest.mark.parametrize("path", ["/office/coverage", "/office/coverage.js"])
def test_the_page_is_served_not_shadowed(api: Api, path: str) -> None:
    r = api.client.get(path)
    assert r.status_code == 200
    assert ("coverage" in r.text) and ("office.js" not in r.text or path.endswith(".js"))


def test_replay_reads_the_live_policy_settings(api: Api) -> None:
    """The replay builds each zone's policy as live dispatch does (``policy_config``): a longer
    turnout in the settings moves every simulated arrival by exactly that much."""
    from dispatch.planning import service
    from dispatch.reports import service as reports
    from dispatch.scoping import Visibility

    with api.db() as s:
        hs = handset.build(s)
        x = s.get(Organization, hs.company_x)
        y = s.get(Organization, hs.company_y)
        factories.make_team(s, organization=x, base_location=factories.XIAODIAN)
        factories.make_team(s, organization=y, base_location=factories.QINGXU)
        s.commit()
    p = reports.period(FROM.isoformat(), TO.isoformat())
    with api.db() as s:
        v = Visibility.internal()
        base = service.replay(s, v, api.settings, period=p, layout=None, speeds="normal")
        slower = service.replay(s, v, api.settings.model_copy(update={"turnout_s":
                                                                      TURNOUT_S + 300}),
                                period=p, layout=None, speeds="normal")
    assert slower["today"]["arrival_p50_s"] == pytest.approx(base["today"]["arrival_p50_s"]
                                                             + 300, abs=0.05)
    assert slower["actual"] == base["actual"]  # the past itself does not change
