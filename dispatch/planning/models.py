"""Saved station plans: bases added (with their number of teams) and teams switched off."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from dispatch.models import Base, utcnow


class StationPlan(Base):
    """A named what-if layout, kept per region (``region_zone_id`` None: city-wide) so two
    offices can each keep a "plan A". ``added``: ``[{lon, lat, teams, name}]`` (WGS-84);
    ``removed``: team ids."""

    __tablename__ = "station_plan"
    __table_args__ = (UniqueConstraint("region_zone_id", "name", name="uq_station_plan_name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    region_zone_id: Mapped[int | None] = mapped_column(ForeignKey("zone.id"))
    added: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    removed: Mapped[list[int]] = mapped_column(JSON, default=list)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
