"""Which elevators a caller has called about before (issue 13: look up by phone number).

A repeat caller is usually a resident or a use-unit's duty phone: the operator who sees the
number can confirm the elevator instead of asking for the address again. Stored numbers are as
intake normalised them (``13812345678``, ``0351-1234567``, ``+8613812345678``), so the lookup
matches every spelling :func:`notify.phones.variants` knows for the number given.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVarTuple

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from dispatch.incidents.schemas import normalise_phone
from dispatch.models import Incident
from notify.phones import variants

#: A caller's incidents read at most (a duty phone of a big estate may have called often).
HISTORY_ROWS = 500

Ts = TypeVarTuple("Ts")


class Scope(Protocol):
    """Narrows a query to the incidents a viewer may read (``Visibility.incidents``)."""

    def __call__(self, stmt: Select[*Ts]) -> Select[*Ts]: ...


@dataclass(frozen=True, slots=True)
class CallerHistory:
    """One elevator a number called about: its last incident and how many there were."""

    elevator_id: int
    last_incident_id: int
    last_incident_at: datetime
    incidents: int


def phone_or_none(text: str) -> str | None:
    """``text`` normalised when it is a phone number (mobile, landline, E.164), else None."""
    try:
        return normalise_phone(text)
    except ValueError:
        return None


def spellings(phone: str) -> list[str]:
    """Every stored form of ``phone`` (already normalised)."""
    return list(dict.fromkeys([phone, *variants(phone)]))


def caller_history(session: Session, phone: str, *, scope: Scope | None = None,
                   limit: int = 20) -> list[CallerHistory]:
    """Elevators of the incidents reported from ``phone``, most recent incident first.

    ``scope`` narrows the incidents to those the viewer may read (an office sees its region).
    """
    stmt = (select(Incident.id, Incident.elevator_id, Incident.received_at)
            .where(Incident.caller_phone.in_(spellings(phone)))
            .order_by(Incident.received_at.desc(), Incident.id.desc()).limit(HISTORY_ROWS))
    if scope is not None:
        stmt = scope(stmt)
    out: dict[int, CallerHistory] = {}
    for inc_id, elevator_id, at in session.execute(stmt):
        seen = out.get(elevator_id)
        if seen is None:
            out[elevator_id] = CallerHistory(elevator_id, inc_id, at, 1)
        else:
            out[elevator_id] = CallerHistory(elevator_id, seen.last_incident_id,
                                             seen.last_incident_at, seen.incidents + 1)
    return list(out.values())[:limit]
