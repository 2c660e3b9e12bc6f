"""Point → zone lookup over district polygons (WGS-84) with an STRtree.

A zone carries the arrival limit that the dispatch rules hold a rescue to; points outside every
polygon get the caller's default and are flagged so that an operator can check the address.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import shape
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
        self._geoms = np.array([z.geometry for z in self.zones], dtype=object)
        self._tree = STRtree(list(self._geoms))
        self.default_limit_min = default_limit_min
        self.default_name = default_name
        self.default_kind = default_kind

    def lookup_many(self, lon: npt.ArrayLike, lat: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Index into ``zones`` of the zone containing each point (-1 outside every polygon).

        One vectorised tree query for all points: importing a registry places 60k lifts in
        milliseconds instead of seconds point by point. Where polygons overlap, the first zone
        in list order wins (the same rule as :meth:`lookup`, which calls this).
        """
        x = np.atleast_1d(np.asarray(lon, dtype=float))
        y = np.atleast_1d(np.asarray(lat, dtype=float))
        out = np.full(x.shape, -1, dtype=np.int64)
        if not self.zones or x.size == 0:
            return out
        # Bounding boxes from the tree, then the exact test on the prepared polygons, vectorised
        # (a predicate inside the tree query tests unprepared geometries: ten times slower).
        pt_idx, zone_idx = self._tree.query(shapely.points(x, y))
        inside = shapely.intersects_xy(self._geoms[zone_idx], x[pt_idx], y[pt_idx])
        pt_idx, zone_idx = pt_idx[inside], zone_idx[inside]
        if pt_idx.size:
            best = np.full(x.shape, np.iinfo(np.int64).max, dtype=np.int64)
            np.minimum.at(best, pt_idx, zone_idx)
            hit = best != np.iinfo(np.int64).max
            out[hit] = best[hit]
        return out

    def lookup(self, lon: float, lat: float) -> ZoneMatch:
        i = int(self.lookup_many([lon], [lat])[0])
        if i >= 0:
            z = self.zones[i]
            return ZoneMatch(z, z.name, z.kind, z.arrival_limit_min, outside=False)
        return ZoneMatch(None, self.default_name, self.default_kind, self.default_limit_min,
                         outside=True)


def read_zone_features(path: str | Path) -> Iterable[tuple[dict, BaseGeometry]]:
    """Yield ``(properties, geometry)`` for each feature of a GeoJSON FeatureCollection."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    for feat in data["features"]:
        yield feat.get("properties") or {}, shape(feat["geometry"])
