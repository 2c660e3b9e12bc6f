"""Terminal liveness (issue 19): device_liveness, terminal_alert.

Revision ID: 0006_mqtt
Revises: 0005
Create Date: 2026-12-02 07:39:00.991893
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import dispatch.models

revision: str = "0006_mqtt"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "device_liveness",
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("elevator_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("last_seen_at", dispatch.models.UTCDateTime(), nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=True),
        sa.Column("mode", sa.String(length=32), nullable=True),
        sa.Column("floor", sa.String(length=8), nullable=True),
        sa.Column("door_zone", sa.Boolean(), nullable=True),
        sa.Column("offline_since", dispatch.models.UTCDateTime(), nullable=True),
        sa.Column("flushed_at", dispatch.models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["device.id"],
        ),
        sa.ForeignKeyConstraint(
            ["elevator_id"],
            ["elevator.id"],
        ),
        sa.PrimaryKeyConstraint("device_id"),
    )
    with op.batch_alter_table("device_liveness", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_device_liveness_elevator_id"), ["elevator_id"], unique=False
        )
        batch_op.create_index(
            "ix_device_liveness_state_seen", ["state", "last_seen_at"], unique=False
        )

    op.create_table(
        "terminal_alert",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("elevator_id", sa.Integer(), nullable=False),
        sa.Column("zone_id", sa.Integer(), nullable=True),
        sa.Column("raised_at", dispatch.models.UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", dispatch.models.UTCDateTime(), nullable=True),
        sa.Column("cleared_at", dispatch.models.UTCDateTime(), nullable=True),
        sa.Column("cleared_by", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["device.id"],
        ),
        sa.ForeignKeyConstraint(
            ["elevator_id"],
            ["elevator.id"],
        ),
        sa.ForeignKeyConstraint(
            ["zone_id"],
            ["zone.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("terminal_alert", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_terminal_alert_device_id"), ["device_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_terminal_alert_elevator_id"), ["elevator_id"], unique=False
        )
        batch_op.create_index(
            "ix_terminal_alert_open", ["kind", "cleared_at", "raised_at"], unique=False
        )
        batch_op.create_index("ix_terminal_alert_raised", ["raised_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("terminal_alert", schema=None) as batch_op:
        batch_op.drop_index("ix_terminal_alert_raised")
        batch_op.drop_index("ix_terminal_alert_open")
        batch_op.drop_index(batch_op.f("ix_terminal_alert_elevator_id"))
        batch_op.drop_index(batch_op.f("ix_terminal_alert_device_id"))

    op.drop_table("terminal_alert")
    with op.batch_alter_table("device_liveness", schema=None) as batch_op:
        batch_op.drop_index("ix_device_liveness_state_seen")
        batch_op.drop_index(batch_op.f("ix_device_liveness_elevator_id"))

    op.drop_table("device_liveness")
