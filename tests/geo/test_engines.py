"""Node-level engines: scipy and CCH must both equal a plain Dijkstra (networkx)."""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo.engines import CchEngine, ScipyEngine, cch_available, load_or_compute_order, make_engine
from geo.network import RoadNetwork
from tests.geo.geo_samples import small_network

needs_cch = pytest.mark.skipif(not cch_available(), reason="routingkit-cch not installed")
ENGINES = ["scipy", pytest.param("cch", marks=needs_cch)]


@st.composite
def digraphs(draw: st.DrawFn) -> tuple[int, list[tuple[int, int, int]]]:
    n = draw(st.integers(min_value=2, max_value=12))
    arcs = draw(st.lists(
        st.tuples(st.integers(0, n - 1), st.integers(0, n - 1), st.integers(1, 50)),
        min_size=1, max_size=40))
    return n, [a for a in arcs if a[0] != a[1]] or [(0, 1, 7)]


def _nx(n: int, net: RoadNetwork) -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    for u, v, w in zip(net.tail.tolist(), net.head.tolist(), net.weight_ds.tolist(),
                       strict=True):
        g.add_edge(u, v, weight=w)
    return g


@pytest.mark.parametrize("name", ENGINES)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graph=digraphs(), data=st.data())
def test_random_small_graphs_equal_networkx(name: str, graph: tuple[int, list],
                                            data: st.DataObject) -> None:
    n, arcs = graph
    net = small_network(n, arcs)
    engine = CchEngine(net) if name == "cch" else ScipyEngine(net)
    g = _nx(n, net)
    target = data.draw(st.integers(0, n - 1))
    sources = np.arange(n)
    expect = nx.single_source_dijkstra_path_length(g.reverse(copy=False), target)
    got = engine.many_to_one(sources, target)
    for s in range(n):
        assert got[s] == expect.get(s, np.inf)
    limit = data.draw(st.integers(0, 60))
    got_cut = engine.many_to_one(sources, target, limit)
    for s in range(n):
        d = expect.get(s, np.inf)
        assert got_cut[s] == (d if d <= limit else np.inf)
    m = engine.many_to_many(sources, np.array([target, 0]))
    assert np.array_equal(m[:, 0], got)
    src = data.draw(st.integers(0, n - 1))
    path = engine.path(src, target)
    if np.isinf(got[src]):
        assert path is None
    else:
        assert path[0] == src and path[-1] == target
        assert sum(g[u][v]["weight"] for u, v in itertools.pairwise(path)) == got[src]


@needs_cch
def test_cch_equals_scipy_on_taiyuan(taiyuan: RoadNetwork) -> None:
    cch, ref = CchEngine(taiyuan), ScipyEngine(taiyuan)
    rng = np.random.default_rng(11)
    for _ in range(40):
        sources = rng.integers(0, taiyuan.n_nodes, 300)
        target = int(rng.integers(0, taiyuan.n_nodes))
        a = cch.many_to_one(sources, target, 18_000)
        b = ref.many_to_one(sources, target, 18_000)
        assert np.array_equal(a, b)
        finite = np.isfinite(b)
        if finite.any():  # the best team is the same whichever engine answers
            assert np.argmin(a) == np.argmin(b)
    sources, targets = rng.integers(0, taiyuan.n_nodes, 25), rng.integers(0, taiyuan.n_nodes, 7)
    assert np.array_equal(cch.many_to_many(sources, targets), ref.many_to_many(sources, targets))


@needs_cch
def test_cch_order_is_cached_next_to_the_graph(taiyuan: RoadNetwork) -> None:
    order = load_or_compute_order(taiyuan)
    assert taiyuan.cache_path is not None
    cached = taiyuan.cache_path / "cch_order.npy"
    assert cached.is_file()
    assert np.array_equal(np.load(cached), order)
    assert sorted(order.tolist()) == list(range(taiyuan.n_nodes))  # a permutation


@pytest.mark.parametrize("name", ENGINES)
def test_set_weights_follows_new_speed_table(name: str, taiyuan: RoadNetwork) -> None:
    engine = make_engine(taiyuan, name)
    rng = np.random.default_rng(5)
    sources = rng.integers(0, taiyuan.n_nodes, 50)
    before = engine.many_to_one(sources, 123)
    rush = taiyuan.with_speeds({"trunk": 20, "primary": 15, "secondary": 15})
    engine.set_weights(rush.weight_ds)
    after = engine.many_to_one(sources, 123)
    assert np.array_equal(after, ScipyEngine(rush).many_to_one(sources, 123))
    assert np.all(after >= before) and np.any(after > before)


def test_unknown_engine(taiyuan: RoadNetwork) -> None:
    with pytest.raises(ValueError, match="unknown graph engine"):
        make_engine(taiyuan, "dijkstra9000")


@pytest.mark.skipif(not cch_available(), reason="routingkit-cch not installed")
def test_cch_answers_from_many_threads(taiyuan: RoadNetwork) -> None:
    """Web servers call the router from a thread pool; CCH query objects are per thread."""
    from concurrent.futures import ThreadPoolExecutor

    cch, ref = CchEngine(taiyuan), ScipyEngine(taiyuan)
    rng = np.random.default_rng(5)
    jobs = [(rng.integers(0, taiyuan.n_nodes, 30), int(rng.integers(0, taiyuan.n_nodes)))
            for _ in range(40)]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda j: cch.many_to_one(j[0], j[1]), jobs))
        paths = list(pool.map(lambda j: cch.path(int(j[0][0]), j[1]), jobs))
    for (src, tgt), dist, path in zip(jobs, got, paths, strict=True):
        np.testing.assert_array_equal(dist, ref.many_to_one(src, tgt))
        assert path is None or (path[0] == src[0] and path[-1] == tgt)
