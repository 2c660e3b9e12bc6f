"""dispatch engine

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import dispatch.db
import dispatch.models

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "team_position",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("position", dispatch.db.GeoPoint(), nullable=False),
        sa.Column("accuracy_m", sa.Double(), nullable=True),
        sa.Column("at", dispatch.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["team.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("team_position", schema=None) as batch_op:
        batch_op.create_index("ix_team_position_team_at", ["team_id", "at"], unique=False)

    op.create_table(
        "assignment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("parallel", sa.Boolean(), nullable=False),
        sa.Column("offered_at", dispatch.models.UTCDateTime(), nullable=False),
        sa.Column("accept_by", dispatch.models.UTCDateTime(), nullable=False),
        sa.Column("accepted_at", dispatch.models.UTCDateTime(), nullable=True),
        sa.Column("declined_at", dispatch.models.UTCDateTime(), nullable=True),
        sa.Column("decline_reason", sa.String(length=500), nullable=True),
        sa.Column("timed_out_at", dispatch.models.UTCDateTime(), nullable=True),
        sa.Column("departed_at", dispatch.models.UTCDateTime(), nullable=True),
        sa.Column("arrived_at", dispatch.models.UTCDateTime(), nullable=True),
        sa.Column("arrived_automatically", sa.Boolean(), nullable=False),
        sa.Column("near_since", dispatch.models.UTCDateTime(), nullable=True),
        sa.Column("released_at", dispatch.models.UTCDateTime(), nullable=True),
        sa.Column("released_count", sa.Integer(), nullable=True),
        sa.Column("cleared_at", dispatch.models.UTCDateTime(), nullable=True),
        sa.Column("cause_code", sa.String(length=32), nullable=True),
        sa.Column("out_of_service", sa.Boolean(), nullable=True),
        sa.Column("cancelled_at", dispatch.models.UTCDateTime(), nullable=True),
        sa.Column("eta_s", sa.Double(), nullable=True),
        sa.Column("eta_at", dispatch.models.UTCDateTime(), nullable=True),
        sa.Column("at_risk", sa.Boolean(), nullable=False),
        sa.Column("straight_line", sa.Boolean(), nullable=False),
        sa.Column("override_reason", sa.String(length=500), nullable=True),
        sa.Column("offered_by", sa.String(length=64), nullable=False),
        sa.Column("ranking", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incident.id"],
        ),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["team.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("assignment", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_assignment_incident_id"), ["incident_id"], unique=False
        )
        batch_op.create_index("ix_assignment_team_state", ["team_id", "state"], unique=False)

    op.create_table(
        "scheduled_task",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("due_at", dispatch.models.UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("assignment_id", sa.Integer(), nullable=True),
        sa.Column("handled_at", dispatch.models.UTCDateTime(), nullable=True),
        sa.Column("handled_by", sa.String(length=64), nullable=True),
        sa.Column("result", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["assignment_id"],
            ["assignment.id"],
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incident.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("scheduled_task", schema=None) as batch_op:
        batch_op.create_index("ix_scheduled_task_due", ["status", "due_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_scheduled_task_incident_id"), ["incident_id"], unique=False
        )

    with op.batch_alter_table("incident", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("response_level", sa.Integer(), nullable=False, server_default="1")
        )
        batch_op.add_column(
            sa.Column("at_risk", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("version", sa.Integer(), nullable=False, server_default="1")
        )


def downgrade() -> None:
    with op.batch_alter_table("incident", schema=None) as batch_op:
        batch_op.drop_column("version")
        batch_op.drop_column("at_risk")
        batch_op.drop_column("response_level")

    with op.batch_alter_table("scheduled_task", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scheduled_task_incident_id"))
        batch_op.drop_index("ix_scheduled_task_due")

    op.drop_table("scheduled_task")
    with op.batch_alter_table("assignment", schema=None) as batch_op:
        batch_op.drop_index("ix_assignment_team_state")
        batch_op.drop_index(batch_op.f("ix_assignment_incident_id"))

    op.drop_table("assignment")
    with op.batch_alter_table("team_position", schema=None) as batch_op:
        batch_op.drop_index("ix_team_position_team_at")

    op.drop_table("team_position")
