"""Which incidents a user may see, decided in one place.

Operators, supervisors and admins see everything; an office user with a region sees only
incidents in zones of that region; crews see only incidents their team is assigned to (none
until the dispatch engine creates assignments).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, false, select

from dispatch.models import Incident, User, Zone


def scope_incidents(stmt: Select[Any], user: User) -> Select[Any]:
    if user.role in ("operator", "supervisor", "admin"):
        return stmt
    if user.role == "office":
        if user.region is None:
            return stmt
        return stmt.where(Incident.zone_id.in_(select(Zone.id).where(Zone.name == user.region)))
    return stmt.where(false())


def office_region(user: User) -> str | None:
    """The zone name an office user is limited to (None: no limit, or not an office user).

    Reports filter by it and refuse a district outside it, so an office of one district never
    sees another's rows.
    """
    return user.region if user.role == "office" else None
