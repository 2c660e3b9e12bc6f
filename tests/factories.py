"""Factories that build registry rows for tests (one call, sensible defaults, override anything)."""

from __future__ import annotations

import itertools
import json
from typing import Any

from shapely.geometry import mapping
from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.auth.passwords import hash_password
from dispatch.db import LonLat
from dispatch.models import Elevator, Organization, Team, User, Zone
from dispatch.settings import ROOT
from geo.zones import read_zone_features

_seq = itertools.count(1)
PASSWORD = "test-password-1"
_HASH: dict[str, str] = {}

# Points inside the real district polygons (WGS-84).
XIAODIAN = LonLat(112.5650, 37.8350)
QINGXU = LonLat(112.3580, 37.6070)
ZONE_POINTS = {"小店区": XIAODIAN, "清徐县": QINGXU}


def make_zone(session: Session, name: str = "小店区") -> Zone:
    existing = session.scalar(select(Zone).where(Zone.name == name))
    if existing:
        return existing
    path = ROOT / "fixtures/taiyuan/taiyuan_districts_wgs84.geojson"
    for props, geom in read_zone_features(path):
        if props["name"] == name:
            urban = name.endswith("区")
            zone = Zone(code=str(props["adcode"]), name=name, name_en=props["name_en"],
                        kind="district" if urban else "county",
                        arrival_limit_min=30 if urban else 60,
                        boundary_geojson=json.dumps(mapping(geom)))
            session.add(zone)
            session.flush()
            return zone
    raise KeyError(name)


def make_org(session: Session, kind: str = "maintenance_company", **kw: Any) -> Organization:
    n = next(_seq)
    org = Organization(kind=kind, code=kw.pop("code", f"T{kind[:3].upper()}{n}"),
                       name=kw.pop("name", f"测试{kind}{n}"), phone=kw.pop("phone", "13800000000"),
                       **kw)
    session.add(org)
    session.flush()
    return org


def make_elevator(session: Session, *, zone_name: str = "小店区", **kw: Any) -> Elevator:
    n = next(_seq)
    zone = make_zone(session, zone_name)
    if "maintenance_company_id" not in kw:
        kw["maintenance_company_id"] = make_org(session).id
    if "use_unit_id" not in kw:
        kw["use_unit_id"] = make_org(session, "use_unit").id
    elevator = Elevator(
        rescue_code=kw.pop("rescue_code", f"{900000 + n}"),
        register_code=kw.pop("register_code", f"3110140105{2020:04d}{n:06d}"),
        location=kw.pop("location", ZONE_POINTS.get(zone_name, XIAODIAN)),
        address=kw.pop("address", f"太原市{zone_name}测试路{n}号阳光小区{n}号楼"),
        building=kw.pop("building", f"阳光小区{n}号楼"),
        zone_id=zone.id, site_type=kw.pop("site_type", "residential"), **kw,
    )
    session.add(elevator)
    session.flush()
    return elevator


def make_team(session: Session, *, organization: Organization | None = None, **kw: Any) -> Team:
    n = next(_seq)
    org = organization or make_org(session)
    team = Team(organization_id=org.id, code=kw.pop("code", f"TEAM{n}"),
                name=kw.pop("name", f"{org.name}一组"), phone=kw.pop("phone", "13900000000"),
                base_location=kw.pop("base_location", XIAODIAN), **kw)
    session.add(team)
    session.flush()
    return team


def make_user(session: Session, role: str, **kw: Any) -> User:
    """A user; ``region=<zone name>`` limits an office user to that zone."""
    n = next(_seq)
    region = kw.pop("region", None)
    if region is not None:
        kw["region_zone_id"] = session.scalar(select(Zone.id).where(Zone.name == region))
        assert kw["region_zone_id"] is not None, f"no zone {region}"
    if PASSWORD not in _HASH:
        _HASH[PASSWORD] = hash_password(PASSWORD)
    user = User(username=kw.pop("username", f"{role}{n}"), role=role,
                password_hash=_HASH[PASSWORD], **kw)
    session.add(user)
    session.flush()
    return user
