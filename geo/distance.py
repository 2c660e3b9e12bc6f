"""Great-circle distances in metres on lon/lat degrees (WGS-84).

Shapely's ``distance`` on lon/lat answers in degrees; these functions answer in metres, which is
what straight-line prefilters and off-network estimates need.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

EARTH_RADIUS_M = 6_371_008.8


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Distance in metres between two lon/lat points.

    >>> round(haversine_m(112.55, 37.87, 112.56, 37.87))
    879
    """
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dphi = p2 - p1
    dlmb = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def haversine_many_m(
    lons: npt.ArrayLike, lats: npt.ArrayLike, lon: float, lat: float
) -> npt.NDArray[np.float64]:
    """Distances in metres from many points to one point (vectorised)."""
    lo = np.radians(np.asarray(lons, dtype=np.float64))
    la = np.radians(np.asarray(lats, dtype=np.float64))
    p2 = math.radians(lat)
    a = np.sin((p2 - la) / 2) ** 2 + np.cos(la) * math.cos(p2) * np.sin(
        (math.radians(lon) - lo) / 2
    ) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.minimum(1.0, np.sqrt(a)))
