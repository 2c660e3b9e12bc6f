"""API shapes for dispatching and team steps."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    Field,
    ValidationInfo,
    field_validator,
)


class DispatchIn(BaseModel):
    model_config = {"extra": "forbid"}
    team_id: int | None = Field(default=None, gt=0, le=2**31 - 1)
    reason: str | None = Field(default=None, max_length=500, validate_default=True)

    @field_validator("reason")
    @classmethod
    def _reason_for_override(cls, v: str | None, info: ValidationInfo) -> str | None:
        # a field validator (not a model one) so that the problem names the field "reason"
        if info.data.get("team_id") is not None and not (v and v.strip()):
            raise ValueError("reason is required when choosing a team (override)")
        return v


class ReasonIn(BaseModel):
    model_config = {"extra": "forbid"}
    reason: str = Field(min_length=2, max_length=500)


class StepIn(BaseModel):
    """Optional ``at``: an operator recording a step a team phoned in a little late."""

    model_config = {"extra": "forbid"}
    at: AwareDatetime | None = None

    @field_validator("at")
    @classmethod
    def _sane(cls, v: datetime | None) -> datetime | None:
        if v is not None and not 2000 <= v.year < 2100:
            raise ValueError("a time between 2000 and 2100")
        return v


class DeclineIn(StepIn):
    reason: str = Field(min_length=2, max_length=500)


class ReleaseIn(StepIn):
    released_count: int = Field(ge=0, le=100, strict=True)


class ClearIn(StepIn):
    cause_code: str
    out_of_service: bool = False


class PositionIn(BaseModel):
    model_config = {"extra": "forbid"}
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    accuracy_m: float | None = Field(default=None, ge=0, le=10_000)
    at: AwareDatetime | None = None

    _sane_at = field_validator("at")(StepIn._sane.__func__)  # type: ignore[attr-defined]


class TeamRef(BaseModel):
    id: int
    name: str
    phone: str
    organization_id: int
    status: str


class AssignmentOut(BaseModel):
    id: int
    incident_id: int
    team_id: int
    team: TeamRef
    level: int
    state: str
    parallel: bool
    offered_at: datetime
    accept_by: datetime
    accepted_at: datetime | None
    departed_at: datetime | None
    arrived_at: datetime | None
    arrived_automatically: bool
    released_at: datetime | None
    released_count: int | None
    cleared_at: datetime | None
    cause_code: str | None
    eta_s: float | None
    at_risk: bool
    straight_line: bool
    override_reason: str | None
    decline_reason: str | None
    open: bool
    """Offered, accepted, en route or on scene: the team is on this job."""
    ranking: list[dict[str, Any]] | None = None
    """The audit record of the choice (detail views; left out of board rows)."""
