"""API shapes for teams and their duty."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class DutyIn(BaseModel):
    model_config = {"extra": "forbid"}
    on_duty: bool
    reason: str | None = Field(default=None, max_length=500,
                               description="why; required when a supervisor or admin changes "
                               "another team's duty")


class TeamJob(BaseModel):
    assignment_id: int
    incident_id: int
    state: str


class DutyChange(BaseModel):
    source: str
    actor: str
    role: str | None
    reason: str | None
    at: datetime


class TeamOut(BaseModel):
    id: int
    code: str
    name: str
    phone: str
    organization_id: int
    organization_name: str
    organization_kind: str
    status: str
    on_duty: bool
    retired: bool
    roster: str | None
    job: TeamJob | None = Field(description="the open assignment the team has in hand")
    last_duty_change: DutyChange | None
    lon: float
    lat: float
    position_source: str
    position_at: datetime | None
    gps_status: str | None = Field(
        None, description="``denied`` or ``unavailable`` when the crew phone reported that it "
        "cannot get a position (since the last fix); ``null`` otherwise")
    gps_status_at: datetime | None = None


class GpsStatusIn(BaseModel):
    """What the crew phone's geolocation says: permission denied, no fix, or working."""

    state: Literal["denied", "unavailable", "ok"]


class TeamEventOut(BaseModel):
    id: int
    type: str
    actor: str
    role: str | None
    source: str
    reason: str | None
    at: datetime
