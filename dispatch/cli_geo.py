"""`rescue geo …` and `rescue route` commands: road-network import, coverage, one route.

Defaults come from the settings (``RESCUE_GEO_ROADS``, ``RESCUE_GEO_CACHE_DIR``, the speed
table and snapping options); ``RESCUE_GEO_DISTRICTS`` (zone outlines, WGS-84) gives the demo
stations of ``coverage``.
"""

from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from shapely.geometry import box

from dispatch.settings import get_settings
from geo import _validate
from geo.coverage import compute_coverage, suggest_stations
from geo.network import RoadNetwork, load_network
from geo.zones import read_zone_features

geo_app = typer.Typer(help="Road network: import, coverage.", no_args_is_help=True)
console = Console()

DEFAULT_ROADS = "fixtures/taiyuan/taiyuan_core_roads_osm.geojson"
DEFAULT_CACHE_DIR = "var/geo-cache"
DEFAULT_DISTRICTS = "fixtures/taiyuan/taiyuan_districts_wgs84.geojson"
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(h|m|min|s)?\s*$", re.IGNORECASE)


def _roads(path: Path | None) -> Path:
    return path or get_settings().geo_roads


def _cache_dir(path: Path | None) -> Path:
    return path or get_settings().geo_cache_dir


def _load(roads: Path | None, cache_dir: Path | None) -> RoadNetwork:
    src = _roads(roads)
    if not src.is_file():
        raise typer.BadParameter(f"road file not found: {src} (set RESCUE_GEO_ROADS)")
    return load_network(src, cache_dir=_cache_dir(cache_dir),
                        speeds_kmh=get_settings().geo_speeds_kmh)


def parse_duration_s(text: str) -> float:
    """``"30m"`` → 1800.0; also ``"1h"``, ``"90s"``, ``"45min"`` and bare seconds ``"600"``."""
    m = _DURATION_RE.match(text)
    if not m:
        raise typer.BadParameter(f"not a duration: {text!r} (e.g. 30m, 1h, 900s)")
    value, unit = float(m.group(1)), (m.group(2) or "s").lower()
    return value * {"h": 3600.0, "m": 60.0, "min": 60.0, "s": 1.0}[unit]


def parse_lonlat(text: str) -> tuple[float, float]:
    """``"112.55,37.87"`` → ``(112.55, 37.87)`` (WGS-84, longitude first)."""
    try:
        lon_s, lat_s = text.split(",")
        return _validate.lonlat_point((float(lon_s), float(lat_s)))
    except ValueError as exc:
        raise typer.BadParameter(f"expected LON,LAT in degrees, got {text!r}") from exc


def read_points(path: Path) -> npt.NDArray[np.float64]:
    """Lon/lat points from a CSV (columns lon/lng/longitude, lat/latitude) or GeoJSON Points."""
    if path.suffix.lower() in (".geojson", ".json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        pts = [f["geometry"]["coordinates"][:2] for f in data.get("features", [])
               if (f.get("geometry") or {}).get("type") == "Point"]
        return _validate.lonlat_points(pts, what=str(path))
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        cols = {c.lower().strip(): c for c in reader.fieldnames or []}
        lon_c = next((cols[c] for c in ("lon", "lng", "longitude", "x") if c in cols), None)
        lat_c = next((cols[c] for c in ("lat", "latitude", "y") if c in cols), None)
        if lon_c is None or lat_c is None:
            raise typer.BadParameter(f"{path}: needs lon and lat columns")
        pts = [(float(r[lon_c]), float(r[lat_c])) for r in reader]
    return _validate.lonlat_points(pts, what=str(path))


@geo_app.command("import")
def import_(
    file: Path | None = typer.Argument(None, help="OSM extract (.geojson or .osm.pbf)."),
    cache_dir: Path | None = typer.Option(None, help="Graph cache (RESCUE_GEO_CACHE_DIR)."),
    cch: bool = typer.Option(True, help="Also compute and cache the CCH node order."),
) -> None:
    """Build (or verify) the cached drive graph of an OSM extract and print its figures."""
    src = _roads(file)
    if not src.is_file():
        raise typer.BadParameter(f"road file not found: {src}")
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                  TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                  console=console, transient=False) as progress:
        task = progress.add_task(f"importing {src.name}", total=None)

        def report(done: int, total: int | None) -> None:
            progress.update(task, completed=done, total=total)

        net = load_network(src, cache_dir=_cache_dir(cache_dir), progress=report)
        progress.update(task, completed=progress.tasks[0].total or 1,
                        total=progress.tasks[0].total or 1)
    order_note = ""
    if cch:
        from geo.engines import cch_available, load_or_compute_order

        if cch_available():
            load_or_compute_order(net)
            order_note = " (CCH order cached)"
    lon_min, lat_min, lon_max, lat_max = net.bbox
    console.print(f"nodes {net.n_nodes:,}  arcs {net.n_arcs:,}  "
                  f"road {net.total_km:,.1f} km (arcs {net.arc_km:,.1f} km)")
    console.print(f"bbox lon {lon_min:.4f}–{lon_max:.4f}, lat {lat_min:.4f}–{lat_max:.4f}")
    console.print(f"cache {net.cache_path}{order_note}")


def _registry_points(want_stations: bool, want_elevators: bool
                     ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """On-duty team bases and in-service elevators from the configured database."""
    from sqlalchemy import select

    from dispatch.db import make_engine
    from dispatch.models import Elevator, Team

    empty = np.empty((0, 2))
    engine = make_engine(get_settings().database_url)
    try:
        with engine.connect() as conn:
            st = [(p.lon, p.lat) for (p,) in conn.execute(
                select(Team.base_location).where(Team.on_duty.is_(True)))] \
                if want_stations else []
            el = [(p.lon, p.lat) for (p,) in conn.execute(
                select(Elevator.location).where(Elevator.in_service.is_(True)))] \
                if want_elevators else []
    except Exception as exc:  # no database yet: say so in one line
        raise typer.BadParameter(f"cannot read the registry ({type(exc).__name__}); "
                                 "run `rescue db upgrade` and load one, or use --demo") from None
    finally:
        engine.dispose()
    return (np.array(st) if st else empty), (np.array(el) if el else empty)


def _demo_points(net: RoadNetwork) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Stations at the district points near the network, elevators at 2,000 sampled nodes.

    The fixtures carry no elevator register or team bases yet; a fixed seed keeps the figures
    reproducible.
    """
    districts = Path(os.environ.get("RESCUE_GEO_DISTRICTS", DEFAULT_DISTRICTS))
    lon_min, lat_min, lon_max, lat_max = net.bbox
    stations = []
    if districts.is_file():
        for _, geom in read_zone_features(districts):
            p = geom.intersection(box(lon_min, lat_min, lon_max, lat_max))
            if not p.is_empty:
                rp = p.representative_point()
                stations.append((rp.x, rp.y))
    if not stations:
        stations = [((lon_min + lon_max) / 2, (lat_min + lat_max) / 2)]
    rng = np.random.default_rng(0)
    idx = rng.choice(net.n_nodes, size=min(2000, net.n_nodes), replace=False)
    return np.asarray(stations), np.column_stack([net.lon[idx], net.lat[idx]])


def _box(a: float, b: float, c: float, d: float) -> Any:
    from shapely.geometry import box

    return box(a, b, c, d)


@geo_app.command("coverage")
def coverage(
    limit: str = typer.Option("30m", "--limit", help="Arrival limit, e.g. 30m, 1h, 900s."),
    stations: Path | None = typer.Option(None, help="Team bases: CSV lon,lat or GeoJSON."),
    elevators: Path | None = typer.Option(None, help="Elevators: CSV lon,lat or GeoJSON."),
    suggest: int = typer.Option(3, help="Suggest this many new stations (0: none)."),
    uncovered_out: Path | None = typer.Option(None, "--uncovered", help="Write every "
                                              "uncovered point to this CSV (lon,lat)."),
    demo: bool = typer.Option(False, "--demo", help="Fixture district points and sampled "
                              "road nodes instead of the database's registry."),
    roads: Path | None = typer.Option(None, help="OSM extract (RESCUE_GEO_ROADS)."),
    cache_dir: Path | None = typer.Option(None, help="Graph cache (RESCUE_GEO_CACHE_DIR)."),
) -> None:
    """Share of elevators some station reaches within the limit, and where new ones would help."""
    limit_s = parse_duration_s(limit)
    if limit_s <= 0:
        raise typer.BadParameter("the limit must be more than 0", param_hint="--limit")
    for given, hint in ((stations, "--stations"), (elevators, "--elevators")):
        if given is not None and not given.is_file():
            raise typer.BadParameter(f"no such file: {given}", param_hint=hint)
    net = _load(roads, cache_dir)
    if demo:
        st, el = _demo_points(net)
        console.print("[yellow]demo data: fixture district points as stations, "
                      "2,000 sampled road nodes as elevators[/yellow]")
    else:
        st, el = _registry_points(stations is None, elevators is None)
    if stations is not None:
        st = read_points(stations)
    if elevators is not None:
        el = read_points(elevators)
    if len(st) == 0 or len(el) == 0:
        raise typer.BadParameter("no stations or no elevators to compare (load a registry, "
                                 "give --stations/--elevators, or use --demo)")
    res = compute_coverage(net, st, el, limit_s=limit_s)
    console.print(f"limit {limit_s / 60:g} min  stations {len(st)}  elevators {len(el)}")
    console.print(f"covered {int(res.covered.sum()):,} ({res.covered_share:.1%})  "
                  f"uncovered {res.uncovered.size:,}  off network {int(res.off_network.sum())}")
    if uncovered_out is not None:
        with uncovered_out.open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["lon", "lat"])
            w.writerows([f"{el[i, 0]:.6f}", f"{el[i, 1]:.6f}"] for i in res.uncovered)
        console.print(f"uncovered points written to {uncovered_out}")
    if res.uncovered.size:
        shown = ", ".join(f"#{i} ({el[i, 0]:.5f},{el[i, 1]:.5f})" for i in res.uncovered[:10])
        more = " …" if res.uncovered.size > 10 else ""
        console.print(f"uncovered: {shown}{more}")
    if suggest > 0 and res.uncovered.size:
        table = Table("rank", "lon", "lat", "newly covered", "share after")
        for i, s in enumerate(suggest_stations(net, el, suggest, limit_s=limit_s,
                                               coverage=res), start=1):
            table.add_row(str(i), f"{s.lon:.5f}", f"{s.lat:.5f}", str(s.newly_covered),
                          f"{s.covered_share_after:.1%}")
        console.print(table)


def route(
    from_: str = typer.Option(..., "--from", help="Origin LON,LAT (WGS-84)."),
    to: str = typer.Option(..., "--to", help="Destination LON,LAT (WGS-84)."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Driving time and distance between two points on the road graph."""
    origin, target = parse_lonlat(from_), parse_lonlat(to)
    from dispatch.routing import router_for

    settings = get_settings()
    if not settings.geo_roads.is_file() and settings.geo_engine != "osrm":
        raise typer.BadParameter(f"road file not found: {settings.geo_roads}")
    r = router_for(settings).route(origin, target)
    if json_out:
        typer.echo(json.dumps({
            "seconds": None if r.seconds is None else round(r.seconds, 1),
            "meters": None if r.meters is None else round(r.meters, 1),
            "engine": r.engine, "off_network": r.off_network}))
        return
    if r.seconds is None:
        typer.echo(f"no route ({r.engine})")
        return
    note = "  (straight-line estimate: off the road network)" if r.off_network else ""
    typer.echo(f"{r.seconds:.0f} s ({r.seconds / 60:.1f} min), {r.meters:,.0f} m "
               f"[{r.engine}]{note}")
