"""API shapes for incidents; validation names the field that is wrong."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from dispatch.dispatching.schemas import AssignmentOut
from dispatch.elevators.schemas import ElevatorOut
from dispatch.notifications.schemas import NotificationOut

Channel = Literal["call", "ivr", "alarm", "app", "transfer"]
_PHONE_PATTERNS = (
    re.compile(r"^1[3-9]\d{9}$"),                 # CN mobile
    re.compile(r"^0\d{2,3}-?\d{7,8}(-\d{1,6})?$"),  # CN landline with area code (+ extension)
    re.compile(r"^\+[1-9]\d{6,14}$"),             # E.164
)


def normalise_phone(raw: str) -> str:
    """Strip spaces and brackets; accept CN mobiles, landlines with area code, and E.164."""
    phone = re.sub(r"[\s()（）]", "", raw)
    if phone.startswith("+86") and re.fullmatch(r"\+861[3-9]\d{9}", phone):
        return phone
    if not any(p.match(phone) for p in _PHONE_PATTERNS):
        raise ValueError(
            "not a phone number: use a mobile (13812345678), a landline with area code "
            "(0351-1234567) or E.164 (+8613812345678)"
        )
    return phone


class IncidentCreate(BaseModel):
    model_config = {"extra": "forbid"}

    elevator_id: int | None = Field(default=None, gt=0, le=2**31 - 1)
    rescue_code: str | None = Field(default=None, min_length=1, max_length=12)
    channel: Channel
    caller_phone: str | None = None
    trapped_count: int | None = Field(default=None, ge=0, le=100, strict=True)
    injured: bool = False
    vulnerable: bool = False
    priority: Literal["normal", "critical"] = "normal"
    notes: str | None = Field(default=None, max_length=2000)

    @field_validator("caller_phone")
    @classmethod
    def _phone(cls, v: str | None) -> str | None:
        return None if v in (None, "") else normalise_phone(v)

    @field_validator("rescue_code")
    @classmethod
    def _code(cls, v: str | None) -> str | None:
        return None if v is None else v.strip()

    @model_validator(mode="after")
    def _elevator_given(self) -> IncidentCreate:
        if self.elevator_id is None and not self.rescue_code:
            raise ValueError("give elevator_id or rescue_code")
        return self


class CancelIn(BaseModel):
    model_config = {"extra": "forbid"}
    reason: str = Field(min_length=2, max_length=500)
    outcome: Literal["cancelled", "false_alarm"] = "cancelled"


class NoteIn(BaseModel):
    model_config = {"extra": "forbid"}
    note: str | None = Field(default=None, max_length=2000)


class ZoneOut(BaseModel):
    id: int
    name: str
    name_en: str
    kind: str
    arrival_limit_min: int
    clock_start: str
    clock_stop: str


class EventOut(BaseModel):
    seq: int
    stream_seq: int
    type: str
    actor: str
    actor_role: str | None
    at: datetime
    payload: dict[str, Any]


class IncidentOut(BaseModel):
    """The one shape of an incident: REST answers, board rows and live stream updates."""

    id: int
    state: str
    active: bool
    allowed_next: list[str]
    channel: str
    caller_phone: str | None
    trapped_count: int | None
    injured: bool
    vulnerable: bool
    priority: str
    notes: str | None
    outcome: str | None
    elevator: ElevatorOut
    zone: ZoneOut
    sla_minutes: int
    sla_deadline: datetime
    received_at: datetime
    confirmed_at: datetime | None
    dispatched_at: datetime | None
    accepted_at: datetime | None
    departed_at: datetime | None
    arrived_at: datetime | None
    released_at: datetime | None
    cleared_at: datetime | None
    callback_done_at: datetime | None
    closed_at: datetime | None
    cancelled_at: datetime | None
    merged_into: int | None
    at_risk: bool = False
    response_level: int = 1
    last_seq: int = 0
    duplicate: bool = False
    duplicate_reports: int = 0
    assignment: AssignmentOut | None = None
    """What the board shows: the latest open main assignment, else the latest one."""
    assignments: list[AssignmentOut] | None = None
    timeline: list[EventOut] | None = None
    notifications: list[NotificationOut] | None = None  # issue 5: the outbox rows


class IncidentPage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[IncidentOut]
