"""Travel times between coordinates: snapping, off-network fallback, engines behind one interface.

Dispatch ranks teams by how long they need to *reach* the trapped passengers, so the main query
is many-to-one: every available team → one elevator, answered by one search from the elevator on
the reversed graph (or one CCH sweep), cut at the arrival limit.

Coordinates are snapped to the nearest graph node with a KD-tree on locally projected
coordinates; the snap distance is added as time at a slow speed (the last metres are walked or
crawled through a compound). A point farther than ``off_network_m`` from any node is "off the
network" — the router then answers a straight-line distance ÷ a cautious speed and flags it, so
the operator knows the figure is an estimate.
"""

from __future__ import annotations

import itertools
import math
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree

from geo import _validate
from geo.distance import EARTH_RADIUS_M, haversine_m, haversine_many_m
from geo.engines import GraphEngine, make_engine
from geo.network import RoadNetwork

__all__ = [
    "GraphRouter",
    "Route",
    "Router",
    "SnapOptions",
    "SnappedPoints",
    "TravelTimes",
    "make_router",
]

EngineName = Literal["auto", "cch", "scipy", "osrm"]

#: Origin sets (given as coordinates) whose snapping each GraphRouter remembers.
_RECENT_SETS = 8


@dataclass(frozen=True, slots=True)
class SnapOptions:
    """How coordinates join the network.

    Parameters
    ----------
    snap_speed_kmh:
        Speed over the snap distance (walking / slow driving inside a compound).
    off_network_m:
        Beyond this distance from the nearest node a point is off the network.
    fallback_speed_kmh:
        Cautious speed applied to the straight-line distance for off-network points.
    """

    snap_speed_kmh: float = 10.0
    off_network_m: float = 2000.0
    fallback_speed_kmh: float = 20.0

    def __post_init__(self) -> None:
        _validate.positive(self.snap_speed_kmh, what="snap_speed_kmh")
        _validate.positive(self.off_network_m, what="off_network_m")
        _validate.positive(self.fallback_speed_kmh, what="fallback_speed_kmh")

    @property
    def snap_mps(self) -> float:
        return self.snap_speed_kmh / 3.6

    @property
    def fallback_mps(self) -> float:
        return self.fallback_speed_kmh / 3.6


@dataclass(frozen=True, slots=True)
class TravelTimes:
    """Seconds from each origin to one target.

    ``seconds[i]`` is ``inf`` when origin ``i`` cannot reach the target or needs more than the
    limit; snap time is included. ``off_network[i]`` marks straight-line estimates.
    """

    seconds: npt.NDArray[np.float64]
    off_network: npt.NDArray[np.bool_]
    engine: str
    snap_m: npt.NDArray[np.float64] = field(default_factory=lambda: np.empty(0))
    target_snap_m: float = 0.0


@dataclass(frozen=True, slots=True)
class Route:
    """A route for the map: time, length and a lon/lat polyline (origin … target)."""

    seconds: float | None
    meters: float | None
    coords: list[tuple[float, float]]
    off_network: bool
    engine: str


class Router(ABC):
    """Coordinate-level routing: what `dispatch` calls, whatever engine answers."""

    engine_name: str
    snap: SnapOptions

    @abstractmethod
    def travel_times(self, origins: _validate.PointsLike | SnappedPoints,
                     target: _validate.PointLike | SnappedPoints, limit_s: float | None = None
                     ) -> TravelTimes:
        """Seconds from every origin to ``target`` (teams drive to the elevator)."""

    @abstractmethod
    def route(self, origin: _validate.PointLike, target: _validate.PointLike) -> Route:
        """Quickest route with its geometry."""

    @abstractmethod
    def matrix(self, origins: _validate.PointsLike | SnappedPoints,
               targets: _validate.PointsLike | SnappedPoints) -> npt.NDArray[np.float64]:
        """``(n_origins, n_targets)`` seconds (surge assignment of several incidents)."""

    def straight_line_s(self, lon1: float, lat1: float, lon2: float, lat2: float) -> float:
        """Cautious estimate used off the network."""
        return haversine_m(lon1, lat1, lon2, lat2) / self.snap.fallback_mps

    def _off_network_route(self, o: tuple[float, float], t: tuple[float, float]) -> Route:
        meters = haversine_m(o[0], o[1], t[0], t[1])
        return Route(meters / self.snap.fallback_mps, meters, [o, t], True, self.engine_name)


class _Snapper:
    """Nearest node by KD-tree on an equirectangular projection centred on the network.

    The projection is exact enough to *find* candidates at city/province scale; the reported
    distance is then the haversine distance to the best of the few nearest candidates. Node
    radians and cosines are computed once here, not per query (same values, fewer passes).
    """

    def __init__(self, lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64]) -> None:
        self.lon = np.asarray(lon)
        self.lat = np.asarray(lat)
        self._lat0 = math.radians(float(np.mean(self.lat)))
        self._tree = cKDTree(self._project(self.lon, self.lat))
        self._k = min(4, self.lon.shape[0])
        self._rlon = np.radians(self.lon)
        self._rlat = np.radians(self.lat)
        self._cos_lat = np.cos(self._rlat)

    def _project(self, lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64]
                 ) -> npt.NDArray[np.float64]:
        x = np.radians(lon) * math.cos(self._lat0) * EARTH_RADIUS_M
        y = np.radians(lat) * EARTH_RADIUS_M
        return np.column_stack([x, y])

    def snap(self, pts: npt.NDArray[np.float64]
             ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        n = pts.shape[0]
        if n == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
        _, idx = self._tree.query(self._project(pts[:, 0], pts[:, 1]), k=self._k)
        idx = np.asarray(idx, dtype=np.int64).reshape(n, self._k)
        p1 = np.radians(pts[:, 1])[:, None]
        a = np.sin((self._rlat[idx] - p1) / 2) ** 2 + np.cos(p1) * self._cos_lat[idx] * np.sin(
            (self._rlon[idx] - np.radians(pts[:, 0])[:, None]) / 2) ** 2
        d = 2 * EARTH_RADIUS_M * np.arcsin(np.minimum(1.0, np.sqrt(a)))
        best = np.argmin(d, axis=1)
        rows = np.arange(n)
        return idx[rows, best], d[rows, best]


@dataclass(frozen=True, slots=True, eq=False)
class SnappedPoints:
    """Points already joined to the network: reuse them across queries.

    Dispatch teams' bases (and elevators) do not move, so snap them once with
    :meth:`GraphRouter.snap_points` and pass the handle to ``travel_times`` / ``matrix`` instead
    of coordinates: the KD-tree search and input checks are then skipped, and the CCH engine
    keeps the same origins pinned between queries. Answers are identical to passing the
    coordinates. Index it (``snapped[mask]``, ``snapped[[0, 3]]``) to route a subset, e.g. the
    teams that are free right now. The arrays are read-only.
    """

    points: npt.NDArray[np.float64]
    """``(n, 2)`` lon/lat as given."""
    nodes: npt.NDArray[np.int64]
    """Nearest graph node of each point."""
    snap_m: npt.NDArray[np.float64]
    """Distance to that node, metres."""
    _owner: object = field(repr=False)

    def __len__(self) -> int:
        return int(self.nodes.shape[0])

    def __getitem__(self, key: Any) -> SnappedPoints:
        if isinstance(key, (int, np.integer)):
            key = [int(key)]
        return SnappedPoints(_frozen(self.points[key]), _frozen(self.nodes[key]),
                             _frozen(self.snap_m[key]), self._owner)


def _frozen(a: npt.NDArray[Any]) -> npt.NDArray[Any]:
    a.flags.writeable = False
    return a


class GraphRouter(Router):
    """Router over the embedded graph with a node-level engine (CCH or scipy)."""

    def __init__(self, net: RoadNetwork, engine: GraphEngine, snap: SnapOptions | None = None
                 ) -> None:
        self.net = net
        self.engine = engine
        self.engine_name = engine.name
        self.snap = snap or SnapOptions()
        self._snapper = _Snapper(net.lon, net.lat)
        # The last few origin sets seen as coordinates (dispatch asks again and again with the
        # same free teams): exact-bytes key, so a hit answers what snapping again would.
        self._recent: OrderedDict[bytes, SnappedPoints] = OrderedDict()
        self._recent_lock = threading.Lock()

    def snap_to_network(self, points: _validate.PointsLike
                        ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """Nearest node id and distance in metres for each lon/lat point."""
        return self._snapper.snap(_validate.lonlat_points(points))

    def snap_points(self, points: _validate.PointsLike) -> SnappedPoints:
        """Snap once, route many times: a handle ``travel_times`` and ``matrix`` accept.

        >>> bases = router.snap_points(team_positions)          # doctest: +SKIP
        >>> router.travel_times(bases, incident, limit_s=1800)  # doctest: +SKIP
        """
        pts = _validate.lonlat_points(points)
        nodes, snap_m = self._snapper.snap(pts)
        return SnappedPoints(_frozen(pts.copy()), _frozen(nodes), _frozen(snap_m),
                             self._snapper)

    def _snapped(self, points: _validate.PointsLike | SnappedPoints, what: str
                 ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64],
                            npt.NDArray[np.float64]]:
        """Coordinates, nodes and snap metres; a handle from this router skips the KD-tree."""
        if isinstance(points, SnappedPoints):
            if points._owner is self._snapper:
                return points.points, points.nodes, points.snap_m
            pts = points.points  # snapped by another router: already valid, snap again here
        else:
            pts = _validate.lonlat_points(points, what=what)
        if pts.shape[0] < 2:
            nodes, snap_m = self._snapper.snap(pts)
            return pts, nodes, snap_m
        key = pts.tobytes()
        with self._recent_lock:
            hit = self._recent.get(key)
            if hit is not None:
                self._recent.move_to_end(key)
        if hit is None:
            nodes, snap_m = self._snapper.snap(pts)
            hit = SnappedPoints(_frozen(pts.copy()), _frozen(nodes), _frozen(snap_m),
                                self._snapper)
            with self._recent_lock:
                self._recent[key] = hit
                while len(self._recent) > _RECENT_SETS:
                    self._recent.popitem(last=False)
        return pts, hit.nodes, hit.snap_m

    def set_speeds(self, speeds_kmh: dict[str, float]) -> None:
        """Switch to another class speed table (time of day) without rebuilding anything."""
        self.net = self.net.with_speeds(speeds_kmh)
        self.engine.set_weights(self.net.weight_ds)

    def travel_times(self, origins: _validate.PointsLike | SnappedPoints,
                     target: _validate.PointLike | SnappedPoints, limit_s: float | None = None
                     ) -> TravelTimes:
        """Seconds from every origin to ``target``.

        Either may be a :class:`SnappedPoints` from :meth:`snap_points` (``target``: one point),
        which skips snapping them again; the answer is the same as with coordinates.
        """
        pts, o_node, o_snap = self._snapped(origins, "origins")
        if isinstance(target, SnappedPoints):
            if len(target) != 1:
                raise ValueError(f"target must be one point, got {len(target)} snapped points")
            t_pts, t_node, t_snap = self._snapped(target, "target")
            t = (float(t_pts[0, 0]), float(t_pts[0, 1]))
        else:
            t = _validate.lonlat_point(target, what="target")
            t_node, t_snap = self._snapper.snap(np.asarray([t]))
        t_snap_m = float(t_snap[0])
        n = pts.shape[0]
        seconds = np.full(n, np.inf)
        off = (o_snap > self.snap.off_network_m) | (t_snap_m > self.snap.off_network_m)
        n_off = int(np.count_nonzero(off))
        all_on = n_off == 0
        if n_off < n:
            t_snap_s = t_snap_m / self.snap.snap_mps
            limit_ds = None
            if limit_s is not None:
                limit_ds = (float(limit_s) - t_snap_s) * 10.0 + 1.0
            if limit_ds is None or limit_ds >= 0:
                if all_on:  # no copies: the CCH engine sees the same pinned origins again
                    ds = self.engine.many_to_one(o_node, int(t_node[0]), limit_ds)
                    seconds = ds / 10.0 + o_snap / self.snap.snap_mps + t_snap_s
                else:
                    on = ~off
                    ds = self.engine.many_to_one(o_node[on], int(t_node[0]), limit_ds)
                    seconds[on] = ds / 10.0 + o_snap[on] / self.snap.snap_mps + t_snap_s
        if n_off:
            seconds[off] = haversine_many_m(pts[off, 0], pts[off, 1], t[0], t[1]) \
                / self.snap.fallback_mps
        if limit_s is not None:
            seconds[seconds > float(limit_s)] = np.inf
        return TravelTimes(seconds, off, self.engine_name, o_snap.copy(), t_snap_m)

    def route(self, origin: _validate.PointLike, target: _validate.PointLike) -> Route:
        o = _validate.lonlat_point(origin, what="origin")
        t = _validate.lonlat_point(target, what="target")
        nodes, snap_m = self._snapper.snap(np.asarray([o, t]))
        if float(snap_m.max()) > self.snap.off_network_m:
            return self._off_network_route(o, t)
        path = self.engine.path(int(nodes[0]), int(nodes[1]))
        if path is None:
            return Route(None, None, [], False, self.engine_name)
        arcs = [self.net.arc_between(u, v) for u, v in itertools.pairwise(path)]
        ds = float(np.sum(self.net.weight_ds[arcs])) if arcs else 0.0
        road_m = float(np.sum(self.net.length_m[arcs])) if arcs else 0.0
        coords = [o, *((float(self.net.lon[v]), float(self.net.lat[v])) for v in path), t]
        seconds = ds / 10.0 + float(snap_m.sum()) / self.snap.snap_mps
        return Route(seconds, road_m + float(snap_m.sum()), coords, False, self.engine_name)

    def matrix(self, origins: _validate.PointsLike | SnappedPoints,
               targets: _validate.PointsLike | SnappedPoints) -> npt.NDArray[np.float64]:
        """Seconds ``(n_origins, n_targets)``; either side may be a :class:`SnappedPoints`."""
        o, o_node, o_snap = self._snapped(origins, "origins")
        t, t_node, t_snap = self._snapped(targets, "targets")
        o_on = o_snap <= self.snap.off_network_m
        t_on = t_snap <= self.snap.off_network_m
        out = np.empty((o.shape[0], t.shape[0]), dtype=np.float64)
        for j in range(t.shape[0]):  # straight-line estimate everywhere, then overwrite
            out[:, j] = haversine_many_m(o[:, 0], o[:, 1], t[j, 0], t[j, 1]) \
                / self.snap.fallback_mps
        if o_on.any() and t_on.any():
            ds = self.engine.many_to_many(o_node[o_on], t_node[t_on])
            snap_s = (o_snap[o_on][:, None] + t_snap[t_on][None, :]) / self.snap.snap_mps
            out[np.ix_(o_on, t_on)] = ds / 10.0 + snap_s
        return out


def make_router(net: RoadNetwork | None, *, engine: EngineName = "auto",
                snap: SnapOptions | None = None, osrm_url: str | None = None,
                **osrm_options: Any) -> Router:
    """Build the router dispatch uses.

    ``"auto"`` picks the CCH engine when ``routingkit-cch`` is installed and scipy otherwise;
    ``"osrm"`` talks to an external OSRM server at ``osrm_url`` (``net`` may then be None).
    """
    if engine == "osrm":
        if not osrm_url:
            raise ValueError("engine='osrm' needs osrm_url")
        from geo.osrm import OsrmRouter

        return OsrmRouter(osrm_url, snap=snap, **osrm_options)
    if net is None:
        raise ValueError(f"engine={engine!r} needs a RoadNetwork")
    return GraphRouter(net, make_engine(net, engine), snap)
