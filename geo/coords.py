"""WGS-84 ↔ GCJ-02 ↔ BD-09 coordinate conversions (the usual published formulas).

Chinese map providers publish coordinates in GCJ-02 (Amap, Tencent, district outlines) or BD-09
(Baidu), offset from GPS/OSM WGS-84 by several hundred metres — in Taiyuan about 0.56 km.
Mixing them puts an elevator on the wrong street, so every input is converted to WGS-84 at the
boundary. GCJ-02 has no closed-form inverse: :func:`gcj02_to_wgs84` iterates the forward
formula to below a millimetre. Points outside China are returned unchanged, as the providers do.

Every function takes scalars or arrays and returns the same kind.

>>> lon, lat = wgs84_to_gcj02(112.55, 37.87)
>>> round(lon, 6), round(lat, 6)
(112.556297, 37.870523)
>>> [round(v, 9) for v in gcj02_to_wgs84(lon, lat)]
[112.55, 37.87]
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal, overload

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry.base import BaseGeometry

__all__ = [
    "CRS",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "convert",
    "convert_geometry",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "out_of_china",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

CRS = Literal["wgs84", "gcj02", "bd09"]

_A = 6378245.0  # Krasovsky 1940 semi-major axis used by the GCJ-02 formula
_EE = 0.00669342162296594323  # its first eccentricity squared
_X_PI = math.pi * 3000.0 / 180.0
_TOL_DEG = 1e-10  # ≈ 0.01 mm: stop iterating the GCJ-02 inverse
_MAX_ITER = 30

FloatArray = npt.NDArray[np.float64]
Coord = tuple[float, float]
Coords = tuple[FloatArray, FloatArray]


def out_of_china(lon: npt.ArrayLike, lat: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """True where the offset does not apply (the customary coarse bounding box of China)."""
    lo, la = np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
    return (lo < 72.004) | (lo > 137.8347) | (la < 0.8293) | (la > 55.8271)


def _delta(lon: FloatArray, lat: FloatArray) -> Coords:
    """GCJ-02 minus WGS-84 at a WGS-84 point (degrees), zero outside China."""
    x, y = lon - 105.0, lat - 35.0
    sx = np.sqrt(np.abs(x))
    common = (20.0 * np.sin(6.0 * x * math.pi) + 20.0 * np.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sx + common
            + (20.0 * np.sin(y * math.pi) + 40.0 * np.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
            + (160.0 * np.sin(y / 12.0 * math.pi) + 320.0 * np.sin(y * math.pi / 30.0))
            * 2.0 / 3.0)
    dlon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sx + common
            + (20.0 * np.sin(x * math.pi) + 40.0 * np.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
            + (150.0 * np.sin(x / 12.0 * math.pi) + 300.0 * np.sin(x / 30.0 * math.pi))
            * 2.0 / 3.0)
    radlat = lat / 180.0 * math.pi
    magic = 1.0 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrtmagic) * math.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * math.pi)
    outside = out_of_china(lon, lat)
    return np.where(outside, 0.0, dlon), np.where(outside, 0.0, dlat)


def _arrays(lon: npt.ArrayLike, lat: npt.ArrayLike) -> Coords:
    return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)


def _same_kind(lon_in: object, lon: FloatArray, lat: FloatArray) -> Any:
    if np.ndim(lon_in) == 0:
        return float(lon), float(lat)
    return lon, lat


@overload
def wgs84_to_gcj02(lon: float, lat: float) -> Coord: ...
@overload
def wgs84_to_gcj02(lon: npt.ArrayLike, lat: npt.ArrayLike) -> Any: ...
def wgs84_to_gcj02(lon: Any, lat: Any) -> Any:
    """GPS / OSM coordinates → GCJ-02 (Amap, Tencent)."""
    lo, la = _arrays(lon, lat)
    dlon, dlat = _delta(lo, la)
    return _same_kind(lon, lo + dlon, la + dlat)


@overload
def gcj02_to_wgs84(lon: float, lat: float) -> Coord: ...
@overload
def gcj02_to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike) -> Any: ...
def gcj02_to_wgs84(lon: Any, lat: Any) -> Any:
    """GCJ-02 → WGS-84 by fixed-point iteration of the forward formula (error < 0.01 mm).

    The one-step inverse found in many snippets is off by up to a few metres; iterating
    ``w ← w − (gcj(w) − g)`` converges in a handful of steps because the offset varies slowly.
    """
    g_lon, g_lat = _arrays(lon, lat)
    w_lon, w_lat = g_lon.copy(), g_lat.copy()
    for _ in range(_MAX_ITER):
        dlon, dlat = _delta(w_lon, w_lat)
        e_lon, e_lat = w_lon + dlon - g_lon, w_lat + dlat - g_lat
        w_lon, w_lat = w_lon - e_lon, w_lat - e_lat
        if float(np.max(np.abs(e_lon), initial=0.0)) < _TOL_DEG and \
                float(np.max(np.abs(e_lat), initial=0.0)) < _TOL_DEG:
            break
    return _same_kind(lon, w_lon, w_lat)


@overload
def gcj02_to_bd09(lon: float, lat: float) -> Coord: ...
@overload
def gcj02_to_bd09(lon: npt.ArrayLike, lat: npt.ArrayLike) -> Any: ...
def gcj02_to_bd09(lon: Any, lat: Any) -> Any:
    """GCJ-02 → BD-09 (Baidu). Applied everywhere, as Baidu does (no out-of-China test)."""
    x, y = _arrays(lon, lat)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return _same_kind(lon, z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006)


@overload
def bd09_to_gcj02(lon: float, lat: float) -> Coord: ...
@overload
def bd09_to_gcj02(lon: npt.ArrayLike, lat: npt.ArrayLike) -> Any: ...
def bd09_to_gcj02(lon: Any, lat: Any) -> Any:
    """BD-09 → GCJ-02 with the published approximate inverse (sub-metre)."""
    bx, by = _arrays(lon, lat)
    x, y = bx - 0.0065, by - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return _same_kind(lon, z * np.cos(theta), z * np.sin(theta))


def wgs84_to_bd09(lon: Any, lat: Any) -> Any:
    """WGS-84 → BD-09 through GCJ-02."""
    g = wgs84_to_gcj02(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
    return _same_kind(lon, *gcj02_to_bd09(*g))


def bd09_to_wgs84(lon: Any, lat: Any) -> Any:
    """BD-09 → WGS-84 through GCJ-02."""
    g = bd09_to_gcj02(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
    return _same_kind(lon, *gcj02_to_wgs84(*g))


_STEPS: dict[tuple[str, str], Callable[[Any, Any], Any]] = {
    ("wgs84", "gcj02"): wgs84_to_gcj02,
    ("gcj02", "wgs84"): gcj02_to_wgs84,
    ("gcj02", "bd09"): gcj02_to_bd09,
    ("bd09", "gcj02"): bd09_to_gcj02,
    ("wgs84", "bd09"): wgs84_to_bd09,
    ("bd09", "wgs84"): bd09_to_wgs84,
}


def convert(lon: Any, lat: Any, *, src: CRS, dst: CRS) -> Any:
    """Convert between any two of ``"wgs84"``, ``"gcj02"``, ``"bd09"``."""
    if src == dst:
        return _same_kind(lon, *_arrays(lon, lat))
    try:
        step = _STEPS[(src, dst)]
    except KeyError:
        raise ValueError(f"unknown coordinate system pair {src!r} → {dst!r}") from None
    return step(lon, lat)


def convert_geometry(geom: BaseGeometry, *, src: CRS, dst: CRS) -> BaseGeometry:
    """Convert every vertex of a Shapely geometry (e.g. a GCJ-02 district outline)."""
    def fn(xy: FloatArray) -> FloatArray:
        lo, la = convert(xy[:, 0], xy[:, 1], src=src, dst=dst)
        return np.column_stack([lo, la])

    return shapely.transform(geom, fn)
