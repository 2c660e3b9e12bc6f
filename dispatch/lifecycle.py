"""The incident lifecycle as pure data: states, allowed transitions, the timestamp ladder.

Normalised from DB32/T 4130-2021 and DB37/T 3451-2018 (see DOMAIN.md). No I/O here: the write
path (``dispatch.events``) asks this module whether a change is allowed and which column records
its time, so the rules are tested without a database. The intervals offices review (dispatch,
response, arrival, on-site time) are defined once, from the timeline, in
``dispatch.reports.kpis`` (docs/kpis.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

RECEIVED: Final = "received"
CONFIRMED: Final = "confirmed"
DISPATCHED: Final = "dispatched"
ACCEPTED: Final = "accepted"
EN_ROUTE: Final = "en_route"
ARRIVED: Final = "arrived"
RELEASED: Final = "released"
CLEARED: Final = "cleared"
CALLBACK_DONE: Final = "callback_done"
CLOSED: Final = "closed"
CANCELLED: Final = "cancelled"
FALSE_ALARM: Final = "false_alarm"
ESCALATED: Final = "escalated"
MERGED: Final = "merged"

LADDER: Final = (
    RECEIVED, CONFIRMED, DISPATCHED, ACCEPTED, EN_ROUTE, ARRIVED, RELEASED, CLEARED,
    CALLBACK_DONE, CLOSED,
)
STATES: Final = frozenset((*LADDER, CANCELLED, FALSE_ALARM, ESCALATED, MERGED))

_ABORT = (CANCELLED, FALSE_ALARM)
_RESCUE_UNDER_WAY = (DISPATCHED, ACCEPTED, EN_ROUTE, ARRIVED, RELEASED)

TRANSITIONS: Final[Mapping[str, frozenset[str]]] = {
    RECEIVED: frozenset((CONFIRMED, DISPATCHED, ESCALATED, *_ABORT)),
    CONFIRMED: frozenset((DISPATCHED, ESCALATED, *_ABORT)),
    DISPATCHED: frozenset((CONFIRMED, ACCEPTED, EN_ROUTE, ARRIVED, ESCALATED, *_ABORT)),
    ACCEPTED: frozenset((CONFIRMED, EN_ROUTE, ARRIVED, ESCALATED, *_ABORT)),
    EN_ROUTE: frozenset((CONFIRMED, ARRIVED, ESCALATED, *_ABORT)),
    ARRIVED: frozenset((RELEASED, ESCALATED, FALSE_ALARM)),
    RELEASED: frozenset((CLEARED, CALLBACK_DONE, CLOSED)),
    CLEARED: frozenset((CALLBACK_DONE, CLOSED)),
    CALLBACK_DONE: frozenset((CLEARED, CLOSED)),
    ESCALATED: frozenset((*_RESCUE_UNDER_WAY, *_ABORT)),
    CLOSED: frozenset(),
    CANCELLED: frozenset(),
    FALSE_ALARM: frozenset(),
    MERGED: frozenset(),
}
"""Allowed next states. Going back to ``confirmed`` means every offer failed and the incident
waits for a new dispatch; its timestamps keep their first values."""

ACTIVE_STATES: Final = frozenset(s for s in STATES if s not in (CLOSED, CANCELLED, FALSE_ALARM,
                                                                 MERGED))
MERGEABLE_STATES: Final = frozenset((RECEIVED, CONFIRMED, DISPATCHED, ACCEPTED, EN_ROUTE, ARRIVED,
                                      ESCALATED))
"""A new report for an elevator whose incident is in one of these states is the same entrapment;
after release a new call is a new entrapment."""
TERMINAL_STATES: Final = frozenset(s for s, nxt in TRANSITIONS.items() if not nxt)

TIMESTAMP_COLUMN: Final[Mapping[str, str]] = {
    RECEIVED: "received_at",
    CONFIRMED: "confirmed_at",
    DISPATCHED: "dispatched_at",
    ACCEPTED: "accepted_at",
    EN_ROUTE: "departed_at",
    ARRIVED: "arrived_at",
    RELEASED: "released_at",
    CLEARED: "cleared_at",
    CALLBACK_DONE: "callback_done_at",
    CLOSED: "closed_at",
    CANCELLED: "cancelled_at",
    FALSE_ALARM: "cancelled_at",
    ESCALATED: "escalated_at",
}


class TransitionError(Exception):
    """Raised for a change the lifecycle does not allow; carries what *is* allowed."""

    def __init__(self, current: str, requested: str,
                 table: Mapping[str, frozenset[str]] | None = None) -> None:
        self.current = current
        self.requested = requested
        self.allowed = sorted((table or TRANSITIONS).get(current, frozenset()))
        super().__init__(f"cannot go from {current!r} to {requested!r}")


def allowed_next(state: str) -> frozenset[str]:
    return TRANSITIONS.get(state, frozenset())


def check_transition(current: str, requested: str) -> None:
    """Raise ``TransitionError`` unless ``current → requested`` is allowed."""
    if requested not in TRANSITIONS.get(current, frozenset()):
        raise TransitionError(current, requested)


# Assignment (an offer to one team) — separate from the incident and from team readiness.
OFFERED: Final = "offered"
DECLINED: Final = "declined"
TIMED_OUT: Final = "timed_out"
ON_SCENE: Final = "on_scene"
ASSIGNMENT_CANCELLED: Final = "cancelled"

ASSIGNMENT_TRANSITIONS: Final[Mapping[str, frozenset[str]]] = {
    OFFERED: frozenset((ACCEPTED, DECLINED, TIMED_OUT, ASSIGNMENT_CANCELLED)),
    ACCEPTED: frozenset((EN_ROUTE, ON_SCENE, ASSIGNMENT_CANCELLED)),
    EN_ROUTE: frozenset((ON_SCENE, ASSIGNMENT_CANCELLED)),
    ON_SCENE: frozenset((RELEASED, ASSIGNMENT_CANCELLED)),
    RELEASED: frozenset((CLEARED,)),
    CLEARED: frozenset(),
    DECLINED: frozenset(),
    TIMED_OUT: frozenset(),
    ASSIGNMENT_CANCELLED: frozenset(),
}
OPEN_ASSIGNMENT_STATES: Final = frozenset((OFFERED, ACCEPTED, EN_ROUTE, ON_SCENE))
"""A team with an assignment in one of these states is not offered another job."""

ASSIGNMENT_TIMESTAMP: Final[Mapping[str, str]] = {
    ACCEPTED: "accepted_at", DECLINED: "declined_at", TIMED_OUT: "timed_out_at",
    EN_ROUTE: "departed_at", ON_SCENE: "arrived_at", RELEASED: "released_at",
    CLEARED: "cleared_at", ASSIGNMENT_CANCELLED: "cancelled_at",
}


def check_assignment_transition(current: str, requested: str) -> None:
    if requested not in ASSIGNMENT_TRANSITIONS.get(current, frozenset()):
        raise TransitionError(current, requested, ASSIGNMENT_TRANSITIONS)
