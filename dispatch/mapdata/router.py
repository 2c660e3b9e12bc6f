"""``/api/v1/geo``: planned routes for the map, the offline basemap and the map settings."""

from __future__ import annotations

import gzip
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel

from dispatch.deps import AnyUser, SettingsDep, Staff
from dispatch.errors import Problem
from dispatch.mapdata import basemap
from dispatch.routing import router_for

router = APIRouter(prefix="/api/v1/geo", tags=["geo"])


class RouteOut(BaseModel):
    seconds: float | None
    meters: float | None
    coords: list[tuple[float, float]]
    engine: str
    off_network: bool


class MapConfig(BaseModel):
    tile_url: str | None
    tile_crs: str
    tile_attribution: str
    center: tuple[float, float]
    timezone: str = "Asia/Shanghai"  # the centre's zone: pages show times on its clock


def _point(raw: str, field: str) -> tuple[float, float]:
    try:
        lon_s, lat_s = raw.split(",")
        lon, lat = float(lon_s), float(lat_s)
    except ValueError:
        raise Problem(422, "Bad coordinate", f"{field} must be LON,LAT in degrees",
                      field=field) from None
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise Problem(422, "Bad coordinate", f"{field} is outside lon/lat range", field=field)
    return lon, lat


@router.get("/route", response_model=RouteOut)
def route(_: Staff, settings: SettingsDep,
          from_: Annotated[str, Query(alias="from", description="LON,LAT (WGS-84)")],
          to: Annotated[str, Query(description="LON,LAT (WGS-84)")]) -> RouteOut:
    """The quickest road route (the line the console draws for an assignment)."""
    origin, target = _point(from_, "from"), _point(to, "to")
    r = router_for(settings).route(origin, target)
    return RouteOut(seconds=None if r.seconds is None else round(r.seconds, 1),
                    meters=None if r.meters is None else round(r.meters, 1),
                    coords=[(round(x, 6), round(y, 6)) for x, y in r.coords],
                    engine=r.engine, off_network=r.off_network)


@router.get("/basemap", response_class=Response,
            responses={200: {"content": {"application/geo+json": {}}}})
def get_basemap(_: AnyUser, request: Request, settings: SettingsDep) -> Response:
    """Roads (by rank) and district boundaries, WGS-84, gzipped when the client accepts it."""
    bm = basemap.load(settings.geo_roads, settings.var_dir / "basemap")
    headers = {"ETag": bm.etag, "Cache-Control": "private, max-age=86400", "Vary":
               "Accept-Encoding"}
    if request.headers.get("if-none-match") == bm.etag:
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        return Response(bm.gz, media_type="application/geo+json",
                        headers={**headers, "Content-Encoding": "gzip"})
    return Response(gzip.decompress(bm.gz), media_type="application/geo+json", headers=headers)


@router.get("/config", response_model=MapConfig)
def map_config(_: AnyUser, settings: SettingsDep) -> MapConfig:
    """Where the pages get their optional tile layer from (unset: offline basemap only)."""
    return MapConfig(tile_url=settings.map_tile_url, tile_crs=settings.map_tile_crs,
                     tile_attribution=settings.map_tile_attribution, center=(112.55, 37.86),
                     timezone=settings.timezone)
