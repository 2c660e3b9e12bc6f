"""Telemetry tables: devices, the raw alarm log, each elevator's reported mode, and per-incident
alarm facts (the "recovered by itself" flag). Issue 7."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from dispatch.models import Base, utcnow


class Device(Base):
    """A terminal registered to one elevator. ``secret_sealed`` is the shared HMAC secret,
    encrypted with a key derived from the application secret (see ``telemetry.signing``)."""

    __tablename__ = "device"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    elevator_id: Mapped[int] = mapped_column(ForeignKey("elevator.id"), index=True)
    secret_sealed: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    label: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Alarm(Base):
    """Every event a device sent, exactly once per ``(device_id, event_id)``, with its fate.

    ``outcome``: created (opened an incident) · joined (an open incident) · filtered (see
    ``reason``) · flagged (marked an incident "recovered by itself") · recorded (state or fault,
    no incident) · queued (stored by the MQTT consumer, not judged yet) · failed (judging it
    raised; see ``reason``). ``code`` is canonical; ``raw`` is the event as sent (unknown codes
    included).
    """

    __tablename__ = "alarm"
    __table_args__ = (
        UniqueConstraint("device_id", "event_id", name="uq_alarm_device_event"),
        Index("ix_alarm_elevator_occurred", "elevator_id", "occurred_at"),
        Index("ix_alarm_code_occurred", "code", "occurred_at"),
        Index("ix_alarm_queued", "elevator_id", "occurred_at",
              postgresql_where=text("outcome = 'queued'"),
              sqlite_where=text("outcome = 'queued'")),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("device.id"))
    event_id: Mapped[str] = mapped_column(String(64))
    elevator_id: Mapped[int] = mapped_column(ForeignKey("elevator.id"))
    code: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime]
    raw: Mapped[dict[str, Any]] = mapped_column(JSON)
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(64))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incident.id"), index=True)


class ElevatorTelemetry(Base):
    """What the terminals last said about an elevator. The row is also the per-elevator lock:
    every batch upserts it first, so batches for one elevator are applied one after another."""

    __tablename__ = "elevator_telemetry"
    elevator_id: Mapped[int] = mapped_column(ForeignKey("elevator.id"), primary_key=True)
    mode: Mapped[str] = mapped_column(String(16), default="normal")
    mode_since: Mapped[datetime | None]
    last_event_at: Mapped[datetime | None]
    last_entrapment_at: Mapped[datetime | None]
    last_incident_id: Mapped[int | None] = mapped_column(ForeignKey("incident.id"))


class AlarmIncident(Base):
    """Alarm facts about an incident the telemetry created or joined, for the console: how many
    alarms, and whether the lift reported "back to normal" soon after (verify by callback)."""

    __tablename__ = "alarm_incident"
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id"), primary_key=True)
    elevator_id: Mapped[int] = mapped_column(ForeignKey("elevator.id"), index=True)
    alarm_count: Mapped[int] = mapped_column(Integer, default=0)
    first_alarm_at: Mapped[datetime]
    last_alarm_at: Mapped[datetime]
    recovered_at: Mapped[datetime | None]
    recovered_after_s: Mapped[float | None]
