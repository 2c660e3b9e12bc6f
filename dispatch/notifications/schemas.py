"""API shape of a notification (listed on the incident page); the number is masked."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class NotificationOut(BaseModel):
    id: int
    channel: str
    recipient_kind: str
    to_masked: str | None
    template: str
    status: str
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None
    error: str | None
    status_at: datetime | None = None
