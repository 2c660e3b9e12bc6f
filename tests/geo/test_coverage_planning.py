"""What-if coverage (issue 17): a small generated city, checked by brute force."""

from __future__ import annotations

import numpy as np
import pytest

from geo.coverage import add_station, compute_coverage, snap_elevators
from geo.network import RoadNetwork
from geo.router import SnapOptions, make_router


def grid_city(side: int = 12, seed: int = 4) -> RoadNetwork:
    """A ``side × side`` street grid (~90 m blocks) with seeded two-way travel times and a few
    one-way streets."""
    rng = np.random.default_rng(seed)
    idx = np.arange(side * side).reshape(side, side)
    lon = 112.55 + (idx % side) * 0.001
    lat = 37.85 + (idx // side) * 0.0008
    arcs = []
    for r in range(side):
        for c in range(side):
            for dr, dc in ((0, 1), (1, 0)):
                if r + dr < side and c + dc < side:
                    u, v = int(idx[r, c]), int(idx[r + dr, c + dc])
                    w = int(rng.integers(80, 400))
                    arcs.append((u, v, w))
                    if rng.random() > 0.1:
                        arcs.append((v, u, int(rng.integers(80, 400))))
    tail, head, weight = zip(*arcs, strict=True)
    return RoadNetwork.from_arcs(lon.ravel(), lat.ravel(), list(tail), list(head),
                                 np.asarray(weight, float) * 0.5, weight_ds=list(weight))


def points_near(net: RoadNetwork, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pick = rng.choice(net.n_nodes, n)
    return np.column_stack([net.lon[pick] + rng.uniform(-2e-4, 2e-4, n),
                            net.lat[pick] + rng.uniform(-2e-4, 2e-4, n)])


LIMIT = 100.0


def test_coverage_equals_one_search_per_elevator() -> None:
    net = grid_city()
    stations, elevators = points_near(net, 4, 1), points_near(net, 150, 2)
    res = compute_coverage(net, stations, elevators, limit_s=LIMIT)
    router = make_router(net, engine="scipy")
    brute = np.array([router.travel_times(stations, tuple(e)).seconds.min()
                      for e in elevators])  # one Dijkstra from each elevator
    within = brute <= LIMIT
    clear = np.abs(brute - LIMIT) > 0.1
    assert np.array_equal(res.covered[clear], within[clear])
    # the multi-source search rounds each station's snap time to whole deciseconds
    assert np.allclose(res.seconds[within & clear], brute[within & clear], atol=0.051, rtol=0)
    assert 0.2 < res.covered_share < 1.0


@pytest.mark.parametrize("seed", [3, 5, 8])
def test_adding_a_station_equals_recomputing(seed: int) -> None:
    net = grid_city(seed=seed)
    stations, elevators = points_near(net, 3, seed), points_near(net, 200, seed + 1)
    extra = points_near(net, 2, seed + 2)
    extra[1] = (112.40, 37.70)  # off the network: the straight-line rule applies
    snap = SnapOptions()
    snapped = snap_elevators(net, elevators, snap=snap)
    inc = compute_coverage(net, stations, elevators, limit_s=LIMIT, snap=snap)
    for k, st in enumerate(extra):
        inc = add_station(net, inc, snapped, tuple(st), index=len(stations) + k, snap=snap)
    full = compute_coverage(net, np.vstack([stations, extra]), elevators, limit_s=LIMIT,
                            snap=snap)
    assert np.array_equal(inc.covered, full.covered)
    assert np.array_equal(inc.seconds, full.seconds)  # the same arithmetic, bit for bit
    assert np.all(inc.station[inc.covered] >= 0) and np.all(inc.station[~inc.covered] == -1)
    assert inc.covered.sum() > compute_coverage(net, stations, elevators,
                                                limit_s=LIMIT).covered.sum()
