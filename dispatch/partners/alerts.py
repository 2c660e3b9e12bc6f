"""Live alerts that are not timeline events (``seq: null``): an unresolved partner transfer for
the operators, a paused partner for the admin. Published on the bus once their transaction
committed (wired by ``create_app``)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session, sessionmaker

from dispatch.bus import EventBus

log = logging.getLogger("rescue.partners")
_PENDING = "partner_alerts"


def queue_alert(session: Session, type_: str, at: datetime, data: dict[str, Any],
                *, incident_id: int | None = None) -> None:
    session.info.setdefault(_PENDING, []).append(
        {"seq": None, "type": type_, "incident_id": incident_id, "team_id": None,
         "at": at.isoformat(), "data": data})


def publish_alerts_after_commit(factory: sessionmaker[Session], bus: EventBus) -> None:
    @sa_event.listens_for(factory, "after_commit")
    def _publish(session: Session) -> None:
        for msg in session.info.pop(_PENDING, []):
            log.warning("partner alert %s: %s", msg["type"], msg["data"])
            bus.publish(msg)

    @sa_event.listens_for(factory, "after_rollback")
    def _drop(session: Session) -> None:
        session.info.pop(_PENDING, None)
