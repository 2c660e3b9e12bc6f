"""teams on and off duty: team_event, team.roster/retired, scheduled_task.team_id (issue 13)

Revision ID: 0006_duty
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_duty"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "team_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["team_id"], ["team.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_team_event_team_at", "team_event", ["team_id", "at"], unique=False)
    # the importer's columns (issue 13); the lead keeps one copy when both branches land
    with op.batch_alter_table("team", schema=None) as batch_op:
        batch_op.add_column(sa.Column("roster", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("retired", sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    with op.batch_alter_table("scheduled_task", schema=None) as batch_op:
        batch_op.add_column(sa.Column("team_id", sa.Integer(), nullable=True))
        batch_op.create_index("ix_scheduled_task_team_id", ["team_id"], unique=False)
        batch_op.create_foreign_key("fk_scheduled_task_team_id", "team", ["team_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("scheduled_task", schema=None) as batch_op:
        batch_op.drop_constraint("fk_scheduled_task_team_id", type_="foreignkey")
        batch_op.drop_index("ix_scheduled_task_team_id")
        batch_op.drop_column("team_id")
    with op.batch_alter_table("team", schema=None) as batch_op:
        batch_op.drop_column("retired")
        batch_op.drop_column("roster")
    op.drop_index("ix_team_event_team_at", table_name="team_event")
    op.drop_table("team_event")
