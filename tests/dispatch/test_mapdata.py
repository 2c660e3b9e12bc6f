"""Map data for the pages: planned road routes and the offline basemap."""

from __future__ import annotations

import gzip
import json

import pytest

from tests.conftest import Api
from tests.dispatch import scenario


def test_route_follows_the_roads(api: Api) -> None:
    op = api.user("operator")
    a, b = scenario.AT_2KM, scenario.ELEVATOR_AT
    r = api.client.get("/api/v1/geo/route", headers=op,
                       params={"from": f"{a.lon},{a.lat}", "to": f"{b.lon},{b.lat}"})
    assert r.status_code == 200, r.text
    route = r.json()
    assert route["off_network"] is False and route["engine"] in ("cch", "scipy")
    assert route["coords"][0] == pytest.approx([a.lon, a.lat])
    assert route["coords"][-1] == pytest.approx([b.lon, b.lat])
    assert len(route["coords"]) > 5
    # by road it is longer than the 2 km straight line, and takes minutes, not hours
    assert 2000 < route["meters"] < 6000 and 60 < route["seconds"] < 1200


def test_route_rejects_bad_points_and_crews(api: Api) -> None:
    op = api.user("operator")
    r = api.client.get("/api/v1/geo/route", headers=op,
                       params={"from": "112.5,abc", "to": "112.5,37.8"})
    assert r.status_code == 422 and r.json()["field"] == "from"
    assert r.headers["content-type"].startswith("application/problem+json")
    r = api.client.get("/api/v1/geo/route", headers=op,
                       params={"from": "112.5,37.8", "to": "512.5,37.8"})
    assert r.status_code == 422 and r.json()["field"] == "to"
    crew = api.user("crew")
    r = api.client.get("/api/v1/geo/route", headers=crew,
                       params={"from": "112.5,37.8", "to": "112.6,37.8"})
    assert r.status_code == 403


def test_basemap_is_small_wgs84_roads_and_districts(api: Api) -> None:
    op = api.user("operator")
    r = api.client.get("/api/v1/geo/basemap", headers={**op, "Accept-Encoding": "gzip"})
    assert r.status_code == 200
    data = r.json()  # httpx decodes the gzip
    kinds: dict[str, int] = {}
    for f in data["features"]:
        kinds[f["properties"]["kind"]] = kinds.get(f["properties"]["kind"], 0) + 1
    assert kinds["district"] == 10 and kinds["road"] > 1000
    names = {f["properties"]["name"] for f in data["features"]
             if f["properties"]["kind"] == "district"}
    assert {"小店区", "迎泽区", "清徐县"} <= names
    road = next(f for f in data["features"] if f["properties"]["kind"] == "road")
    lon, lat = road["geometry"]["coordinates"][0]
    assert 112.3 < lon < 112.8 and 37.6 < lat < 38.1  # WGS-84 Taiyuan
    assert int(r.headers["content-length"]) < 600_000  # compact on the wire
    again = api.client.get("/api/v1/geo/basemap",
                           headers={**op, "If-None-Match": r.headers["etag"]})
    assert again.status_code == 304
    cached = list((api.settings.var_dir / "basemap").glob("basemap-*.json.gz"))
    assert len(cached) == 1 and json.loads(gzip.decompress(cached[0].read_bytes())) == data


def test_map_config_defaults_to_offline(api: Api) -> None:
    r = api.client.get("/api/v1/geo/config", headers=api.user("crew"))
    assert r.status_code == 200
    assert r.json() == {"tile_url": None, "tile_crs": "wgs84", "tile_attribution": "",
                        "center": [112.55, 37.86], "timezone": "Asia/Shanghai"}


def test_pages_are_served_and_root_redirects(api: Api) -> None:
    r = api.client.get("/", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "/console"
    for path, marker in (("/console", "电梯困人应急救援调度台"), ("/crew", "救援队"),
                         ("/login", "登录")):
        r = api.client.get(path)
        assert r.status_code == 200 and marker in r.text
        assert "https://" not in r.text.split("<body")[0]  # no CDN in the head
    r = api.client.get("/static/vendor/leaflet/leaflet.js")
    assert r.status_code == 200 and "Leaflet" in r.text[:300]
    assert api.client.get("/static/../dispatch/settings.py").status_code == 404
