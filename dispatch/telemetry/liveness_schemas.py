"""Shapes of heartbeats, liveness views, terminal alerts and the terminal review (issue 19)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, TypeAdapter, ValidationError, field_validator

from dispatch.errors import Problem


class HeartbeatIn(BaseModel):
    """``{seq, at, mode?, floor?, door_zone?}``: ``mode`` is a code or vendor name of the code
    table (``normal``/``40``, ``power_lost``/``41``, ``inspection``/``43``…)."""

    model_config = {"extra": "ignore"}

    seq: int = Field(ge=0)
    at: datetime
    mode: str | None = Field(default=None, min_length=1, max_length=32)
    floor: int | str | None = None
    door_zone: bool | None = None

    @field_validator("mode", mode="before")
    @classmethod
    def _mode_text(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v

    @field_validator("at")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("give a time zone (e.g. 2026-11-30T08:30:00+08:00) or Unix seconds")
        return v

    @field_validator("floor")
    @classmethod
    def _floor(cls, v: int | str | None) -> int | str | None:
        if isinstance(v, str) and not 0 < len(v) <= 8:
            raise ValueError("a floor label is 1 to 8 characters")
        if isinstance(v, int) and not -20 <= v <= 300:
            raise ValueError("floor must be between -20 and 300")
        return v


_HEARTBEAT = TypeAdapter(HeartbeatIn)


def parse_heartbeat(body: bytes) -> HeartbeatIn:
    """The validated heartbeat; any error is a 422 naming the field. Parsed and validated in
    one pass (pydantic's JSON parser): this runs for every heartbeat of every terminal."""
    try:
        return _HEARTBEAT.validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["type"] == "json_invalid":
            raise Problem(422, "Invalid JSON", str(first["msg"]), field="body") from exc
        name = ".".join(str(p) for p in first["loc"]) or "body"
        raise Problem(422, "Invalid heartbeat", f"{name}: {first['msg']}", field=name) from exc


class HeartbeatResult(BaseModel):
    device_id: str
    seq: int
    state: Literal["online"]
    was_offline: bool
    mode: str | None


class TerminalState(BaseModel):
    device_id: str
    state: Literal["online", "offline", "unknown"]
    last_seen_at: datetime | None
    offline_since: datetime | None
    mode: str | None


class ElevatorLiveness(BaseModel):
    """For the console when someone calls about an elevator: is its alarm terminal alive?"""

    elevator_id: int
    terminal_offline: bool
    terminals: list[TerminalState]


class AlertOut(BaseModel):
    id: int
    kind: str
    device_id: str
    elevator_id: int
    rescue_code: str
    address: str
    zone: str | None
    raised_at: datetime
    last_seen_at: datetime | None
    cleared_at: datetime | None
    cleared_by: str | None


class OfflineTerminal(BaseModel):
    device_id: str
    elevator_id: int
    rescue_code: str
    address: str
    zone: str | None
    maintenance_company: str | None
    offline_since: datetime
    last_seen_at: datetime | None
    offline_for_s: float


class OnlineRate(BaseModel):
    key: str
    terminals: int
    online: int
    offline: int
    never_seen: int
    online_rate: float | None
