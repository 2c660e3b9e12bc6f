"""office reports: report_fact cache of timeline-derived facts (issue 8)

Revision ID: 0003_reports
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_reports"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str) -> sa.Column:
    return sa.Column(name, sa.Float(), nullable=True)  # POSIX seconds


def upgrade() -> None:
    op.create_table(
        "report_fact",
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        _ts("received_at"),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        _ts("first_offer_at"),
        sa.Column("went_level", sa.Integer(), nullable=True),
        _ts("went_offer_at"),
        _ts("went_accept_at"),
        _ts("arrived_at"),
        _ts("released_at"),
        _ts("closed_at"),
        _ts("callback_at"),
        sa.Column("cause_code", sa.String(length=32), nullable=True),
        sa.Column("escalated", sa.Boolean(), nullable=False),
        sa.Column("l1_offers", sa.Integer(), nullable=False),
        sa.Column("l1_hits", sa.Integer(), nullable=False),
        sa.Column("sla_minutes", sa.Integer(), nullable=True),
        sa.Column("imported", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incident.id"]),
        sa.PrimaryKeyConstraint("incident_id"),
    )
    op.create_index("ix_report_fact_received", "report_fact", ["received_at"], unique=False)
    op.create_index("ix_incident_received_at", "incident", ["received_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_incident_received_at", table_name="incident")
    op.drop_index("ix_report_fact_received", table_name="report_fact")
    op.drop_table("report_fact")
