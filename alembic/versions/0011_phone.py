"""the phone desk: calls and seats (issue 15)

Revision ID: 0011_phone
Revises: 0010_plan
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from dispatch.models import UTCDateTime

revision: str = "0011_phone"
down_revision: str | None = "0010_plan"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "call",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_sid", sa.String(length=64), nullable=False),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("from_number", sa.String(length=32), nullable=True),
        sa.Column("to_number", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("rescue_code", sa.String(length=32), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("queued_at", UTCDateTime(), nullable=True),
        sa.Column("answered_at", UTCDateTime(), nullable=True),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.Column("operator_id", sa.Integer(), nullable=True),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("recording_sid", sa.String(length=64), nullable=True),
        sa.Column("recording_duration_s", sa.Integer(), nullable=True),
        sa.Column("recording_deleted_at", UTCDateTime(), nullable=True),
        sa.Column("callback_of_id", sa.Integer(), nullable=True),
        sa.Column("called_back_at", UTCDateTime(), nullable=True),
        sa.Column("conference", sa.String(length=64), nullable=True),
        sa.Column("leg", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(["callback_of_id"], ["call.id"]),
        sa.ForeignKeyConstraint(["incident_id"], ["incident.id"]),
        sa.ForeignKeyConstraint(["operator_id"], ["user_account.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("call_sid"),
    )
    op.create_index("ix_call_status_queued", "call", ["status", "queued_at"])
    op.create_index("ix_call_from", "call", ["from_number"])
    op.create_index(op.f("ix_call_incident_id"), "call", ["incident_id"])
    op.create_index(op.f("ix_call_conference"), "call", ["conference"])
    op.create_table(
        "seat",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("available", sa.Boolean(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id"),
    )


def downgrade() -> None:
    op.drop_table("seat")
    op.drop_index(op.f("ix_call_conference"), table_name="call")
    op.drop_index(op.f("ix_call_incident_id"), table_name="call")
    op.drop_index("ix_call_from", table_name="call")
    op.drop_index("ix_call_status_queued", table_name="call")
    op.drop_table("call")
