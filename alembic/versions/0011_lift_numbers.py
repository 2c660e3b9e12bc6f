"""the lifts at one address, in registration-code order (issue 16: lookup shows 1号梯/2号梯)

Revision ID: 0011_lift_numbers
Revises: 0010_plan
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011_lift_numbers"
down_revision: str | None = "0010_plan"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_elevator_address_regcode", "elevator", ["address", "register_code"])


def downgrade() -> None:
    op.drop_index("ix_elevator_address_regcode", "elevator")
