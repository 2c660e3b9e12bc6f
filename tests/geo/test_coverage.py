"""Coverage, isochrones and station suggestions, checked against brute-force routing."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from geo.coverage import candidate_nodes, compute_coverage, isochrone, suggest_stations
from geo.distance import haversine_many_m
from geo.network import RoadNetwork
from geo.router import make_router

STATIONS = [(112.55, 37.85), (112.52, 37.88), (112.58, 37.80)]


def _node_points(net: RoadNetwork, n: int, seed: int) -> np.ndarray:
    idx = np.random.default_rng(seed).choice(net.n_nodes, n, replace=False)
    return np.column_stack([net.lon[idx], net.lat[idx]])


def test_coverage_equals_brute_force_matrix(taiyuan: RoadNetwork) -> None:
    elevators = np.vstack([_node_points(taiyuan, 400, 1),
                           np.random.default_rng(2).uniform([112.5, 37.8], [112.6, 37.9],
                                                            (100, 2))])
    res = compute_coverage(taiyuan, STATIONS, elevators, limit_s=600)
    m = make_router(taiyuan, engine="scipy").matrix(STATIONS, elevators)
    best = m.min(axis=0)
    within = best <= 600
    # station snap time is rounded to whole deciseconds in the multi-source search
    assert np.allclose(res.seconds[within], best[within], atol=0.051, rtol=0)
    assert np.array_equal(res.covered[np.abs(best - 600) > 0.1], within[np.abs(best - 600) > 0.1])
    clear = within & (np.sort(m, axis=0)[1] - best > 0.1)  # no near-tie between stations
    assert np.array_equal(res.station[clear], m.argmin(axis=0)[clear])
    assert res.covered_share == pytest.approx(res.covered.mean())
    assert set(res.uncovered.tolist()) == set(np.flatnonzero(~res.covered).tolist())
    assert np.all(res.station[~res.covered] == -1)
    assert 0.3 < res.covered_share < 1.0


def test_off_network_elevators_use_straight_line(taiyuan: RoadNetwork) -> None:
    near_station = (112.58, 37.74)  # south of the graph, off the network
    st = [*STATIONS, (112.58, 37.745)]
    res = compute_coverage(taiyuan, st, [near_station, (113.2, 38.3)], limit_s=1800)
    assert res.off_network.tolist() == [True, True]
    assert res.covered.tolist() == [True, False]
    assert res.station[0] == 3


def test_isochrone_contains_reached_nodes(taiyuan: RoadNetwork) -> None:
    router = make_router(taiyuan, engine="scipy")
    pts = _node_points(taiyuan, 600, 3)
    t = router.matrix([STATIONS[0]], pts)[0]
    poly = isochrone(taiyuan, STATIONS[0], limit_s=600)
    assert poly.geom_type in ("Polygon", "MultiPolygon") and poly.is_valid
    inside = shapely.contains_xy(poly, pts[:, 0], pts[:, 1])
    assert inside[t <= 600].all()
    # a slow node may only be inside when it lies next to reached road (within the ~2 cells of
    # the rasterised band), e.g. on the opposite carriageway of a one-way pair
    all_t = router.matrix([STATIONS[0]], np.column_stack([taiyuan.lon, taiyuan.lat]))[0]
    reached = np.flatnonzero(all_t <= 600)
    for x, y in pts[(t > 900) & inside]:
        near = haversine_many_m(taiyuan.lon[reached], taiyuan.lat[reached], x, y).min()
        assert near <= 2 * 120 * 2**0.5
    assert isochrone(taiyuan, (113.5, 38.5), limit_s=600).is_empty  # off the network


def test_greedy_suggestion(taiyuan: RoadNetwork) -> None:
    elevators = _node_points(taiyuan, 800, 4)
    before = compute_coverage(taiyuan, STATIONS, elevators, limit_s=420)
    cands = candidate_nodes(taiyuan, max_candidates=100)
    assert 40 < cands.size <= 100
    picks = suggest_stations(taiyuan, elevators, 3, limit_s=420, coverage=before,
                             candidates=cands)
    assert len(picks) == 3
    gains = [p.newly_covered for p in picks]
    assert gains == sorted(gains, reverse=True) and gains[0] > 0
    # the first pick is the best single candidate (brute force with the router)
    m = make_router(taiyuan, engine="scipy").matrix(
        np.column_stack([taiyuan.lon[cands], taiyuan.lat[cands]]), elevators[before.uncovered])
    assert gains[0] == int((m <= 420).sum(axis=1).max())
    after = compute_coverage(taiyuan, [*STATIONS, *((p.lon, p.lat) for p in picks)],
                             elevators, limit_s=420)
    assert after.covered_share == pytest.approx(picks[-1].covered_share_after, abs=2 / 800)
    assert suggest_stations(taiyuan, elevators, 0, limit_s=420) == []
