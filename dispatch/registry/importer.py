"""Import a centre's registry files: validate everything, then write only what changed.

Why whole-input validation first: a half-imported registry (companies in, their lifts not) is
worse than none, so nothing is written unless every row is valid — or, with ``skip_bad``, the
valid rows are written and the rest listed. Rows are matched by natural key (zone and
organization ``code``, team ``code``, elevator ``register_code``) and compared field by field;
unchanged rows get no statement at all, so a nightly re-import of 60k lifts with 1 % changed
writes 1 % of rows. Bulk Core statements, not ORM objects, for the same reason as the fixture
loader (tens of seconds of unit-of-work bookkeeping at 60k).

Team duty is not a column the importer writes: a created or changed ``on_duty``, a changed
``roster`` and a full-sync retirement go through ``dispatch.teams.duty`` / ``rosters`` (a team
event with the actor, source ``import`` and the file as reason; the roster's durable boundary
re-planned to apply at once), for those teams only. A team the file takes off duty (or a full
sync retires) while it has a job in hand is an error on that row naming the assignment, like the
duty API's 409: nothing is written, or with ``skip_bad`` that team is left as it is. Rescue codes
are unique: codes that change are freed first (two phases in the same transaction), so two lifts
may swap codes, and a code may pass from an out-of-service lift to another one (the old lift
keeps the placeholder ``x<id>``, its old code stays in the change log).

This is a service: it flushes (executes) on the caller's session and never commits; the caller's
unit of work decides.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from dispatch import lifecycle
from dispatch.db import LonLat
from dispatch.elevators.fts import BULK_MIN_ROWS, bulk_search_index
from dispatch.events import Actor
from dispatch.models import Assignment, Elevator, Organization, Team, Zone
from dispatch.registry import validate as v
from dispatch.registry.models import RegistryChange
from dispatch.registry.readers import KINDS, FileRows, Issue, discover, read_file
from dispatch.registry.state import Current, DbState, load_state
from dispatch.routing import router_for
from dispatch.settings import Settings
from dispatch.teams.duty import retire, set_duty
from dispatch.teams.rosters import reschedule_roster
from geo.zones import Zone as GeoZone
from geo.zones import ZoneIndex

__all__ = ["FULL_SYNC_KINDS", "ImportOptions", "ImportReport", "KindReport", "import_paths",
           "import_read", "import_with_settings", "rules_for", "snapper_for"]

FULL_SYNC_KINDS = ("organizations", "teams", "elevators")
CHUNK = 5_000
_KEY = {"zones": "code", "organizations": "code", "teams": "code",
        "elevators": "register_code"}
_SINGULAR = {"zones": "zone", "organizations": "organization", "teams": "team",
             "elevators": "elevator"}

#: ``progress(stage, done, total)``
ProgressFn = Callable[[str, int, int], None]


@dataclass(frozen=True)
class ImportOptions:
    dry_run: bool = False
    skip_bad: bool = False
    full_sync: frozenset[str] = frozenset()
    actor: str = "cli"
    #: Off-network points: an error unless ``skip_bad`` (then a warning); the Taiyuan fixture
    #: passes False because its outer counties have no roads in the demo extract.
    off_network_is_error: bool | None = None
    now: datetime | None = None
    #: Who, for the team events of duty changes (``actor`` is the name); the centre's time
    #: zone for roster boundaries (``import_with_settings`` fills it from the settings).
    role: str | None = None
    timezone: str | None = None
    #: The change rows' ``source`` for every row (the admin page: ``"admin"``); None: the
    #: file each row came from.
    source: str | None = None


@dataclass
class KindReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deactivated: int = 0
    errors: int = 0
    warnings: int = 0

    @property
    def changes(self) -> int:
        return self.created + self.updated + self.deactivated


@dataclass
class ImportReport:
    """Counts per kind, every issue, and whether anything was written."""

    kinds: dict[str, KindReport] = field(default_factory=lambda: {k: KindReport() for k in KINDS})
    issues: list[Issue] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    written: bool = False
    dry_run: bool = False
    seconds: float = 0.0
    #: Natural keys created/updated/deactivated per kind once written (search index, caches).
    written_keys: dict[str, list[str]] = field(default_factory=dict)

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def changes(self) -> int:
        return sum(k.changes for k in self.kinds.values())

    def as_dict(self) -> dict[str, Any]:
        return {"written": self.written, "dry_run": self.dry_run, "files": self.files,
                "counts": {k: vars(r) for k, r in self.kinds.items()},
                "issues": [i.as_dict() for i in self.issues]}


@dataclass
class _Plan:
    """Rows to write for one kind: creates (full fields), updates (id + changed fields)."""

    creates: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    updates: list[tuple[str, int, dict[str, Any], dict[str, list[Any]]]] = field(
        default_factory=list)
    deactivations: list[tuple[str, int, dict[str, list[Any]]]] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)  # key → file name
    lines: dict[str, int] = field(default_factory=dict)  # key → line (teams: for duty errors)


def _diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, list[Any]]:
    return {k: [old.get(k), val] for k, val in new.items() if old.get(k) != val}


def _plan(current: Current, new: dict[str, dict[str, Any]], sources: dict[str, str],
          report: KindReport, ignore: Iterable[str] = ()) -> _Plan:
    skip = set(ignore)
    plan = _Plan(sources=sources)
    for key, fields in new.items():
        if key not in current.ids:
            plan.creates.append((key, fields))
            continue
        changed = {k: d for k, d in _diff(current.fields[key], fields).items() if k not in skip}
        if changed:
            plan.updates.append((key, current.ids[key], fields, changed))
        else:
            report.unchanged += 1
    report.created += len(plan.creates)
    report.updated += len(plan.updates)
    return plan


def _file_keys(rows: FileRows | None, kind: str) -> set[str]:
    """Natural keys present in a file, valid or not (a bad row is not "missing")."""
    if rows is None:
        return set()
    col = _KEY[kind]
    return {r.get(col).strip() for r in rows.rows if r.get(col).strip()}


def _count_errors(report: ImportReport, kind: str, issues: Sequence[Issue]) -> None:
    bad = {(i.file, i.line) for i in issues if i.severity == "error"}
    report.kinds[kind].errors += len(bad)
    report.kinds[kind].warnings += sum(1 for i in issues if i.severity == "warning")
    report.issues.extend(issues)


def _geometry_summary(geom: BaseGeometry) -> dict[str, Any]:
    return {"bbox": [round(b, 5) for b in geom.bounds], "area_deg2": round(geom.area, 8)}


def import_paths(session: Session, paths: Sequence[str | Path], *, rules: v.Rules,
                 snap: v.SnapFn | None, options: ImportOptions = ImportOptions(),
                 progress: ProgressFn | None = None) -> ImportReport:
    """Read, validate, plan and (unless a dry run or invalid) write one import."""
    t0 = time.perf_counter()
    files, found_issues = discover(paths)
    read: dict[str, FileRows] = {}
    for i, (kind, path) in enumerate(files.items()):
        if progress:
            progress("read", i, len(files))
        read[kind] = read_file(kind, path)
    if progress:
        progress("read", len(files), len(files))
    report = import_read(session, read, rules=rules, snap=snap, options=options,
                         progress=progress, issues=found_issues)
    report.files = {k: str(p) for k, p in files.items()}
    report.seconds = time.perf_counter() - t0
    return report


def import_read(session: Session, read: dict[str, FileRows], *, rules: v.Rules,
                snap: v.SnapFn | None, options: ImportOptions = ImportOptions(),
                progress: ProgressFn | None = None, issues: Sequence[Issue] = ()
                ) -> ImportReport:
    """Validate, plan and (unless a dry run or invalid) write rows already read: the files of
    :func:`import_paths`, or one record built by the admin API (the same rules and writes)."""
    t0 = time.perf_counter()
    report = ImportReport(dry_run=options.dry_run)
    report.issues.extend(issues)
    read = {k: read[k] for k in KINDS if k in read}
    files = {k: r.path for k, r in read.items()}
    report.files = {k: str(p) for k, p in files.items()}
    for kind in options.full_sync:
        if kind not in FULL_SYNC_KINDS:
            report.issues.append(Issue("--full-sync", None, None, f"cannot full-sync {kind!r}",
                                       f"不能对{kind}做全量同步", FULL_SYNC_KINDS))
        elif kind not in files:
            report.issues.append(Issue("--full-sync", None, None,
                                       f"--full-sync {kind} needs a {kind} file",
                                       f"全量同步{kind}需要提供{kind}文件"))
    for kind, rows in read.items():
        _count_errors(report, kind, rows.issues)
    if any(i.severity == "error" for i in report.issues) and not options.skip_bad:
        report.seconds = time.perf_counter() - t0
        return report

    off_err = options.off_network_is_error
    rules = v.Rules(rules.rescue_code_lengths, rules.off_network_m,
                    (not options.skip_bad) if off_err is None else off_err)
    if progress:
        progress("database state", 0, 1)
    state = load_state(session, kinds=frozenset(files))
    if progress:
        progress("validate", 0, 3)
    plans, derived = _validate_all(read, state, rules, snap, report, progress,
                                   options.full_sync)
    for kind in options.full_sync:
        if kind in plans and kind in FULL_SYNC_KINDS:
            plans[kind].deactivations = _deactivations(kind, state, _file_keys(read[kind], kind))
    if "teams" in plans:
        _refuse_stranded_jobs(session, plans["teams"], report, Path(files["teams"]).name)
    if "elevators" in plans:
        _release_rescue_codes(plans["elevators"], state, report)
    if report.errors and not options.skip_bad:
        report.kinds = {k: KindReport(errors=r.errors, warnings=r.warnings)
                        for k, r in report.kinds.items()}
        report.seconds = time.perf_counter() - t0
        return report
    for kind, plan in plans.items():
        report.kinds[kind].deactivated = len(plan.deactivations)
    if not options.dry_run:
        _write(session, plans, derived, state, options, progress)
        report.written = True
        report.written_keys = {
            kind: [c[0] for c in p.creates] + [u[0] for u in p.updates]
            + [d[0] for d in p.deactivations] for kind, p in plans.items()}
    report.seconds = time.perf_counter() - t0
    return report


@dataclass
class _Derived:
    """Per elevator/team key, what the importer derives: zone code, road node, district."""

    elevator_zone: dict[str, str] = field(default_factory=dict)
    elevator_node: dict[str, int | None] = field(default_factory=dict)
    zone_geometry: dict[str, BaseGeometry] = field(default_factory=dict)
    team_district: dict[str, str | None] = field(default_factory=dict)


def _validate_all(read: dict[str, FileRows], state: DbState, rules: v.Rules,
                  snap: v.SnapFn | None, report: ImportReport, progress: ProgressFn | None,
                  full_sync: frozenset[str] = frozenset()
                  ) -> tuple[dict[str, _Plan], _Derived]:
    plans: dict[str, _Plan] = {}
    derived = _Derived()

    # zones: file polygons first (first match wins on overlap), then those only in the database
    zone_records: list[v.ZoneRecord] = []
    if "zones" in read:
        zone_records, issues = v.zone_features(read["zones"].features)
        for z in zone_records:
            owner = next((c for c, f in state.zones.fields.items()
                          if f["name"] == z.name and c != z.code), None)
            if owner is not None:
                issues.append(Issue(z.file, z.index, "name",
                                    f"zone name {z.name!r} already belongs to zone {owner}",
                                    f"区划名称“{z.name}”已属于区划{owner}"))
        _count_errors(report, "zones", issues)
        zone_records = [z for z in zone_records if (z.file, z.index) not in
                        {(i.file, i.line) for i in issues if i.severity == "error"}]
    file_zones = {z.code: z for z in zone_records}
    geo_zones = [GeoZone(z.code, z.name, z.kind, z.arrival_limit_min, z.geometry)
                 for z in zone_records]
    geo_zones += [GeoZone(c, f["name"], f["kind"], f["arrival_limit_min"],
                          state.zone_geometry[c])
                  for c, f in state.zones.fields.items() if c not in file_zones]
    zone_index = ZoneIndex(geo_zones)
    zone_names = {z.key: z.name for z in geo_zones}
    derived.zone_geometry = {z.code: z.geometry for z in zone_records}
    if "zones" in read:
        new = {}
        for z in zone_records:
            new[z.code] = z.fields()
        plan = _plan(state.zones, new, {z.code: z.file for z in zone_records},
                     report.kinds["zones"])
        for z in zone_records:  # geometry compared on its own (exact to 1e-7°)
            if z.code in state.zones.ids and not z.geometry.equals_exact(
                    state.zone_geometry[z.code], 5e-8):
                change = ["changed", _geometry_summary(z.geometry)]
                change[0] = _geometry_summary(state.zone_geometry[z.code])
                hit = next((u for u in plan.updates if u[0] == z.code), None)
                if hit is None:
                    plan.updates.append((z.code, state.zones.ids[z.code], z.fields(),
                                         {"boundary": change}))
                    report.kinds["zones"].unchanged -= 1
                    report.kinds["zones"].updated += 1
                else:
                    hit[3]["boundary"] = change
        plans["zones"] = plan
    ctx = v.Context(org_kinds=dict(state.org_kinds),
                    zone_codes=frozenset(zone_names), zones=zone_index, snap=snap, rules=rules)

    if "organizations" in read:
        records, issues = v.organization_rows(read["organizations"].rows)
        issues += v.check_organizations(records, ctx)
        records = _valid(records, issues)
        _count_errors(report, "organizations", issues)
        kinds = dict(state.org_kinds)
        kinds.update({r.code: r.kind for r in records})
        ctx = v.Context(org_kinds=kinds, zone_codes=ctx.zone_codes, zones=ctx.zones,
                        snap=snap, rules=rules)
        plans["organizations"] = _plan(state.organizations, {r.code: r.fields() for r in records},
                                       {r.code: r.file for r in records},
                                       report.kinds["organizations"])
    if progress:
        progress("validate", 1, 3)

    if "teams" in read:
        records_t, issues = v.team_rows(read["teams"].rows)
        check, _nodes = v.check_teams(records_t, ctx)
        issues += check
        keep = _valid_mask(records_t, issues)
        records_t = [r for r, k in zip(records_t, keep, strict=True) if k]
        _count_errors(report, "teams", issues)
        idx = zone_index.lookup_many([r.lon for r in records_t], [r.lat for r in records_t])
        new_t = {}
        for r, i in zip(records_t, idx, strict=True):
            f = r.fields()
            f["district"] = zone_names[zone_index.zones[i].key] if i >= 0 else None
            new_t[r.code] = f
        plans["teams"] = _plan(state.teams, new_t, {r.code: r.file for r in records_t},
                               report.kinds["teams"])
        plans["teams"].lines = {r.code: r.line for r in records_t}
    if progress:
        progress("validate", 2, 3)

    elevator_keys: set[str] = set()
    if "elevators" in read:
        records_e, issues = v.elevator_rows(read["elevators"].rows, rules)
        check_e, placed = v.check_elevators(records_e, ctx)
        issues += check_e
        leaving = (frozenset(state.elevators.ids) - _file_keys(read["elevators"], "elevators")
                   if "elevators" in full_sync else frozenset())
        issues += _rescue_code_owners(records_e, state, leaving)
        keep = _valid_mask(records_e, issues)
        _count_errors(report, "elevators", issues)
        new_e = {}
        for rec, zc, node, k in zip(records_e, placed.zone_codes, placed.road_nodes, keep,
                                    strict=True):
            if not k:
                continue
            f = rec.fields()
            f["zone"] = zc
            f["road_node"] = node
            new_e[rec.register_code] = f
        elevator_keys = set(new_e)
        plans["elevators"] = _plan(state.elevators, new_e,
                                   {r.register_code: r.file for r in records_e},
                                   report.kinds["elevators"],
                                   ignore=() if snap is not None else ("road_node",))
    if "zones" in plans and (plans["zones"].creates or any(
            "boundary" in u[3] for u in plans["zones"].updates)):
        _rederive_zones(state, zone_index, elevator_keys, plans, report)
    if progress:
        progress("validate", 3, 3)
    return plans, derived


def _valid_mask(records: Sequence[Any], issues: Sequence[Issue]) -> list[bool]:
    bad = {(i.file, i.line) for i in issues if i.severity == "error"}
    return [(r.file, r.line) not in bad for r in records]


def _valid(records: list[Any], issues: Sequence[Issue]) -> list[Any]:
    return [r for r, k in zip(records, _valid_mask(records, issues), strict=True) if k]


def _rescue_code_owners(records: Sequence[v.ElevatorRecord], state: DbState,
                        leaving: frozenset[str] = frozenset()) -> list[Issue]:
    """A rescue code held by another lift in the database that keeps it.

    A code may move when its holder gets another code in the same import (a swap), or when
    the holder is out of service or leaves service in this import (``leaving``: a full sync
    not listing it); the holder then gives its code up (:func:`_release_rescue_codes`). A
    released placeholder (``x<id>``) never moves.
    """
    in_file = {r.register_code: r.rescue_code for r in records}
    out = []
    for r in records:
        owner = state.rescue_owner.get(r.rescue_code)
        if owner is None or owner == r.register_code:
            continue
        if not v.is_released_code(r.rescue_code):
            if owner in in_file and in_file[owner] != r.rescue_code:
                continue  # the current holder gets another code in this same import
            if owner not in in_file and (owner in leaving
                                         or not state.elevators.fields[owner]["in_service"]):
                continue  # an out-of-service holder gives it up
        out.append(Issue(r.file, r.line, "rescue_code",
                         f"rescue_code {r.rescue_code} belongs to elevator {owner}",
                         f"救援识别码{r.rescue_code}已属于电梯{owner}"))
    return out


def _release_rescue_codes(plan: _Plan, state: DbState, report: ImportReport) -> None:
    """Codes taken from out-of-service lifts (validated above): the holder gets the placeholder
    ``x<id>`` (unique, never a valid code), logged like any change, so the unique constraint
    holds and history keeps the old code in the change log."""
    claims = {f["rescue_code"]: key for key, f in plan.creates}
    claims.update({f["rescue_code"]: key for key, _i, f, ch in plan.updates
                   if "rescue_code" in ch})
    moving = {key for key, _i, _f, ch in plan.updates if "rescue_code" in ch}
    leaving = {d[0]: d for d in plan.deactivations}
    for code, claimant in claims.items():
        holder = state.rescue_owner.get(code)
        if holder is None or holder == claimant or holder in moving:
            continue
        row_id = state.elevators.ids[holder]
        placeholder = v.released_code(row_id)
        if holder in leaving:
            leaving[holder][2]["rescue_code"] = [code, placeholder]
            continue
        plan.updates.append((holder, row_id,
                             {**state.elevators.fields[holder], "rescue_code": placeholder},
                             {"rescue_code": [code, placeholder]}))
        report.kinds["elevators"].updated += 1


def _refuse_stranded_jobs(session: Session, plan: _Plan, report: ImportReport,
                          file_name: str) -> None:
    """A team the import takes off duty or retires while it has a job in hand is an error for
    that row naming the assignment (as the duty API's 409): the job would be orphaned. With
    ``skip_bad`` the row is left as it is and the rest is written."""
    going = {key: row_id for key, row_id, _f, ch in plan.updates
             if ch.get("on_duty", [None, True])[1] is False}
    going.update({key: row_id for key, row_id, _ch in plan.deactivations})
    if not going:
        return
    jobs: dict[int, tuple[int, int, str]] = {}
    for team_id, a_id, inc_id, state in session.execute(
            select(Assignment.team_id, Assignment.id, Assignment.incident_id, Assignment.state)
            .where(Assignment.team_id.in_(list(going.values())),
                   Assignment.state.in_(lifecycle.OPEN_ASSIGNMENT_STATES))
            .order_by(Assignment.id.desc())):
        jobs[team_id] = (a_id, inc_id, state)
    stranded = {key for key, row_id in going.items() if row_id in jobs}
    for key in sorted(stranded):
        a_id, inc_id, state = jobs[going[key]]
        retiring = not any(u[0] == key for u in plan.updates)
        what = "be retired (missing from a full sync)" if retiring else "go off duty"
        what_zh = "退役（全量同步中缺失）" if retiring else "下班"
        report.issues.append(Issue(
            plan.sources.get(key, file_name), plan.lines.get(key), "on_duty",
            f"team {key} cannot {what}: assignment #{a_id} ({state}) on incident #{inc_id} "
            "must be finished or withdrawn first",
            f"救援队{key}不能{what_zh}：事件#{inc_id}的派单#{a_id}（{state}）尚未结束或撤回"))
        report.kinds["teams"].errors += 1
    if stranded:
        kept = [u for u in plan.updates if u[0] not in stranded]
        report.kinds["teams"].updated -= len(plan.updates) - len(kept)
        plan.updates = kept
        plan.deactivations = [d for d in plan.deactivations if d[0] not in stranded]


def _rederive_zones(state: DbState, index: ZoneIndex, in_file: set[str],
                    plans: dict[str, _Plan], report: ImportReport) -> None:
    """Polygons moved: lifts not in this import get their zone from the new polygons."""
    keys = [k for k in state.elevators.ids if k not in in_file]
    if not keys:
        return
    fields = state.elevators.fields
    idx = index.lookup_many([fields[k]["lon"] for k in keys], [fields[k]["lat"] for k in keys])
    plan = plans.setdefault("elevators", _Plan())
    for k, i in zip(keys, idx, strict=True):
        old = fields[k]["zone"]
        if i < 0:
            report.issues.append(Issue("zones.geojson", None, None,
                                       f"elevator {k} is now outside every zone; kept in {old}",
                                       f"电梯{k}已不在任何区划内，仍保留在{old}",
                                       severity="warning"))
            report.kinds["elevators"].warnings += 1
            continue
        new = index.zones[int(i)].key
        if new != old:
            plan.updates.append((k, state.elevators.ids[k], {**fields[k], "zone": new},
                                 {"zone": [old, new]}))
            plan.sources.setdefault(k, "zones.geojson")
            report.kinds["elevators"].updated += 1


def _deactivations(kind: str, state: DbState, present: set[str]
                   ) -> list[tuple[str, int, dict[str, list[Any]]]]:
    out = []
    if kind == "elevators":
        for k, f in state.elevators.fields.items():
            if k not in present and f["in_service"]:
                out.append((k, state.elevators.ids[k], {"in_service": [True, False]}))
    elif kind == "teams":
        for k, f in state.teams.fields.items():
            if k not in present and not f["retired"]:
                out.append((k, state.teams.ids[k], {"on_duty": [f["on_duty"], False],
                                                    "retired": [False, True]}))
    else:
        for k, f in state.organizations.fields.items():
            if k not in present and f["active"]:
                out.append((k, state.organizations.ids[k], {"active": [True, False]}))
    return out


# ---- writing -----------------------------------------------------------------------------


def _chunks(rows: list[dict[str, Any]]) -> Iterable[list[dict[str, Any]]]:
    for i in range(0, len(rows), CHUNK):
        yield rows[i:i + CHUNK]


def _zone_row(code: str, f: dict[str, Any], geom: BaseGeometry) -> dict[str, Any]:
    return {"code": code, "name": f["name"], "name_en": f["name_en"], "kind": f["kind"],
            "arrival_limit_min": f["arrival_limit_min"], "clock_start": f["clock_start"],
            "clock_stop": f["clock_stop"],
            "boundary_geojson": json.dumps(mapping(geom), separators=(",", ":"))}


def _org_row(code: str, f: dict[str, Any]) -> dict[str, Any]:
    return {"code": code, "kind": f["kind"], "name": f["name"], "phone": f["phone"],
            "region": f["region"], "active": True}


def _team_row(code: str, f: dict[str, Any], org_ids: dict[str, int]) -> dict[str, Any]:
    return {"code": code, "organization_id": org_ids[f["organization_code"]], "name": f["name"],
            "phone": f["phone"], "base_location": LonLat(f["lon"], f["lat"]),
            "capacity": f["capacity"], "on_duty": f["on_duty"], "roster": f["roster"],
            "retired": False, "district": f["district"]}


def _elevator_row(key: str, f: dict[str, Any], org_ids: dict[str, int],
                  zone_ids: dict[str, int]) -> dict[str, Any]:
    def org(code: str | None) -> int | None:
        return None if code is None else org_ids[code]

    until = f["maintenance_until"]
    return {"register_code": key, "rescue_code": f["rescue_code"], "address": f["address"],
            "building": f["building"], "location": LonLat(f["lon"], f["lat"]),
            "zone_id": zone_ids[f["zone"]], "site_type": f["site_type"],
            "use_unit_id": org(f["use_unit_code"]),
            "maintenance_company_id": org(f["maintenance_company_code"]),
            "maintenance_until": None if until is None else date.fromisoformat(until),
            "insurer_id": org(f["insurer_code"]), "policy_no": f["policy_no"],
            "three_no": f["three_no"], "in_service": f["in_service"], "floors": f["floors"],
            "road_node": f["road_node"]}


#: Comparable field → columns it writes (the rest map one to one).
_COLUMNS_OF = {"lon": ("location",), "lat": ("location",), "boundary": ("boundary_geojson",),
               "organization_code": ("organization_id",), "use_unit_code": ("use_unit_id",),
               "maintenance_company_code": ("maintenance_company_id",),
               "insurer_code": ("insurer_id",), "zone": ("zone_id",)}


def _changed_columns(full: dict[str, Any], changed: dict[str, list[Any]]) -> dict[str, Any]:
    cols = {c for k in changed for c in _COLUMNS_OF.get(k, (k,))}
    return {c: full[c] for c in cols}


def _write(session: Session, plans: dict[str, _Plan], derived: _Derived, state: DbState,
           options: ImportOptions, progress: ProgressFn | None) -> None:
    now = options.now or datetime.now(UTC)
    changes: list[dict[str, Any]] = []

    def log(kind: str, key: str, action: str, fields: dict[str, list[Any]], source: str | None
            ) -> None:
        changes.append({"kind": _SINGULAR[kind], "key": key, "action": action, "fields": fields,
                        "actor": options.actor[:64], "source": options.source or source,
                        "at": now})

    def apply(kind: str, table: Any, make: Callable[[str, dict[str, Any]], dict[str, Any]],
              extra: Callable[[str], dict[str, Any]] | None = None,
              by_service: frozenset[str] = frozenset()) -> None:
        """Bulk-write one kind: updates (codes freed first), then creates. Columns in
        ``by_service`` are left to the service that owns them (team duty)."""
        plan = plans.get(kind)
        if plan is None:
            return
        total = len(plan.creates) + len(plan.updates) + len(plan.deactivations)
        if progress:
            progress(f"write {kind}", 0, total)
        ups = []
        for key, row_id, f, changed in plan.updates:
            ups.append({"id": row_id, **_changed_columns(make(key, f), changed)})
            log(kind, key, "update", changed, plan.sources.get(key))
        for key, row_id, changed in plan.deactivations:
            ups.append({"id": row_id, **{k: d[1] for k, d in changed.items()}})
            log(kind, key, "deactivate", changed, None)
        ups = [u for u in ({k: val for k, val in u.items() if k not in by_service}
                           for u in ups) if len(u) > 1]
        # Two phases for unique rescue codes (a swap, a code taken from a retired lift): every
        # row whose code changes first holds its placeholder, then takes its new code.
        freeing = [{"id": u["id"], "rescue_code": v.released_code(u["id"])}
                   for u in ups if "rescue_code" in u]
        for chunk in _chunks(freeing):
            session.execute(update(table), chunk)
        for chunk in _chunks(ups):  # ORM bulk UPDATE by primary key: one statement per shape
            session.execute(update(table), chunk)
        rows = []
        for key, f in plan.creates:
            rows.append({**make(key, f), **(extra(key) if extra else {})})
            log(kind, key, "create", {k: [None, val] for k, val in f.items()},
                plan.sources.get(key))
        bulk = kind == "elevators" and len(rows) >= BULK_MIN_ROWS
        with bulk_search_index(session.connection(), len(rows)) if bulk else nullcontext():
            for chunk in _chunks(rows):  # Core executemany on the table: no ORM per-row work
                session.execute(insert(table.__table__), chunk)
        if progress:
            progress(f"write {kind}", total, total)

    zone_geoms = {**state.zone_geometry, **derived.zone_geometry}
    apply("zones", Zone, lambda k, f: _zone_row(k, f, zone_geoms[k]))
    zone_ids = {c: i for c, i in session.execute(select(Zone.code, Zone.id))}
    apply("organizations", Organization, _org_row,
          lambda k: {"lang": "zh-CN", "created_at": now})
    org_ids = {c: i for c, i in session.execute(select(Organization.code, Organization.id))}
    apply("teams", Team, lambda k, f: _team_row(k, f, org_ids),
          lambda k: {"status": "available", "lang": "zh-CN", "on_duty": False},
          by_service=frozenset({"on_duty", "retired"}))
    if "teams" in plans:
        _duty_through_service(session, plans["teams"], options, now)
    apply("elevators", Elevator, lambda k, f: _elevator_row(k, f, org_ids, zone_ids))
    if progress:
        progress("write change log", 0, len(changes))
    for chunk in _chunks(changes):
        session.execute(insert(RegistryChange), chunk)
    if progress:
        progress("write change log", len(changes), len(changes))
    session.flush()


def _duty_through_service(session: Session, plan: _Plan, options: ImportOptions,
                          now: datetime) -> None:
    """Duty, rosters and retirement of the teams this import creates or changes, through the
    duty service (team events with actor, source ``import`` and reason; the roster's durable
    boundary re-planned at once). Teams whose duty and roster did not change are not loaded."""
    actor = Actor(options.actor[:64], options.role, via="import")
    tz = options.timezone or str(Settings.model_fields["timezone"].default)
    ids = {key: i for key, i in session.execute(
        select(Team.code, Team.id).where(Team.code.in_([k for k, _f in plan.creates])))
    } if plan.creates else {}
    work: list[tuple[str, int, dict[str, Any], set[str]]] = [
        (key, ids[key], f, ({"on_duty"} if f["on_duty"] else set())
         | ({"roster"} if f["roster"] is not None else set()))
        for key, f in plan.creates if f["on_duty"] or f["roster"] is not None]
    work += [(key, row_id, f, set(ch) & {"on_duty", "roster", "retired"})
             for key, row_id, f, ch in plan.updates if {"on_duty", "roster", "retired"} & set(ch)]
    for key, row_id, f, what in work:
        team = session.get(Team, row_id, with_for_update=True, populate_existing=True)
        assert team is not None
        reason = f"registry import ({options.source or plan.sources.get(key, 'teams')})"
        if "retired" in what and not f["retired"]:
            team.retired = False  # listed again: back in the registry (duty as the file says)
        if "on_duty" in what and team.on_duty != f["on_duty"]:
            set_duty(session, team, on_duty=f["on_duty"], actor=actor, source="import",
                     reason=reason, at=now)
        if "roster" in what or ("retired" in what and f["roster"] is not None):
            reschedule_roster(session, team, now=now, tz=tz, apply_now=True)
    for _key, row_id, _changed in plan.deactivations:
        team = session.get(Team, row_id, with_for_update=True, populate_existing=True)
        assert team is not None
        retire(session, team, actor=actor, source="import",
               reason="registry full sync: not in the teams file", at=now)
        reschedule_roster(session, team, now=now, tz=tz)  # retired: cancels its boundaries
    session.flush()


# ---- from the settings -------------------------------------------------------------------


def rules_for(settings: Settings) -> v.Rules:
    return v.Rules(rescue_code_lengths=tuple(settings.rescue_code_lengths),
                   off_network_m=settings.geo_off_network_m)


def snapper_for(settings: Settings) -> v.SnapFn | None:
    """Snapping on the process's road graph, or None when the router has no graph (OSRM)."""
    router = router_for(settings)
    snap = getattr(router, "snap_to_network", None)
    if snap is None:
        return None

    def fn(lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64]
           ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        nodes, dist = snap(np.column_stack([lon, lat]))
        return np.asarray(nodes, dtype=np.int64), np.asarray(dist, dtype=float)

    return fn


def import_with_settings(session: Session, paths: Sequence[str | Path], settings: Settings, *,
                         options: ImportOptions = ImportOptions(),
                         progress: ProgressFn | None = None) -> ImportReport:
    """:func:`import_paths` with the rules and the road graph of ``settings``."""
    if options.timezone is None:
        options = replace(options, timezone=settings.timezone)
    return import_paths(session, paths, rules=rules_for(settings), snap=snapper_for(settings),
                        options=options, progress=progress)
