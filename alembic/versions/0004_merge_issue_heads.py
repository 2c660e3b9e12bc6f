"""Merge the notify, reports and telemetry branches into one head.

The three issues were built in parallel, each with a revision on top of 0002.

Revision ID: 0004
Revises: 0003_notify, 0003_reports, 0003_telemetry
"""

from collections.abc import Sequence

revision: str = "0004"
down_revision: str | Sequence[str] | None = ("0003_notify", "0003_reports", "0003_telemetry")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
