"""Coordinate-level routing on the Taiyuan graph: networkx agreement, snapping, fallbacks."""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest

from geo.distance import haversine_m
from geo.engines import cch_available
from geo.network import RoadNetwork
from geo.router import (
    GraphRouter,
    Route,
    SnapOptions,
    SnappedPoints,
    TravelTimes,
    make_router,
)
from tests.geo.geo_samples import read_reference_csv

ENGINES = ["scipy", pytest.param("cch", marks=pytest.mark.skipif(
    not cch_available(), reason="routingkit-cch not installed"))]


@pytest.fixture(scope="module", params=ENGINES)
def router(request: pytest.FixtureRequest, taiyuan: RoadNetwork) -> GraphRouter:
    r = make_router(taiyuan, engine=request.param)
    assert isinstance(r, GraphRouter)
    return r


def _xy(net: RoadNetwork, i: int) -> tuple[float, float]:
    return float(net.lon[i]), float(net.lat[i])


def test_200_random_pairs_equal_networkx(router: GraphRouter, taiyuan: RoadNetwork,
                                         taiyuan_nx: nx.DiGraph) -> None:
    rng = np.random.default_rng(2024)
    targets = rng.integers(0, taiyuan.n_nodes, 10)
    rev = taiyuan_nx.reverse(copy=False)
    checked = 0
    for t in targets:
        origins = rng.integers(0, taiyuan.n_nodes, 20)  # 10 targets × 20 origins = 200 pairs
        tt = router.travel_times([_xy(taiyuan, o) for o in origins], _xy(taiyuan, t))
        expect = nx.single_source_dijkstra_path_length(rev, int(t))
        for o, got in zip(origins, tt.seconds, strict=True):
            assert abs(got - expect[int(o)]) <= 0.5
            assert got == pytest.approx(expect[int(o)], abs=1e-6)  # exact: snap distance 0
            checked += 1
        assert not tt.off_network.any()
    assert checked == 200


def test_times_agree_with_reference_csv_graph(router: GraphRouter, taiyuan: RoadNetwork) -> None:
    """The reference graph (time_s to the millisecond) gives the same times to the rounding."""
    nodes, edges = read_reference_csv()
    g = nx.DiGraph()
    for r in edges:
        u, v, w = int(r["from_node"]), int(r["to_node"]), float(r["time_s"])
        if not g.has_edge(u, v) or g[u][v]["weight"] > w:
            g.add_edge(u, v, weight=w)
    rng = np.random.default_rng(7)
    ids = list(nodes)
    for t in rng.choice(ids, 3):
        expect = nx.single_source_dijkstra_path_length(g.reverse(copy=False), int(t))
        origins = [int(o) for o in rng.choice(ids, 30)]
        tt = router.travel_times([nodes[o] for o in origins], nodes[int(t)])
        for o, got in zip(origins, tt.seconds, strict=True):
            # per-arc decisecond rounding (≤ 0.05 s each) is the only source of difference
            assert got == pytest.approx(expect[o], abs=0.5 + 0.002 * expect[o])


def test_snap_distance_is_added_as_slow_time(taiyuan: RoadNetwork) -> None:
    snap = SnapOptions(snap_speed_kmh=6.0)
    r = make_router(taiyuan, engine="scipy", snap=snap)
    o_node, t_node = 100, 9000
    exact = r.travel_times([_xy(taiyuan, o_node)], _xy(taiyuan, t_node)).seconds[0]
    # ~60 m north of the origin node, farther from every other node than from it
    lon, lat = _xy(taiyuan, o_node)
    moved = (lon, lat + 0.00054)
    nodes, dist = r.snap_to_network([moved])
    tt = r.travel_times([moved], _xy(taiyuan, t_node))
    if nodes[0] == o_node:
        assert dist[0] == pytest.approx(haversine_m(lon, lat, *moved))
    assert tt.snap_m[0] == pytest.approx(dist[0])
    graph_s = r.travel_times([_xy(taiyuan, int(nodes[0]))], _xy(taiyuan, t_node)).seconds[0]
    assert tt.seconds[0] == pytest.approx(graph_s + dist[0] / (6.0 / 3.6))
    assert exact > 0


def test_off_network_gets_straight_line_estimate(router: GraphRouter,
                                                 taiyuan: RoadNetwork) -> None:
    far = (112.80, 37.70)  # ~20 km south-east of the graph
    target = _xy(taiyuan, 500)
    tt = router.travel_times([far, _xy(taiyuan, 10)], target)
    assert tt.off_network.tolist() == [True, False]
    expect = haversine_m(*far, *target) / (router.snap.fallback_speed_kmh / 3.6)
    assert tt.seconds[0] == pytest.approx(expect)
    # target off the network: every origin is estimated
    tt2 = router.travel_times([_xy(taiyuan, 10)], far)
    assert tt2.off_network.all()
    route = router.route(far, target)
    assert route.off_network and route.coords == [far, target]


def test_limit_cuts_to_inf(router: GraphRouter, taiyuan: RoadNetwork) -> None:
    rng = np.random.default_rng(1)
    origins = [_xy(taiyuan, int(i)) for i in rng.integers(0, taiyuan.n_nodes, 300)]
    target = _xy(taiyuan, 4242)
    full = router.travel_times(origins, target).seconds
    cut = router.travel_times(origins, target, limit_s=600).seconds
    assert np.array_equal(cut[full <= 600], full[full <= 600])
    assert np.all(np.isinf(cut[full > 600]))
    assert np.isfinite(full).all()


def test_oneway_arc_is_not_used_backwards(router: GraphRouter, taiyuan: RoadNetwork) -> None:
    tail, head = taiyuan.tail, np.asarray(taiyuan.head)
    oneway = [a for a in range(taiyuan.n_arcs)
              if taiyuan.arc_between(int(head[a]), int(tail[a])) < 0]
    assert len(oneway) > 1000  # Taiyuan's dual carriageways
    rng = np.random.default_rng(9)
    for a in rng.choice(oneway, 20, replace=False):
        u, v = int(tail[a]), int(head[a])
        fwd = router.route(_xy(taiyuan, u), _xy(taiyuan, v))
        back = router.route(_xy(taiyuan, v), _xy(taiyuan, u))
        assert fwd.seconds == pytest.approx(taiyuan.weight_ds[a] / 10)
        assert back.seconds is not None and back.seconds > fwd.seconds
        back_nodes = back.coords[1:-1]
        pairs = set(itertools.pairwise(back_nodes))
        assert (_xy(taiyuan, v), _xy(taiyuan, u)) not in pairs


def test_route_matches_travel_time_and_geometry(router: GraphRouter,
                                                taiyuan: RoadNetwork) -> None:
    o, t = (112.5301, 37.8102), (112.5712, 37.8650)
    route = router.route(o, t)
    assert isinstance(route, Route) and not route.off_network
    assert route.engine == router.engine_name
    tt = router.travel_times([o], t)
    assert route.seconds == pytest.approx(tt.seconds[0])
    assert route.coords[0] == o and route.coords[-1] == t
    poly_m = sum(haversine_m(*a, *b) for a, b in zip(route.coords, route.coords[1:],
                                                     strict=False))
    assert route.meters == pytest.approx(poly_m, rel=1e-6)
    assert route.meters > haversine_m(*o, *t)


def test_matrix_equals_travel_times_columns(router: GraphRouter, taiyuan: RoadNetwork) -> None:
    rng = np.random.default_rng(4)
    origins = np.column_stack([rng.uniform(112.50, 112.60, 12), rng.uniform(37.79, 37.89, 12)])
    origins = np.vstack([origins, [[112.9, 37.9]]])  # one off-network team
    targets = np.column_stack([rng.uniform(112.50, 112.60, 3), rng.uniform(37.79, 37.89, 3)])
    m = router.matrix(origins, targets)
    assert m.shape == (13, 3)
    for j in range(3):
        assert np.allclose(m[:, j], router.travel_times(origins, targets[j]).seconds)


def test_best_team_identical_across_engines(taiyuan: RoadNetwork) -> None:
    if not cch_available():
        pytest.skip("routingkit-cch not installed")
    a, b = make_router(taiyuan, engine="scipy"), make_router(taiyuan, engine="cch")
    rng = np.random.default_rng(77)
    for _ in range(30):
        teams = np.column_stack([rng.uniform(112.49, 112.61, 40), rng.uniform(37.78, 37.90, 40)])
        incident = (rng.uniform(112.49, 112.61), rng.uniform(37.78, 37.90))
        ta = a.travel_times(teams, incident, limit_s=1800)
        tb = b.travel_times(teams, incident, limit_s=1800)
        assert np.array_equal(ta.seconds, tb.seconds)
        assert np.argmin(ta.seconds) == np.argmin(tb.seconds)


def test_empty_origins_and_bad_input(router: GraphRouter) -> None:
    tt = router.travel_times([], (112.55, 37.85))
    assert isinstance(tt, TravelTimes) and tt.seconds.shape == (0,)
    with pytest.raises(ValueError, match="lon, lat"):
        router.travel_times([(37.85, 112.55)], (112.55, 37.85))  # swapped
    with pytest.raises(ValueError):
        router.travel_times([(float("nan"), 37.8)], (112.55, 37.85))
    with pytest.raises(ValueError):
        SnapOptions(snap_speed_kmh=0)


def test_set_speeds_rush_hour(taiyuan: RoadNetwork) -> None:
    r = make_router(taiyuan, engine="auto")
    o, t = (112.5301, 37.8102), (112.5712, 37.8650)
    before = r.travel_times([o], t).seconds[0]
    assert isinstance(r, GraphRouter)
    r.set_speeds({k: v / 2 for k, v in taiyuan.speeds_kmh.items()})
    after = r.travel_times([o], t).seconds[0]
    snap_s = float(r.snap_to_network([o, t])[1].sum()) / r.snap.snap_mps
    assert after - snap_s == pytest.approx(2 * (before - snap_s), rel=0.01)


def _same(a: TravelTimes, b: TravelTimes) -> bool:
    return (np.array_equal(a.seconds, b.seconds) and np.array_equal(a.off_network, b.off_network)
            and np.array_equal(a.snap_m, b.snap_m) and a.target_snap_m == b.target_snap_m)


def test_snapped_points_fast_path_is_identical(router: GraphRouter, taiyuan: RoadNetwork) -> None:
    """Snapping once (team bases) and passing the handle answers exactly what coordinates do."""
    rng = np.random.default_rng(31)
    lon0, lat0, lon1, lat1 = taiyuan.bbox
    teams = np.column_stack([rng.uniform(lon0, lon1, 300), rng.uniform(lat0, lat1, 300)])
    teams[:5] = [_xy(taiyuan, int(i)) for i in rng.integers(0, taiyuan.n_nodes, 5)]  # on nodes
    teams[5] = (112.80, 37.70)  # off the network
    bases = router.snap_points(teams)
    assert isinstance(bases, SnappedPoints) and len(bases) == 300
    nodes, dist = router.snap_to_network(teams)
    assert np.array_equal(bases.nodes, nodes) and np.array_equal(bases.snap_m, dist)
    assert not bases.nodes.flags.writeable and not bases.points.flags.writeable
    free = rng.random(300) < 0.6  # the teams free right now
    targets = [(rng.uniform(lon0, lon1), rng.uniform(lat0, lat1)) for _ in range(6)]
    targets.append((112.80, 37.70))  # an incident off the network
    for t in targets:
        t_handle = router.snap_points([t])
        for limit in (None, 900.0, 1800.0):
            plain = router.travel_times(teams, t, limit_s=limit)
            assert _same(router.travel_times(bases, t, limit_s=limit), plain)
            assert _same(router.travel_times(bases, t_handle, limit_s=limit), plain)
            assert _same(router.travel_times(bases[free], t, limit_s=limit),
                         router.travel_times(teams[free], t, limit_s=limit))
        assert _same(router.travel_times(bases[7], t), router.travel_times(teams[7:8], t))
    assert np.array_equal(router.matrix(bases[:20], router.snap_points(targets)),
                          router.matrix(teams[:20], targets))
    # a handle from another router (other engine, same graph) is snapped again: same answer
    other = make_router(taiyuan, engine="scipy")
    assert _same(router.travel_times(other.snap_points(teams), targets[0], limit_s=1800),
                 router.travel_times(teams, targets[0], limit_s=1800))
    assert len(router.travel_times(router.snap_points([]), targets[0]).seconds) == 0
    # plain coordinates: the last origin sets are remembered (exact bytes), boundedly
    fresh = make_router(taiyuan, engine=router.engine_name)
    assert isinstance(fresh, GraphRouter)
    first = fresh.travel_times(teams, targets[0], limit_s=1800)  # snapped
    assert _same(fresh.travel_times(teams.tolist(), targets[0], limit_s=1800), first)  # remembered
    assert _same(first, router.travel_times(bases, targets[0], limit_s=1800))
    first.snap_m[0] = -1.0  # results never alias the remembered arrays
    assert _same(fresh.travel_times(teams, targets[0], limit_s=1800),
                 router.travel_times(bases, targets[0], limit_s=1800))
    for k in range(20):
        fresh.travel_times(teams[k:k + 10], targets[0])
    assert len(fresh._recent) <= 8
    with pytest.raises(ValueError, match="one point"):
        router.travel_times(bases, bases[:2])
