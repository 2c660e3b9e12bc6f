"""Office regions reference a zone instead of matching its name as free text.

``user_account.region`` (a zone name, silently emptied by a renamed zone) becomes
``region_zone_id`` (a foreign key). Existing values are carried over by zone name or code.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("user_account") as batch:
        batch.add_column(sa.Column("region_zone_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_user_account_region_zone", "zone", ["region_zone_id"],
                                 ["id"])
    op.execute("UPDATE user_account SET region_zone_id = (SELECT zone.id FROM zone WHERE "
               "zone.name = user_account.region OR zone.code = user_account.region) "
               "WHERE region IS NOT NULL")
    with op.batch_alter_table("user_account") as batch:
        batch.drop_column("region")


def downgrade() -> None:
    with op.batch_alter_table("user_account") as batch:
        batch.add_column(sa.Column("region", sa.String(64), nullable=True))
    op.execute("UPDATE user_account SET region = (SELECT zone.name FROM zone WHERE "
               "zone.id = user_account.region_zone_id)")
    with op.batch_alter_table("user_account") as batch:
        batch.drop_constraint("fk_user_account_region_zone", type_="foreignkey")
        batch.drop_column("region_zone_id")
