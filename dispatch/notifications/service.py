"""Reading notifications for the API (the incident page lists them)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.notifications.models import Notification
from dispatch.notifications.schemas import NotificationOut
from notify.phones import mask


def notifications_of(session: Session, incident_id: int) -> list[NotificationOut]:
    rows = session.scalars(select(Notification).where(Notification.incident_id == incident_id)
                           .order_by(Notification.id)).all()
    return [NotificationOut(id=n.id, channel=n.channel, recipient_kind=n.recipient_kind,
                            to_masked=mask(n.to), template=n.template, status=n.status,
                            attempts=n.attempts, created_at=n.created_at, sent_at=n.sent_at,
                            delivered_at=n.delivered_at, error=n.error,
                            status_at=n.status_at) for n in rows]
