"""Coverage of elevators by stations (team bases) within an arrival limit, and where to add bases.

A regulator asks "which elevators can a team reach within 30 minutes?". One multi-source search
on the *forward* graph from all stations at once answers it for every elevator: a virtual source
is joined to every station by an arc worth the station's snap time, so each elevator gets the
time from its quickest station exactly, in one Dijkstra.

The greedy suggestion of new stations is the classic set-cover heuristic: repeatedly pick the
candidate node that covers the most still-uncovered elevators. It is within a factor
(1 − 1/e) of the best choice and fast enough to run interactively.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import dijkstra
from shapely.geometry.base import BaseGeometry

from geo import _validate
from geo.distance import EARTH_RADIUS_M, haversine_many_m
from geo.network import RoadNetwork
from geo.router import SnapOptions, _Snapper

__all__ = [
    "CoverageResult",
    "SnappedElevators",
    "StationSuggestion",
    "add_station",
    "candidate_nodes",
    "compute_coverage",
    "isochrone",
    "isochrones",
    "snap_elevators",
    "suggest_stations",
]

_BATCH = 32  # searches per scipy call: bounds memory at _BATCH × n_nodes float64


@dataclass(frozen=True, slots=True)
class CoverageResult:
    """Per elevator: quickest time from any station, which station, and whether within limit."""

    limit_s: float
    seconds: npt.NDArray[np.float64]
    station: npt.NDArray[np.int64]
    covered: npt.NDArray[np.bool_]
    off_network: npt.NDArray[np.bool_]

    @property
    def covered_share(self) -> float:
        """Share of elevators reachable within the limit (1.0 for an empty register)."""
        return float(self.covered.mean()) if self.covered.size else 1.0

    @property
    def uncovered(self) -> npt.NDArray[np.int64]:
        """Indices (into the elevator list) of elevators no station reaches in time."""
        return np.flatnonzero(~self.covered)


@dataclass(frozen=True, slots=True)
class StationSuggestion:
    """One proposed new station, in the order the greedy picked them."""

    node: int
    lon: float
    lat: float
    newly_covered: int
    covered_share_after: float


def _with_virtual_source(net: RoadNetwork, nodes: npt.NDArray[np.int64],
                         offset_ds: npt.NDArray[np.float64]) -> sp.csr_matrix:
    """Forward graph plus node ``n`` with arcs to ``nodes`` weighted by ``offset_ds``.

    scipy treats explicitly stored zeros in a sparse graph as arcs, so a zero offset is fine.
    """
    n = net.n_nodes
    best: dict[int, float] = {}
    for v, w in zip(nodes.tolist(), offset_ds.tolist(), strict=True):
        best[v] = min(w, best.get(v, math.inf))
    extra_head = np.fromiter(best.keys(), dtype=np.int64, count=len(best))
    extra_w = np.fromiter(best.values(), dtype=np.float64, count=len(best))
    order = np.argsort(extra_head)
    indptr = np.concatenate([np.asarray(net.indptr), [net.indptr[-1] + len(best)]])
    head = np.concatenate([np.asarray(net.head, dtype=np.int64), extra_head[order]])
    data = np.concatenate([np.asarray(net.weight_ds, dtype=np.float64), extra_w[order]])
    return sp.csr_matrix((data, head, indptr), shape=(n + 1, n + 1))


def _root_after_source(pred: npt.NDArray[np.int32], source: int) -> npt.NDArray[np.int64]:
    """For every node, the first node of its shortest path after ``source`` (−1 if unreached).

    Pointer jumping: log(depth) vectorised steps instead of walking each path.
    """
    anc = pred.astype(np.int64)
    nodes = np.arange(anc.size)
    roots = anc == source
    anc[roots] = nodes[roots]
    anc[source] = -1
    reached = anc >= 0
    anc[~reached] = nodes[~reached]  # fixed points, masked out at the end
    while True:
        nxt = anc[anc]
        if np.array_equal(nxt, anc):
            break
        anc = nxt
    anc[~reached] = -1
    return anc


def compute_coverage(net: RoadNetwork, stations: _validate.PointsLike,
                     elevators: _validate.PointsLike, *, limit_s: float,
                     snap: SnapOptions | None = None) -> CoverageResult:
    """Which elevators at least one station reaches within ``limit_s`` (teams drive forward).

    Snap times count at both ends as in :class:`geo.router.GraphRouter`; stations or elevators
    off the network are served by the straight-line estimate.
    """
    opts = snap or SnapOptions()
    limit = _validate.positive(limit_s, what="limit_s")
    st = _validate.lonlat_points(stations, what="stations")
    el = _validate.lonlat_points(elevators, what="elevators")
    snapper = _Snapper(net.lon, net.lat)
    s_node, s_snap = snapper.snap(st)
    e_node, e_snap = snapper.snap(el)
    s_on = s_snap <= opts.off_network_m
    e_on = e_snap <= opts.off_network_m
    seconds = np.full(el.shape[0], np.inf)
    station = np.full(el.shape[0], -1, dtype=np.int64)
    if s_on.any() and e_on.any():
        on_idx = np.flatnonzero(s_on)
        offset_ds = np.rint(s_snap[s_on] / opts.snap_mps * 10.0)
        g = _with_virtual_source(net, s_node[s_on], offset_ds)
        dist, pred = dijkstra(g, directed=True, indices=net.n_nodes, limit=limit * 10.0 + 1,
                              return_predecessors=True)
        first = _root_after_source(pred, net.n_nodes)
        # map the first node after the virtual source back to the (quickest) station index
        station_of_node = {}
        for i in on_idx[np.argsort(offset_ds, kind="stable")[::-1]]:
            station_of_node[int(s_node[i])] = int(i)
        t = dist[e_node[e_on]] / 10.0 + e_snap[e_on] / opts.snap_mps
        seconds[e_on] = t
        roots = first[e_node[e_on]]
        station[e_on] = [station_of_node.get(int(r), -1) if r >= 0 else -1 for r in roots]
    # straight-line estimates: any station ↔ an off-network elevator, off-network station ↔ any
    for i in range(st.shape[0]):
        rows = ~e_on if s_on[i] else np.ones(el.shape[0], dtype=bool)
        if not rows.any():
            continue
        est = haversine_many_m(el[rows, 0], el[rows, 1], st[i, 0], st[i, 1]) / opts.fallback_mps
        better = est < seconds[rows]
        idx = np.flatnonzero(rows)[better]
        seconds[idx] = est[better]
        station[idx] = i
    covered = seconds <= limit
    seconds = np.where(covered, seconds, np.inf)
    station = np.where(covered, station, -1)
    return CoverageResult(limit, seconds, station, covered, ~e_on)


def _projection(lat0: float) -> tuple[float, float]:
    return math.cos(math.radians(lat0)) * EARTH_RADIUS_M * math.pi / 180.0, \
        EARTH_RADIUS_M * math.pi / 180.0


def isochrone(net: RoadNetwork, station: _validate.PointLike, *, limit_s: float,
              snap: SnapOptions | None = None, buffer_m: float = 120.0) -> BaseGeometry:
    """Area reachable from ``station`` within ``limit_s``, as a lon/lat (Multi)Polygon.

    Built from the reachable road itself — fully reached arcs plus the reached part of the arcs
    the limit cuts — widened by about ``buffer_m`` on each side; a convex or concave hull of
    nodes would paint rivers and rail yards as covered.
    """
    opts = snap or SnapOptions()
    lon0, lat0 = _validate.lonlat_point(station, what="station")
    node, snap_m = _Snapper(net.lon, net.lat).snap(np.asarray([[lon0, lat0]]))
    if snap_m[0] > opts.off_network_m:
        return shapely.Polygon()
    budget_ds = (float(limit_s) - float(snap_m[0]) / opts.snap_mps) * 10.0
    if budget_ds < 0:
        return shapely.Polygon()
    dist = dijkstra(net.csr, directed=True, indices=int(node[0]), limit=budget_ds)
    tail = net.tail
    head = np.asarray(net.head)
    w = np.asarray(net.weight_ds, dtype=np.float64)
    d_tail = dist[tail]
    reached = np.isfinite(d_tail)
    frac = np.clip((budget_ds - d_tail[reached]) / w[reached], 0.0, 1.0)
    t, h = tail[reached], head[reached]
    kx, ky = _projection(lat0)
    x0, y0 = np.asarray(net.lon) * kx, np.asarray(net.lat) * ky
    # Rasterise the reached road on a grid of ``buffer_m`` cells (points every half cell along
    # each reached arc, then the 8 neighbour cells), and union the cells: orders of magnitude
    # faster than buffering tens of thousands of segments, and the same picture at map scale.
    seg_len = np.hypot((x0[h] - x0[t]) * frac, (y0[h] - y0[t]) * frac)
    steps = np.ceil(seg_len / (buffer_m / 2.0)).astype(np.int64) + 1
    which = np.repeat(np.arange(t.size), steps)
    pos = np.arange(which.size) - np.repeat(np.cumsum(steps) - steps, steps)
    f = pos / np.maximum(steps[which] - 1, 1) * frac[which]
    px = np.concatenate([x0[t[which]] + (x0[h[which]] - x0[t[which]]) * f, [lon0 * kx]])
    py = np.concatenate([y0[t[which]] + (y0[h[which]] - y0[t[which]]) * f, [lat0 * ky]])
    cells = np.unique(np.column_stack([np.floor(px / buffer_m), np.floor(py / buffer_m)])
                      .astype(np.int64), axis=0)
    ring = np.array([(dx, dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)])
    cells = np.unique((cells[:, None, :] + ring[None, :, :]).reshape(-1, 2), axis=0)
    boxes = shapely.box(cells[:, 0] * buffer_m, cells[:, 1] * buffer_m,
                        (cells[:, 0] + 1) * buffer_m, (cells[:, 1] + 1) * buffer_m)
    poly = shapely.coverage_union_all(boxes).simplify(buffer_m / 4)

    def back(xy: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.column_stack([xy[:, 0] / kx, xy[:, 1] / ky])

    return shapely.transform(poly, back)


def isochrones(net: RoadNetwork, stations: _validate.PointsLike, *, limit_s: float,
               snap: SnapOptions | None = None, buffer_m: float = 120.0) -> list[BaseGeometry]:
    """One isochrone polygon per station, for the map."""
    pts = _validate.lonlat_points(stations, what="stations")
    return [isochrone(net, (float(x), float(y)), limit_s=limit_s, snap=snap, buffer_m=buffer_m)
            for x, y in pts]


def candidate_nodes(net: RoadNetwork, *, max_candidates: int = 400) -> npt.NDArray[np.int64]:
    """Spatially even candidate sites: the graph node nearest each cell of a regular grid."""
    lon_min, lat_min, lon_max, lat_max = net.bbox
    side = max(1, math.isqrt(max_candidates))
    gx, gy = np.meshgrid(np.linspace(lon_min, lon_max, side), np.linspace(lat_min, lat_max, side))
    nodes, dist = _Snapper(net.lon, net.lat).snap(np.column_stack([gx.ravel(), gy.ravel()]))
    cell_m = (lat_max - lat_min) / max(side - 1, 1) * EARTH_RADIUS_M * math.pi / 180.0
    return np.unique(nodes[dist <= max(cell_m, 1.0)])


def suggest_stations(net: RoadNetwork, elevators: _validate.PointsLike, k: int, *,
                     limit_s: float, coverage: CoverageResult | None = None,
                     candidates: Sequence[int] | npt.NDArray[np.int64] | None = None,
                     snap: SnapOptions | None = None) -> list[StationSuggestion]:
    """Greedily choose up to ``k`` candidate nodes that cover the most uncovered elevators.

    ``coverage`` is the current state (without it every elevator counts as uncovered). Stops
    early when no candidate adds anything.
    """
    opts = snap or SnapOptions()
    el = _validate.lonlat_points(elevators, what="elevators")
    n_el = el.shape[0]
    covered = np.zeros(n_el, dtype=bool) if coverage is None else coverage.covered.copy()
    e_node, e_snap = _Snapper(net.lon, net.lat).snap(el)
    todo = np.flatnonzero(~covered & (e_snap <= opts.off_network_m))
    cand = candidate_nodes(net) if candidates is None else np.asarray(candidates, np.int64)
    if todo.size == 0 or cand.size == 0 or k <= 0:
        return []
    limit_ds = float(limit_s) * 10.0
    # need[i]: graph budget left for elevator todo[i] once its snap time is paid
    need = limit_ds - np.rint(e_snap[todo] / opts.snap_mps * 10.0)
    reach = np.zeros((cand.size, todo.size), dtype=bool)
    if cand.size <= np.unique(e_node[todo]).size:  # forward from candidates
        for lo in range(0, cand.size, _BATCH):
            d = dijkstra(net.csr, directed=True, indices=cand[lo:lo + _BATCH], limit=limit_ds)
            reach[lo:lo + _BATCH] = d[:, e_node[todo]] <= need[None, :]
    else:  # backward from the elevators
        for lo in range(0, todo.size, _BATCH):
            d = dijkstra(net.reverse_csr, directed=True, indices=e_node[todo[lo:lo + _BATCH]],
                         limit=limit_ds)
            reach[:, lo:lo + _BATCH] = (d[:, cand] <= need[lo:lo + _BATCH, None]).T
    out: list[StationSuggestion] = []
    open_ = np.ones(todo.size, dtype=bool)
    for _ in range(k):
        gains = reach[:, open_].sum(axis=1)
        best = int(np.argmax(gains))
        if gains[best] == 0:
            break
        newly = reach[best] & open_
        open_ &= ~newly
        covered[todo[newly]] = True
        node = int(cand[best])
        out.append(StationSuggestion(node, float(net.lon[node]), float(net.lat[node]),
                                     int(newly.sum()), float(covered.mean())))
    return out


@dataclass(frozen=True, slots=True, eq=False)
class SnappedElevators:
    """Elevators joined to the network once, for repeated what-if questions on one register."""

    points: npt.NDArray[np.float64]
    nodes: npt.NDArray[np.int64]
    snap_m: npt.NDArray[np.float64]
    on_network: npt.NDArray[np.bool_]


def snap_elevators(net: RoadNetwork, elevators: _validate.PointsLike, *,
                   snap: SnapOptions | None = None) -> SnappedElevators:
    """Snap the register once; :func:`add_station` then costs one search, not a KD-tree pass."""
    opts = snap or SnapOptions()
    el = _validate.lonlat_points(elevators, what="elevators")
    nodes, snap_m = _Snapper(net.lon, net.lat).snap(el)
    return SnappedElevators(el, nodes, snap_m, snap_m <= opts.off_network_m)


def add_station(net: RoadNetwork, coverage: CoverageResult, elevators: SnappedElevators,
                station: _validate.PointLike, *, index: int,
                snap: SnapOptions | None = None) -> CoverageResult:
    """``coverage`` with one more station (numbered ``index``): one search from its base.

    The answer equals :func:`compute_coverage` over the old stations plus this one (same snap
    rounding, same straight-line rules), which a what-if click cannot afford at city scale: a
    single-source search cut at the limit touches only the station's neighbourhood. An elevator
    changes station only when the new one is strictly quicker.
    """
    opts = snap or SnapOptions()
    limit = coverage.limit_s
    lon, lat = _validate.lonlat_point(station, what="station")
    node, snap_m = _Snapper(net.lon, net.lat).snap(np.asarray([[lon, lat]]))
    n_el = elevators.nodes.shape[0]
    new = np.full(n_el, np.inf)
    on = elevators.on_network
    if snap_m[0] <= opts.off_network_m:
        offset_ds = float(np.rint(snap_m[0] / opts.snap_mps * 10.0))
        budget = limit * 10.0 + 1 - offset_ds
        if budget >= 0 and on.any():
            dist = dijkstra(net.csr, directed=True, indices=int(node[0]), limit=budget)
            d = dist[elevators.nodes[on]]
            new[on] = (d + offset_ds) / 10.0 + elevators.snap_m[on] / opts.snap_mps
        rows = ~on
    else:
        rows = np.ones(n_el, dtype=bool)
    if rows.any():
        pts = elevators.points[rows]
        new[rows] = haversine_many_m(pts[:, 0], pts[:, 1], lon, lat) / opts.fallback_mps
    better = (new < coverage.seconds) & (new <= limit)
    seconds = np.where(better, new, coverage.seconds)
    station_idx = np.where(better, index, coverage.station)
    return CoverageResult(limit, seconds, station_idx, seconds <= limit, coverage.off_network)
