"""notify: the notification outbox (issue 5)

Revision ID: 0003_notify
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import dispatch.models

revision: str = "0003_notify"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("assignment_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("recipient_kind", sa.String(length=16), nullable=False),
        sa.Column("recipient_id", sa.Integer(), nullable=True),
        sa.Column("to", sa.String(length=32), nullable=True),
        sa.Column("lang", sa.String(length=8), nullable=False),
        sa.Column("template", sa.String(length=32), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_try_at", dispatch.models.UTCDateTime(), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=True),
        sa.Column("provider_id", sa.String(length=64), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("created_at", dispatch.models.UTCDateTime(), nullable=False),
        sa.Column("sent_at", dispatch.models.UTCDateTime(), nullable=True),
        sa.Column("delivered_at", dispatch.models.UTCDateTime(), nullable=True),
        sa.Column("status_at", dispatch.models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["assignment_id"], ["assignment.id"]),
        sa.ForeignKeyConstraint(["event_id"], ["incident_event.id"]),
        sa.ForeignKeyConstraint(["incident_id"], ["incident.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.create_index("ix_notification_due", ["status", "next_try_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_notification_incident_id"), ["incident_id"],
                              unique=False)
        batch_op.create_index("ix_notification_provider_id", ["provider_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.drop_index("ix_notification_provider_id")
        batch_op.drop_index(batch_op.f("ix_notification_incident_id"))
        batch_op.drop_index("ix_notification_due")
    op.drop_table("notification")
