"""An elevator whose maintenance contract has ended: no level-1 company, and the office sees it."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from dispatch.models import Organization, Team
from tests.conftest import Api
from tests.dispatch.registry import smallcity
from tests.dispatch.registry.conftest import run_import
from tests.dispatch.registry.test_importer import edit_csv

EXPIRED = "2026-10-31"  # the test clock is 2026-11-30


def _city_with_one_expired(api: Api, city: dict[str, Path]) -> dict[str, str]:
    row = next(r for r in smallcity.elevator_rows()
               if r["crs"] == "wgs84" and r["maintenance_company_code"] == smallcity.COMPANY_W)
    edit_csv(city["elevators"], lambda rows: [
        {**r, "maintenance_until": EXPIRED} if r["register_code"] == row["register_code"] else r
        for r in rows])
    report = run_import(api.db, api.settings, [city["dir"]])
    assert report.written and not report.errors
    return row


def test_expired_contract_starts_dispatch_at_level_2_and_the_record_says_why(
        api: Api, city: dict[str, Path]) -> None:
    row = _city_with_one_expired(api, city)
    op = api.user("operator")
    r = api.client.post("/api/v1/incidents", headers=op,
                        json={"rescue_code": row["rescue_code"], "channel": "call"})
    assert r.status_code == 201, r.text
    r = api.client.post(f"/api/v1/incidents/{r.json()['id']}/confirm", headers=op)
    assert r.status_code == 200, r.text
    a = r.json()["assignments"][-1]
    assert a["level"] == 2
    with api.db() as s:
        company_w = s.scalar(select(Organization.id)
                             .where(Organization.code == smallcity.COMPANY_W))
        west_teams = set(s.scalars(select(Team.id).where(Team.organization_id == company_w)))
    ranking = a["ranking"]
    assert all(x["level"] >= 2 for x in ranking)  # nobody is level 1 for this lift
    chosen = next(x for x in ranking if x["chosen"])
    assert f"维保合同已于{EXPIRED}到期" in chosen["reason"]
    assert f"maintenance contract ended {EXPIRED}" in chosen["reason_en"]
    for x in ranking:
        if x["team_id"] in west_teams:  # the former company competes as level 2
            assert x["level"] == 2 and "no level-1 company" in x["reason_en"]


def test_a_current_contract_keeps_level_1(api: Api, city: dict[str, Path]) -> None:
    row = _city_with_one_expired(api, city)
    other = next(r for r in smallcity.elevator_rows()
                 if r["maintenance_company_code"] == smallcity.COMPANY_W
                 and r["register_code"] != row["register_code"])
    op = api.user("operator")
    r = api.client.post("/api/v1/incidents", headers=op,
                        json={"rescue_code": other["rescue_code"], "channel": "call"})
    r = api.client.post(f"/api/v1/incidents/{r.json()['id']}/confirm", headers=op)
    a = r.json()["assignments"][-1]
    assert a["level"] == 1 and "到期" not in next(x for x in a["ranking"] if x["chosen"])["reason"]


def test_the_office_review_lists_expired_contracts_in_its_region(
        api: Api, city: dict[str, Path]) -> None:
    row = _city_with_one_expired(api, city)
    url = "/api/v1/reports/expired-maintenance"
    r = api.client.get(url, headers=api.user("supervisor"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["as_of"] == "2026-11-30" and body["total"] == 1
    (item,) = body["elevators"]
    assert item["register_code"] == row["register_code"] and item["zone"] == "湖西区"
    assert item["maintenance_until"] == EXPIRED and item["days_overdue"] == 30
    assert item["company_code"] == smallcity.COMPANY_W
    west_office = api.user("office", region="湖西区")
    assert api.client.get(url, headers=west_office).json()["total"] == 1
    east_office = api.user("office", region="湖东区")
    assert api.client.get(url, headers=east_office).json()["total"] == 0
    r = api.client.get(url, headers=east_office, params={"district": "湖西区"})
    assert r.status_code == 403 and r.json()["field"] == "district"
    assert api.client.get(url, headers=api.user("operator")).status_code == 403
