"""Engine, sessions and the one spatial column type that runs on SQLite and PostGIS.

Points are PostGIS ``geography(Point,4326)`` on PostgreSQL (GiST-indexed) and a 21-byte WKB blob
on SQLite. The same models and the same queries run on both: the distance function the code
needs (``ST_Distance`` in metres) is registered on every SQLite connection.
"""

from __future__ import annotations

import sqlite3
import struct
from pathlib import Path
from typing import Any, NamedTuple

import geoalchemy2  # noqa: F401  (registers PostGIS types for reflection)
from sqlalchemy import Engine, LargeBinary, create_engine, event, text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator, UserDefinedType

from geo.distance import haversine_m

_WKB_POINT = struct.Struct("<BIdd")
_EWKB_POINT_4326 = struct.Struct("<BIIdd")


class LonLat(NamedTuple):
    """A WGS-84 position; units in the names because ``(x, y)`` order is a classic bug."""

    lon: float
    lat: float


def point_wkb(lon: float, lat: float) -> bytes:
    return _WKB_POINT.pack(1, 1, lon, lat)


def parse_point(value: bytes | memoryview | str) -> LonLat:
    """Read a point from WKB/EWKB bytes or their hex text (what PostGIS returns)."""
    raw = bytes.fromhex(value) if isinstance(value, str) else bytes(value)
    order = "<" if raw[0] == 1 else ">"
    (gtype,) = struct.unpack_from(order + "I", raw, 1)
    offset = 9 if gtype & 0x20000000 else 5
    lon, lat = struct.unpack_from(order + "dd", raw, offset)
    return LonLat(lon, lat)


class PGGeographyPoint(UserDefinedType[Any]):
    """``geography(Point,4326)`` with no driver-side processing: rows arrive as hex EWKB text,
    which ``parse_point`` reads directly (GeoAlchemy2's element wrapping costs more than the
    query on a 300-team candidate list)."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "geography(POINT,4326)"


class GeoPoint(TypeDecorator[LonLat]):
    """``geography(Point,4326)`` on PostgreSQL, WKB in a BLOB on SQLite; Python side ``LonLat``."""

    impl = LargeBinary
    cache_ok = True
    # Read by GeoAlchemy2's DDL hooks; the GiST index is declared explicitly on the model.
    geometry_type = "POINT"
    srid = 4326
    dimension = 2
    spatial_index = False
    use_N_D_index = False
    use_typmod = None
    nullable = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(PGGeographyPoint())
        return dialect.type_descriptor(LargeBinary())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        lon, lat = value
        if dialect.name == "postgresql":
            return f"SRID=4326;POINT({float(lon)!r} {float(lat)!r})"
        return point_wkb(float(lon), float(lat))

    def process_result_value(self, value: Any, dialect: Dialect) -> LonLat | None:
        if value is None:
            return None
        data = getattr(value, "data", value)
        return parse_point(data)


def _st_distance(a: bytes | None, b: bytes | None) -> float | None:
    if a is None or b is None:
        return None
    pa, pb = parse_point(a), parse_point(b)
    return haversine_m(pa.lon, pa.lat, pb.lon, pb.lat)


def _st_point(lon: float, lat: float) -> bytes:
    return point_wkb(lon, lat)


def _on_sqlite_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
    dbapi_conn.create_function("ST_Distance", 2, _st_distance, deterministic=True)
    dbapi_conn.create_function("ST_X", 1, lambda b: None if b is None else parse_point(b).lon,
                               deterministic=True)
    dbapi_conn.create_function("ST_Y", 1, lambda b: None if b is None else parse_point(b).lat,
                               deterministic=True)
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for either backend, with SQLite set up for concurrent web use."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        if path in ("", ":memory:"):
            kwargs.setdefault("poolclass", StaticPool)
        engine = create_engine(url, connect_args={"check_same_thread": False}, **kwargs)
        event.listen(engine, "connect", _on_sqlite_connect)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def recreate_postgres_database(server_url: str, name: str) -> str:
    """Drop and create database ``name`` on the server of ``server_url``; return its URL.

    For tests and benchmarks, which need an empty database of their own.
    """
    admin = make_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return server_url.rsplit("/", 1)[0] + "/" + name


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)


