"""What a user may see, act on and receive live: decided here, in one object.

``Visibility`` is built once per request (``deps.ViewerDep``) or websocket from the user, and
every route, service and the stream ask it instead of looking at roles or regions themselves
(``tests/test_architecture.py`` fails on a role or region check anywhere but here and
``deps.py``):

- operators, supervisors and admins see everything; offices and admins are read-only;
- an office user with a region (``User.region_zone_id``, a zone) sees only that zone's
  incidents, assignments, alarms, elevators and zones, and receives only its live events;
- crews see only their own team and the incidents their team has a job on, without the
  caller's number and without other teams' assignments; they act only on their own team.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, TypeVarTuple

from sqlalchemy import Select, and_, false, or_, select
from sqlalchemy.orm import Session

from dispatch import lifecycle
from dispatch.models import Assignment, Elevator, Incident, Organization, Team, User, Zone

STAFF_ROLES: Final = frozenset({"operator", "supervisor", "office", "admin", "system"})
"""``system`` is no user's role: it is the server's own reading (``Visibility.internal``)."""
ACTING_ROLES: Final = frozenset({"operator", "supervisor"})
DUTY_ROLES: Final = frozenset({"supervisor", "admin"})
CREW_VISIBLE_ASSIGNMENTS: Final = lifecycle.OPEN_ASSIGNMENT_STATES | {lifecycle.RELEASED}
CREW_HIDDEN_FIELDS: Final = ("caller_phone",)
Ts = TypeVarTuple("Ts")


@dataclass(frozen=True, slots=True)
class Visibility:
    user_id: int | None
    username: str
    role: str
    team_id: int | None
    region_zone_id: int | None
    region_name: str | None

    @classmethod
    def for_user(cls, user: User, session: Session | None = None) -> Visibility:
        """The user's visibility; the region's zone name is read with ``session`` if given."""
        zone_id = user.region_zone_id if user.role == "office" else None
        name = None
        if zone_id is not None and session is not None:
            name = session.scalar(select(Zone.name).where(Zone.id == zone_id))
        return cls(user.id, user.username, user.role, user.team_id, zone_id, name)

    @classmethod
    def internal(cls) -> Visibility:
        """Everything, read-only: the stream hub reading a row once for every staff console."""
        return cls(None, "system", "system", None, None, None)

    @classmethod
    def for_partner(cls, name: str, region_zone_id: int | None) -> Visibility:
        """A partner system (issue 14): its region's incidents, or all without a region."""
        return cls(None, f"partner:{name}", "partner", None, region_zone_id, None)

    def sees_zone(self, zone_id: int) -> bool:
        """Whether rows of ``zone_id`` are in this viewer's region (partners' pushes)."""
        return self.region_zone_id is None or self.region_zone_id == zone_id

    # -- who this is ---------------------------------------------------------------------
    @property
    def is_crew(self) -> bool:
        return self.role == "crew"

    @property
    def read_only(self) -> bool:
        """Offices and admins watch the board; they do not dispatch."""
        return self.role not in ACTING_ROLES and not self.is_crew

    @property
    def sees_caller_numbers(self) -> bool:
        """Issue 15: operators and supervisors read a caller's full number on the phone desk;
        everyone else sees it masked (crews not at all)."""
        return self.role in ACTING_ROLES or self.role == "system"

    @property
    def sees_calls(self) -> bool:
        """Issue 15: ringing calls and recordings are for staff, never for crews."""
        return self.role in STAFF_ROLES

    @property
    def sees_everything(self) -> bool:
        """Staff without a region: one shared board snapshot serves them all."""
        return self.role in STAFF_ROLES and self.region_zone_id is None

    @property
    def may_backdate_steps(self) -> bool:
        """Operators phone a crew's step in late; crews record steps as they happen."""
        return not self.is_crew

    @property
    def step_channel(self) -> str:
        return "app" if self.is_crew else "phone-in"

    # -- filters on queries --------------------------------------------------------------
    def _crew_incident_ids(self) -> Select[int]:
        """Incidents the team has (or had) an assignment on: its page follows a job until the
        end (the snapshot lists only the open ones, ``stream.snapshot.crew_jobs``)."""
        return select(Assignment.incident_id).where(Assignment.team_id == self.team_id)

    def incidents(self, stmt: Select[*Ts]) -> Select[*Ts]:
        if self.is_crew:
            if self.team_id is None:
                return stmt.where(false())
            return stmt.where(Incident.id.in_(self._crew_incident_ids()))
        if self.region_zone_id is not None:
            return stmt.where(Incident.zone_id == self.region_zone_id)
        return stmt

    def assignments(self, stmt: Select[*Ts]) -> Select[*Ts]:
        if self.is_crew:
            return stmt.where(Assignment.team_id == self.team_id)
        if self.region_zone_id is not None:
            return stmt.where(Assignment.incident_id.in_(
                select(Incident.id).where(Incident.zone_id == self.region_zone_id)))
        return stmt

    def elevators(self, stmt: Select[*Ts],
                  column: Any = Elevator.id) -> Select[*Ts]:
        """Registry reads (and anything keyed by an elevator, e.g. alarms: pass its column)."""
        if self.is_crew:
            return stmt.where(false())
        if self.region_zone_id is not None:
            return stmt.where(column.in_(
                select(Elevator.id).where(Elevator.zone_id == self.region_zone_id)))
        return stmt

    def alarms(self, stmt: Select[*Ts], elevator_column: Any) -> Select[*Ts]:
        return self.elevators(stmt, elevator_column)

    def zones(self, stmt: Select[*Ts]) -> Select[*Ts]:
        if self.region_zone_id is not None:
            return stmt.where(Zone.id == self.region_zone_id)
        return stmt

    def regional_rows(self, stmt: Select[*Ts], column: Any) -> Select[*Ts]:
        """Rows an office keeps for its region (issue 17: saved station plans): an office
        with a region reads its own; everyone else reads all."""
        if self.region_zone_id is not None:
            return stmt.where(column == self.region_zone_id)
        return stmt

    def organizations(self, stmt: Select[*Ts]) -> Select[*Ts]:
        """Registry reads of organizations (issue 13, admin page): an office with a region
        reads those whose ``region`` is its zone's code; everyone else reads all."""
        if self.region_zone_id is not None:
            return stmt.where(Organization.region.in_(
                select(Zone.code).where(Zone.id == self.region_zone_id)))
        return stmt

    def registry_teams(self, stmt: Select[*Ts]) -> Select[*Ts]:
        """Registry reads of teams (admin page): an office with a region reads the teams
        based in it (``Team.district``, derived from the zone polygons); crews none."""
        if self.is_crew:
            return stmt.where(false())
        if self.region_zone_id is not None:
            return stmt.where(Team.district.in_(
                select(Zone.name).where(Zone.id == self.region_zone_id)))
        return stmt

    def registry_changes(self, stmt: Select[*Ts], kind: Any, key: Any) -> Select[*Ts]:
        """Change-log rows (``kind``/``key`` columns) of the registry rows this user may
        read: an office with a region sees the changes of its zone, its elevators, teams and
        organizations (as they are now)."""
        if self.is_crew:
            return stmt.where(false())
        if self.region_zone_id is None:
            return stmt
        return stmt.where(or_(
            and_(kind == "zone", key.in_(self.zones(select(Zone.code)))),
            and_(kind == "elevator", key.in_(self.elevators(select(Elevator.register_code)))),
            and_(kind == "team", key.in_(self.registry_teams(select(Team.code)))),
            and_(kind == "organization",
                 key.in_(self.organizations(select(Organization.code))))))

    def teams(self, stmt: Select[*Ts]) -> Select[*Ts]:
        """Crews see their own team; staff see every team (a city resource)."""
        if self.is_crew:
            return stmt.where(Team.id == self.team_id)
        return stmt

    # -- acting ---------------------------------------------------------------------------
    def may_act_on_team(self, team_id: int) -> bool:
        if self.is_crew:
            return team_id == self.team_id
        return self.role in ACTING_ROLES

    def may_change_duty(self, team_id: int) -> bool:
        """Duty (issue 13): a crew its own team; supervisors and admins any team (with a
        reason, as ``duty_source`` 'supervisor'); operators dispatch, they do not roster."""
        if self.is_crew:
            return team_id == self.team_id
        return self.role in DUTY_ROLES

    @property
    def duty_source(self) -> str:
        """The channel a duty change by this user is recorded under."""
        return "crew" if self.is_crew else "supervisor"

    def may_act_on_assignment(self, assignment: Assignment) -> bool:
        return self.may_act_on_team(assignment.team_id)

    def district_for_report(self, district: str | None) -> tuple[str | None, bool]:
        """The zone name a report covers, and whether the asked district is outside the
        region (the caller answers 403)."""
        if self.region_zone_id is None:
            return district, False
        return self.region_name, district is not None and district != self.region_name

    # -- live events ------------------------------------------------------------------------
    def wants_event(self, msg: dict[str, Any], zone_id: int | None,
                    jobs: set[int]) -> bool:
        """Whether a live event goes to this user. ``jobs`` are the incidents a crew follows;
        an event naming the crew's team adds its incident to them."""
        if self.is_crew:
            team = msg.get("team_id")
            if team is not None:
                if team == self.team_id and msg.get("incident_id") is not None:
                    jobs.add(int(msg["incident_id"]))
                return bool(team == self.team_id)
            return msg.get("incident_id") in jobs
        if self.region_zone_id is not None and (msg.get("incident_id") is not None
                                                or msg.get("zone_id") is not None):
            return zone_id == self.region_zone_id  # incidents, and terminal alerts (issue 19)
        return True

    def redact(self, data: dict[str, Any]) -> dict[str, Any]:
        """An event payload or an incident as this user may read it."""
        if not self.is_crew:
            return data
        return {k: v for k, v in data.items() if k not in CREW_HIDDEN_FIELDS}

    def me(self, lang: str) -> dict[str, Any]:
        return {"id": self.user_id, "username": self.username, "role": self.role,
                "team_id": self.team_id, "region": self.region_name,
                "region_zone_id": self.region_zone_id, "lang": lang,
                "read_only": self.read_only}
