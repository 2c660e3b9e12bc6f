"""Write the registry back as the four import files (``rescue registry export DIR``).

Why the import contract's own files: a centre edits the export in a spreadsheet and imports it
again, and an export imported unchanged must report zero changes — so coordinates are WGS-84 at
1e-7°, booleans ``true``/``false``, dates ISO, exactly as the importer compares them.
Retired teams and inactive organizations are left out (re-importing them would revive them).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.models import Elevator, Organization, Team, Zone
from dispatch.registry.readers import COLUMNS

__all__ = ["export_registry", "write_csv", "write_zones"]


def _header(kind: str) -> list[str]:
    return [c.rstrip("?") for c in COLUMNS[kind]]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(round(value, 7))
    return str(value)


def write_csv(path: Path, kind: str, rows: Iterable[dict[str, Any]]) -> int:
    """One UTF-8 CSV with the contract's headers; returns the number of rows."""
    header = _header(kind)
    n = 0
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for row in rows:
            w.writerow([_text(row.get(c)) for c in header])
            n += 1
    return n


def write_zones(path: Path, features: Sequence[tuple[dict[str, Any], dict[str, Any]]]) -> int:
    """``zones.geojson`` from (properties, geometry) pairs."""
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": props, "geometry": geom} for props, geom in features]}
    path.write_text(json.dumps(doc, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    return len(features)


def export_registry(session: Session, target: Path) -> dict[str, int]:
    """Write zones.geojson, organizations.csv, teams.csv, elevators.csv into ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    zones = session.scalars(select(Zone).order_by(Zone.id)).all()
    zone_code = {z.id: z.code for z in zones}
    counts["zones"] = write_zones(target / "zones.geojson", [
        ({"code": z.code, "name": z.name, "name_en": z.name_en, "kind": z.kind,
          "arrival_limit_min": z.arrival_limit_min, "clock_start": z.clock_start,
          "clock_stop": z.clock_stop}, json.loads(z.boundary_geojson)) for z in zones])
    org_code = {i: c for i, c in session.execute(select(Organization.id, Organization.code))}
    orgs = session.execute(select(Organization.code, Organization.kind, Organization.name,
                                  Organization.phone, Organization.region)
                           .where(Organization.active.is_(True)).order_by(Organization.id))
    counts["organizations"] = write_csv(target / "organizations.csv", "organizations",
                                        (r._asdict() for r in orgs))
    teams = session.execute(select(Team.code, Team.organization_id, Team.name, Team.phone,
                                   Team.base_location, Team.capacity, Team.on_duty, Team.roster)
                            .where(Team.retired.is_(False)).order_by(Team.id))
    counts["teams"] = write_csv(target / "teams.csv", "teams", (
        {**t._asdict(), "organization_code": org_code[t.organization_id],
         "lon": t.base_location.lon, "lat": t.base_location.lat, "crs": "wgs84"}
        for t in teams))
    elevators = session.execute(select(
        Elevator.register_code, Elevator.rescue_code, Elevator.address, Elevator.building,
        Elevator.location, Elevator.site_type, Elevator.use_unit_id,
        Elevator.maintenance_company_id, Elevator.maintenance_until, Elevator.insurer_id,
        Elevator.policy_no, Elevator.three_no, Elevator.in_service, Elevator.floors,
        Elevator.zone_id).order_by(Elevator.id))

    def elevator_rows() -> Iterable[dict[str, Any]]:
        for e in elevators:
            yield {**e._asdict(), "lon": e.location.lon, "lat": e.location.lat, "crs": "wgs84",
                   "use_unit_code": org_code.get(e.use_unit_id),
                   "maintenance_company_code": org_code.get(e.maintenance_company_id),
                   "insurer_code": org_code.get(e.insurer_id),
                   "maintenance_until": (None if e.maintenance_until is None
                                         else e.maintenance_until.isoformat()),
                   "zone": zone_code.get(e.zone_id)}

    counts["elevators"] = write_csv(target / "elevators.csv", "elevators", elevator_rows())
    return counts
