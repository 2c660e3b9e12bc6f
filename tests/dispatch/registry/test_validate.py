"""One test per validation rule of the import contract (pure: no database, no road graph).

Every error must name the file, the line (or feature index), the column and, where there is a
fixed set, the allowed values — the admin form shows the same messages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from openpyxl import Workbook
from shapely.geometry import box

from dispatch.registry import validate as v
from dispatch.registry.readers import Issue, Row, ZoneFeature, discover, read_table
from geo.coords import wgs84_to_bd09, wgs84_to_gcj02
from geo.zones import Zone, ZoneIndex

GOOD_ELEVATOR = {
    "register_code": "31105001012020000001", "rescue_code": "70001", "address": "湖城市湖西区1号",
    "building": "1栋", "lon": "106.5104", "lat": "29.5052", "crs": "wgs84",
    "site_type": "residential", "use_unit_code": "UU", "maintenance_company_code": "MC",
    "maintenance_until": "2027-06-30", "insurer_code": "", "policy_no": "", "three_no": "否",
    "in_service": "1", "floors": "12"}
GOOD_TEAM = {"code": "T1", "organization_code": "MC", "name": "一组", "phone": "13900000000",
             "lon": "106.51", "lat": "29.50", "crs": "wgs84", "capacity": "", "on_duty": "",
             "roster": "Mo-Fr 08:00-20:00; Sa,Su 09:00-17:00"}
ZONE = {"code": "990101", "name": "湖西区", "arrival_limit_min": 30}
SQUARE = {"type": "Polygon", "coordinates": [[[106.49, 29.49], [106.53, 29.49], [106.53, 29.53],
                                              [106.49, 29.53], [106.49, 29.49]]]}


def rows(base: dict[str, str], *changes: dict[str, str]) -> list[Row]:
    return [Row("elevators.csv", n + 2, {**base, **c}) for n, c in enumerate(changes or [{}])]


def only(issues: list[Issue]) -> Issue:
    assert len(issues) == 1, [i.where() + " " + i.message for i in issues]
    return issues[0]


def elevator_issue(**change: str) -> Issue:
    records, issues = v.elevator_rows(rows(GOOD_ELEVATOR, change))
    assert not records
    return only(issues)


def ctx(**kw: Any) -> v.Context:
    zones = ZoneIndex([Zone("990101", "湖西区", "district", 30, box(106.49, 29.49, 106.53, 29.53))])

    def snap(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(len(lon), dtype=np.int64), np.abs(lat - 29.50) * 111_000.0

    base = {"org_kinds": {"MC": "maintenance_company", "UU": "use_unit", "IN": "insurer",
                          "FB": "fire_brigade"},
            "zone_codes": frozenset({"990101"}), "zones": zones, "snap": snap}
    return v.Context(**{**base, **kw})


def test_a_good_elevator_row_becomes_a_typed_record() -> None:
    records, issues = v.elevator_rows(rows(GOOD_ELEVATOR))
    assert not issues
    (r,) = records
    assert r.three_no is False and r.in_service is True and r.floors == 12
    assert r.maintenance_until is not None and r.maintenance_until.isoformat() == "2027-06-30"
    assert r.insurer_code is None and r.lon == 106.5104


def test_register_code_is_twenty_digits() -> None:
    i = elevator_issue(register_code="3110500101202000001")
    assert (i.file, i.line, i.column) == ("elevators.csv", 2, "register_code")
    assert "20 digits" in i.message and i.allowed == ("20 digits",)
    assert elevator_issue(register_code="3110500101202000000A").column == "register_code"


def test_rescue_code_lengths_come_from_the_setting() -> None:
    i = elevator_issue(rescue_code="1234")
    assert i.column == "rescue_code" and "5 or 6 or 7 digits" in i.message
    records, issues = v.elevator_rows(rows(GOOD_ELEVATOR, {"rescue_code": "123456"}),
                                      v.Rules(rescue_code_lengths=(6,)))
    assert records and not issues
    _, issues = v.elevator_rows(rows(GOOD_ELEVATOR), v.Rules(rescue_code_lengths=(6,)))
    assert only(issues).allowed == ("6 digits",)


def test_site_type_must_be_one_of_the_list() -> None:
    i = elevator_issue(site_type="factory")
    assert i.column == "site_type" and i.allowed == v.SITE_TYPES and "'factory'" in i.message


def test_crs_is_required_and_gcj02_bd09_are_converted_to_wgs84() -> None:
    assert elevator_issue(crs="").allowed == ("wgs84", "gcj02", "bd09")
    assert elevator_issue(crs="epsg3857").column == "crs"
    g = wgs84_to_gcj02(106.5104, 29.5052)
    b = wgs84_to_bd09(106.5104, 29.5052)
    records, issues = v.elevator_rows(rows(
        GOOD_ELEVATOR, {"register_code": "31105001012020000002", "rescue_code": "70002",
                        "lon": f"{g[0]:.7f}", "lat": f"{g[1]:.7f}", "crs": "gcj02"},
        {"register_code": "31105001012020000003", "rescue_code": "70003",
         "lon": f"{b[0]:.7f}", "lat": f"{b[1]:.7f}", "crs": "bd09"}))
    assert not issues
    for r in records:
        assert abs(r.lon - 106.5104) < 2e-6 and abs(r.lat - 29.5052) < 2e-6, r.crs


def test_coordinates_must_be_numbers_in_range() -> None:
    assert elevator_issue(lat="95").column == "lat"
    assert elevator_issue(lon="东经106").column == "lon"


def test_booleans_accept_true_false_1_0_shi_fou_only() -> None:
    for text, want in (("true", True), ("FALSE", False), ("1", True), ("0", False),
                       ("是", True), ("否", False)):
        records, _ = v.elevator_rows(rows(GOOD_ELEVATOR, {"three_no": text}))
        assert records[0].three_no is want, text
    i = elevator_issue(in_service="yes")
    assert i.column == "in_service" and i.allowed == ("true", "false", "1", "0", "是", "否")


def test_dates_are_iso() -> None:
    i = elevator_issue(maintenance_until="2027/06/30")
    assert i.column == "maintenance_until" and i.allowed == ("YYYY-MM-DD",)
    assert elevator_issue(maintenance_until="2027-02-30").column == "maintenance_until"


def test_required_text_and_lengths() -> None:
    assert "required" in elevator_issue(address="").message
    assert "300" in elevator_issue(address="路" * 301).message


def test_duplicate_keys_inside_a_file_name_the_first_line() -> None:
    other = {"register_code": "31105001012020000009", "rescue_code": "70009"}
    records, issues = v.elevator_rows(rows(GOOD_ELEVATOR, {}, other,
                                           {"rescue_code": "70010"}, {**other, "rescue_code":
                                                                       "70001"}))
    assert [r.line for r in records] == [2, 3]
    by_line = {(i.line, i.column): i for i in issues}
    assert "first at line 2" in by_line[(4, "register_code")].message
    assert "first at line 2" in by_line[(5, "rescue_code")].message
    assert "first at line 3" in by_line[(5, "register_code")].message


def test_unknown_or_wrong_kind_organization_codes_are_errors() -> None:
    records, _ = v.elevator_rows(rows(GOOD_ELEVATOR, {"maintenance_company_code": "NOPE"},
                                      {"register_code": "31105001012020000002",
                                       "rescue_code": "70002", "insurer_code": "MC"}))
    issues, _ = v.check_elevators(records, ctx())
    by_line = {i.line: i for i in issues}
    assert by_line[2].column == "maintenance_company_code" and "NOPE" in by_line[2].message
    assert by_line[3].column == "insurer_code" and by_line[3].allowed == ("insurer",)


def test_elevator_outside_every_zone_is_an_error_and_inside_gets_the_zone() -> None:
    records, _ = v.elevator_rows(rows(GOOD_ELEVATOR, {}, {
        "register_code": "31105001012020000002", "rescue_code": "70002", "lon": "106.60"}))
    issues, placed = v.check_elevators(records, ctx())
    assert placed.zone_codes == ["990101", None]
    assert only(issues).line == 3 and "outside every zone" in only(issues).message


def test_off_network_is_an_error_or_with_skip_bad_a_warning() -> None:
    records, _ = v.elevator_rows(rows(GOOD_ELEVATOR, {"lat": "29.5250"}))  # ≈ 2.8 km off
    issues, _ = v.check_elevators(records, ctx())
    i = only(issues)
    assert i.severity == "error" and "RESCUE_GEO_OFF_NETWORK_M" in i.message
    issues, placed = v.check_elevators(records, ctx(rules=v.Rules(off_network_is_error=False)))
    assert only(issues).severity == "warning" and placed.road_nodes == [0]


def test_team_organization_must_be_a_responding_kind() -> None:
    records, issues = v.team_rows([Row("teams.csv", 2, GOOD_TEAM),
                                   Row("teams.csv", 3, {**GOOD_TEAM, "code": "T2",
                                                        "organization_code": "UU"}),
                                   Row("teams.csv", 4, {**GOOD_TEAM, "code": "T3",
                                                        "organization_code": "ZZ"})])
    assert not issues and records[0].capacity == 1 and records[0].on_duty is True
    issues, _ = v.check_teams(records, ctx())
    by_line = {i.line: i for i in issues}
    assert set(by_line) == {3, 4}
    assert by_line[3].allowed == ("maintenance_company", "rescue_station", "fire_brigade")
    assert "unknown organization code 'ZZ'" in by_line[4].message


def test_team_roster_syntax_is_checked() -> None:
    _, issues = v.team_rows([Row("teams.csv", 2, {**GOOD_TEAM, "roster": "weekdays 8-20"})])
    i = only(issues)
    assert i.column == "roster" and "24/7" in i.allowed and "weekdays" in i.message
    _, issues = v.team_rows([Row("teams.csv", 2, {**GOOD_TEAM, "capacity": "0"})])
    assert only(issues).column == "capacity"


def test_organization_kind_and_region() -> None:
    records, issues = v.organization_rows([
        Row("organizations.csv", 2, {"code": "A", "kind": "maintenance_company", "name": "甲"}),
        Row("organizations.csv", 3, {"code": "B", "kind": "bank", "name": "乙"}),
        Row("organizations.csv", 4, {"code": "C", "kind": "use_unit", "name": "丙",
                                     "region": "湖西区"})])
    assert only(issues).allowed == v.ORG_KINDS and only(issues).line == 3
    region = only(v.check_organizations(records, ctx()))
    assert region.line == 4 and region.column == "region" and region.allowed == ("990101",)


def zone_issue(props: dict[str, Any], geometry: dict[str, Any] | None = SQUARE) -> Issue:
    records, issues = v.zone_features([ZoneFeature("zones.geojson", 0, {**ZONE, **props},
                                                   geometry)])
    assert not records
    return only(issues)


def test_zone_rules() -> None:
    records, issues = v.zone_features([ZoneFeature("zones.geojson", 0, ZONE, SQUARE)])
    assert not issues and records[0].clock_start == "received" and records[0].name_en == ""
    i = zone_issue({"arrival_limit_min": 300})
    assert (i.line, i.column, i.allowed) == (0, "arrival_limit_min", ("5–240",))
    assert i.where() == "zones.geojson:features[0]:arrival_limit_min"
    assert zone_issue({"clock_start": "called"}).allowed == ("received", "dispatched")
    assert zone_issue({"clock_stop": "done"}).allowed == ("arrived", "released")
    assert zone_issue({"crs": "utm"}).column == "crs"
    assert zone_issue({}, {"type": "Point", "coordinates": [1, 2]}).column == "geometry"
    bow = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    assert "not a valid polygon" in zone_issue({}, bow).message


def test_gcj02_zone_polygons_are_converted() -> None:
    ring = [list(wgs84_to_gcj02(x, y)) for x, y in SQUARE["coordinates"][0]]
    records, issues = v.zone_features([ZoneFeature(
        "zones.geojson", 0, {**ZONE, "crs": "gcj02"}, {"type": "Polygon", "coordinates": [ring]})])
    assert not issues
    assert records[0].geometry.bounds == pytest.approx((106.49, 29.49, 106.53, 29.53), abs=1e-6)


def test_duplicate_zone_codes_are_errors_with_the_feature_index() -> None:
    _, issues = v.zone_features([ZoneFeature("zones.geojson", 0, ZONE, SQUARE),
                                 ZoneFeature("zones.geojson", 1, {**ZONE, "name": "别名"},
                                             SQUARE)])
    assert only(issues).line == 1 and only(issues).column == "code"


# ---- readers -----------------------------------------------------------------------------


def test_chinese_headers_and_a_bom_are_read(tmp_path: Path) -> None:
    p = tmp_path / "elevators.csv"
    header = ("注册代码,救援识别码,地址,楼栋,经度,纬度,坐标系,场所类型,维保单位代码,维保合同到期,"
              "三无,在用,层数")
    p.write_text("\ufeff" + header + "\n31105001012020000001,70001,湖城市1号,1栋,106.51,29.50,"
                 "wgs84,residential,MC,2027-06-30,否,是,12\n", encoding="utf-8")
    fr = read_table("elevators", p)
    assert not fr.issues
    (row,) = fr.rows
    assert row.line == 2 and row.get("register_code") == "31105001012020000001"
    records, issues = v.elevator_rows(fr.rows)
    assert not issues and records[0].maintenance_company_code == "MC"


def test_unknown_and_missing_columns_are_reported_at_line_1(tmp_path: Path) -> None:
    p = tmp_path / "teams.csv"
    p.write_text("code,organisation_code,name,phone,lon,lat\n", encoding="utf-8")
    fr = read_table("teams", p)
    by_col = {i.column: i for i in fr.issues}
    assert by_col["organisation_code"].line == 1 and "organization_code" in \
        by_col["organisation_code"].allowed
    assert "missing" in by_col["organization_code"].message


def test_xlsx_first_sheet_with_typed_cells(tmp_path: Path) -> None:
    from datetime import datetime

    wb = Workbook()
    ws = wb.active
    ws.append(["register_code", "rescue_code", "address", "lon", "lat", "crs", "site_type",
               "maintenance_until", "in_service", "floors"])
    ws.append(["31105001012020000001", 70001, "湖城市1号", 106.51, 29.5, "wgs84", "office",
               datetime(2027, 6, 30), True, 12.0])
    wb.create_sheet("notes").append(["ignored"])
    p = tmp_path / "elevators.xlsx"
    wb.save(p)
    fr = read_table("elevators", p)
    assert not fr.issues
    records, issues = v.elevator_rows(fr.rows)
    assert not issues
    r = records[0]
    assert (r.rescue_code, r.floors, r.in_service) == ("70001", 12, True)
    assert r.maintenance_until is not None and r.maintenance_until.isoformat() == "2027-06-30"


def test_files_are_recognised_by_name_in_contract_order(tmp_path: Path) -> None:
    for name in ("elevators.csv", "zones.geojson", "teams.xlsx", "notes.txt"):
        (tmp_path / name).write_text("", encoding="utf-8")
    found, issues = discover([tmp_path])
    assert list(found) == ["zones", "teams", "elevators"] and not issues
    _, issues = discover([tmp_path / "notes.txt", tmp_path / "missing.csv"])
    assert [i.message for i in issues] == ["file name not recognised",
                                           "no such file or directory"]
