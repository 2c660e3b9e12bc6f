"""The registry change log: every create, update and deactivation by the importer (issue 13).

Why a table of its own and not the incident timeline: registry rows have no incident, and an
office auditing "who moved this lift to another company, and when" reads by kind and key.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from dispatch.models import Base, utcnow


class RegistryChange(Base):
    """One change of one registry row: ``fields`` maps each changed field to ``[old, new]``."""

    __tablename__ = "registry_change"
    __table_args__ = (Index("ix_registry_change_kind_key", "kind", "key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # zone | organization | team | elevator
    key: Mapped[str] = mapped_column(String(64))  # the natural key (code, register_code)
    action: Mapped[str] = mapped_column(String(16))  # create | update | deactivate
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    actor: Mapped[str] = mapped_column(String(64))
    source: Mapped[str | None] = mapped_column(String(300))
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
