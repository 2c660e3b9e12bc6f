"""The team's own history: every duty change, by whom, why and through which channel."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from dispatch.models import Base

SOURCES = ("crew", "supervisor", "roster", "import")


class TeamEvent(Base):
    """Append-only, like the incident timeline; ``type`` is ``duty_on`` or ``duty_off`` today
    (the column is open for other team facts). ``source`` says which channel made the change
    (crew / supervisor / roster / import); ``actor`` and ``role`` who."""

    __tablename__ = "team_event"
    __table_args__ = (Index("ix_team_event_team_at", "team_id", "at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("team.id"))
    type: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(64))
    role: Mapped[str | None] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(500))
    at: Mapped[datetime]
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
