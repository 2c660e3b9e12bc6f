"""What the database holds now, per natural key, in the same shape as a record's ``fields()``.

Why one comparable shape: the importer decides create / update / unchanged by comparing two
plain dicts (codes, not ids; lon/lat rounded to 1e-7°), and the change log stores exactly the
fields that differ, old → new, in words an office can read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.models import Elevator, Organization, Team, Zone


@dataclass
class Current:
    """Existing rows of one kind: key → id and key → comparable fields."""

    ids: dict[str, int] = field(default_factory=dict)
    fields: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class DbState:
    zones: Current
    zone_geometry: dict[str, BaseGeometry]
    organizations: Current
    org_kinds: dict[str, str]
    teams: Current
    elevators: Current
    rescue_owner: dict[str, str]  # rescue_code → register_code

    def zone_code_by_id(self) -> dict[int, str]:
        return {i: c for c, i in self.zones.ids.items()}

    def org_code_by_id(self) -> dict[int, str]:
        return {i: c for c, i in self.organizations.ids.items()}


def _r7(x: float) -> float:
    return round(float(x), 7)


def load_state(session: Session, *, kinds: frozenset[str]) -> DbState:
    """Read zones and organizations always (references), teams/elevators only when imported."""
    zones, geoms = Current(), {}
    for z in session.execute(select(Zone.id, Zone.code, Zone.name, Zone.name_en, Zone.kind,
                                    Zone.arrival_limit_min, Zone.clock_start, Zone.clock_stop,
                                    Zone.boundary_geojson)):
        zones.ids[z.code] = z.id
        zones.fields[z.code] = {"name": z.name, "name_en": z.name_en, "kind": z.kind,
                                "arrival_limit_min": z.arrival_limit_min,
                                "clock_start": z.clock_start, "clock_stop": z.clock_stop}
        geoms[z.code] = shape(json.loads(z.boundary_geojson))
    orgs, kinds_by_code = Current(), {}
    for o in session.execute(select(Organization.id, Organization.code, Organization.kind,
                                    Organization.name, Organization.phone, Organization.region,
                                    Organization.active)):
        orgs.ids[o.code] = o.id
        orgs.fields[o.code] = {"kind": o.kind, "name": o.name, "phone": o.phone,
                               "region": o.region, "active": bool(o.active)}
        kinds_by_code[o.code] = o.kind
    org_code = {i: c for c, i in orgs.ids.items()}
    zone_code = {i: c for c, i in zones.ids.items()}
    teams = Current()
    if "teams" in kinds:
        for t in session.execute(select(Team.id, Team.code, Team.organization_id, Team.name,
                                        Team.phone, Team.base_location, Team.capacity,
                                        Team.on_duty, Team.roster, Team.retired,
                                        Team.district)):
            teams.ids[t.code] = t.id
            teams.fields[t.code] = {
                "organization_code": org_code.get(t.organization_id), "name": t.name,
                "phone": t.phone, "lon": _r7(t.base_location.lon),
                "lat": _r7(t.base_location.lat), "capacity": t.capacity,
                "on_duty": bool(t.on_duty), "roster": t.roster, "retired": bool(t.retired),
                "district": t.district}
    elevators, rescue_owner = Current(), {}
    if "elevators" in kinds or "zones" in kinds:
        # Core rows on the session's connection, unpacked by position: no ORM row machinery
        # and no attribute lookups for 60k lifts (the difference is seconds).
        rows = session.connection().execute(select(
            Elevator.id, Elevator.register_code, Elevator.rescue_code, Elevator.address,
            Elevator.building, Elevator.location, Elevator.site_type, Elevator.use_unit_id,
            Elevator.maintenance_company_id, Elevator.maintenance_until, Elevator.insurer_id,
            Elevator.policy_no, Elevator.three_no, Elevator.in_service, Elevator.floors,
            Elevator.zone_id, Elevator.road_node))
        for (eid, reg, rescue, address, building, loc, site, use_unit, company, until,
             insurer, policy, three_no, in_service, floors, zone_id, node) in rows:
            elevators.ids[reg] = eid
            rescue_owner[rescue] = reg
            elevators.fields[reg] = {
                "rescue_code": rescue, "address": address, "building": building,
                "lon": round(loc.lon, 7), "lat": round(loc.lat, 7), "site_type": site,
                "use_unit_code": None if use_unit is None else org_code.get(use_unit),
                "maintenance_company_code": None if company is None else org_code.get(company),
                "maintenance_until": None if until is None else until.isoformat(),
                "insurer_code": org_code.get(insurer), "policy_no": policy,
                "three_no": bool(three_no), "in_service": bool(in_service), "floors": floors,
                "zone": zone_code.get(zone_id), "road_node": node}
    return DbState(zones, geoms, orgs, kinds_by_code, teams, elevators, rescue_owner)
