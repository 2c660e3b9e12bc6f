"""Live messages that are not timeline rows (``seq: null``): duty and GPS changes of teams,
terminal alerts, ringing calls, partner alerts. A service queues them on its session and they
reach the bus only once that transaction committed (dropped on rollback), like timeline events
(``dispatch.events.publish_after_commit``), so a console never shows what did not happen."""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from dispatch.bus import EventBus, Message

_QUEUED = "live_messages"


def queue_live(session: Session, msg: Message) -> None:
    """Send ``msg`` on the bus once ``session`` commits."""
    session.info.setdefault(_QUEUED, []).append(msg)


def publish_live_after_commit(factory: sessionmaker[Session], bus: EventBus) -> None:
    """Wire ``factory``'s sessions so queued live messages reach ``bus`` after each commit, in
    the order they were queued."""

    @event.listens_for(factory, "after_commit")
    def _publish(session: Session) -> None:
        for msg in session.info.pop(_QUEUED, []):
            bus.publish(msg)

    @event.listens_for(factory, "after_rollback")
    def _drop(session: Session) -> None:
        session.info.pop(_QUEUED, None)
