"""OSRM engine against a small local fake of OSRM's ``table``/``route`` HTTP API.

The fake answers from the embedded Taiyuan graph (snap to the nearest node, scipy Dijkstra), so
the OSRM router must reproduce the embedded router's numbers exactly.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest

from geo.engines import ScipyEngine
from geo.network import RoadNetwork
from geo.osrm import OsrmError, OsrmRouter
from geo.router import GraphRouter, make_router


class FakeOsrm(ThreadingHTTPServer):
    def __init__(self, router: GraphRouter) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.router = router
        self.mode = "ok"
        self.requests: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: FakeOsrm

    def log_message(self, *args: Any) -> None:  # keep pytest output clean
        pass

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        srv = self.server
        srv.requests.append(self.path)
        if srv.mode == "error500":
            self._send(500, {"code": "InternalError"})
            return
        url = urlsplit(self.path)
        parts = url.path.split("/")  # '', service, 'v1', profile, coords
        service, coords = parts[1], parts[4]
        pts = np.array([[float(v) for v in c.split(",")] for c in coords.split(";")])
        nodes, snap_m = srv.router.snap_to_network(pts)
        net = srv.router.net
        wp = [{"location": [float(net.lon[n]), float(net.lat[n])], "distance": float(d),
               "name": ""} for n, d in zip(nodes, snap_m, strict=True)]
        engine = srv.router.engine
        if service == "table":
            q = parse_qs(url.query)
            src = [int(i) for i in q["sources"][0].split(";")]
            dst = [int(i) for i in q["destinations"][0].split(";")]
            ds = engine.many_to_many(nodes[src], nodes[dst]) / 10.0
            dur = [[None if np.isinf(v) else float(v) for v in row] for row in ds]
            self._send(200, {"code": "Ok", "durations": dur,
                             "sources": [wp[i] for i in src],
                             "destinations": [wp[j] for j in dst]})
            return
        if srv.mode == "noroute":
            self._send(400, {"code": "NoRoute", "message": "Impossible route", "waypoints": wp})
            return
        path = engine.path(int(nodes[0]), int(nodes[1]))
        assert path is not None
        arcs = [net.arc_between(u, v) for u, v in itertools.pairwise(path)]
        self._send(200, {"code": "Ok", "waypoints": wp, "routes": [{
            "duration": float(np.sum(net.weight_ds[arcs])) / 10.0,
            "distance": float(np.sum(net.length_m[arcs])),
            "geometry": {"type": "LineString",
                         "coordinates": [[float(net.lon[v]), float(net.lat[v])] for v in path]},
        }]})


@pytest.fixture(scope="module")
def embedded(taiyuan: RoadNetwork) -> GraphRouter:
    return GraphRouter(taiyuan, ScipyEngine(taiyuan))


@pytest.fixture()
def fake(embedded: GraphRouter) -> Iterator[FakeOsrm]:
    server = FakeOsrm(embedded)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


# Coordinates travel in the URL with 7 decimals (≈ 1 cm), hence 0.01 s tolerances below.
def _points(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.uniform(112.49, 112.61, n), rng.uniform(37.78, 37.90, n)])


def test_travel_times_equal_embedded(fake: FakeOsrm, embedded: GraphRouter) -> None:
    osrm = make_router(None, engine="osrm", osrm_url=fake.url, max_table_size=50)
    origins = np.vstack([_points(120, 1), [[113.3, 38.3]]])  # > one table chunk, one far away
    target = (112.5555, 37.8555)
    got = osrm.travel_times(origins, target, limit_s=1500)
    want = embedded.travel_times(origins, target, limit_s=1500)
    assert got.engine == "osrm"
    assert np.array_equal(got.off_network, want.off_network) and got.off_network[-1]
    assert np.allclose(got.seconds, want.seconds, rtol=0, atol=0.01)
    assert np.isinf(got.seconds).any() and np.isfinite(got.seconds).any()
    assert len(fake.requests) == 3  # 121 origins in chunks of 49
    first = urlsplit(fake.requests[0])
    assert first.path.startswith("/table/v1/driving/")
    assert "112." in first.path.split("/")[-1].split(",")[0]  # longitude first
    # a handle snapped by the embedded router only lends its coordinates to OSRM
    handle = osrm.travel_times(embedded.snap_points(origins), target, limit_s=1500)
    assert np.array_equal(handle.seconds, got.seconds)


def test_matrix_and_route_equal_embedded(fake: FakeOsrm, embedded: GraphRouter) -> None:
    osrm = OsrmRouter(fake.url)
    o, t = _points(7, 2), _points(3, 3)
    assert np.allclose(osrm.matrix(o, t), embedded.matrix(o, t), rtol=0, atol=0.01)
    a, b = (112.5301, 37.8102), (112.5712, 37.8650)
    got, want = osrm.route(a, b), embedded.route(a, b)
    assert got.seconds == pytest.approx(want.seconds, abs=0.01)
    assert got.meters == pytest.approx(want.meters, abs=0.05)
    assert got.coords == want.coords and got.engine == "osrm" and not got.off_network
    far = osrm.route((113.3, 38.3), b)
    assert far.off_network and far.coords == [(113.3, 38.3), b]


def test_no_route(fake: FakeOsrm) -> None:
    fake.mode = "noroute"
    r = OsrmRouter(fake.url).route((112.5301, 37.8102), (112.5712, 37.8650))
    assert r.seconds is None and r.meters is None and not r.off_network


def test_server_error_raises_or_falls_back(fake: FakeOsrm, embedded: GraphRouter) -> None:
    fake.mode = "error500"
    with pytest.raises(OsrmError):
        OsrmRouter(fake.url).travel_times([(112.55, 37.85)], (112.56, 37.86))
    safe = OsrmRouter(fake.url, fallback=embedded)
    tt = safe.travel_times([(112.55, 37.85)], (112.56, 37.86))
    assert tt.engine == "scipy"
    assert safe.route((112.55, 37.85), (112.56, 37.86)).engine == "scipy"
    with pytest.raises(OsrmError):
        OsrmRouter("http://127.0.0.1:9", timeout_s=0.5).matrix([(112.55, 37.85)],
                                                                 [(112.56, 37.86)])


def test_osrm_needs_url(taiyuan: RoadNetwork) -> None:
    with pytest.raises(ValueError, match="osrm_url"):
        make_router(taiyuan, engine="osrm")
