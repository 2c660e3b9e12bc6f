"""Shortest-path engines on node ids of a :class:`~geo.network.RoadNetwork`.

The router snaps coordinates to nodes and hands node ids to an engine; engines only add up
integer arc weights (deciseconds), so any two of them answer the same number for the same query.

* :class:`ScipyEngine` — ``scipy.sparse.csgraph.dijkstra`` on the reversed graph, cut at the
  limit. Exact, always installed, the reference for tests.
* :class:`CchEngine` — a customizable contraction hierarchy from ``routingkit-cch``: a node order
  computed once (cached on disk next to the graph), a cheap customisation per speed table, then
  many-to-one queries in well under a millisecond. Young, single-maintainer package, so it is
  optional: :func:`make_engine` falls back to scipy when it is missing.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
from scipy.sparse.csgraph import dijkstra

from geo.network import RoadNetwork

__all__ = ["CchEngine", "GraphEngine", "ScipyEngine", "cch_available", "make_engine"]

IntArray = npt.NDArray[np.integer[Any]]
FloatArray = npt.NDArray[np.float64]

#: Origins per scipy batch in a matrix query: bounds memory at batch × n_nodes float64.
_SCIPY_BATCH = 16


@runtime_checkable
class GraphEngine(Protocol):
    """Node-level shortest paths in deciseconds (float64, ``inf`` when unreachable)."""

    name: str

    def many_to_one(self, sources: IntArray, target: int, limit_ds: float | None = None
                    ) -> FloatArray:
        """Time from every source to ``target``; values above ``limit_ds`` may be ``inf``."""
        ...

    def many_to_many(self, sources: IntArray, targets: IntArray) -> FloatArray:
        """``(len(sources), len(targets))`` times."""
        ...

    def path(self, source: int, target: int) -> list[int] | None:
        """Node ids of a quickest path, or None when there is none."""
        ...

    def set_weights(self, weight_ds: IntArray) -> None:
        """Re-weight the same topology (new speed table) without rebuilding the engine."""
        ...


def _walk_back(pred: IntArray, source: int, target: int) -> list[int] | None:
    if source == target:
        return [source]
    if pred[target] < 0:
        return None
    nodes = [target]
    while nodes[-1] != source:
        nodes.append(int(pred[nodes[-1]]))
    nodes.reverse()
    return nodes


class ScipyEngine:
    """Exact Dijkstra with scipy; one search from the target on the reversed graph per query."""

    name = "scipy"

    def __init__(self, net: RoadNetwork) -> None:
        self.net = net
        self._fwd = net.csr
        self._rev = net.reverse_csr

    def many_to_one(self, sources: IntArray, target: int, limit_ds: float | None = None
                    ) -> FloatArray:
        limit = np.inf if limit_ds is None else max(0.0, float(limit_ds))
        dist = dijkstra(self._rev, directed=True, indices=int(target), limit=limit)
        return np.asarray(dist[np.asarray(sources, dtype=np.int64)], dtype=np.float64)

    def many_to_many(self, sources: IntArray, targets: IntArray) -> FloatArray:
        src = np.asarray(sources, dtype=np.int64)
        tgt = np.asarray(targets, dtype=np.int64)
        out = np.empty((src.size, tgt.size), dtype=np.float64)
        if src.size == 0 or tgt.size == 0:
            return out
        # Search from the smaller side: forward from sources or backward from targets.
        if src.size <= tgt.size:
            for lo in range(0, src.size, _SCIPY_BATCH):
                d = dijkstra(self._fwd, directed=True, indices=src[lo:lo + _SCIPY_BATCH])
                out[lo:lo + _SCIPY_BATCH] = d[:, tgt]
        else:
            for lo in range(0, tgt.size, _SCIPY_BATCH):
                d = dijkstra(self._rev, directed=True, indices=tgt[lo:lo + _SCIPY_BATCH])
                out[:, lo:lo + _SCIPY_BATCH] = d[:, src].T
        return out

    def path(self, source: int, target: int) -> list[int] | None:
        _, pred = dijkstra(self._fwd, directed=True, indices=int(source),
                           return_predecessors=True)
        return _walk_back(pred, int(source), int(target))

    def set_weights(self, weight_ds: IntArray) -> None:
        fwd = self._fwd.copy()
        fwd.data = np.asarray(weight_ds, dtype=np.float64)
        self._fwd = fwd
        self._rev = fwd.transpose().tocsr()


def cch_available() -> bool:
    """True when ``routingkit-cch`` imports (it ships binary wheels only for some platforms)."""
    try:
        import routingkit_cch  # noqa: F401
    except ImportError:
        return False
    return True


def _order_file(net: RoadNetwork) -> Path | None:
    return None if net.cache_path is None else Path(net.cache_path) / "cch_order.npy"


def load_or_compute_order(net: RoadNetwork) -> npt.NDArray[np.int32]:
    """CCH node order, read from the graph cache or computed once and saved there.

    The order depends only on topology and coordinates (not on weights), and computing it is the
    only slow CCH step (~1 min at 1M nodes), so caching it is what makes start-up fast.
    """
    import routingkit_cch as rk

    path = _order_file(net)
    if path is not None and path.is_file():
        order = np.load(path)
        if order.shape == (net.n_nodes,):
            return order
    order = np.asarray(rk.compute_order_inertial(
        net.n_nodes, net.tail.tolist(), np.asarray(net.head).tolist(),
        np.asarray(net.lat).tolist(), np.asarray(net.lon).tolist()), dtype=np.int32)
    if path is not None:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npy")
        try:
            np.save(tmp, order)
            os.replace(tmp, path)
        except OSError:  # read-only cache: still usable, just slower next start
            tmp.unlink(missing_ok=True)
    return order


class CchEngine:
    """Customizable contraction hierarchy (routingkit-cch); thread-safe behind one lock.

    The query objects keep mutable buffers, so concurrent requests are serialised; a query takes
    tens of microseconds, far below the cost of the lock contention it avoids worrying about.
    """

    name = "cch"

    def __init__(self, net: RoadNetwork, *, order: npt.NDArray[np.int32] | None = None) -> None:
        import routingkit_cch as rk

        self.net = net
        self._rk = rk
        t0 = time.perf_counter()
        self.order = load_or_compute_order(net) if order is None else order
        self.order_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        self._cch = rk.CCH(self.order.tolist(), net.tail.tolist(),
                           np.asarray(net.head).tolist(), False)
        self._metric = rk.CCHMetric(self._cch, np.asarray(net.weight_ds).tolist())
        self.build_s = time.perf_counter() - t0
        self._lock = threading.Lock()
        # Query objects are PyO3 "unsendable": each thread creates, uses and drops its own.
        self._local = threading.local()
        self._generation = 0

    def _queries(self) -> Any:
        local = self._local
        if getattr(local, "generation", None) != self._generation:
            local.m2o, local.m2o_sources, local.query = None, b"", None
            local.generation = self._generation
        return local

    def _pinned(self, sources: npt.NDArray[np.int64]) -> Any:
        local = self._queries()
        key = sources.tobytes()
        if local.m2o is None:
            local.m2o = self._rk.CCHManyToOne(self._metric, sources.tolist())
        elif key != local.m2o_sources:
            local.m2o.repin_sources(sources.tolist())
        local.m2o_sources = key
        return local.m2o

    @staticmethod
    def _to_array(dist: list[int | None]) -> FloatArray:
        out = np.array(dist, dtype=np.float64)  # None (unreachable) becomes NaN, in C
        out[np.isnan(out)] = np.inf
        return out

    def many_to_one(self, sources: IntArray, target: int, limit_ds: float | None = None
                    ) -> FloatArray:
        src = np.asarray(sources, dtype=np.int64)
        if src.size == 0:
            return np.empty(0, dtype=np.float64)
        with self._lock:
            dist = self._pinned(src).distances_to(int(target))
        out = self._to_array(dist)
        if limit_ds is not None:
            out[out > limit_ds] = np.inf
        return out

    def many_to_many(self, sources: IntArray, targets: IntArray) -> FloatArray:
        src = np.asarray(sources, dtype=np.int64)
        tgt = np.asarray(targets, dtype=np.int64)
        out = np.empty((src.size, tgt.size), dtype=np.float64)
        if src.size == 0 or tgt.size == 0:
            return out
        with self._lock:
            m2o = self._pinned(src)
            for j, t in enumerate(tgt.tolist()):
                out[:, j] = self._to_array(m2o.distances_to(t))
        return out

    def path(self, source: int, target: int) -> list[int] | None:
        with self._lock:
            local = self._queries()
            if local.query is None:
                local.query = self._rk.CCHQuery(self._metric)
            res = local.query.run(int(source), int(target))
            if res.distance is None:
                return None
            return [int(v) for v in res.node_path]

    def set_weights(self, weight_ds: IntArray) -> None:
        with self._lock:
            # routingkit-cch panics when a metric is reset while query objects borrow it, so
            # drop the queries and customise a fresh metric (same cost as a reset).
            local = self._queries()
            local.m2o, local.query = None, None
            self._generation += 1
            self._metric = self._rk.CCHMetric(self._cch, np.asarray(weight_ds).tolist())


def make_engine(net: RoadNetwork, name: str = "auto") -> GraphEngine:
    """``"cch"``, ``"scipy"`` or ``"auto"`` (CCH when installed, else scipy)."""
    if name == "auto":
        name = "cch" if cch_available() else "scipy"
    if name == "cch":
        return CchEngine(net)
    if name == "scipy":
        return ScipyEngine(net)
    raise ValueError(f"unknown graph engine {name!r} (expected auto, cch or scipy)")
