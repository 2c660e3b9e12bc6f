"""core tables

Revision ID: 0001
Revises:
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import dispatch.db
import dispatch.models

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    is_pg = op.get_bind().dialect.name == "postgresql"
    if is_pg:
        op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table(
        "inbound_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=False),
        sa.Column("response_body", sa.JSON(), nullable=False),
        sa.Column("created_at", dispatch.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "external_id"),
    )
    op.create_table(
        "organization",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("region", sa.String(length=64), nullable=True),
        sa.Column("lang", sa.String(length=8), nullable=False),
        sa.Column("created_at", dispatch.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    with op.batch_alter_table("organization", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_organization_kind"), ["kind"], unique=False)

    op.create_table(
        "zone",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("name_en", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("arrival_limit_min", sa.Integer(), nullable=False),
        sa.Column("clock_start", sa.String(length=16), nullable=False),
        sa.Column("clock_stop", sa.String(length=16), nullable=False),
        sa.Column("boundary_geojson", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "elevator",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rescue_code", sa.String(length=12), nullable=False),
        sa.Column("register_code", sa.String(length=24), nullable=False),
        sa.Column("location", dispatch.db.GeoPoint(), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("building", sa.String(length=120), nullable=False),
        sa.Column("zone_id", sa.Integer(), nullable=False),
        sa.Column("site_type", sa.String(length=16), nullable=False),
        sa.Column("use_unit_id", sa.Integer(), nullable=True),
        sa.Column("maintenance_company_id", sa.Integer(), nullable=True),
        sa.Column("insurer_id", sa.Integer(), nullable=True),
        sa.Column("policy_no", sa.String(length=40), nullable=True),
        sa.Column("three_no", sa.Boolean(), nullable=False),
        sa.Column("in_service", sa.Boolean(), nullable=False),
        sa.Column("floors", sa.Integer(), nullable=False),
        sa.Column("road_node", sa.Integer(), nullable=True),
        sa.Column("last_report_at", dispatch.models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["insurer_id"],
            ["organization.id"],
        ),
        sa.ForeignKeyConstraint(
            ["maintenance_company_id"],
            ["organization.id"],
        ),
        sa.ForeignKeyConstraint(
            ["use_unit_id"],
            ["organization.id"],
        ),
        sa.ForeignKeyConstraint(
            ["zone_id"],
            ["zone.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("register_code"),
        sa.UniqueConstraint("rescue_code"),
    )
    with op.batch_alter_table("elevator", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_elevator_maintenance_company_id"),
            ["maintenance_company_id"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_elevator_use_unit_id"), ["use_unit_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_elevator_zone_id"), ["zone_id"], unique=False)

    op.create_table(
        "team",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("base_location", dispatch.db.GeoPoint(), nullable=False),
        sa.Column("position", dispatch.db.GeoPoint(), nullable=True),
        sa.Column("position_at", dispatch.models.UTCDateTime(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("on_duty", sa.Boolean(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("district", sa.String(length=64), nullable=True),
        sa.Column("lang", sa.String(length=8), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    with op.batch_alter_table("team", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_team_organization_id"), ["organization_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_team_status"), ["status"], unique=False)

    op.create_table(
        "user_account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("display_name", sa.String(length=120), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("region", sa.String(length=64), nullable=True),
        sa.Column("lang", sa.String(length=8), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", dispatch.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
        ),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["team.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )
    op.create_table(
        "incident",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("elevator_id", sa.Integer(), nullable=False),
        sa.Column("zone_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("caller_phone", sa.String(length=32), nullable=True),
        sa.Column("trapped_count", sa.Integer(), nullable=True),
        sa.Column("injured", sa.Boolean(), nullable=False),
        sa.Column("vulnerable", sa.Boolean(), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("sla_minutes", sa.Integer(), nullable=False),
        sa.Column("sla_deadline", dispatch.models.UTCDateTime(), nullable=False),
        sa.Column("received_at", dispatch.models.UTCDateTime(), nullable=False),
        sa.Column("confirmed_at", dispatch.models.UTCDateTime(), nullable=True),
        sa.Column("dispatched_at", dispatch.models.UTCDateTime(), nullable=True),
        sa.Column("accepted_at", dispatch.models.UTCDateTime(), nullable=True),
        sa.Column("departed_at", dispatch.models.UTCDateTime(), nullable=True),
        sa.Column("arrived_at", dispatch.models.UTCDateTime(), nullable=True),
        sa.Column("released_at", dispatch.models.UTCDateTime(), nullable=True),
        sa.Column("cleared_at", dispatch.models.UTCDateTime(), nullable=True),
        sa.Column("callback_done_at", dispatch.models.UTCDateTime(), nullable=True),
        sa.Column("closed_at", dispatch.models.UTCDateTime(), nullable=True),
        sa.Column("cancelled_at", dispatch.models.UTCDateTime(), nullable=True),
        sa.Column("escalated_at", dispatch.models.UTCDateTime(), nullable=True),
        sa.Column("merged_into_id", sa.Integer(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("last_event_seq", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user_account.id"],
        ),
        sa.ForeignKeyConstraint(
            ["elevator_id"],
            ["elevator.id"],
        ),
        sa.ForeignKeyConstraint(
            ["merged_into_id"],
            ["incident.id"],
        ),
        sa.ForeignKeyConstraint(
            ["zone_id"],
            ["zone.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("incident", schema=None) as batch_op:
        batch_op.create_index(
            "ix_incident_elevator_received", ["elevator_id", "received_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_incident_merged_into_id"), ["merged_into_id"], unique=False
        )
        batch_op.create_index("ix_incident_state_received", ["state", "received_at"], unique=False)

    op.create_table(
        "incident_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("actor_role", sa.String(length=16), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("at", dispatch.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incident.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("incident_id", "seq"),
    )
    if is_pg:
        op.create_index(
            "ix_elevator_location_gist", "elevator", ["location"], postgresql_using="gist"
        )
        op.create_index(
            "ix_elevator_address_trgm",
            "elevator",
            ["address"],
            postgresql_using="gin",
            postgresql_ops={"address": "gin_trgm_ops"},
        )
        op.create_index("ix_team_base_gist", "team", ["base_location"], postgresql_using="gist")


def downgrade() -> None:
    op.drop_table("incident_event")
    with op.batch_alter_table("incident", schema=None) as batch_op:
        batch_op.drop_index("ix_incident_state_received")
        batch_op.drop_index(batch_op.f("ix_incident_merged_into_id"))
        batch_op.drop_index("ix_incident_elevator_received")

    op.drop_table("incident")
    op.drop_table("user_account")
    with op.batch_alter_table("team", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_team_status"))
        batch_op.drop_index(batch_op.f("ix_team_organization_id"))

    op.drop_table("team")
    with op.batch_alter_table("elevator", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_elevator_zone_id"))
        batch_op.drop_index(batch_op.f("ix_elevator_use_unit_id"))
        batch_op.drop_index(batch_op.f("ix_elevator_maintenance_company_id"))

    op.drop_table("elevator")
    op.drop_table("zone")
    with op.batch_alter_table("organization", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_organization_kind"))

    op.drop_table("organization")
    op.drop_table("inbound_message")
