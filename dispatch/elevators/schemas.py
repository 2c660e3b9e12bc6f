"""API shapes for the elevator registry."""

from __future__ import annotations

from pydantic import BaseModel


class OrgRef(BaseModel):
    id: int
    name: str
    phone: str | None
    kind: str


class ElevatorOut(BaseModel):
    id: int
    rescue_code: str
    register_code: str
    address: str
    building: str
    district: str
    zone_id: int
    lon: float
    lat: float
    floors: int
    gcj02: tuple[float, float]
    """The entrance in GCJ-02 (Amap/Tencent), for navigation links and Chinese map tiles."""
    bd09: tuple[float, float]
    """The entrance in BD-09 (Baidu)."""
    site_type: str
    three_no: bool
    in_service: bool
    use_unit: OrgRef | None
    maintenance_company: OrgRef | None
    insurer: OrgRef | None
