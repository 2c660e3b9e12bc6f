"""Hardening (issue 12): per-user token version (revocation), login audit, used crew links.

Revision ID: 0006_harden
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from dispatch.models import UTCDateTime

revision: str = "0006_harden"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("user_account") as batch:
        batch.add_column(sa.Column("token_version", sa.Integer(), nullable=False,
                                   server_default="0"))
    op.create_table(
        "login_attempt",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
    )
    op.create_index("ix_login_attempt_username_at", "login_attempt", ["username", "at"])
    op.create_index("ix_login_attempt_address_at", "login_attempt", ["address", "at"])
    op.create_table(
        "crew_link_use",
        sa.Column("jti", sa.String(64), primary_key=True),
        sa.Column("team_id", sa.Integer(), sa.ForeignKey("team.id"), nullable=False),
        sa.Column("assignment_id", sa.Integer(), sa.ForeignKey("assignment.id"),
                  nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("crew_link_use")
    op.drop_index("ix_login_attempt_address_at", "login_attempt")
    op.drop_index("ix_login_attempt_username_at", "login_attempt")
    op.drop_table("login_attempt")
    with op.batch_alter_table("user_account") as batch:
        batch.drop_column("token_version")
