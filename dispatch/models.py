"""Tables. One module because the core model is small and read together (other domains keep
their tables beside their code: notifications, telemetry, reports).

Conventions: times are timezone-aware UTC; points are ``GeoPoint`` (WGS-84); enumerations are
short strings checked by the domain modules (not database enums), so both backends and future
values need no migration dance.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from dispatch.db import GeoPoint, LonLat


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on both backends (SQLite keeps no zone; we put it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime, LonLat: GeoPoint}


def _pg_only(index: Index) -> Index:
    index.ddl_if(dialect="postgresql")
    index.info["postgresql_only"] = True
    return index


class Organization(Base):
    """A company or body: maintenance company, rescue station, use unit, fire brigade, insurer."""

    __tablename__ = "organization"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(32))
    region: Mapped[str | None] = mapped_column(String(64))
    lang: Mapped[str] = mapped_column(String(8), default="zh-CN")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: False once ``rescue registry import --full-sync organizations`` no longer finds it (13).
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Zone(Base):
    """A district or county polygon with its arrival limit and which events start/stop the clock."""

    __tablename__ = "zone"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    name_en: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    arrival_limit_min: Mapped[int] = mapped_column(Integer)
    clock_start: Mapped[str] = mapped_column(String(16), default="received")
    clock_stop: Mapped[str] = mapped_column(String(16), default="arrived")
    boundary_geojson: Mapped[str] = mapped_column(Text)


class Elevator(Base):
    __tablename__ = "elevator"
    __table_args__ = (
        _pg_only(Index("ix_elevator_location_gist", "location", postgresql_using="gist")),
        _pg_only(
            Index(
                "ix_elevator_address_trgm",
                "address",
                postgresql_using="gin",
                postgresql_ops={"address": "gin_trgm_ops"},
            )
        ),
        # issue 16: the lifts at one address, numbered in the console's lookup
        Index("ix_elevator_address_regcode", "address", "register_code"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    rescue_code: Mapped[str] = mapped_column(String(12), unique=True)
    register_code: Mapped[str] = mapped_column(String(24), unique=True)
    location: Mapped[LonLat]
    address: Mapped[str] = mapped_column(String(300))
    building: Mapped[str] = mapped_column(String(120))
    zone_id: Mapped[int] = mapped_column(ForeignKey("zone.id"), index=True)
    site_type: Mapped[str] = mapped_column(String(16))
    use_unit_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"), index=True)
    maintenance_company_id: Mapped[int | None] = mapped_column(
        ForeignKey("organization.id"), index=True
    )
    insurer_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"))
    policy_no: Mapped[str | None] = mapped_column(String(40))
    three_no: Mapped[bool] = mapped_column(Boolean, default=False)
    in_service: Mapped[bool] = mapped_column(Boolean, default=True)
    floors: Mapped[int] = mapped_column(Integer, default=6)
    road_node: Mapped[int | None] = mapped_column(Integer)
    last_report_at: Mapped[datetime | None]
    #: End of the maintenance contract; after it the company is no level-1 responder (13).
    maintenance_until: Mapped[date | None] = mapped_column(Date)

    zone: Mapped[Zone] = relationship(lazy="raise")
    use_unit: Mapped[Organization | None] = relationship(foreign_keys=[use_unit_id], lazy="raise")
    maintenance_company: Mapped[Organization | None] = relationship(
        foreign_keys=[maintenance_company_id], lazy="raise"
    )
    insurer: Mapped[Organization | None] = relationship(foreign_keys=[insurer_id], lazy="raise")


class Team(Base):
    """A rescue crew with a base; ``status`` is its readiness, separate from any assignment."""

    __tablename__ = "team"
    __table_args__ = (
        _pg_only(Index("ix_team_base_gist", "base_location", postgresql_using="gist")),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    phone: Mapped[str] = mapped_column(String(32))
    base_location: Mapped[LonLat]
    position: Mapped[LonLat | None]
    position_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16), default="available", index=True)
    on_duty: Mapped[bool] = mapped_column(Boolean, default=True)
    capacity: Mapped[int] = mapped_column(Integer, default=1)
    district: Mapped[str | None] = mapped_column(String(64))
    lang: Mapped[str] = mapped_column(String(8), default="zh-CN")
    # issue 13: weekly duty hours (``opening_hours`` style, local time), and retired by a
    # full-sync import (kept for history, never on duty again)
    roster: Mapped[str | None] = mapped_column(String(200))
    retired: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    organization: Mapped[Organization] = relationship(lazy="raise")


class User(Base):
    __tablename__ = "user_account"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    display_name: Mapped[str] = mapped_column(String(120), default="")
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"))
    region_zone_id: Mapped[int | None] = mapped_column(ForeignKey("zone.id"))
    """An office user's region: the zone it sees (None: everything). See ``dispatch.scoping``."""
    lang: Mapped[str] = mapped_column(String(8), default="zh-CN")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    token_version: Mapped[int] = mapped_column(default=0, server_default="0")
    """Sessions carry the version they were issued at; logout and password change bump it,
    revoking every earlier token (issue 12)."""


class Incident(Base):
    """One report of people trapped (or a duplicate report merged into an open one).

    The timestamp ladder columns mirror the timeline for fast boards; reports read the timeline.
    """

    __tablename__ = "incident"
    __table_args__ = (
        Index("ix_incident_state_received", "state", "received_at"),
        Index("ix_incident_elevator_received", "elevator_id", "received_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    elevator_id: Mapped[int] = mapped_column(ForeignKey("elevator.id"))
    zone_id: Mapped[int] = mapped_column(ForeignKey("zone.id"))
    channel: Mapped[str] = mapped_column(String(16))
    caller_phone: Mapped[str | None] = mapped_column(String(32))
    trapped_count: Mapped[int | None] = mapped_column(Integer)
    injured: Mapped[bool] = mapped_column(Boolean, default=False)
    vulnerable: Mapped[bool] = mapped_column(Boolean, default=False)
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    notes: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str | None] = mapped_column(String(32))
    sla_minutes: Mapped[int] = mapped_column(Integer)
    sla_deadline: Mapped[datetime]
    received_at: Mapped[datetime]
    confirmed_at: Mapped[datetime | None]
    dispatched_at: Mapped[datetime | None]
    accepted_at: Mapped[datetime | None]
    departed_at: Mapped[datetime | None]
    arrived_at: Mapped[datetime | None]
    released_at: Mapped[datetime | None]
    cleared_at: Mapped[datetime | None]
    callback_done_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("incident.id"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    last_event_seq: Mapped[int] = mapped_column(Integer, default=0)
    response_level: Mapped[int] = mapped_column(Integer, default=1)
    at_risk: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1)

    elevator: Mapped[Elevator] = relationship(lazy="raise")
    zone: Mapped[Zone] = relationship(lazy="raise")

    # Optimistic locking: a write based on a stale read fails instead of overwriting (SQLite
    # has no SELECT … FOR UPDATE; PostgreSQL gets both).
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class IncidentEvent(Base):
    """Append-only timeline; its global id is the event stream's sequence number."""

    __tablename__ = "incident_event"
    __table_args__ = (UniqueConstraint("incident_id", "seq"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id"))
    seq: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(64))
    actor_role: Mapped[str | None] = mapped_column(String(16))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime]

    incident: Mapped[Incident] = relationship(lazy="raise")


class InboundMessage(Base):
    """Idempotency ledger for inbound messages: API keys, provider SIDs, and so on."""

    __tablename__ = "inbound_message"
    __table_args__ = (UniqueConstraint("source", "external_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(128))
    request_hash: Mapped[str] = mapped_column(String(64))
    response_status: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Assignment(Base):
    """An offer of an incident to a team, and that team's progress on it.

    ``ranking`` is the audit record of the choice: every candidate considered with its road ETA,
    level and the reason it was or was not chosen.
    """

    __tablename__ = "assignment"
    __table_args__ = (Index("ix_assignment_team_state", "team_id", "state"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id"), index=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("team.id"))
    level: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    parallel: Mapped[bool] = mapped_column(Boolean, default=False)
    offered_at: Mapped[datetime]
    accept_by: Mapped[datetime]
    accepted_at: Mapped[datetime | None]
    declined_at: Mapped[datetime | None]
    decline_reason: Mapped[str | None] = mapped_column(String(500))
    timed_out_at: Mapped[datetime | None]
    departed_at: Mapped[datetime | None]
    arrived_at: Mapped[datetime | None]
    arrived_automatically: Mapped[bool] = mapped_column(Boolean, default=False)
    near_since: Mapped[datetime | None]
    released_at: Mapped[datetime | None]
    released_count: Mapped[int | None] = mapped_column(Integer)
    cleared_at: Mapped[datetime | None]
    cause_code: Mapped[str | None] = mapped_column(String(32))
    out_of_service: Mapped[bool | None] = mapped_column(Boolean)
    cancelled_at: Mapped[datetime | None]
    eta_s: Mapped[float | None]
    eta_at: Mapped[datetime | None]
    at_risk: Mapped[bool] = mapped_column(Boolean, default=False)
    straight_line: Mapped[bool] = mapped_column(Boolean, default=False)
    override_reason: Mapped[str | None] = mapped_column(String(500))
    offered_by: Mapped[str] = mapped_column(String(64))
    ranking: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    version: Mapped[int] = mapped_column(Integer, default=1)

    team: Mapped[Team] = relationship(lazy="raise")
    incident: Mapped[Incident] = relationship(lazy="raise")

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class TeamPosition(Base):
    """GPS history of teams (the latest fix is also kept on ``team``)."""

    __tablename__ = "team_position"
    __table_args__ = (Index("ix_team_position_team_at", "team_id", "at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("team.id"))
    position: Mapped[LonLat]
    accuracy_m: Mapped[float | None]
    at: Mapped[datetime]


class ScheduledTask(Base):
    """A deadline that must fire even if every process dies: offer timeouts, SLA warnings,
    reminders, callbacks. Claimed with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL and handled in
    the claiming transaction, so each fires exactly once."""

    __tablename__ = "scheduled_task"
    __table_args__ = (Index("ix_scheduled_task_due", "status", "due_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    due_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incident.id"), index=True)
    assignment_id: Mapped[int | None] = mapped_column(ForeignKey("assignment.id"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"), index=True)  # issue 13
    handled_at: Mapped[datetime | None]
    handled_by: Mapped[str | None] = mapped_column(String(64))
    result: Mapped[str | None] = mapped_column(String(200))
