"""A second, small city that is not Taiyuan: 湖城 (Hucheng), generated as a centre's files.

A 9 × 9 street grid (~4 × 4.4 km) written as an ``ogr2ogr``-style GeoJSON of OSM ways (what
``geo.network`` reads), two districts split at the middle avenue, four responders and twenty
lifts, some given in GCJ-02 and one in BD-09 as a bureau's export would. Everything the importer
needs comes from these files; nothing is borrowed from the Taiyuan fixtures.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from geo.coords import wgs84_to_bd09, wgs84_to_gcj02

LON0, LAT0 = 106.50, 29.50  # south-west corner (WGS-84)
STEP = 0.005  # ≈ 485 m east-west, 555 m north-south
N = 9  # streets per direction
MID_LON = LON0 + STEP * 4  # the district border runs along the fifth avenue

WEST, EAST = "990101", "990102"
ZONES = [
    {"code": WEST, "name": "湖西区", "name_en": "Huxi", "arrival_limit_min": 30},
    {"code": EAST, "name": "湖东区", "name_en": "Hudong", "arrival_limit_min": 45,
     "clock_start": "dispatched", "clock_stop": "released"},
]
ORGS = [
    ("91500000MA0001", "maintenance_company", "湖城安达电梯维保有限公司", "023-6000001", WEST),
    ("91500000MA0002", "maintenance_company", "湖城通力电梯工程有限公司", "023-6000002", EAST),
    ("12500000RS0001", "rescue_station", "湖城电梯应急救援站", "023-6000003", EAST),
    ("11500000FB0001", "fire_brigade", "湖城消防救援支队湖东中队", "119", EAST),
    ("91500000UU0001", "use_unit", "湖城幸福里物业管理有限公司", "023-6000005", WEST),
    ("91500000IN0001", "insurer", "湖城人寿保险股份有限公司", "95500", None),
    ("11500000OF0001", "office", "湖城市市场监督管理局", "12315", None),
]
COMPANY_W, COMPANY_E, STATION, FIRE, USE_UNIT, INSURER, OFFICE = (o[0] for o in ORGS)


def node(i: int, j: int) -> tuple[float, float]:
    """Grid intersection ``i`` east, ``j`` north (WGS-84, 1e-7°)."""
    return round(LON0 + STEP * i, 7), round(LAT0 + STEP * j, 7)


def roads() -> dict[str, Any]:
    feats = []
    way = 1
    for k in range(N):
        cls = "primary" if k == 4 else "residential"
        for coords, name in (([node(k, j) for j in range(N)], f"湖城{k + 1}号路"),
                             ([node(i, k) for i in range(N)], f"湖城{k + 1}号街")):
            feats.append({"type": "Feature", "properties": {
                "osm_id": str(way), "name": name, "highway": cls, "other_tags": None},
                "geometry": {"type": "LineString", "coordinates": [list(c) for c in coords]}})
            way += 1
    return {"type": "FeatureCollection", "features": feats}


def zones() -> dict[str, Any]:
    (w0, s0), (e1, n1) = node(0, 0), node(N - 1, N - 1)
    pad = STEP / 2
    boxes = {WEST: (w0 - pad, s0 - pad, MID_LON, n1 + pad),
             EAST: (MID_LON, s0 - pad, e1 + pad, n1 + pad)}
    feats = []
    for z in ZONES:
        a, b, c, d = boxes[z["code"]]
        ring = [[a, b], [c, b], [c, d], [a, d], [a, b]]
        feats.append({"type": "Feature", "properties": dict(z),
                      "geometry": {"type": "Polygon", "coordinates": [ring]}})
    return {"type": "FeatureCollection", "features": feats}


#: Team code → (organization code, grid node); bases 30 m off the node, like a depot by a road.
TEAMS = {
    "HW-01": (COMPANY_W, (1, 2)),
    "HW-02": (COMPANY_W, (3, 7)),
    "HE-01": (COMPANY_E, (7, 2)),
    "RS-01": (STATION, (6, 5)),
    "FB-01": (FIRE, (8, 8)),
}


def team_rows() -> list[dict[str, Any]]:
    rows = []
    for n, (code, (org, (i, j))) in enumerate(TEAMS.items()):
        lon, lat = node(i, j)
        rows.append({"code": code, "organization_code": org, "name": f"湖城{code}组",
                     "phone": f"1390000000{n}", "lon": round(lon + 0.0003, 7), "lat": lat,
                     "crs": "wgs84", "capacity": 1, "on_duty": "true", "roster": "24/7"})
    return rows


def elevator_rows() -> list[dict[str, Any]]:
    rows = []
    for k in range(20):
        i, j = 1 + k % 7, 1 + (k * 3) % 7
        lon, lat = node(i, j)
        lon, lat = round(lon + 0.0004, 7), round(lat + 0.0002, 7)
        west = lon < MID_LON
        crs = "wgs84"
        if k % 5 == 1:
            crs = "gcj02"
            lon, lat = (round(float(x), 7) for x in wgs84_to_gcj02(lon, lat))
        elif k == 7:
            crs = "bd09"
            lon, lat = (round(float(x), 7) for x in wgs84_to_bd09(lon, lat))
        rows.append({
            "register_code": f"3110500101{2020 + k % 5}{k + 1:06d}",
            "rescue_code": f"{70001 + k}", "address": f"湖城市{'湖西区' if west else '湖东区'}"
            f"湖城{i + 1}号路{10 + k}号幸福里{k + 1}栋",
            "building": f"幸福里{k + 1}栋", "lon": lon, "lat": lat, "crs": crs,
            "site_type": "residential" if k % 3 else "office", "use_unit_code": USE_UNIT,
            "maintenance_company_code": COMPANY_W if west else COMPANY_E,
            "maintenance_until": "2027-06-30", "insurer_code": INSURER if k % 2 else "",
            "policy_no": f"PHC2025{k:06d}" if k % 2 else "", "three_no": "false",
            "in_service": "true", "floors": 6 + k})
    return rows


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def write(target: Path) -> dict[str, Path]:
    """The four registry files and the roads file into ``target``; returns their paths."""
    target.mkdir(parents=True, exist_ok=True)
    paths = {k: target / n for k, n in (("roads", "hucheng_roads.geojson"),
                                        ("zones", "zones.geojson"),
                                        ("organizations", "organizations.csv"),
                                        ("teams", "teams.csv"), ("elevators", "elevators.csv"))}
    paths["roads"].write_text(json.dumps(roads(), ensure_ascii=False), encoding="utf-8")
    paths["zones"].write_text(json.dumps(zones(), ensure_ascii=False), encoding="utf-8")
    write_csv(paths["organizations"], [
        {"code": c, "kind": k, "name": n, "phone": p, "region": r or ""}
        for c, k, n, p, r in ORGS])
    write_csv(paths["teams"], team_rows())
    write_csv(paths["elevators"], elevator_rows())
    return paths
