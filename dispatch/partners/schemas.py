"""API shapes of partners (admin) and of the partner interface; validation names the field."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from dispatch.incidents.schemas import normalise_phone
from dispatch.partners.models import KINDS
from dispatch.partners.outbox import EVENT_TYPES

Kind = Literal["province_platform", "city_command", "fire_119", "police_110", "hotline_12345",
               "other"]
assert set(Kind.__args__) == set(KINDS)  # type: ignore[attr-defined]


def _events(v: list[str] | None) -> list[str] | None:
    if v is None:
        return v
    unknown = sorted(set(v) - set(EVENT_TYPES))
    if unknown:
        raise ValueError(f"unknown event types {unknown}; use {', '.join(EVENT_TYPES)}")
    return sorted(set(v))


def _url(v: str | None) -> str | None:
    if v in (None, ""):
        return None
    assert v is not None
    if not v.startswith(("http://", "https://")):
        raise ValueError("an http:// or https:// URL")
    return v


class PartnerCreate(BaseModel):
    model_config = {"extra": "forbid"}
    name: str = Field(min_length=1, max_length=80)
    kind: Kind
    url: str | None = Field(default=None, max_length=500)
    events: list[str] = Field(default_factory=list, max_length=20)
    region: str | None = Field(default=None, max_length=64, description="zone code or name")
    duty_phone: str | None = None

    _ev = field_validator("events")(_events)
    _u = field_validator("url")(_url)

    @field_validator("duty_phone")
    @classmethod
    def _phone(cls, v: str | None) -> str | None:
        return None if v in (None, "") else normalise_phone(v)


class PartnerUpdate(BaseModel):
    model_config = {"extra": "forbid"}
    url: str | None = Field(default=None, max_length=500)
    events: list[str] | None = Field(default=None, max_length=20)
    region: str | None = Field(default=None, max_length=64)
    duty_phone: str | None = None
    enabled: bool | None = None

    _ev = field_validator("events")(_events)
    _u = field_validator("url")(_url)

    @field_validator("duty_phone")
    @classmethod
    def _phone(cls, v: str | None) -> str | None:
        return None if v in (None, "") else normalise_phone(v)


class PartnerOut(BaseModel):
    id: int
    name: str
    kind: str
    url: str | None
    events: list[str]
    region: str | None
    duty_phone: str | None
    enabled: bool
    paused: bool
    failures: int
    created_at: datetime


class PartnerCreated(PartnerOut):
    api_key: str
    secret: str


class SecretOut(BaseModel):
    id: int
    secret: str


class DeliveryOut(BaseModel):
    id: int
    partner_id: int
    incident_id: int | None
    event_type: str
    delivery_id: str
    seq: int
    status: str
    attempts: int
    next_at: datetime
    last_error: str | None
    response_code: int | None
    created_at: datetime
    delivered_at: datetime | None


class ReplayIn(BaseModel):
    model_config = {"extra": "forbid"}
    since: datetime
    until: datetime


class ReplayOut(BaseModel):
    replayed: int


class ResolveIn(BaseModel):
    model_config = {"extra": "forbid"}
    incident_id: int | None = Field(default=None, ge=1, le=2**31 - 1,
                                    description="the incident the operator recorded for it")
    note: str = Field(min_length=2, max_length=500)


class ReportOut(BaseModel):
    id: int
    partner_id: int
    partner: str
    external_id: str
    body: dict[str, Any]
    incident_id: int | None
    resolved: bool
    answer_status: int
    answer: dict[str, Any]
    created_at: datetime


class TransferIn(BaseModel):
    """An entrapment handed over by a partner (110, 119, 12345, city command)."""

    model_config = {"extra": "forbid"}
    external_id: str = Field(min_length=1, max_length=128)
    rescue_code: str | None = Field(default=None, min_length=1, max_length=12)
    register_code: str | None = Field(default=None, min_length=1, max_length=24)
    address: str | None = Field(default=None, min_length=1, max_length=300)
    lon: float | None = Field(default=None, ge=-180, le=180)
    lat: float | None = Field(default=None, ge=-90, le=90)
    crs: Literal["wgs84", "gcj02", "bd09"] = "wgs84"
    caller_phone: str | None = None
    trapped_count: int | None = Field(default=None, ge=0, le=100, strict=True)
    injured: bool = False
    vulnerable: bool = False
    notes: str | None = Field(default=None, max_length=2000)
    reported_at: datetime | None = None

    @field_validator("caller_phone")
    @classmethod
    def _phone(cls, v: str | None) -> str | None:
        return None if v in (None, "") else normalise_phone(v)

    @model_validator(mode="after")
    def _where(self) -> TransferIn:
        if not (self.rescue_code or self.register_code
                or (self.address and self.lon is not None and self.lat is not None)):
            raise ValueError("give rescue_code, register_code, or address with lon and lat")
        return self


class StatusIn(BaseModel):
    model_config = {"extra": "forbid"}
    status: Literal["accepted", "arrived", "released", "declined"]
    at: datetime | None = None
    note: str | None = Field(default=None, max_length=500)


class PartnerIncidentView(BaseModel):
    external_id: str
    incident_id: int | None
    resolved: bool
    state: str | None = None
    incident: dict[str, Any] | None = None


class FeedOut(BaseModel):
    events: list[dict[str, Any]]
    next: int
    """The cursor to send as ``since`` next time (the last row's id; unchanged when empty)."""
