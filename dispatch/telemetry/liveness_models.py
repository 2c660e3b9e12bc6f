"""Terminal liveness tables (issue 19): the last-seen state of each terminal, flushed from the
heartbeat store at most once a minute per device, and terminal alerts (offline, mains lost).

Heartbeats never write a row each: the hot state is in Redis (or memory); these rows are its
durable, reviewable copy, and alerts are rows because the console and the office list them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from dispatch.models import Base


class DeviceLiveness(Base):
    """One row per terminal that was ever heard. ``state`` (online/offline) is written only by
    the conditional updates of ``telemetry.liveness`` (so two workers never raise one alert
    twice); ``last_*`` by the batched flush."""

    __tablename__ = "device_liveness"
    __table_args__ = (Index("ix_device_liveness_state_seen", "state", "last_seen_at"),)
    device_id: Mapped[str] = mapped_column(ForeignKey("device.id"), primary_key=True)
    elevator_id: Mapped[int] = mapped_column(ForeignKey("elevator.id"), index=True)
    state: Mapped[str] = mapped_column(String(16), default="online")
    last_seen_at: Mapped[datetime]
    last_seq: Mapped[int | None] = mapped_column(Integer)
    mode: Mapped[str | None] = mapped_column(String(32))
    floor: Mapped[str | None] = mapped_column(String(8))
    door_zone: Mapped[bool | None]
    offline_since: Mapped[datetime | None]
    flushed_at: Mapped[datetime | None]


class TerminalAlert(Base):
    """A terminal alert for an elevator, not an incident: ``offline`` (silent longer than the
    expected heartbeat interval × factor) or ``mains_lost`` (its heartbeat reports mains power
    lost). Open while ``cleared_at`` is null; cleared by the terminal's next message (offline)
    or its next heartbeat in another mode (mains lost)."""

    __tablename__ = "terminal_alert"
    __table_args__ = (
        Index("ix_terminal_alert_open", "kind", "cleared_at", "raised_at"),
        Index("ix_terminal_alert_raised", "raised_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    device_id: Mapped[str] = mapped_column(ForeignKey("device.id"), index=True)
    elevator_id: Mapped[int] = mapped_column(ForeignKey("elevator.id"), index=True)
    zone_id: Mapped[int | None] = mapped_column(ForeignKey("zone.id"))
    raised_at: Mapped[datetime]
    last_seen_at: Mapped[datetime | None]
    cleared_at: Mapped[datetime | None]
    cleared_by: Mapped[str | None] = mapped_column(String(16))
