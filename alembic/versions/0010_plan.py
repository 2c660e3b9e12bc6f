"""saved station plans for city offices (issue 17)

Revision ID: 0010_plan
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_plan"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "station_plan",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("region_zone_id", sa.Integer(), nullable=True),
        sa.Column("added", sa.JSON(), nullable=False),
        sa.Column("removed", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["region_zone_id"], ["zone.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("region_zone_id", "name", name="uq_station_plan_name"),
    )


def downgrade() -> None:
    op.drop_table("station_plan")
