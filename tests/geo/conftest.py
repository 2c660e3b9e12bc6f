"""Shared fixtures for the geo tests: the Taiyuan graph (cached in a tmp dir) and small graphs."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from geo.network import RoadNetwork, load_network
from tests.geo.geo_samples import ROADS


@pytest.fixture(scope="session")
def geo_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("geo-cache")


@pytest.fixture(scope="session")
def taiyuan(geo_cache_dir: Path) -> RoadNetwork:
    return load_network(ROADS, cache_dir=geo_cache_dir)


@pytest.fixture(scope="session")
def taiyuan_nx(taiyuan: RoadNetwork) -> nx.DiGraph:
    """The same graph in networkx, weights in seconds (the independent reference)."""
    g = nx.DiGraph()
    g.add_nodes_from(range(taiyuan.n_nodes))
    for u, v, w in zip(taiyuan.tail.tolist(), np.asarray(taiyuan.head).tolist(),
                       (np.asarray(taiyuan.weight_ds) / 10.0).tolist(), strict=True):
        g.add_edge(u, v, weight=w)
    return g
