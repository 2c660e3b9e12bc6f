"""registry import (issue 13): registry_change log; maintenance_until, roster, retired, active

Revision ID: 0006_registry
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_registry"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "registry_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=300), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("registry_change", schema=None) as batch_op:
        batch_op.create_index("ix_registry_change_kind_key", ["kind", "key"], unique=False)
        batch_op.create_index(batch_op.f("ix_registry_change_at"), ["at"], unique=False)
    with op.batch_alter_table("elevator", schema=None) as batch_op:
        batch_op.add_column(sa.Column("maintenance_until", sa.Date(), nullable=True))
    # team.roster and team.retired come with 0006_duty (built in parallel)
    with op.batch_alter_table("organization", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()))


def downgrade() -> None:
    with op.batch_alter_table("organization", schema=None) as batch_op:
        batch_op.drop_column("active")
    with op.batch_alter_table("elevator", schema=None) as batch_op:
        batch_op.drop_column("maintenance_until")
    with op.batch_alter_table("registry_change", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_registry_change_at"))
        batch_op.drop_index("ix_registry_change_kind_key")
    op.drop_table("registry_change")
