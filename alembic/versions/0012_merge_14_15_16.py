"""Merge the heads of issues 14, 15 and 16 onto one history.

Revision ID: 0012
Revises: 0011_lift_numbers, 0011_phone, 0011_partners
"""

from collections.abc import Sequence

revision: str = "0012"
down_revision: str | Sequence[str] | None = (
    "0011_lift_numbers", "0011_phone", "0011_partners")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
