"""Point → zone: the vectorised lookup and the one-point lookup agree, first zone wins."""

from __future__ import annotations

import numpy as np
from shapely.geometry import Polygon, box

from geo.zones import Zone, ZoneIndex


def test_lookup_many_first_zone_wins_and_outside_is_minus_one() -> None:
    a = Zone("a", "A区", "district", 30, box(0, 0, 2, 2))
    b = Zone("b", "B区", "district", 45, box(1, 0, 3, 2))  # overlaps A on 1 ≤ x ≤ 2
    tri = Zone("c", "C县", "county", 60, Polygon([(3, 0), (5, 0), (3, 2)]))  # bbox ≠ shape
    idx = ZoneIndex([a, b, tri])
    lon = np.array([0.5, 1.5, 2.5, 3.2, 4.8, 9.0])
    lat = np.array([0.5, 0.5, 0.5, 0.2, 1.8, 9.0])
    got = idx.lookup_many(lon, lat)
    assert got.tolist() == [0, 0, 1, 2, -1, -1]  # (4.8, 1.8) is in C's bbox, not in C
    for x, y, i in zip(lon, lat, got, strict=True):
        m = idx.lookup(float(x), float(y))
        assert m.outside == (i < 0) and (m.zone is None or m.zone.key == "abc"[i])
    reversed_idx = ZoneIndex([b, a])
    assert reversed_idx.lookup(1.5, 0.5).name == "B区"


def test_empty_index_and_empty_input() -> None:
    assert ZoneIndex([]).lookup_many([1.0], [1.0]).tolist() == [-1]
    idx = ZoneIndex([Zone("a", "A", "district", 30, box(0, 0, 1, 1))], default_limit_min=60)
    assert idx.lookup_many([], []).tolist() == []
    assert idx.lookup(5, 5).arrival_limit_min == 60
