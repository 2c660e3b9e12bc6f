"""``/api/v1/registry``: the admin page's API on both backends, on the small city of 湖城.

Saves go through the importer (same rules, same messages, nothing written on an error, a
change row on success); imports and exports are the CLI's; offices read their region only.
"""

from __future__ import annotations

import io
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from dispatch.app import create_app
from dispatch.elevators.search import search_ids, split_words
from dispatch.models import Elevator, Organization, Team, Zone
from dispatch.registry.models import RegistryChange
from tests.conftest import Api
from tests.dispatch.registry import smallcity
from tests.dispatch.registry.conftest import run_import
from tests.dispatch.registry.test_importer import edit_csv

BASE = "/api/v1/registry"
EAST_LIFT = "31105001012023000004"  # k = 3: east of the middle avenue (湖东区), 9 floors


@pytest.fixture
def loaded(api: Api, city: dict[str, Path]) -> Api:
    report = run_import(api.db, api.settings, [city["dir"]])
    assert report.written and not report.errors, report.issues
    return api


@pytest.fixture
def admin(loaded: Api) -> dict[str, str]:
    return loaded.user("admin", username="reg.admin")


def changes_count(api: Api) -> int:
    with api.db() as s:
        return s.scalar(select(func.count()).select_from(RegistryChange)) or 0


def lift(api: Api, register_code: str) -> Elevator:
    with api.db() as s:
        e = s.scalar(select(Elevator).where(Elevator.register_code == register_code))
        assert e is not None
        s.expunge(e)
        return e


def first_lift(api: Api, admin: dict[str, str]) -> dict[str, Any]:
    r = api.client.get(f"{BASE}/elevators", params={"limit": 1}, headers=admin)
    assert r.status_code == 200, r.text
    return r.json()["items"][0]


def test_lists_page_and_search(loaded: Api, admin: dict[str, str]) -> None:
    c = loaded.client
    page = c.get(f"{BASE}/elevators", params={"limit": 6, "offset": 0}, headers=admin).json()
    rest = c.get(f"{BASE}/elevators", params={"limit": 6, "offset": 18}, headers=admin).json()
    assert page["total"] == rest["total"] == 20
    assert len(page["items"]) == 6 and len(rest["items"]) == 2
    assert not {e["id"] for e in page["items"]} & {e["id"] for e in rest["items"]}
    one = page["items"][0]
    assert one["crs"] == "wgs84" and one["zone"] in (smallcity.WEST, smallcity.EAST)
    assert one["maintenance_company_code"] in (smallcity.COMPANY_W, smallcity.COMPANY_E)

    by_building = c.get(f"{BASE}/elevators", params={"q": "幸福里13栋"}, headers=admin).json()
    assert [e["building"] for e in by_building["items"]] == ["幸福里13栋"]
    by_rescue = c.get(f"{BASE}/elevators", params={"q": "70005"}, headers=admin).json()
    assert [e["rescue_code"] for e in by_rescue["items"]] == ["70005"]
    by_register = c.get(f"{BASE}/elevators", params={"q": EAST_LIFT[:16]}, headers=admin).json()
    assert EAST_LIFT in {e["register_code"] for e in by_register["items"]}
    assert all(e["register_code"].startswith(EAST_LIFT[:16]) for e in by_register["items"])

    orgs = c.get(f"{BASE}/organizations", params={"q": "维保"}, headers=admin).json()
    assert {o["code"] for o in orgs["items"]} == {smallcity.COMPANY_W}
    kinds = c.get(f"{BASE}/organizations", params={"kind_of": "maintenance_company"},
                  headers=admin).json()
    assert {o["code"] for o in kinds["items"]} == {smallcity.COMPANY_W, smallcity.COMPANY_E}
    teams = c.get(f"{BASE}/teams", params={"q": "HW-"}, headers=admin).json()
    assert [t["code"] for t in teams["items"]] == ["HW-01", "HW-02"]
    assert teams["items"][0]["organization_code"] == smallcity.COMPANY_W
    zones = c.get(f"{BASE}/zones", params={"q": "Hudong"}, headers=admin).json()
    assert [z["code"] for z in zones["items"]] == [smallcity.EAST]
    assert zones["items"][0]["geometry"]["type"] == "Polygon"

    one_row = c.get(f"{BASE}/teams/HE-01", headers=admin).json()
    assert one_row["name"] == "湖城HE-01组" and one_row["roster"] == "24/7"
    missing = c.get(f"{BASE}/teams/NOPE", headers=admin)
    assert missing.status_code == 404 and missing.json()["field"] == "key"
    bad_kind = c.get(f"{BASE}/lifts", headers=admin)
    assert bad_kind.status_code == 422 and bad_kind.json()["field"] == "kind"
    too_many = c.get(f"{BASE}/elevators", params={"limit": 100000}, headers=admin)
    assert too_many.status_code == 422 and too_many.json()["field"] == "limit"


def test_update_writes_a_change_row_and_the_search_index(loaded: Api,
                                                         admin: dict[str, str]) -> None:
    c = loaded.client
    row = c.get(f"{BASE}/elevators/{EAST_LIFT}", headers=admin).json()
    before = changes_count(loaded)
    r = c.patch(f"{BASE}/elevators/{EAST_LIFT}", json={"address": "湖城市湖东区翡翠路88号"},
                headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["action"] == "updated"
    assert r.json()["row"]["address"] == "湖城市湖东区翡翠路88号"
    e = lift(loaded, EAST_LIFT)
    assert e.address == "湖城市湖东区翡翠路88号" and e.rescue_code == row["rescue_code"]
    assert (round(e.location.lon, 7), round(e.location.lat, 7)) == (row["lon"], row["lat"])
    with loaded.db() as s:
        new = s.scalars(select(RegistryChange).order_by(RegistryChange.id)).all()[before:]
        assert [(x.kind, x.key, x.action, x.actor, x.source) for x in new] == [
            ("elevator", EAST_LIFT, "update", "reg.admin", "admin")]
        assert new[0].fields == {"address": [row["address"], "湖城市湖东区翡翠路88号"]}
        assert search_ids(s, split_words("翡翠路 88号"), limit=5) == [e.id]  # index in step
    log = c.get(f"{BASE}/changes", params={"kind": "elevator", "key": EAST_LIFT,
                                            "actor": "reg.admin"}, headers=admin).json()
    assert log["total"] == 1
    assert log["items"][0]["fields"]["address"][1] == "湖城市湖东区翡翠路88号"
    at = loaded.clock.now  # the save's time is the request's clock
    window = c.get(f"{BASE}/changes", headers=admin, params={
        "since": (at - timedelta(seconds=1)).isoformat(),
        "until": (at + timedelta(seconds=1)).isoformat()}).json()
    assert [x["key"] for x in window["items"]] == [EAST_LIFT]
    later = c.get(f"{BASE}/changes", headers=admin,
                  params={"since": (at + timedelta(seconds=1)).isoformat(), "kind": "elevator"})
    assert all(x["actor"] != "reg.admin" for x in later.json()["items"])
    # saving the same values again is no change and writes no row
    again = c.patch(f"{BASE}/elevators/{EAST_LIFT}", json={"address": "湖城市湖东区翡翠路88号"},
                    headers=admin)
    assert again.json()["action"] == "unchanged" and changes_count(loaded) == before + 1


@pytest.mark.parametrize(("kind", "key", "body", "field", "says"), [
    ("elevators", EAST_LIFT, {"site_type": "castle"}, "site_type",
     "site_type must be one of residential"),
    ("elevators", EAST_LIFT, {"lon": 107.5}, "lon", "outside every zone polygon"),
    ("elevators", EAST_LIFT, {"maintenance_company_code": smallcity.INSURER},
     "maintenance_company_code", "is a insurer, not a maintenance_company"),
    ("elevators", EAST_LIFT, {"rescue_code": "70001"}, "rescue_code", "belongs to elevator"),
    ("elevators", EAST_LIFT, {"floors": "many"}, "floors", "floors must be a whole number"),
    ("organizations", smallcity.COMPANY_W, {"region": "000000"}, "region",
     "is not a zone code"),
    ("teams", "HW-01", {"organization_code": smallcity.USE_UNIT}, "organization_code",
     "teams belong to a maintenance company"),
    ("teams", "HW-01", {"roster": "sometimes"}, "roster", "roster:"),
    ("zones", smallcity.WEST, {"arrival_limit_min": 300}, "arrival_limit_min",
     "arrival_limit_min must be 5–240"),
    ("zones", smallcity.WEST, {"colour": "red"}, "colour", "not a zone field"),
])
def test_a_bad_field_is_named_and_nothing_is_written(loaded: Api, admin: dict[str, str],
                                                     kind: str, key: str, body: dict[str, Any],
                                                     field: str, says: str) -> None:
    before_row = loaded.client.get(f"{BASE}/{kind}/{key}", headers=admin).json()
    before = changes_count(loaded)
    r = loaded.client.patch(f"{BASE}/{kind}/{key}", json=body, headers=admin)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["field"] == field and says in problem["detail"], problem
    if kind != "zones" or field != "colour":
        assert problem["errors"][0]["column"] == field and problem["errors"][0]["message_zh"]
    assert changes_count(loaded) == before
    assert loaded.client.get(f"{BASE}/{kind}/{key}", headers=admin).json() == before_row


def test_create_and_update_each_kind(loaded: Api, admin: dict[str, str]) -> None:
    c = loaded.client
    org = {"code": "91500000MA0009", "kind": "maintenance_company", "name": "湖城新维保有限公司",
           "phone": "023-6000009", "region": smallcity.WEST}
    r = c.post(f"{BASE}/organizations", json=org, headers=admin)
    assert r.status_code == 201, r.text
    assert r.json()["action"] == "created" and r.json()["row"]["region"] == smallcity.WEST
    dup = c.post(f"{BASE}/organizations", json=org, headers=admin)
    assert dup.status_code == 409 and dup.json()["field"] == "code"
    missing = c.post(f"{BASE}/organizations", json={"code": "X1", "kind": "insurer"},
                     headers=admin)
    assert missing.status_code == 422 and missing.json()["field"] == "name"

    lon, lat = smallcity.node(2, 3)
    team = {"code": "HW-09", "organization_code": org["code"], "name": "新维保一组",
            "phone": "13900000099", "lon": lon + 0.0003, "lat": lat, "roster": "24/7"}
    r = c.post(f"{BASE}/teams", json=team, headers=admin)
    assert r.status_code == 201, r.text
    made = r.json()["row"]
    assert made["district"] == "湖西区" and made["on_duty"] is True
    r = c.patch(f"{BASE}/teams/HW-09", json={"capacity": 2, "on_duty": False}, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["row"]["capacity"] == 2 and r.json()["row"]["on_duty"] is False

    elevator = {"register_code": "31105001019999000001", "rescue_code": "79999",
                "address": "湖城市湖西区新路1号", "lon": lon + 0.0004, "lat": lat + 0.0002,
                "crs": "wgs84", "site_type": "hospital",
                "maintenance_company_code": org["code"], "floors": 12}
    r = c.post(f"{BASE}/elevators", json=elevator, headers=admin)
    assert r.status_code == 201, r.text
    row = r.json()["row"]
    assert row["zone"] == smallcity.WEST and row["road_node"] is not None  # zoned and snapped
    key_change = c.patch(f"{BASE}/elevators/{elevator['register_code']}",
                         json={"register_code": "31105001019999000002"}, headers=admin)
    assert key_change.status_code == 422 and key_change.json()["field"] == "register_code"

    r = c.patch(f"{BASE}/zones/{smallcity.WEST}", json={"arrival_limit_min": 25}, headers=admin)
    assert r.status_code == 200, r.text
    with loaded.db() as s:
        assert s.scalar(select(Zone.arrival_limit_min).where(
            Zone.code == smallcity.WEST)) == 25
        log = [(x.kind, x.key, x.action, x.source) for x in s.scalars(
            select(RegistryChange).where(RegistryChange.actor == "reg.admin")
            .order_by(RegistryChange.id))]
    assert log == [("organization", org["code"], "create", "admin"),
                   ("team", "HW-09", "create", "admin"), ("team", "HW-09", "update", "admin"),
                   ("elevator", elevator["register_code"], "create", "admin"),
                   ("zone", smallcity.WEST, "update", "admin")]


def upload(api: Api, headers: dict[str, str], paths: list[Path], **params: Any
           ) -> dict[str, Any]:
    files = [("files", (p.name, p.read_bytes(), "text/csv")) for p in paths]
    r = api.client.post(f"{BASE}/import", params=params, files=files, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def test_import_dry_run_writes_nothing_then_apply_writes(loaded: Api, admin: dict[str, str],
                                                         city: dict[str, Path]) -> None:
    def rename(rows: list[dict[str, str]]) -> list[dict[str, str]]:
        rows[0]["address"] = "湖城市湖西区改名路1号"
        return rows

    def palace(rows: list[dict[str, str]]) -> list[dict[str, str]]:
        rows[2]["site_type"] = "palace"
        return rows

    edit_csv(city["elevators"], rename)
    before = changes_count(loaded)
    dry = upload(loaded, admin, [city["elevators"]], dry_run="true")
    assert dry["dry_run"] is True and dry["written"] is False and dry["errors"] == 0
    assert dry["counts"]["elevators"]["updated"] == 1
    assert dry["counts"]["elevators"]["unchanged"] == 19
    assert changes_count(loaded) == before
    applied = upload(loaded, admin, [city["elevators"]], dry_run="false")
    assert applied["written"] is True and applied["changes"] == 1
    with loaded.db() as s:
        last = s.scalars(select(RegistryChange).order_by(RegistryChange.id.desc())).first()
        assert last is not None
        assert (last.actor, last.source, last.action) == ("reg.admin", "elevators.csv", "update")

    edit_csv(city["elevators"], palace)
    bad = upload(loaded, admin, [city["elevators"]], dry_run="false")
    assert bad["written"] is False and bad["errors"] == 1
    [issue] = bad["issues"]
    assert (issue["file"], issue["line"], issue["column"]) == ("elevators.csv", 4, "site_type")
    assert "hospital" in issue["allowed"]
    assert changes_count(loaded) == before + 1

    wrong = loaded.client.post(f"{BASE}/import", headers=admin,
                               files=[("files", ("lifts.csv", b"a,b\n", "text/csv"))])
    assert wrong.status_code == 422 and wrong.json()["field"] == "files"


def test_export_zip_reimports_with_no_changes(loaded: Api, admin: dict[str, str],
                                              tmp_path: Path) -> None:
    c = loaded.client
    c.patch(f"{BASE}/elevators/{EAST_LIFT}", json={"building": "翡翠楼"}, headers=admin)
    r = c.get(f"{BASE}/export", headers=admin)
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    assert "attachment" in r.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        assert sorted(zf.namelist()) == ["elevators.csv", "organizations.csv", "teams.csv",
                                         "zones.geojson"]
        zf.extractall(tmp_path / "export")
    assert "翡翠楼" in (tmp_path / "export" / "elevators.csv").read_text(encoding="utf-8")
    again = upload(loaded, admin, sorted((tmp_path / "export").iterdir()), dry_run="true")
    assert again["errors"] == 0 and again["changes"] == 0
    assert again["counts"]["elevators"]["unchanged"] == 20
    assert again["counts"]["zones"]["unchanged"] == 2


def test_office_sees_its_region_only(loaded: Api, admin: dict[str, str]) -> None:
    c = loaded.client
    c.patch(f"{BASE}/elevators/{EAST_LIFT}", json={"floors": 30}, headers=admin)
    west = loaded.user("office", region="湖西区")
    lifts = c.get(f"{BASE}/elevators", params={"limit": 100}, headers=west).json()
    with loaded.db() as s:
        west_id = s.scalar(select(Zone.id).where(Zone.code == smallcity.WEST))
        expected = s.scalar(select(func.count()).select_from(Elevator)
                            .where(Elevator.zone_id == west_id)) or 0
        west_teams = set(s.scalars(select(Team.code).where(Team.district == "湖西区")))
        west_orgs = set(s.scalars(select(Organization.code)
                                  .where(Organization.region == smallcity.WEST)))
    assert 0 < lifts["total"] == expected < 20
    assert {e["zone"] for e in lifts["items"]} == {smallcity.WEST}
    assert c.get(f"{BASE}/elevators/{EAST_LIFT}", headers=west).status_code == 404
    assert [z["code"] for z in c.get(f"{BASE}/zones", headers=west).json()["items"]] == [
        smallcity.WEST]
    assert {t["code"] for t in c.get(f"{BASE}/teams", headers=west).json()["items"]} == \
        west_teams == {"HW-01", "HW-02"}
    assert {o["code"] for o in c.get(f"{BASE}/organizations", headers=west).json()["items"]} \
        == west_orgs
    log = c.get(f"{BASE}/changes", params={"limit": 500}, headers=west).json()
    assert log["total"] > 0 and EAST_LIFT not in {x["key"] for x in log["items"]}
    assert smallcity.EAST not in {x["key"] for x in log["items"]}
    everything = c.get(f"{BASE}/changes", params={"key": EAST_LIFT}, headers=admin).json()
    assert everything["total"] == 2  # the import's create and the admin's update


def test_roles(loaded: Api, admin: dict[str, str], city: dict[str, Path]) -> None:
    c = loaded.client
    sup = loaded.user("supervisor")
    office = loaded.user("office")
    for who in (sup, office):
        assert c.get(f"{BASE}/elevators", headers=who).status_code == 200
        assert c.get(f"{BASE}/changes", headers=who).status_code == 200
        r = c.patch(f"{BASE}/elevators/{EAST_LIFT}", json={"floors": 12}, headers=who)
        assert r.status_code == 403 and "admin" in r.json()["detail"]
        assert c.post(f"{BASE}/organizations", json={"code": "Z"},
                      headers=who).status_code == 403
        files = [("files", ("elevators.csv", city["elevators"].read_bytes(), "text/csv"))]
        assert c.post(f"{BASE}/import", files=files, headers=who).status_code == 403
    assert c.get(f"{BASE}/export", headers=sup).status_code == 200
    assert c.get(f"{BASE}/export", headers=office).status_code == 403
    for role in ("operator", "crew"):
        who = loaded.user(role)
        assert c.get(f"{BASE}/elevators", headers=who).status_code == 403
        assert c.get(f"{BASE}/changes", headers=who).status_code == 403
    assert c.get(f"{BASE}/elevators").status_code == 401
    assert lift(loaded, EAST_LIFT).floors == 9  # untouched


def test_the_upload_is_bounded(loaded: Api, admin: dict[str, str]) -> None:
    small = loaded.settings.model_copy(update={"body_limit_registry_import_bytes": 4096})
    with TestClient(create_app(small)) as client:
        big = b"register_code,rescue_code\n" + b"1" * 8000
        r = client.post(f"{BASE}/import", headers=admin,
                        files=[("files", ("elevators.csv", big, "text/csv"))])
    assert r.status_code == 413 and r.json()["limit_bytes"] == 4096
    # the default JSON limit still holds for the row routes
    r = loaded.client.patch(f"{BASE}/elevators/{EAST_LIFT}", json={"address": "x" * 70_000},
                            headers=admin)
    assert r.status_code == 413


def test_a_zone_boundary_saved_re_derives_its_lifts(loaded: Api, admin: dict[str, str]) -> None:
    c = loaded.client
    west = c.get(f"{BASE}/zones/{smallcity.WEST}", headers=admin).json()
    (a, b, _c, d) = (west["geometry"]["coordinates"][0][0][0],
                     west["geometry"]["coordinates"][0][0][1],
                     west["geometry"]["coordinates"][0][1][0],
                     west["geometry"]["coordinates"][0][2][1])
    wide = smallcity.node(smallcity.N - 1, 0)[0] + smallcity.STEP  # past the east edge
    ring = [[a, b], [wide, b], [wide, d], [a, d], [a, b]]
    bad = c.patch(f"{BASE}/zones/{smallcity.WEST}", headers=admin,
                  json={"geometry": {"type": "Polygon", "coordinates": [[[a, b], [a, d]]]}})
    assert bad.status_code == 422 and bad.json()["field"] == "geometry"
    r = c.patch(f"{BASE}/zones/{smallcity.WEST}", headers=admin,
                json={"geometry": {"type": "Polygon", "coordinates": [ring]}})
    assert r.status_code == 200, r.text
    assert r.json()["counts"]["elevators"]["updated"] > 0  # the east lifts moved
    assert c.get(f"{BASE}/elevators/{EAST_LIFT}", headers=admin).json()["zone"] == smallcity.WEST
    log = c.get(f"{BASE}/changes", params={"key": EAST_LIFT}, headers=admin).json()["items"][0]
    assert (log["action"], log["source"], log["actor"]) == ("update", "admin", "reg.admin")
    assert log["fields"] == {"zone": [smallcity.EAST, smallcity.WEST]}
    zone_log = c.get(f"{BASE}/changes", params={"kind": "zone"}, headers=admin).json()
    assert "boundary" in zone_log["items"][0]["fields"]
