"""``report_fact``: one row per incident, condensed from its timeline for the office reports.

Why a cache: a city-year is ~9,000 incidents and ~80,000 timeline rows; reading every event for
every summary costs seconds. The fact row stores what :func:`dispatch.reports.kpis.
facts_from_timeline` derived, with the incident's ``last_event_seq`` at that moment. Every change
to an incident goes through ``append_event``, which bumps ``last_event_seq``; a report first
recomputes the facts whose ``seq`` differs (a late edit, a callback a day later) so it is never
stale. Dimensions (zone, company, site type) are joined at report time, not copied.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from dispatch.models import Base, Incident


class ReportFact(Base):
    """Times are POSIX seconds (see ``kpis.Facts``)."""

    __tablename__ = "report_fact"
    __table_args__ = (Index("ix_report_fact_received", "received_at"),)

    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    received_at: Mapped[float | None] = mapped_column(Float)
    outcome: Mapped[str] = mapped_column(String(16))
    first_offer_at: Mapped[float | None] = mapped_column(Float)
    went_level: Mapped[int | None] = mapped_column(Integer)
    went_offer_at: Mapped[float | None] = mapped_column(Float)
    went_accept_at: Mapped[float | None] = mapped_column(Float)
    arrived_at: Mapped[float | None] = mapped_column(Float)
    released_at: Mapped[float | None] = mapped_column(Float)
    closed_at: Mapped[float | None] = mapped_column(Float)
    callback_at: Mapped[float | None] = mapped_column(Float)
    cause_code: Mapped[str | None] = mapped_column(String(32))
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)
    l1_offers: Mapped[int] = mapped_column(Integer, default=0)
    l1_hits: Mapped[int] = mapped_column(Integer, default=0)
    sla_minutes: Mapped[int | None] = mapped_column(Integer)
    imported: Mapped[bool] = mapped_column(Boolean, default=False)


# The staleness check scans incidents by received time; the core table has no such index.
Index("ix_incident_received_at", Incident.received_at)
