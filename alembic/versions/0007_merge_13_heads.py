"""Merge the parallel issue-13 branches (duty and rosters; the registry importer).

Revision ID: 0007
Revises: 0006_duty, 0006_registry
"""

from collections.abc import Sequence

revision: str = "0007"
down_revision: str | Sequence[str] | None = ("0006_duty", "0006_registry")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
