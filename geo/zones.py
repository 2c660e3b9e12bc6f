"""Point → zone lookup over district polygons (WGS-84) with an STRtree.

A zone carries the arrival limit that the dispatch rules hold a rescue to; points outside every
polygon get the caller's default and are flagged so that an operator can check the address.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import shapely
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry
from shapely.strtree import STRtree


@dataclass(frozen=True, slots=True)
class Zone:
    """A polygon with a name, a kind (district, county, …) and an arrival limit."""

    key: str
    name: str
    kind: str
    arrival_limit_min: int
    geometry: BaseGeometry


@dataclass(frozen=True, slots=True)
class ZoneMatch:
    zone: Zone | None
    name: str
    kind: str
    arrival_limit_min: int
    outside: bool


class ZoneIndex:
    """Find the zone containing a lon/lat point.

    >>> from shapely.geometry import box
    >>> idx = ZoneIndex([Zone("a", "A区", "district", 30, box(0, 0, 1, 1))], default_limit_min=60)
    >>> idx.lookup(0.5, 0.5).name, idx.lookup(5, 5).outside
    ('A区', True)
    """

    def __init__(self, zones: Sequence[Zone], *, default_limit_min: int = 60,
                 default_name: str = "", default_kind: str = "city") -> None:
        self.zones = list(zones)
        for z in self.zones:
            shapely.prepare(z.geometry)
        self._tree = STRtree([z.geometry for z in self.zones])
        self.default_limit_min = default_limit_min
        self.default_name = default_name
        self.default_kind = default_kind

    def lookup(self, lon: float, lat: float) -> ZoneMatch:
        pt = Point(lon, lat)
        for i in self._tree.query(pt, predicate="intersects"):
            z = self.zones[int(i)]
            return ZoneMatch(z, z.name, z.kind, z.arrival_limit_min, outside=False)
        return ZoneMatch(None, self.default_name, self.default_kind, self.default_limit_min,
                         outside=True)


def read_zone_features(path: str | Path) -> Iterable[tuple[dict, BaseGeometry]]:
    """Yield ``(properties, geometry)`` for each feature of a GeoJSON FeatureCollection."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    for feat in data["features"]:
        yield feat.get("properties") or {}, shape(feat["geometry"])
