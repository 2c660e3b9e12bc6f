"""Input checks at the library boundary, so the hot loops behind them stay free of checks."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

PointLike = tuple[float, float] | Sequence[float] | npt.NDArray[np.floating[Any]]
PointsLike = Sequence[PointLike] | npt.NDArray[np.floating[Any]]

_LON_LAT_MAX = np.array([180.0, 90.0])


def lonlat_points(points: PointsLike, *, what: str = "points") -> npt.NDArray[np.float64]:
    """Return an ``(n, 2)`` float64 array of lon/lat, rejecting NaN and out-of-range values.

    Swapped lat/lon is the classic mistake in a Chinese city (lon ≈ 112, lat ≈ 37): the range
    check on latitude catches it.
    """
    arr = np.asarray(points, dtype=np.float64)
    if arr.size == 0:
        return np.empty((0, 2), dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"{what} must be a sequence of (lon, lat) pairs, got shape {arr.shape}")
    if bool((np.abs(arr) <= _LON_LAT_MAX).all()):  # one pass; NaN and inf fail it too
        return arr
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} contain NaN or infinite coordinates")
    if np.any(np.abs(arr[:, 0]) > 180.0) or np.any(np.abs(arr[:, 1]) > 90.0):
        raise ValueError(f"{what} out of range: expected (lon, lat) in degrees")
    return arr


def lonlat_point(point: PointLike, *, what: str = "point") -> tuple[float, float]:
    """Return one validated ``(lon, lat)`` tuple."""
    arr = lonlat_points(np.asarray(point, dtype=np.float64).reshape(1, -1), what=what)
    return float(arr[0, 0]), float(arr[0, 1])


def positive(value: float, *, what: str) -> float:
    """Reject zero, negative and NaN settings (a zero speed would divide by zero later)."""
    v = float(value)
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{what} must be a positive number, got {value!r}")
    return v
