"""API shapes for the elevator registry."""

from __future__ import annotations

from datetime import datetime

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
    lift_no: int | None = None
    """Lookup only (issue 16): this lift's number among the lifts at its address (in
    registration-code order, which is the order they were registered) …"""
    lifts_at_address: int | None = None
    """… and how many lifts share that address (two lifts of one building differ here)."""


class CallerElevatorOut(BaseModel):
    """An elevator a number called about before (issue 13), with that caller's last incident."""

    elevator: ElevatorOut
    last_incident_id: int
    last_incident_at: datetime
    incidents: int
