"""the queue of stored-but-not-yet-judged MQTT events (issue 19: accepted now, judged next)

Revision ID: 0013_alarm_queue
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_alarm_queue"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    where = sa.text("outcome = 'queued'")
    op.create_index("ix_alarm_queued", "alarm", ["elevator_id", "occurred_at"],
                    postgresql_where=where, sqlite_where=where)


def downgrade() -> None:
    op.drop_index("ix_alarm_queued", "alarm")
