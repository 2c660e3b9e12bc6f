"""Coordinate conversions on reference pairs: published examples and the Taiyuan outlines."""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely
from shapely.geometry import shape

from geo.coords import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    convert,
    convert_geometry,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    out_of_china,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from tests.geo.geo_samples import DISTRICTS_GCJ02, DISTRICTS_WGS84

# Reference outputs of the widely used formulas for the input (116.404, 39.915), Beijing.
BEIJING = (116.404, 39.915)
PUBLISHED = {
    "wgs84_to_gcj02": (116.41024449916938, 39.91640428150164),
    "gcj02_to_bd09": (116.41036949371029, 39.92133699351021),
    "bd09_to_gcj02": (116.39762729119315, 39.90865673957631),
    # the one-step (approximate) GCJ-02 inverse; ours iterates, so it differs by < 0.1 m
    "gcj02_to_wgs84_one_step": (116.39775550083061, 39.91359571849836),
}


def _pairs() -> tuple[np.ndarray, np.ndarray]:
    """All vertices of the district outlines, as published (GCJ-02) and converted (WGS-84)."""
    g = json.loads(DISTRICTS_GCJ02.read_text(encoding="utf-8"))["features"]
    w = json.loads(DISTRICTS_WGS84.read_text(encoding="utf-8"))["features"]
    assert [f["properties"]["adcode"] for f in g] == [f["properties"]["adcode"] for f in w]
    gx = np.vstack([shapely.get_coordinates(shape(f["geometry"])) for f in g])
    wx = np.vstack([shapely.get_coordinates(shape(f["geometry"])) for f in w])
    return gx, wx


def test_published_reference_values() -> None:
    assert wgs84_to_gcj02(*BEIJING) == pytest.approx(PUBLISHED["wgs84_to_gcj02"], abs=1e-12)
    assert gcj02_to_bd09(*BEIJING) == pytest.approx(PUBLISHED["gcj02_to_bd09"], abs=1e-12)
    assert bd09_to_gcj02(*BEIJING) == pytest.approx(PUBLISHED["bd09_to_gcj02"], abs=1e-12)
    ours = gcj02_to_wgs84(*BEIJING)
    assert ours == pytest.approx(PUBLISHED["gcj02_to_wgs84_one_step"], abs=1e-6)
    assert wgs84_to_gcj02(*ours) == pytest.approx(BEIJING, abs=1e-9)  # exact inverse


def test_taiyuan_district_outlines_gcj02_vs_wgs84() -> None:
    gx, wx = _pairs()
    assert gx.shape == wx.shape and gx.shape[0] > 5000
    lon, lat = gcj02_to_wgs84(gx[:, 0], gx[:, 1])
    # the WGS-84 file is rounded to 1e-6°, so 5e-7° is the rounding
    assert np.abs(lon - wx[:, 0]).max() <= 5.01e-7
    assert np.abs(lat - wx[:, 1]).max() <= 5.01e-7
    lon2, lat2 = wgs84_to_gcj02(wx[:, 0], wx[:, 1])
    assert np.abs(lon2 - gx[:, 0]).max() <= 1e-6
    assert np.abs(lat2 - gx[:, 1]).max() <= 1e-6
    # the README's ≈ 0.56 km shift in Taiyuan
    from geo.distance import haversine_m
    shift = haversine_m(gx[0, 0], gx[0, 1], wx[0, 0], wx[0, 1])
    assert 500 < shift < 620


def test_round_trips() -> None:
    rng = np.random.default_rng(0)
    lon, lat = rng.uniform(75, 135, 1000), rng.uniform(18, 53, 1000)
    back = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    assert np.abs(back[0] - lon).max() < 1e-9 and np.abs(back[1] - lat).max() < 1e-9
    bd = bd09_to_wgs84(*wgs84_to_bd09(lon, lat))
    assert np.abs(bd[0] - lon).max() < 2e-5 and np.abs(bd[1] - lat).max() < 2e-5  # < 2 m
    assert convert(112.5, 37.8, src="bd09", dst="wgs84") == bd09_to_wgs84(112.5, 37.8)
    assert convert(112.5, 37.8, src="wgs84", dst="wgs84") == (112.5, 37.8)


def test_outside_china_unchanged() -> None:
    for lon, lat in [(2.3522, 48.8566), (-74.0, 40.7), (139.69, 35.68), (0.0, 0.0)]:
        assert bool(out_of_china(lon, lat))
        assert wgs84_to_gcj02(lon, lat) == (lon, lat)
        assert gcj02_to_wgs84(lon, lat) == (lon, lat)
    assert not bool(out_of_china(112.55, 37.87))


def test_scalars_in_scalars_out_and_geometry() -> None:
    lon, lat = wgs84_to_gcj02(112.55, 37.87)
    assert isinstance(lon, float) and isinstance(lat, float)
    g = json.loads(DISTRICTS_GCJ02.read_text(encoding="utf-8"))["features"][0]
    w = json.loads(DISTRICTS_WGS84.read_text(encoding="utf-8"))["features"][0]
    converted = convert_geometry(shape(g["geometry"]), src="gcj02", dst="wgs84")
    assert converted.equals_exact(shape(w["geometry"]), tolerance=1e-6)
    with pytest.raises(ValueError):
        convert(1.0, 2.0, src="wgs84", dst="utm")  # type: ignore[arg-type]
