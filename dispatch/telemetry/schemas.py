"""API shapes for the device API and the console views. Validation errors name the event index."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, TypeAdapter, ValidationError, field_validator

from dispatch.errors import Problem
from dispatch.security.inputs import InputRefused, depth, parse_json

MAX_EVENTS = 500
MAX_DETAIL_DEPTH = 4
"""``detail`` is a small object of vendor facts (``{"held_s": 4.2}``); nesting beyond this is
refused so a stored alarm can always be served back."""
EARLIEST_YEAR, LATEST_YEAR = 2000, 2100


class EventIn(BaseModel):
    """One terminal event. Extra fields are ignored here but kept in the stored raw event."""

    model_config = {"extra": "ignore"}

    event_id: str = Field(min_length=1, max_length=64)
    code: str = Field(min_length=1, max_length=32)
    occurred_at: datetime
    floor: int | str | None = None
    door_zone: bool | None = None
    passenger_present: bool | None = None
    detail: dict[str, Any] | None = None

    @field_validator("code", mode="before")
    @classmethod
    def _code_text(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v

    @field_validator("occurred_at")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("give a time zone (e.g. 2026-11-30T08:30:00+08:00) or Unix seconds")
        try:
            utc = v.astimezone(UTC)
        except OverflowError:
            raise ValueError(f"a time between {EARLIEST_YEAR} and {LATEST_YEAR}") from None
        if not EARLIEST_YEAR <= utc.year < LATEST_YEAR:
            raise ValueError(f"a time between {EARLIEST_YEAR} and {LATEST_YEAR}")
        return v

    @field_validator("detail")
    @classmethod
    def _shallow(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        if v is not None and depth(v) > MAX_DETAIL_DEPTH:
            raise ValueError(f"detail nests at most {MAX_DETAIL_DEPTH} levels")
        return v

    @field_validator("floor")
    @classmethod
    def _floor(cls, v: int | str | None) -> int | str | None:
        if isinstance(v, str) and not 0 < len(v) <= 8:
            raise ValueError("a floor label is 1 to 8 characters")
        if isinstance(v, int) and not -20 <= v <= 300:
            raise ValueError("floor must be between -20 and 300")
        return v


class Batch(BaseModel):
    events: list[EventIn] = Field(min_length=1, max_length=MAX_EVENTS)


_BATCH = TypeAdapter(Batch)


def parse_batch(body: bytes) -> tuple[list[EventIn], list[dict[str, Any]]]:
    """The validated events and the raw JSON objects as sent; any error is a 422 naming
    ``events.<index>.<field>`` (so nothing of a bad batch is stored)."""
    try:
        data = parse_json(body)
    except InputRefused as exc:
        raise Problem(422, "Invalid event batch", f"{exc.field}: {exc.message}",
                      field=exc.field) from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Problem(422, "Invalid JSON", str(exc), field="body") from exc
    try:
        batch = _BATCH.validate_python(data)
    except ValidationError as exc:
        errors = [{"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]}
                  for e in exc.errors()]
        first = exc.errors()[0]
        loc = first["loc"]
        extra: dict[str, Any] = {}
        if len(loc) >= 2 and loc[0] == "events" and isinstance(loc[1], int):
            extra = {"event_index": loc[1],
                     "event_field": ".".join(str(p) for p in loc[2:]) or None}
        raise Problem(422, "Invalid event batch", f"{errors[0]['field']}: {errors[0]['message']}",
                      field=errors[0]["field"], errors=errors, **extra) from exc
    return batch.events, list(data["events"])


# queued: stored by the MQTT consumer and not judged yet; failed: judging it raised
Outcome = Literal["created", "joined", "filtered", "flagged", "recorded", "queued", "failed"]


class EventResult(BaseModel):
    event_id: str
    code: str
    kind: str
    outcome: Outcome
    reason: str | None = None
    incident_id: int | None = None
    duplicate: bool = False


class BatchResult(BaseModel):
    device_id: str
    received: int
    stored: int
    duplicates: int
    results: list[EventResult]


class DeviceCreate(BaseModel):
    model_config = {"extra": "forbid"}

    elevator_id: int = Field(gt=0, le=2**31 - 1)
    device_id: str | None = Field(default=None, min_length=3, max_length=64,
                                  pattern=r"^[A-Za-z0-9_.:-]+$")
    label: str | None = Field(default=None, max_length=120)


class DeviceCreated(BaseModel):
    device_id: str
    secret: str
    elevator_id: int


class DeviceOut(BaseModel):
    device_id: str
    elevator_id: int
    active: bool
    label: str | None
    created_at: datetime


class AlarmOut(BaseModel):
    id: int
    device_id: str
    event_id: str
    elevator_id: int
    code: str
    code_name: str
    code_name_en: str
    kind: str
    occurred_at: datetime
    received_at: datetime
    outcome: str
    reason: str | None
    incident_id: int | None
    raw: dict[str, Any]


class AlarmFacts(BaseModel):
    incident_id: int
    elevator_id: int
    incident_state: str
    alarm_count: int
    first_alarm_at: datetime
    last_alarm_at: datetime
    recovered_by_itself: bool
    recovered_at: datetime | None
    recovered_after_s: float | None


class PowerCutIncident(BaseModel):
    id: int
    elevator_id: int
    state: str
    received_at: datetime
    channel: str


class PowerCut(BaseModel):
    id: str
    zone: str
    zone_id: int
    started_at: datetime
    last_report_at: datetime
    elevator_count: int
    elevator_ids: list[int]
    incidents: list[PowerCutIncident]
    active_incidents: int
    sources: dict[str, int] = Field(default_factory=dict, description=(
        "reports per source: alarm_41 (power-lost events), offline (terminals gone silent), "
        "heartbeat_mains_lost (heartbeats reporting mains lost)"))


class CodeOut(BaseModel):
    code: str
    kind: str
    name_zh: str
    name_en: str
    entrapment: bool
    mode: str | None
