"""Shared sample data for the geo tests (imported by conftest.py and the test modules).

Named uniquely (not ``conftest``/``samples``) because tests/ has no packages and pytest puts each
test directory on ``sys.path``.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from geo.network import RoadNetwork

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "taiyuan"
ROADS = FIXTURES / "taiyuan_core_roads_osm.geojson"
NODES_CSV = FIXTURES / "taiyuan_core_drive_nodes.csv"
EDGES_CSV = FIXTURES / "taiyuan_core_drive_edges.csv"
DISTRICTS_WGS84 = FIXTURES / "taiyuan_districts_wgs84.geojson"
DISTRICTS_GCJ02 = FIXTURES / "taiyuan_districts_gcj02.geojson"


def read_reference_csv() -> tuple[dict[int, tuple[float, float]], list[dict[str, str]]]:
    """Nodes ``id → (lon, lat)`` and arc rows of the independently derived reference graph."""
    with NODES_CSV.open(encoding="utf-8") as fh:
        nodes = {int(r["node_id"]): (float(r["lon"]), float(r["lat"]))
                 for r in csv.DictReader(fh)}
    with EDGES_CSV.open(encoding="utf-8") as fh:
        edges = list(csv.DictReader(fh))
    return nodes, edges


def small_network(n: int, arcs: list[tuple[int, int, int]], seed: int = 0) -> RoadNetwork:
    """A hand-made graph: ``arcs`` are ``(tail, head, weight_ds)``; nodes scattered near Taiyuan."""
    rng = np.random.default_rng(seed)
    lon = 112.55 + rng.uniform(-0.01, 0.01, n)
    lat = 37.85 + rng.uniform(-0.01, 0.01, n)
    tail = [a[0] for a in arcs]
    head = [a[1] for a in arcs]
    weight = [a[2] for a in arcs]
    return RoadNetwork.from_arcs(lon, lat, tail, head, np.asarray(weight, float) * 0.5,
                                 weight_ds=weight)
