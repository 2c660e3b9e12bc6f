"""The registry one row at a time: the admin page's lists, reads and saves (issue 13).

Why saves go through the importer: the admin form must apply the *same* rules with the *same*
messages as ``rescue registry import``, and a save must do what an import does (zone derived
from the polygons, road snapping, the search index through the table's triggers, zones
re-deriving their lifts, duty changes through the duty service, a registry change row). So a
save builds the one row an import file would hold — the row as it is now (in the export's
shape), overlaid with the fields sent — and runs it through :func:`importer.import_read`.
Nothing here validates on its own; a refused row is answered with the importer's issues.

The price: an elevator or zone save loads every lift's comparable state as an import does
(the "database state" stage, 0.1–0.8 s at 60,500 lifts in the re-import runs of
docs/benchmarks.md; not measured separately for one-row saves), which an admin editing one row
can afford.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session, joinedload

from dispatch.elevators import search
from dispatch.errors import Problem
from dispatch.models import Elevator, Organization, Team, Zone
from dispatch.registry import export
from dispatch.registry.importer import (
    ImportOptions,
    ImportReport,
    import_read,
    rules_for,
    snapper_for,
)
from dispatch.registry.models import RegistryChange
from dispatch.registry.readers import COLUMNS, FileRows, Issue, Row, ZoneFeature
from dispatch.scoping import Visibility
from dispatch.settings import Settings

__all__ = ["KINDS", "SEARCH_CAP", "SaveResult", "list_changes", "list_rows", "read_row",
           "save_row"]

#: URL name → (natural key, file name, change-log kind).
KINDS: dict[str, tuple[str, str, str]] = {
    "elevators": ("register_code", "elevators.csv", "elevator"),
    "organizations": ("code", "organizations.csv", "organization"),
    "teams": ("code", "teams.csv", "team"),
    "zones": ("code", "zones.geojson", "zone"),
}
ZONE_FIELDS = ("code", "name", "name_en", "kind", "arrival_limit_min", "clock_start",
               "clock_stop", "crs", "geometry")
#: A text search on elevators looks at most this many matches (``search.search_ids``).
SEARCH_CAP = 2000
SOURCE = "admin"
ROW_LABEL = "admin"  # the "file" an admin form's issues name


def fields_of(kind: str) -> tuple[str, ...]:
    if kind == "zones":
        return ZONE_FIELDS
    return tuple(c.rstrip("?") for c in COLUMNS[kind])


# ---- rows as the API shows them (the import columns, typed, plus what is derived) ------------


def _r7(x: float) -> float:
    return round(float(x), 7)


def elevator_row(e: Elevator) -> dict[str, Any]:
    def code(o: Organization | None) -> str | None:
        return None if o is None else o.code

    return {"id": e.id, "register_code": e.register_code, "rescue_code": e.rescue_code,
            "address": e.address, "building": e.building, "lon": _r7(e.location.lon),
            "lat": _r7(e.location.lat), "crs": "wgs84", "site_type": e.site_type,
            "use_unit_code": code(e.use_unit),
            "maintenance_company_code": code(e.maintenance_company),
            "maintenance_until": (None if e.maintenance_until is None
                                  else e.maintenance_until.isoformat()),
            "insurer_code": code(e.insurer), "policy_no": e.policy_no,
            "three_no": bool(e.three_no), "in_service": bool(e.in_service), "floors": e.floors,
            "zone": e.zone.code, "zone_name": e.zone.name, "road_node": e.road_node}


def organization_row(o: Organization) -> dict[str, Any]:
    return {"id": o.id, "code": o.code, "kind": o.kind, "name": o.name, "phone": o.phone,
            "region": o.region, "active": bool(o.active)}


def team_row(t: Team) -> dict[str, Any]:
    return {"id": t.id, "code": t.code, "organization_code": t.organization.code,
            "organization_name": t.organization.name, "name": t.name, "phone": t.phone,
            "lon": _r7(t.base_location.lon), "lat": _r7(t.base_location.lat), "crs": "wgs84",
            "capacity": t.capacity, "on_duty": bool(t.on_duty), "roster": t.roster,
            "district": t.district, "retired": bool(t.retired)}


def zone_row(z: Zone) -> dict[str, Any]:
    return {"id": z.id, "code": z.code, "name": z.name, "name_en": z.name_en, "kind": z.kind,
            "arrival_limit_min": z.arrival_limit_min, "clock_start": z.clock_start,
            "clock_stop": z.clock_stop, "crs": "wgs84",
            "geometry": json.loads(z.boundary_geojson)}


def _contains(columns: list[Any], q: str) -> ColumnElement[bool]:
    return or_(*[c.contains(q, autoescape=True) for c in columns])


def _select(kind: str) -> Select[Any]:
    if kind == "elevators":
        return select(Elevator).options(
            joinedload(Elevator.zone), joinedload(Elevator.use_unit),
            joinedload(Elevator.maintenance_company), joinedload(Elevator.insurer))
    if kind == "teams":
        return select(Team).options(joinedload(Team.organization))
    if kind == "organizations":
        return select(Organization)
    return select(Zone)


def _scoped(kind: str, stmt: Select[Any], viewer: Visibility) -> Select[Any]:
    if kind == "elevators":
        return viewer.elevators(stmt)
    if kind == "teams":
        return viewer.registry_teams(stmt)
    if kind == "organizations":
        return viewer.organizations(stmt)
    return viewer.zones(stmt)


_ROW: dict[str, Callable[[Any], dict[str, Any]]] = {
    "elevators": elevator_row, "organizations": organization_row, "teams": team_row,
    "zones": zone_row}
_MODEL: dict[str, Any] = {"elevators": Elevator, "organizations": Organization, "teams": Team,
                          "zones": Zone}


def _search(session: Session, kind: str, q: str) -> ColumnElement[bool] | None:
    q = q.strip()
    if not q:
        return None
    if kind == "elevators":
        ids = search.search_ids(session, search.split_words(q), limit=SEARCH_CAP)
        return or_(Elevator.register_code.startswith(q, autoescape=True),
                   Elevator.rescue_code == q, Elevator.id.in_(ids))
    if kind == "organizations":
        return _contains([Organization.code, Organization.name, Organization.phone], q)
    if kind == "teams":
        return _contains([Team.code, Team.name, Team.phone], q)
    return _contains([Zone.code, Zone.name, Zone.name_en], q)


def list_rows(session: Session, viewer: Visibility, kind: str, *, q: str = "",
              limit: int = 50, offset: int = 0, filters: Mapping[str, Any] | None = None
              ) -> dict[str, Any]:
    """One page of ``kind`` as this viewer may read it, by id; ``q`` searches (elevators: the
    address words as the console lookup, or the start of a register code, or a rescue code)."""
    model = _MODEL[kind]
    where: list[ColumnElement[bool]] = []
    hit = _search(session, kind, q)
    if hit is not None:
        where.append(hit)
    for name, value in (filters or {}).items():
        if value is not None:
            where.append(getattr(model, name) == value)
    ids = _scoped(kind, select(model.id).where(*where), viewer)
    total = session.scalar(select(func.count()).select_from(ids.subquery())) or 0
    page = list(session.scalars(ids.order_by(model.id).limit(limit).offset(offset)))
    by_id = {r.id: r for r in session.scalars(_select(kind).where(model.id.in_(page))).unique()}
    return {"total": total, "limit": limit, "offset": offset,
            "items": [_ROW[kind](by_id[i]) for i in page if i in by_id]}


def read_row(session: Session, viewer: Visibility, kind: str, key: str) -> dict[str, Any] | None:
    model = _MODEL[kind]
    col = getattr(model, KINDS[kind][0])
    row = session.scalars(_scoped(kind, _select(kind).where(col == key), viewer)).unique().first()
    return None if row is None else _ROW[kind](row)


# ---- saving one row through the importer ---------------------------------------------------


@dataclass
class SaveResult:
    action: str  # created | updated | unchanged
    report: ImportReport


def text_of(value: Any) -> str:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, float):
        return repr(value)
    return export._text(value)


def _problem(kind: str, issues: list[Issue]) -> Problem:
    first = issues[0]
    return Problem(422, f"Invalid {KINDS[kind][2]}", f"{first.column or 'body'}: {first.message}",
                   field=first.column or "body",
                   errors=[{"field": i.column or "body", **i.as_dict()} for i in issues])


def _check_body(kind: str, body: Mapping[str, Any]) -> None:
    allowed = fields_of(kind)
    for name, value in body.items():
        if name not in allowed:
            raise Problem(422, "Unknown field", f"{name}: not a {KINDS[kind][2]} field; "
                          f"allowed: {', '.join(allowed)}", field=name, allowed=list(allowed))
        if name == "geometry":
            if not isinstance(value, dict):
                raise Problem(422, "Invalid zone", "geometry: a GeoJSON Polygon or "
                              "MultiPolygon object", field="geometry")
        elif value is not None and not isinstance(value, str | int | float | bool):
            raise Problem(422, f"Invalid {KINDS[kind][2]}",
                          f"{name}: a text, number or true/false value", field=name)


def save_row(session: Session, kind: str, body: Mapping[str, Any], *, key: str | None,
             settings: Settings, actor: str, role: str, now: datetime) -> SaveResult:
    """Create (``key`` None) or update (``key``: the fields sent overlay the row as it is) one
    row through the importer; a refused row raises 422 naming the field (nothing written)."""
    key_col, file_name, singular = KINDS[kind]
    _check_body(kind, body)
    everyone = Visibility.internal()
    if key is None:
        new_key = text_of(body.get(key_col))
        if new_key and read_row(session, everyone, kind, new_key) is not None:
            raise Problem(409, f"{singular} exists", f"{key_col} {new_key} already exists; "
                          "change it with PATCH", field=key_col)
        values: dict[str, Any] = dict(body)
    else:
        current = read_row(session, everyone, kind, key)
        if current is None:
            raise Problem(404, f"{singular} not found", field=key_col)
        sent = body.get(key_col)
        if sent is not None and text_of(sent) != key:
            raise Problem(422, f"Invalid {singular}", f"{key_col}: the natural key cannot be "
                          "changed (create a new row and deactivate this one)", field=key_col)
        values = {f: current.get(f) for f in fields_of(kind)} | dict(body)
    if kind == "zones":
        props = {k: (val.strip() if isinstance(val, str) else val)
                 for k, val in values.items() if k != "geometry" and val is not None}
        geometry = values.get("geometry")
        rows = FileRows(kind, Path(file_name), features=[
            ZoneFeature(ROW_LABEL, 0, props, geometry if isinstance(geometry, dict) else None)])
    else:
        rows = FileRows(kind, Path(file_name), rows=[
            Row(ROW_LABEL, 1, {c: text_of(values.get(c)) for c in fields_of(kind)})])
    report = import_read(session, {kind: rows}, rules=rules_for(settings),
                         snap=snapper_for(settings),
                         options=ImportOptions(actor=actor, role=role, now=now,
                                               timezone=settings.timezone, source=SOURCE))
    errors = report.errors
    if errors or not report.written:
        raise _problem(kind, errors or [Issue(ROW_LABEL, 1, None, "not saved", "未保存")])
    counts = report.kinds[kind]
    action = "created" if counts.created else "updated" if counts.updated else "unchanged"
    return SaveResult(action, report)


# ---- the change log ----------------------------------------------------------------------------


def change_row(c: RegistryChange) -> dict[str, Any]:
    return {"id": c.id, "kind": c.kind, "key": c.key, "action": c.action, "fields": c.fields,
            "actor": c.actor, "source": c.source, "at": c.at.isoformat()}


def list_changes(session: Session, viewer: Visibility, *, kind: str | None = None,
                 key: str | None = None, actor: str | None = None,
                 since: datetime | None = None, until: datetime | None = None,
                 limit: int = 50, offset: int = 0) -> dict[str, Any]:
    """Change rows newest first, filtered; an office sees those of its region's rows."""
    where: list[ColumnElement[bool]] = []
    if kind:
        where.append(RegistryChange.kind == kind)
    if key:
        where.append(RegistryChange.key == key)
    if actor:
        where.append(RegistryChange.actor == actor)
    if since is not None:
        where.append(RegistryChange.at >= since)
    if until is not None:
        where.append(RegistryChange.at < until)
    stmt = viewer.registry_changes(select(RegistryChange.id).where(*where),
                                   RegistryChange.kind, RegistryChange.key)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    ids = list(session.scalars(stmt.order_by(RegistryChange.id.desc()).limit(limit)
                               .offset(offset)))
    rows = {c.id: c for c in session.scalars(select(RegistryChange)
                                             .where(RegistryChange.id.in_(ids)))}
    return {"total": total, "limit": limit, "offset": offset,
            "items": [change_row(rows[i]) for i in ids if i in rows]}
