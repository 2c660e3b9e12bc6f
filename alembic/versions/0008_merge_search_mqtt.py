"""Merge the search (13) and MQTT terminal (19) branches onto 0007.

Revision ID: 0008
Revises: 0007, 0006_search, 0006_mqtt
"""

from collections.abc import Sequence

revision: str = "0008"
down_revision: str | Sequence[str] | None = ("0007", "0006_search", "0006_mqtt")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
