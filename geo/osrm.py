"""Router backed by an external OSRM server (``/table/v1`` and ``/route/v1`` HTTP API).

For deployments that already run OSRM on a provincial extract. OSRM snaps coordinates itself and
reports each snap distance in its ``waypoints``/``sources``/``destinations``; this router applies
the same snap-time and off-network rules as the embedded one, so rankings stay comparable when a
centre switches engines. A ``fallback`` router (normally the embedded graph) answers when the
server is down, because a dispatch must never stall on a routing outage.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt

from geo import _validate
from geo.distance import haversine_many_m
from geo.router import Route, Router, SnapOptions, SnappedPoints, TravelTimes

__all__ = ["OsrmError", "OsrmRouter"]

log = logging.getLogger(__name__)


class OsrmError(RuntimeError):
    """The OSRM server failed or answered something other than ``code: Ok``."""


def _coord_list(pts: npt.NDArray[np.float64]) -> str:
    return ";".join(f"{x:.7f},{y:.7f}" for x, y in pts)


def _coords(points: _validate.PointsLike | _validate.PointLike | SnappedPoints) -> Any:
    """OSRM snaps on its side: a handle from the embedded router only lends its coordinates."""
    return points.points if isinstance(points, SnappedPoints) else points


class OsrmRouter(Router):
    """Talks to ``{base_url}/table/v1/{profile}/…`` and ``/route/v1/{profile}/…``.

    Parameters
    ----------
    base_url:
        e.g. ``http://osrm:5000``.
    max_table_size:
        Locations per table request; OSRM's ``--max-table-size`` defaults to 100.
    fallback:
        Router used when the server cannot answer; without one, :class:`OsrmError` is raised.
    """

    def __init__(self, base_url: str, *, snap: SnapOptions | None = None,
                 profile: str = "driving", timeout_s: float = 2.0, max_table_size: int = 100,
                 fallback: Router | None = None, client: httpx.Client | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.snap = snap or SnapOptions()
        self.profile = profile
        self.engine_name = "osrm"
        self.max_table_size = max(2, int(max_table_size))
        self.fallback = fallback
        self._client = client or httpx.Client(timeout=timeout_s)

    def close(self) -> None:
        self._client.close()

    def _get(self, service: str, coords: str, params: dict[str, str]) -> dict[str, Any]:
        url = f"{self.base_url}/{service}/v1/{self.profile}/{coords}"
        try:
            resp = self._client.get(url, params=params)
        except httpx.HTTPError as exc:
            raise OsrmError(f"OSRM {service} request failed: {exc}") from exc
        try:
            body = resp.json()
        except ValueError as exc:
            raise OsrmError(f"OSRM {service}: HTTP {resp.status_code}, not JSON") from exc
        if resp.status_code >= 500 or not isinstance(body, dict):
            raise OsrmError(f"OSRM {service}: HTTP {resp.status_code}")
        return body

    def _table(self, sources: npt.NDArray[np.float64], destinations: npt.NDArray[np.float64]
               ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64],
                          npt.NDArray[np.float64]]:
        """Durations (inf where null) and snap distances of sources and destinations."""
        n_s, n_d = sources.shape[0], destinations.shape[0]
        body = self._get("table", _coord_list(np.vstack([sources, destinations])), {
            "sources": ";".join(str(i) for i in range(n_s)),
            "destinations": ";".join(str(n_s + j) for j in range(n_d)),
            "annotations": "duration",
        })
        if body.get("code") != "Ok":
            raise OsrmError(f"OSRM table: {body.get('code')} {body.get('message', '')}")
        dur = np.array([[np.inf if v is None else float(v) for v in row]
                        for row in body["durations"]], dtype=np.float64).reshape(n_s, n_d)
        s_snap = np.array([float(w.get("distance", 0.0)) for w in body["sources"]])
        d_snap = np.array([float(w.get("distance", 0.0)) for w in body["destinations"]])
        return dur, s_snap, d_snap

    def _matrix(self, o: npt.NDArray[np.float64], t: npt.NDArray[np.float64]
                ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64],
                           npt.NDArray[np.bool_]]:
        """Seconds, origin snap metres and off-network flags, in table-size chunks."""
        out = np.empty((o.shape[0], t.shape[0]))
        o_snap = np.zeros(o.shape[0])
        t_snap = np.zeros(t.shape[0])
        t_step = max(1, min(t.shape[0], self.max_table_size // 2))
        o_step = max(1, self.max_table_size - t_step)
        for j0 in range(0, t.shape[0], t_step):
            for i0 in range(0, o.shape[0], o_step):
                dur, s_m, d_m = self._table(o[i0:i0 + o_step], t[j0:j0 + t_step])
                out[i0:i0 + o_step, j0:j0 + t_step] = dur
                o_snap[i0:i0 + o_step] = s_m
                t_snap[j0:j0 + t_step] = d_m
        off = (o_snap[:, None] > self.snap.off_network_m) | \
              (t_snap[None, :] > self.snap.off_network_m)
        out = out + (o_snap[:, None] + t_snap[None, :]) / self.snap.snap_mps
        for j in range(t.shape[0]):
            if off[:, j].any():
                est = haversine_many_m(o[:, 0], o[:, 1], t[j, 0], t[j, 1]) / self.snap.fallback_mps
                out[off[:, j], j] = est[off[:, j]]
        return out, o_snap, off

    def travel_times(self, origins: _validate.PointsLike | SnappedPoints,
                     target: _validate.PointLike | SnappedPoints, limit_s: float | None = None
                     ) -> TravelTimes:
        o = _validate.lonlat_points(_coords(origins), what="origins")
        t = np.asarray([_validate.lonlat_point(_coords(target), what="target")])
        if o.shape[0] == 0:
            return TravelTimes(np.empty(0), np.empty(0, dtype=bool), self.engine_name,
                               np.empty(0))
        try:
            m, o_snap, off = self._matrix(o, t)
        except OsrmError:
            if self.fallback is None:
                raise
            log.warning("OSRM unavailable; answering with %s", self.fallback.engine_name,
                        exc_info=True)
            return self.fallback.travel_times(o, t[0], limit_s)
        seconds = m[:, 0].copy()
        if limit_s is not None:
            seconds[seconds > float(limit_s)] = np.inf
        return TravelTimes(seconds, off[:, 0].copy(), self.engine_name, o_snap)

    def matrix(self, origins: _validate.PointsLike | SnappedPoints,
               targets: _validate.PointsLike | SnappedPoints) -> npt.NDArray[np.float64]:
        o = _validate.lonlat_points(_coords(origins), what="origins")
        t = _validate.lonlat_points(_coords(targets), what="targets")
        if o.shape[0] == 0 or t.shape[0] == 0:
            return np.empty((o.shape[0], t.shape[0]))
        try:
            return self._matrix(o, t)[0]
        except OsrmError:
            if self.fallback is None:
                raise
            log.warning("OSRM unavailable; answering with %s", self.fallback.engine_name,
                        exc_info=True)
            return self.fallback.matrix(o, t)

    def route(self, origin: _validate.PointLike, target: _validate.PointLike) -> Route:
        o = _validate.lonlat_point(origin, what="origin")
        t = _validate.lonlat_point(target, what="target")
        try:
            body = self._get("route", _coord_list(np.asarray([o, t])),
                             {"overview": "full", "geometries": "geojson", "steps": "false"})
            code = body.get("code")
            if code in ("NoRoute", "NoSegment"):
                snaps = [float(w.get("distance", 0.0)) for w in body.get("waypoints") or []]
                if code == "NoSegment" or max(snaps, default=0.0) > self.snap.off_network_m:
                    return self._off_network_route(o, t)
                return Route(None, None, [], False, self.engine_name)
            if code != "Ok":
                raise OsrmError(f"OSRM route: {code} {body.get('message', '')}")
        except OsrmError:
            if self.fallback is None:
                raise
            log.warning("OSRM unavailable; answering with %s", self.fallback.engine_name,
                        exc_info=True)
            return self.fallback.route(o, t)
        snap_m = [float(w.get("distance", 0.0)) for w in body["waypoints"]]
        if max(snap_m) > self.snap.off_network_m:
            return self._off_network_route(o, t)
        best = body["routes"][0]
        line = [(float(x), float(y)) for x, y in best["geometry"]["coordinates"]]
        seconds = float(best["duration"]) + sum(snap_m) / self.snap.snap_mps
        meters = float(best["distance"]) + sum(snap_m)
        return Route(seconds, meters, [o, *line, t], False, self.engine_name)
