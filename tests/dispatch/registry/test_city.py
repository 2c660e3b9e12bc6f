"""A second city end to end: its own files imported on both backends, then a dispatch there."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from dispatch.models import Elevator, Organization, Team, Zone
from dispatch.registry.models import RegistryChange
from dispatch.settings import Settings
from geo.coords import wgs84_to_gcj02
from tests.conftest import Api
from tests.dispatch.registry import smallcity
from tests.dispatch.registry.conftest import run_import


def test_the_small_city_imports_from_its_files(db: sessionmaker[Session], settings: Settings,
                                               city: dict[str, Path]) -> None:
    report = run_import(db, settings, [city["dir"]], actor="test")
    assert not report.issues, [i.where() + " " + i.message for i in report.issues]
    counts = {k: (r.created, r.updated, r.unchanged) for k, r in report.kinds.items()}
    assert counts == {"zones": (2, 0, 0), "organizations": (7, 0, 0), "teams": (5, 0, 0),
                      "elevators": (20, 0, 0)}
    with db() as s:
        zones = {c: i for c, i in s.execute(select(Zone.code, Zone.id))}
        by_code = {e.register_code: e for e in s.scalars(select(Elevator))}
        assert len(by_code) == 20
        for row in smallcity.elevator_rows():
            e = by_code[row["register_code"]]
            expect = smallcity.WEST if e.location.lon < smallcity.MID_LON else smallcity.EAST
            assert e.zone_id == zones[expect]
            assert e.road_node is not None
            if row["crs"] == "gcj02":  # stored in WGS-84: converting back gives the file's value
                back = wgs84_to_gcj02(e.location.lon, e.location.lat)
                assert abs(back[0] - row["lon"]) < 1e-6 and abs(back[1] - row["lat"]) < 1e-6
        t = s.scalar(select(Team).where(Team.code == "RS-01"))
        assert t is not None and t.district == "湖东区" and t.roster == "24/7"
        region = s.scalar(select(Organization.region)
                          .where(Organization.code == smallcity.COMPANY_W))
        assert region == smallcity.WEST
        logged = s.scalar(select(func.count()).select_from(RegistryChange)
                          .where(RegistryChange.action == "create"))
        assert logged == 2 + 7 + 5 + 20
        one = s.scalar(select(RegistryChange).where(RegistryChange.key == "HW-01"))
        assert one is not None and one.actor == "test" and one.source == "teams.csv"
        assert one.fields["organization_code"] == [None, smallcity.COMPANY_W]


def test_an_incident_in_the_small_city_is_offered_to_a_team_of_that_city(
        api: Api, city: dict[str, Path]) -> None:
    report = run_import(api.db, api.settings, [city["dir"]])
    assert report.written and not report.errors
    west = next(r for r in smallcity.elevator_rows()
                if r["crs"] == "wgs84" and r["maintenance_company_code"] == smallcity.COMPANY_W)
    op = api.user("operator")
    r = api.client.post("/api/v1/incidents", headers=op,
                        json={"rescue_code": west["rescue_code"], "channel": "call",
                              "trapped_count": 1})
    assert r.status_code == 201, r.text
    body = r.json()
    r = api.client.post(f"/api/v1/incidents/{body['id']}/confirm", headers=op)
    assert r.status_code == 200, r.text
    a = r.json()["assignments"][-1]
    with api.db() as s:
        team = s.get(Team, a["team_id"])
        assert team is not None
        org = s.get(Organization, team.organization_id)
    # the contracted company's nearest team, by road on the small city's own graph
    assert a["level"] == 1 and org is not None and org.code == smallcity.COMPANY_W
    assert team.code in ("HW-01", "HW-02")
    chosen = next(x for x in a["ranking"] if x["chosen"])
    assert chosen["travel_s"] is not None and not chosen["straight_line_estimate"]
    assert {x["team_id"] for x in a["ranking"]} >= {team.id}
