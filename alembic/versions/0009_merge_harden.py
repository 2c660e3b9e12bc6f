"""Merge the hardening branch (12) onto 0008.

Revision ID: 0009
Revises: 0008, 0006_harden
"""

from collections.abc import Sequence

revision: str = "0009"
down_revision: str | Sequence[str] | None = ("0008", "0006_harden")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
