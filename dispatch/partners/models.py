"""Partner systems of the regional emergency system (issue 14): who they are, what is pushed to
them (a durable outbox, one row per event and partner), and what they handed over to us."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from dispatch.models import Base, utcnow

KINDS = ("province_platform", "city_command", "fire_119", "police_110", "hotline_12345",
         "other")


class Partner(Base):
    """Another system: its API key is stored as a SHA-256 hash, its signing secret sealed
    (AES-GCM, like device secrets); ``region_zone_id`` limits it to one zone's incidents."""

    __tablename__ = "partner"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    kind: Mapped[str] = mapped_column(String(24))
    url: Mapped[str | None] = mapped_column(String(500))
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    region_zone_id: Mapped[int | None] = mapped_column(ForeignKey("zone.id"))
    duty_phone: Mapped[str | None] = mapped_column(String(32))
    api_key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    secret_sealed: Mapped[str] = mapped_column(String(200))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PartnerDelivery(Base):
    """One event for one partner. ``seq`` numbers a partner's rows per incident; a row is sent
    only once every earlier row of the same (incident, partner) was delivered."""

    __tablename__ = "partner_delivery"
    __table_args__ = (
        Index("ix_partner_delivery_due", "status", "next_at"),
        Index("ix_partner_delivery_order", "partner_id", "incident_id", "seq"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partner.id"))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incident.id"))
    event_type: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    delivery_id: Mapped[str] = mapped_column(String(36), unique=True)
    seq: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # pending sending delivered failed feed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(String(500))
    response_code: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]


class PartnerReport(Base):
    """An entrapment a partner handed over, kept whatever happened to it: ``answer`` is the
    first answer (sent again for the same ``external_id``); unresolved until an incident."""

    __tablename__ = "partner_report"
    __table_args__ = (UniqueConstraint("partner_id", "external_id",
                                       name="uq_partner_report_external"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partner.id"))
    external_id: Mapped[str] = mapped_column(String(128))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incident.id"), index=True)
    answer_status: Mapped[int] = mapped_column(Integer)
    answer: Mapped[dict[str, Any]] = mapped_column(JSON)
    resolved: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
