"""GPS fixes on the live map: a ``team_position`` message after the fix is committed.

Fixes are not timeline events (they would flood it), so they carry ``seq: null``; the latest fix
is on ``team`` anyway, and every snapshot reads it from there.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from dispatch.bus import EventBus
from dispatch.models import TeamPosition

_PENDING = "pending_positions"


def publish_positions_after_commit(factory: sessionmaker[Session], bus: EventBus) -> None:
    @event.listens_for(factory, "before_flush")
    def _collect(session: Session, _ctx: Any, _instances: Any) -> None:
        fixes = [{"team_id": o.team_id, "at": o.at.isoformat(),
                  "data": {"lon": float(o.position[0]), "lat": float(o.position[1]),
                           "accuracy_m": o.accuracy_m}}
                 for o in session.new if isinstance(o, TeamPosition)]
        if fixes:  # read now: after the commit the objects are expired
            session.info.setdefault(_PENDING, []).extend(fixes)

    @event.listens_for(factory, "after_commit")
    def _publish(session: Session) -> None:
        for fix in session.info.pop(_PENDING, []):
            bus.publish({"seq": None, "type": "team_position", "incident_id": None, **fix})

    @event.listens_for(factory, "after_rollback")
    def _drop(session: Session) -> None:
        session.info.pop(_PENDING, None)
