"""Tables of issue 12: the login audit (throttling reads it) and used crew links."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from dispatch.models import Base


class LoginAttempt(Base):
    """One login attempt that failed or was refused (throttled); successes are not kept.

    Throttling counts these rows, so every worker process sees the same count."""

    __tablename__ = "login_attempt"
    __table_args__ = (
        Index("ix_login_attempt_username_at", "username", "at"),
        Index("ix_login_attempt_address_at", "address", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String(16))
    """``failed`` (wrong username or password) or ``throttled`` (refused with 429)."""


class CrewLinkUse(Base):
    """A crew link that has been exchanged for a session: each link works once."""

    __tablename__ = "crew_link_use"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("team.id"))
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignment.id"))
    used_at: Mapped[datetime]
