"""Live alerts that are not timeline events (``seq: null``): an unresolved partner transfer for
the operators, a paused partner for the admin, sent through ``dispatch.live`` once their
transaction committed."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from dispatch.live import queue_live

log = logging.getLogger("rescue.partners")


def queue_alert(session: Session, type_: str, at: datetime, data: dict[str, Any],
                *, incident_id: int | None = None) -> None:
    log.warning("partner alert %s: %s", type_, data)
    queue_live(session, {"seq": None, "type": type_, "incident_id": incident_id,
                         "team_id": None, "at": at.isoformat(), "data": data})
