"""The process's road router, built once from the settings (memory-mapped graph cache).

Every worker builds its own from the same cache; the CCH order is cached on disk by ``geo``, so
start-up is a memory map plus a customisation, well under a second on the Taiyuan graph.
"""

from __future__ import annotations

import threading

from dispatch.settings import Settings
from geo.network import load_network
from geo.router import Router, SnapOptions, make_router

_lock = threading.Lock()
_routers: dict[str, Router] = {}


def _key(settings: Settings) -> str:
    return settings.model_dump_json(include={
        "geo_roads", "geo_cache_dir", "geo_engine", "geo_osrm_url", "geo_speeds_kmh",
        "geo_snap_speed_kmh", "geo_off_network_m", "geo_fallback_speed_kmh"})


def router_for(settings: Settings) -> Router:
    """The router for these settings, built on first use and shared afterwards."""
    key = _key(settings)
    with _lock:
        router = _routers.get(key)
        if router is None:
            snap = SnapOptions(snap_speed_kmh=settings.geo_snap_speed_kmh,
                               off_network_m=settings.geo_off_network_m,
                               fallback_speed_kmh=settings.geo_fallback_speed_kmh)
            fallback = None
            net = None
            if settings.geo_engine != "osrm" or settings.geo_roads.is_file():
                net = load_network(settings.geo_roads, cache_dir=settings.geo_cache_dir,
                                   speeds_kmh=settings.geo_speeds_kmh)
            if settings.geo_engine == "osrm" and net is not None:
                fallback = make_router(net, engine="scipy", snap=snap)
            router = make_router(net, engine=settings.geo_engine, snap=snap,
                                 osrm_url=settings.geo_osrm_url,
                                 **({"fallback": fallback} if fallback else {}))
            _routers[key] = router
        return router


def router_loaded(settings: Settings) -> bool:
    """Whether this process has built the router for these settings (``/readyz``)."""
    with _lock:
        return _key(settings) in _routers
