"""The offline basemap: our drivable roads and the district boundaries as one small GeoJSON.

Built once from the fixture files (simplified to a few metres, coordinates rounded to ~1 m),
cached under ``var/`` keyed by the sources' size and mtime, and served gzipped, so a console
with no internet still has a city map in a few hundred kilobytes.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shapely.geometry import mapping, shape

from dispatch.resources import data_path

DISTRICTS = data_path("fixtures") / "taiyuan/taiyuan_districts_wgs84.geojson"
VERSION = "1"
# road class → drawing rank (0: trunk roads … 3: minor streets)
ROAD_RANK = {
    "motorway": 0, "motorway_link": 0, "trunk": 0, "trunk_link": 1, "primary": 1,
    "primary_link": 1, "secondary": 2, "secondary_link": 2, "tertiary": 2, "tertiary_link": 2,
    "unclassified": 3, "residential": 3, "living_street": 3, "service": 3,
}
ROAD_TOLERANCE_DEG = 0.00003   # ≈ 3 m
DISTRICT_TOLERANCE_DEG = 0.0004  # ≈ 40 m


@dataclass(frozen=True)
class Basemap:
    gz: bytes
    etag: str
    raw_size: int


def _rounded(geom: dict[str, Any], digits: int) -> dict[str, Any]:
    def walk(c: Any) -> Any:
        if isinstance(c[0], int | float):
            return [round(float(c[0]), digits), round(float(c[1]), digits)]
        return [walk(x) for x in c]

    return {"type": geom["type"], "coordinates": walk(geom["coordinates"])}


def build(roads: Path, districts: Path = DISTRICTS) -> dict[str, Any]:
    features: list[dict[str, Any]] = []
    for feat in json.loads(districts.read_text(encoding="utf-8"))["features"]:
        props = feat.get("properties") or {}
        geom = shape(feat["geometry"]).simplify(DISTRICT_TOLERANCE_DEG, preserve_topology=True)
        features.append({"type": "Feature", "geometry": _rounded(mapping(geom), 5),
                         "properties": {"kind": "district", "name": props.get("name"),
                                        "name_en": props.get("name_en")}})
    if roads.suffix == ".geojson" and roads.is_file():
        for feat in json.loads(roads.read_text(encoding="utf-8"))["features"]:
            props = feat.get("properties") or {}
            rank = ROAD_RANK.get(props.get("highway") or "")
            if rank is None or feat["geometry"]["type"] != "LineString":
                continue
            geom = shape(feat["geometry"]).simplify(ROAD_TOLERANCE_DEG)
            features.append({"type": "Feature", "geometry": _rounded(mapping(geom), 5),
                             "properties": {"kind": "road", "rank": rank,
                                            "name": props.get("name")}})
    return {"type": "FeatureCollection", "features": features,
            "attribution": "© OpenStreetMap contributors (ODbL)"}


def _key(*paths: Path) -> str:
    h = hashlib.sha256(VERSION.encode())
    for p in paths:
        st = p.stat() if p.is_file() else None
        h.update(f"{p}:{st.st_size if st else 0}:{st.st_mtime_ns if st else 0}".encode())
    return h.hexdigest()[:16]


_cache: dict[str, Basemap] = {}


def load(roads: Path, cache_dir: Path, districts: Path = DISTRICTS) -> Basemap:
    """The gzipped basemap, from memory, else from ``cache_dir``, else built (and cached)."""
    key = _key(roads, districts)
    path = cache_dir / f"basemap-{key}.json.gz"
    if str(path) in _cache:
        return _cache[str(path)]
    if path.is_file():
        gz = path.read_bytes()
    else:
        raw = json.dumps(build(roads, districts), ensure_ascii=False,
                         separators=(",", ":")).encode()
        gz = gzip.compress(raw, mtime=0)
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(gz)
        tmp.replace(path)
    basemap = Basemap(gz=gz, etag=f'"{key}"', raw_size=len(gzip.decompress(gz)))
    _cache[str(path)] = basemap
    return basemap
