"""The outbox table: one row per message or call to send, written with the event that causes it.

A row is a durable promise: the job loop delivers it (with retries), provider callbacks move its
``status``, and the incident page lists it. Template values are stored, not the rendered text,
so the text (and the crew link's short-lived token) is made when it is actually sent; ``body``
keeps what was sent last.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dispatch.models import Base, Incident, IncidentEvent, utcnow


class Notification(Base):
    __tablename__ = "notification"
    __table_args__ = (
        Index("ix_notification_due", "status", "next_try_at"),
        Index("ix_notification_provider_id", "provider_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id"), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("incident_event.id"))
    assignment_id: Mapped[int | None] = mapped_column(ForeignKey("assignment.id"))
    channel: Mapped[str] = mapped_column(String(8))  # sms | voice
    recipient_kind: Mapped[str] = mapped_column(String(16))  # team, use_unit, company, …
    recipient_id: Mapped[int | None] = mapped_column(Integer)  # team or organization id
    to: Mapped[str | None] = mapped_column(String(32))  # E.164; a team's is filled when sent
    lang: Mapped[str] = mapped_column(String(8), default="zh-CN")
    template: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    body: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_try_at: Mapped[datetime]
    provider: Mapped[str | None] = mapped_column(String(16))
    provider_id: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    status_at: Mapped[datetime | None]

    incident: Mapped[Incident] = relationship(lazy="raise")
    event: Mapped[IncidentEvent | None] = relationship(lazy="raise")
