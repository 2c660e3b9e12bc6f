"""Import of the OSM extract: compared with the independently derived reference CSVs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from geo.network import (
    DEFAULT_SPEEDS_KMH,
    DRIVABLE_CLASSES,
    RoadNetwork,
    cache_key,
    load_network,
    parse_hstore,
)
from tests.geo.geo_samples import ROADS, read_reference_csv


def _key(lon: float, lat: float) -> tuple[int, int]:
    return round(lon * 1e7), round(lat * 1e7)


def test_counts_match_reference_graph(taiyuan: RoadNetwork) -> None:
    nodes, edges = read_reference_csv()
    assert taiyuan.n_nodes == len(nodes) == 14_285
    distinct_pairs = {(r["from_node"], r["to_node"]) for r in edges}
    assert taiyuan.n_arcs == len(distinct_pairs) == 21_364


def test_nodes_and_arcs_are_those_of_the_reference(taiyuan: RoadNetwork) -> None:
    nodes, edges = read_reference_csv()
    ours_nodes = {_key(x, y) for x, y in zip(taiyuan.lon, taiyuan.lat, strict=True)}
    assert ours_nodes == {_key(*xy) for xy in nodes.values()}
    key_of = [_key(x, y) for x, y in zip(taiyuan.lon, taiyuan.lat, strict=True)]
    ours = {(key_of[u], key_of[v]) for u, v in zip(taiyuan.tail.tolist(),
                                                    np.asarray(taiyuan.head).tolist(),
                                                    strict=True)}
    ref = {(_key(*nodes[int(r["from_node"])]), _key(*nodes[int(r["to_node"])])) for r in edges}
    assert ours == ref  # includes every one-way direction


def test_sample_of_arc_lengths_and_times_match_reference(taiyuan: RoadNetwork) -> None:
    nodes, edges = read_reference_csv()
    index = {_key(x, y): i for i, (x, y) in enumerate(zip(taiyuan.lon, taiyuan.lat,
                                                            strict=True))}
    rng = np.random.default_rng(3)
    for row_i in rng.choice(len(edges), size=500, replace=False):
        r = edges[int(row_i)]
        u = index[_key(*nodes[int(r["from_node"])])]
        v = index[_key(*nodes[int(r["to_node"])])]
        a = taiyuan.arc_between(u, v)
        assert a >= 0
        cls = DRIVABLE_CLASSES[int(taiyuan.arc_class[a])]
        if cls != r["highway"]:  # a parallel duplicate: we keep the quicker of the two
            continue
        assert taiyuan.length_m[a] == pytest.approx(float(r["length_m"]), abs=0.006)
        assert DEFAULT_SPEEDS_KMH[cls] == float(r["speed_kmh"])
        # deciseconds (at least 1): the rounding is the only difference allowed
        assert abs(taiyuan.weight_ds[a] - max(1.0, float(r["time_s"]) * 10)) <= 0.51


def test_summary_figures(taiyuan: RoadNetwork) -> None:
    lon_min, lat_min, lon_max, lat_max = taiyuan.bbox
    assert (round(lon_min, 4), round(lat_min, 4)) == (112.4843, 37.7787)
    assert (round(lon_max, 4), round(lat_max, 4)) == (112.6122, 37.9001)
    # README: "≈ 789 km" is half the directed arc sum; the road length counts each segment once
    assert taiyuan.arc_km / 2 == pytest.approx(789, abs=1)
    assert 1150 < taiyuan.total_km < 1250


def test_cache_is_memory_mapped_and_keyed(taiyuan: RoadNetwork, geo_cache_dir: Path) -> None:
    again = load_network(ROADS, cache_dir=geo_cache_dir)
    assert isinstance(again.head, np.memmap) and isinstance(again.lon, np.memmap)
    assert again.cache_path == taiyuan.cache_path
    slow = {**DEFAULT_SPEEDS_KMH, "primary": 22.5}
    assert cache_key(ROADS, slow) != cache_key(ROADS)
    assert cache_key(ROADS, DEFAULT_SPEEDS_KMH) == cache_key(ROADS)


def test_other_speeds_give_other_cache_and_weights(taiyuan: RoadNetwork,
                                                   geo_cache_dir: Path) -> None:
    slow = load_network(ROADS, cache_dir=geo_cache_dir, speeds_kmh={"primary": 22.5})
    assert slow.cache_path != taiyuan.cache_path
    primary = np.asarray(taiyuan.arc_class) == DRIVABLE_CLASSES.index("primary")
    ratio = np.asarray(slow.weight_ds)[primary] / np.asarray(taiyuan.weight_ds)[primary]
    assert np.median(ratio) == pytest.approx(2.0, rel=0.01)
    same = taiyuan.with_speeds({"primary": 22.5})
    assert np.array_equal(same.weight_ds, slow.weight_ds)


def test_parse_hstore() -> None:
    assert parse_hstore('"oneway"=>"yes","name:en"=>"Fen \\"River\\""') == {
        "oneway": "yes", "name:en": 'Fen "River"'}
    assert parse_hstore(None) == {}


def _feature(osm_id: int, highway: str, coords: list[list[float]], tags: str = "") -> dict:
    return {"type": "Feature", "geometry": {"type": "LineString", "coordinates": coords},
            "properties": {"osm_id": str(osm_id), "highway": highway, "other_tags": tags}}


def test_oneway_access_roundabout_rules(tmp_path: Path) -> None:
    # A square a-b-c-d with a two-way diagonal so that everything stays strongly connected.
    a, b, c, d = [112.50, 37.80], [112.51, 37.80], [112.51, 37.81], [112.50, 37.81]
    e = [112.52, 37.80]
    feats = [
        _feature(1, "primary", [a, b], '"oneway"=>"yes"'),
        _feature(2, "secondary", [b, c], '"oneway"=>"-1"'),       # only c → b
        _feature(3, "tertiary", [c, d], '"junction"=>"roundabout"'),  # only c → d
        _feature(4, "residential", [d, a]),                           # both ways
        _feature(5, "residential", [a, c]),                           # both ways
        _feature(8, "service", [b, d]),                               # both ways
        _feature(6, "residential", [b, e], '"access"=>"private"'),  # dropped
        _feature(7, "footway", [b, e]),                               # not drivable
    ]
    path = tmp_path / "mini.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    net = load_network(path, cache_dir=tmp_path / "cache")
    key = {_key(x, y): i for i, (x, y) in enumerate(zip(net.lon, net.lat, strict=True))}
    ia, ib, ic, id_ = (key[_key(*p)] for p in (a, b, c, d))
    arcs = set(zip(net.tail.tolist(), np.asarray(net.head).tolist(), strict=True))
    assert arcs == {(ia, ib), (ic, ib), (ic, id_), (id_, ia), (ia, id_), (ia, ic), (ic, ia),
                    (ib, id_), (id_, ib)}
    assert _key(*e) not in key


def test_pbf_import_equals_geojson_import(tmp_path: Path, taiyuan: RoadNetwork) -> None:
    """Write the fixture as .osm.pbf (nodes joined on shared coordinates) and import it."""
    osmium = pytest.importorskip("osmium")
    from osmium.osm.mutable import Node, Way

    data = json.loads(ROADS.read_text(encoding="utf-8"))
    node_id: dict[tuple[int, int], int] = {}
    ways = []
    for feat in data["features"]:
        p = feat["properties"]
        if not p.get("highway"):
            continue
        refs = []
        for lon, lat in feat["geometry"]["coordinates"]:
            refs.append(node_id.setdefault(_key(lon, lat), len(node_id) + 1))
        tags = {"highway": p["highway"], **parse_hstore(p.get("other_tags"))}
        ways.append(Way(id=int(p["osm_id"]), nodes=refs, tags=tags))
    pbf = tmp_path / "taiyuan.osm.pbf"
    writer = osmium.SimpleWriter(str(pbf))
    for (ilon, ilat), nid in sorted(node_id.items(), key=lambda kv: kv[1]):
        writer.add_node(Node(id=nid, location=(ilon / 1e7, ilat / 1e7)))
    for w in ways:
        writer.add_way(w)
    writer.close()
    calls: list[tuple[int, int | None]] = []
    net = load_network(pbf, cache_dir=tmp_path / "cache",
                       progress=lambda done, total: calls.append((done, total)))
    assert calls
    assert (net.n_nodes, net.n_arcs) == (taiyuan.n_nodes, taiyuan.n_arcs)
    assert net.total_km == pytest.approx(taiyuan.total_km, rel=1e-9)


def test_from_arcs_keeps_quickest_parallel_arc() -> None:
    net = RoadNetwork.from_arcs([0, 1, 2], [0, 0, 0], [0, 0, 1], [1, 1, 2], [10, 20, 5],
                                weight_ds=[30, 20, 5])
    assert net.n_arcs == 2
    assert net.weight_ds[net.arc_between(0, 1)] == 20
    assert net.arc_between(1, 0) == -1


def test_unsupported_file(tmp_path: Path) -> None:
    f = tmp_path / "roads.shp"
    f.write_bytes(b"x")
    with pytest.raises(ValueError, match="unsupported"):
        load_network(f, cache_dir=tmp_path)
