"""The one serialiser for assignments (REST answers and the live stream); teams have theirs in
``dispatch.teams.service``."""

from __future__ import annotations

from dispatch import lifecycle
from dispatch.dispatching.schemas import AssignmentOut, TeamRef
from dispatch.models import Assignment


def assignment_out(a: Assignment, *, ranking: bool = True) -> AssignmentOut:
    team = a.team
    return AssignmentOut(
        id=a.id, incident_id=a.incident_id, team_id=a.team_id,
        team=TeamRef(id=team.id, name=team.name, phone=team.phone,
                     organization_id=team.organization_id, status=team.status),
        level=a.level, state=a.state, parallel=a.parallel, offered_at=a.offered_at,
        accept_by=a.accept_by, accepted_at=a.accepted_at, departed_at=a.departed_at,
        arrived_at=a.arrived_at, arrived_automatically=a.arrived_automatically,
        released_at=a.released_at, released_count=a.released_count, cleared_at=a.cleared_at,
        cause_code=a.cause_code, eta_s=None if a.eta_s is None else round(a.eta_s, 1),
        at_risk=a.at_risk, straight_line=a.straight_line, override_reason=a.override_reason,
        decline_reason=a.decline_reason, open=a.state in lifecycle.OPEN_ASSIGNMENT_STATES,
        ranking=a.ranking if ranking else None,
    )


def current_assignment(assignments: list[AssignmentOut]) -> AssignmentOut | None:
    """The assignment the board shows: the latest open main one, else the latest one."""
    open_main = [a for a in assignments if a.open and not a.parallel]
    if open_main:
        return open_main[-1]
    return assignments[-1] if assignments else None
