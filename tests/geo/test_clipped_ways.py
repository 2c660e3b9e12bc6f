"""A way whose nodes are partly outside a clipped extract is split there, never joined across.

The hand-made extract: a two-way ring 1-2-3-4-5-6-1 (~100 m a side) and ways that leave the
extract and come back, so that joining the present nodes would invent a road:

* way 300: 2-8-[10]-[11]-9-4 — nodes 10 and 11 are missing: pieces 2-8 and 9-4, no 8-9;
* way 400: 3-[12]-6 — one present node either side: no piece at all, no 3-6;
* way 500: [13]-5-7-[14] — clipped at both ends: the piece 5-7.
"""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

import numpy as np
import osmium
import pytest

from geo.network import CACHE_FORMAT, RoadNetwork, cache_key, load_network, split_at_gaps

PRESENT: dict[int, tuple[float, float]] = {
    1: (112.5000, 37.8000), 2: (112.5012, 37.8000), 3: (112.5024, 37.8000),
    4: (112.5024, 37.8009), 5: (112.5012, 37.8009), 6: (112.5000, 37.8009),
    8: (112.5012, 37.7991), 9: (112.5024, 37.7991), 7: (112.5012, 37.8018),
}
MISSING = (10, 11, 12, 13, 14)
WAYS: dict[int, list[int]] = {
    100: [1, 2, 3, 4, 5, 6, 1],
    300: [2, 8, 10, 11, 9, 4],
    400: [3, 12, 6],
    500: [13, 5, 7, 14],
}


def _consecutive_present_pairs() -> set[frozenset[int]]:
    pairs = set()
    for refs in WAYS.values():
        for a, b in pairwise(refs):
            if a in PRESENT and b in PRESENT:
                pairs.add(frozenset((a, b)))
    return pairs


def _arcs_by_osm_node(net: RoadNetwork) -> set[frozenset[int]]:
    node_of = {(round(x, 7), round(y, 7)): n for n, (x, y) in PRESENT.items()}
    ids = [node_of[(round(float(x), 7), round(float(y), 7))] for x, y in
           zip(net.lon, net.lat, strict=True)]
    return {frozenset((ids[u], ids[v])) for u, v in
            zip(net.tail.tolist(), np.asarray(net.head).tolist(), strict=True)}


def _write_pbf(path: Path) -> None:
    writer = osmium.SimpleWriter(str(path))
    try:
        for n, (lon, lat) in sorted(PRESENT.items()):
            writer.add_node(osmium.osm.mutable.Node(id=n, location=(lon, lat), version=1))
        for w, refs in WAYS.items():
            writer.add_way(osmium.osm.mutable.Way(id=w, nodes=refs, version=1,
                                                   tags={"highway": "residential"}))
    finally:
        writer.close()


def _write_geojson(path: Path) -> None:
    """The same ways as an OSM lines layer: missing nodes are ``null`` positions, and way 300
    is also given as a MultiLineString whose parts are the two pieces."""
    features = []
    for w, refs in WAYS.items():
        coords = [list(PRESENT[r]) if r in PRESENT else None for r in refs]
        geom = ({"type": "MultiLineString", "coordinates": [[list(PRESENT[2]), list(PRESENT[8])],
                                                           [list(PRESENT[9]), list(PRESENT[4])]]}
                if w == 300 else {"type": "LineString", "coordinates": coords})
        features.append({"type": "Feature", "properties": {"osm_id": str(w),
                                                           "highway": "residential"},
                         "geometry": geom})
    # way 300 once more as a LineString with gaps: it must give the same two pieces
    features.append({"type": "Feature", "properties": {"osm_id": "301", "highway": "residential"},
                     "geometry": {"type": "LineString", "coordinates": [
                         list(PRESENT[r]) if r in PRESENT else None for r in WAYS[300]]}})
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))


@pytest.mark.parametrize("kind", ["pbf", "geojson"])
def test_no_arc_joins_nodes_that_were_not_consecutive(kind: str, tmp_path: Path) -> None:
    src = tmp_path / ("clip.osm.pbf" if kind == "pbf" else "clip.geojson")
    (_write_pbf if kind == "pbf" else _write_geojson)(src)
    net = load_network(src, cache_dir=tmp_path / "cache")
    arcs = _arcs_by_osm_node(net)
    assert arcs <= _consecutive_present_pairs()
    for invented in ({8, 9}, {2, 4}, {3, 6}, {2, 9}, {8, 4}):
        assert frozenset(invented) not in arcs
    # the pieces themselves are kept (two-way, so they stay in the strongly connected graph)
    for piece in ({2, 8}, {9, 4}, {5, 7}):
        assert frozenset(piece) in arcs
    assert net.n_nodes == len(PRESENT)
    assert net.n_arcs == 2 * len(_consecutive_present_pairs())  # every segment, both ways


def test_split_at_gaps() -> None:
    assert split_at_gaps([1, 2, None, 3, None, 4, 5, 6]) == [[1, 2], [4, 5, 6]]
    assert split_at_gaps([None, 1, None]) == []
    assert split_at_gaps([1, 2, 3]) == [[1, 2, 3]]
    assert split_at_gaps([]) == []


def test_import_rule_change_invalidates_old_caches(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "clip.osm.pbf"
    _write_pbf(src)
    now = cache_key(src)
    monkeypatch.setattr("geo.network.CACHE_FORMAT", CACHE_FORMAT - 1)
    assert cache_key(src) != now  # a graph cached before the split is rebuilt, not served
