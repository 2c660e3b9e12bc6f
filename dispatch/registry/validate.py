"""Registry rows → typed records or errors; pure (no database), shared by importer and admin.

Why pure: the importer validates a whole city before it writes anything, and the admin form
validates one record with the *same* rules and messages; both pass in what the database knows
(organization kinds, zone polygons, a snapping function) as plain data.

Each check stage returns issues naming file, line (or feature index), column and the allowed
values. Stages: ``*_rows`` parse cells (types, enums, lengths, duplicates inside the file);
``check_*`` checks references and geography against a :class:`Context`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from dispatch.registry.readers import Issue, Row, ZoneFeature
from dispatch.registry.roster import RosterError, parse_roster
from geo.coords import convert
from geo.zones import ZoneIndex

__all__ = [
    "CLOCK_STARTS", "CLOCK_STOPS", "CRS_VALUES", "ORG_KINDS", "SITE_TYPES", "TEAM_ORG_KINDS",
    "Context", "ElevatorRecord", "OrgRecord", "Rules", "TeamRecord", "ZoneRecord",
    "check_elevators", "check_organizations", "check_teams", "elevator_rows",
    "organization_rows", "team_rows", "zone_features",
]

ORG_KINDS = ("maintenance_company", "rescue_station", "fire_brigade", "use_unit", "insurer",
             "office")
TEAM_ORG_KINDS = ("maintenance_company", "rescue_station", "fire_brigade")
SITE_TYPES = ("residential", "commercial", "hospital", "office", "school", "transit", "other")
CRS_VALUES = ("wgs84", "gcj02", "bd09")
CLOCK_STARTS = ("received", "dispatched")
CLOCK_STOPS = ("arrived", "released")
ZONE_KINDS = ("district", "county", "city")
BOOL_VALUES = ("true", "false", "1", "0", "是", "否")
_TRUE = frozenset({"true", "1", "是"})
_FALSE = frozenset({"false", "0", "否"})
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True, slots=True)
class Rules:
    """Settings that shape validation (``RESCUE_RESCUE_CODE_LENGTHS``, off-network distance)."""

    rescue_code_lengths: tuple[int, ...] = (5, 6, 7)
    off_network_m: float = 2000.0
    off_network_is_error: bool = True


@dataclass(frozen=True, slots=True)
class ZoneRecord:
    file: str
    index: int
    code: str
    name: str
    name_en: str
    kind: str
    arrival_limit_min: int
    clock_start: str
    clock_stop: str
    geometry: BaseGeometry  # WGS-84, rounded to 1e-7°

    def fields(self) -> dict[str, Any]:
        return {"name": self.name, "name_en": self.name_en, "kind": self.kind,
                "arrival_limit_min": self.arrival_limit_min, "clock_start": self.clock_start,
                "clock_stop": self.clock_stop}


@dataclass(frozen=True, slots=True)
class OrgRecord:
    file: str
    line: int
    code: str
    kind: str
    name: str
    phone: str | None
    region: str | None

    def fields(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "phone": self.phone,
                "region": self.region, "active": True}


@dataclass(frozen=True, slots=True)
class TeamRecord:
    file: str
    line: int
    code: str
    organization_code: str
    name: str
    phone: str
    lon: float  # WGS-84 after conversion
    lat: float
    crs: str
    capacity: int
    on_duty: bool
    roster: str | None

    def fields(self) -> dict[str, Any]:
        return {"organization_code": self.organization_code, "name": self.name,
                "phone": self.phone, "lon": self.lon, "lat": self.lat,
                "capacity": self.capacity, "on_duty": self.on_duty, "roster": self.roster,
                "retired": False}


@dataclass(frozen=True, slots=True)
class ElevatorRecord:
    file: str
    line: int
    register_code: str
    rescue_code: str
    address: str
    building: str
    lon: float  # WGS-84 after conversion
    lat: float
    crs: str
    site_type: str
    use_unit_code: str | None
    maintenance_company_code: str | None
    maintenance_until: date | None
    insurer_code: str | None
    policy_no: str | None
    three_no: bool
    in_service: bool
    floors: int

    def fields(self) -> dict[str, Any]:
        return {"rescue_code": self.rescue_code, "address": self.address,
                "building": self.building, "lon": self.lon, "lat": self.lat,
                "site_type": self.site_type, "use_unit_code": self.use_unit_code,
                "maintenance_company_code": self.maintenance_company_code,
                "maintenance_until": (None if self.maintenance_until is None
                                      else self.maintenance_until.isoformat()),
                "insurer_code": self.insurer_code, "policy_no": self.policy_no,
                "three_no": self.three_no, "in_service": self.in_service,
                "floors": self.floors}


SnapFn = Callable[[npt.NDArray[np.float64], npt.NDArray[np.float64]],
                  tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]]


@dataclass(frozen=True)
class Context:
    """What the database (and the valid rows of earlier files) already know.

    ``org_kinds``: organization code → kind; ``zone_codes``: known zone codes; ``zones``: the
    polygons elevators are placed in (``Zone.key`` is the zone code); ``snap``: lon/lat arrays
    → (road node, metres to it), or None without a road graph.
    """

    org_kinds: Mapping[str, str]
    zone_codes: frozenset[str]
    zones: ZoneIndex | None
    snap: SnapFn | None
    rules: Rules = Rules()


# ---- cell parsing ------------------------------------------------------------------------


class _Cells:
    """Reads the cells of one row, collecting an issue per bad cell."""

    def __init__(self, file: str, line: int, values: Mapping[str, Any]) -> None:
        self.file, self.line, self.values = file, line, values
        self.issues: list[Issue] = []

    def err(self, column: str | None, en: str, zh: str, allowed: Sequence[str] = ()) -> None:
        self.issues.append(Issue(self.file, self.line, column, en, zh, tuple(allowed)))

    def raw(self, col: str) -> str:
        v = self.values.get(col)
        if type(v) is str:
            return v  # readers hand over stripped text
        return "" if v is None else str(v).strip()

    def text(self, col: str, max_len: int, *, required: bool = True) -> str | None:
        v = self.raw(col)
        if not v:
            if required:
                self.err(col, f"{col} is required", f"“{col}”为必填项")
            return None
        if len(v) > max_len:
            self.err(col, f"{col} is longer than {max_len} characters",
                     f"“{col}”超过{max_len}个字符")
            return None
        return v

    def choice(self, col: str, allowed: Sequence[str], default: str | None = None) -> str | None:
        v = self.raw(col)
        if not v and default is not None:
            return default
        if v not in allowed:
            self.err(col, f"{col} must be one of {', '.join(allowed)}" + (f", not {v!r}" if v
                     else ""), f"“{col}”应为以下之一：{'、'.join(allowed)}", allowed)
            return None
        return v

    def boolean(self, col: str, default: bool) -> bool:
        v = self.raw(col).lower()
        if not v:
            return default
        if v in _TRUE:
            return True
        if v in _FALSE:
            return False
        self.err(col, f"{col} must be a yes/no value, not {v!r}", f"“{col}”应为是/否",
                 BOOL_VALUES)
        return default

    def integer(self, col: str, lo: int, hi: int, default: int | None = None) -> int | None:
        v = self.values.get(col)
        s = "" if v is None else str(v).strip()
        if not s and default is not None:
            return default
        try:
            if isinstance(v, bool):
                raise ValueError
            n = int(v) if isinstance(v, int) else int(s)
        except ValueError:
            self.err(col, f"{col} must be a whole number {lo}–{hi}" + (f", not {s!r}" if s
                     else ""), f"“{col}”应为{lo}–{hi}的整数", (f"{lo}–{hi}",))
            return None
        if not lo <= n <= hi:
            self.err(col, f"{col} must be {lo}–{hi}, not {n}", f"“{col}”应在{lo}–{hi}之间",
                     (f"{lo}–{hi}",))
            return None
        return n

    def number(self, col: str, lo: float, hi: float) -> float | None:
        s = self.raw(col)
        try:
            x = float(s)
        except ValueError:
            self.err(col, f"{col} must be a number {lo:g}–{hi:g}" + (f", not {s!r}" if s else ""),
                     f"“{col}”应为{lo:g}–{hi:g}的数字", (f"{lo:g}–{hi:g}",))
            return None
        if not (math.isfinite(x) and lo <= x <= hi):
            self.err(col, f"{col} must be {lo:g}–{hi:g}, not {s}", f"“{col}”应在{lo:g}–{hi:g}之间",
                     (f"{lo:g}–{hi:g}",))
            return None
        return x

    def iso_date(self, col: str) -> date | None:
        s = self.raw(col)
        if not s:
            return None
        try:
            if not _ISO_DATE.match(s):
                raise ValueError
            return date.fromisoformat(s)
        except ValueError:
            self.err(col, f"{col} must be an ISO date YYYY-MM-DD, not {s!r}",
                     f"“{col}”应为日期YYYY-MM-DD", ("YYYY-MM-DD",))
            return None

    def digits(self, col: str, lengths: Sequence[int]) -> str | None:
        s = self.raw(col)
        if len(s) in lengths and s.isascii() and s.isdigit():
            return s
        allowed = " or ".join(str(n) for n in lengths)
        self.err(col, f"{col} must be {allowed} digits" + (f", not {s!r}" if s else ""),
                 f"“{col}”应为{'/'.join(str(n) for n in lengths)}位数字",
                 (f"{allowed} digits",))
        return None


def _duplicates(records: Sequence[Any], attr: str, file_label: str) -> list[Issue]:
    first: dict[str, int] = {}
    out: list[Issue] = []
    for r in records:
        key = getattr(r, attr)
        line: int = getattr(r, "line", getattr(r, "index", 0))
        if key in first:
            where = "features" if file_label == "zones" else "line"
            out.append(Issue(r.file, line, attr,
                             f"duplicate {attr} {key!r} (first at {where} {first[key]})",
                             f"“{attr}”重复：{key}（首次出现于第{first[key]}行）"))
        else:
            first[key] = line
    return out


def _drop(records: list[Any], issues: Sequence[Issue]) -> list[Any]:
    """Records whose row has no error (duplicates drop the later row, not the first)."""
    bad = {(i.file, i.line) for i in issues if i.severity == "error"}
    return [r for r in records if (r.file, getattr(r, "line", getattr(r, "index", None)))
            not in bad]


def _round7(x: float) -> float:
    return round(float(x), 7)


def _to_wgs84(lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64],
              crs: Sequence[str]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Vectorised per coordinate system (the GCJ-02 inverse iterates: one call, not 60k)."""
    out_lon, out_lat = lon.copy(), lat.copy()
    crs_arr = np.asarray(crs)
    for src in ("gcj02", "bd09"):
        m = crs_arr == src
        if m.any():
            out_lon[m], out_lat[m] = convert(lon[m], lat[m], src=src, dst="wgs84")
    return np.round(out_lon, 7), np.round(out_lat, 7)


# ---- zones -------------------------------------------------------------------------------


def zone_features(features: Sequence[ZoneFeature]) -> tuple[list[ZoneRecord], list[Issue]]:
    """Zone features → records (geometry converted to WGS-84); duplicate codes and names."""
    records: list[ZoneRecord] = []
    issues: list[Issue] = []
    for f in features:
        c = _Cells(f.file, f.index, {k: val.strip() if isinstance(val, str) else val
                                     for k, val in f.properties.items()})
        code = c.text("code", 16)
        name = c.text("name", 64)
        name_en = c.text("name_en", 64, required=False) or ""
        kind = c.choice("kind", ZONE_KINDS, default="district")
        limit = c.integer("arrival_limit_min", 5, 240)
        start = c.choice("clock_start", CLOCK_STARTS, default="received")
        stop = c.choice("clock_stop", CLOCK_STOPS, default="arrived")
        crs = c.choice("crs", CRS_VALUES, default="wgs84")
        geom = _zone_geometry(c, f.geometry, crs or "wgs84")
        issues += c.issues
        if c.issues or None in (code, name, kind, limit, start, stop, geom):
            continue
        records.append(ZoneRecord(f.file, f.index, str(code), str(name), name_en, str(kind),
                                  int(limit or 0), str(start), str(stop), geom))
    dup = _duplicates(records, "code", "zones") + _duplicates(records, "name", "zones")
    return _drop(records, dup), issues + dup


def _zone_geometry(c: _Cells, raw: Mapping[str, Any] | None, crs: str) -> BaseGeometry | None:
    kind = (raw or {}).get("type")
    if kind not in ("Polygon", "MultiPolygon"):
        c.err("geometry", f"geometry must be a Polygon or MultiPolygon, not {kind!r}",
              "几何应为Polygon或MultiPolygon", ("Polygon", "MultiPolygon"))
        return None
    try:
        geom = shape(raw)
    except Exception as exc:  # shapely raises several types for malformed coordinates
        c.err("geometry", f"geometry is malformed: {exc}", "几何格式错误")
        return None
    if crs != "wgs84":
        def fn(xy: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
            lo, la = convert(xy[:, 0], xy[:, 1], src=crs, dst="wgs84")  # type: ignore[arg-type]
            return np.column_stack([lo, la])
        geom = shapely.transform(geom, fn)
    geom = shapely.transform(geom, lambda xy: np.round(xy, 7))
    if geom.is_empty or not geom.is_valid:
        reason = shapely.is_valid_reason(geom)
        c.err("geometry", f"geometry is not a valid polygon: {reason}", f"多边形无效：{reason}")
        return None
    return geom


# ---- organizations -----------------------------------------------------------------------


def organization_rows(rows: Sequence[Row]) -> tuple[list[OrgRecord], list[Issue]]:
    records: list[OrgRecord] = []
    issues: list[Issue] = []
    for row in rows:
        c = _Cells(row.file, row.line, row.values)
        code = c.text("code", 32)
        kind = c.choice("kind", ORG_KINDS)
        name = c.text("name", 200)
        phone = c.text("phone", 32, required=False)
        region = c.text("region", 16, required=False)
        issues += c.issues
        if not c.issues:
            records.append(OrgRecord(row.file, row.line, str(code), str(kind), str(name),
                                     phone, region))
    dup = _duplicates(records, "code", "organizations")
    return _drop(records, dup), issues + dup


def check_organizations(records: Sequence[OrgRecord], ctx: Context) -> list[Issue]:
    """A region must be a known zone code."""
    allowed = tuple(sorted(ctx.zone_codes))
    return [Issue(r.file, r.line, "region", f"region {r.region!r} is not a zone code",
                  f"区域“{r.region}”不是已知的区划代码", allowed[:50])
            for r in records if r.region is not None and r.region not in ctx.zone_codes]


# ---- teams -------------------------------------------------------------------------------


def team_rows(rows: Sequence[Row]) -> tuple[list[TeamRecord], list[Issue]]:
    parsed: list[tuple[Row, dict[str, Any]]] = []
    issues: list[Issue] = []
    for row in rows:
        c = _Cells(row.file, row.line, row.values)
        v: dict[str, Any] = {
            "code": c.text("code", 32), "organization_code": c.text("organization_code", 32),
            "name": c.text("name", 120), "phone": c.text("phone", 32),
            "lon": c.number("lon", -180, 180), "lat": c.number("lat", -90, 90),
            "crs": c.choice("crs", CRS_VALUES, default="wgs84"),
            "capacity": c.integer("capacity", 1, 50, default=1),
            "on_duty": c.boolean("on_duty", True),
            "roster": c.text("roster", 200, required=False),
        }
        if v["roster"] is not None:
            try:
                v["roster"] = parse_roster(v["roster"]).text
            except RosterError as exc:
                c.err("roster", f"roster: {exc}", f"排班格式错误：{exc}",
                      ("24/7", "Mo-Fr 08:00-20:00; Sa,Su 09:00-17:00"))
        issues += c.issues
        if not c.issues:
            parsed.append((row, v))
    lon, lat = _to_wgs84(np.array([v["lon"] for _, v in parsed], dtype=float),
                         np.array([v["lat"] for _, v in parsed], dtype=float),
                         [v["crs"] for _, v in parsed])
    records = [TeamRecord(row.file, row.line, v["code"], v["organization_code"], v["name"],
                          v["phone"], float(lon[i]), float(lat[i]), v["crs"], v["capacity"],
                          v["on_duty"], v["roster"])
               for i, (row, v) in enumerate(parsed)]
    dup = _duplicates(records, "code", "teams")
    return _drop(records, dup), issues + dup


def _snap_issues(file_line: Sequence[tuple[str, int]], lon: npt.NDArray[np.float64],
                 lat: npt.NDArray[np.float64], ctx: Context
                 ) -> tuple[list[Issue], list[int | None]]:
    """Off the road graph beyond ``off_network_m``: an error (or a warning with --skip-bad)."""
    if ctx.snap is None or len(lon) == 0:
        return [], [None] * len(lon)
    nodes, dist = ctx.snap(lon, lat)
    limit = ctx.rules.off_network_m
    severity = "error" if ctx.rules.off_network_is_error else "warning"
    issues = [Issue(f, ln, "lon", f"point is {d:.0f} m from the road graph (more than "
                    f"{limit:.0f} m, RESCUE_GEO_OFF_NETWORK_M)",
                    f"坐标距道路网{d:.0f}米，超过{limit:.0f}米", severity=severity)
              for (f, ln), d in zip(file_line, dist, strict=True) if d > limit]
    return issues, [int(n) for n in nodes]


def check_teams(records: Sequence[TeamRecord], ctx: Context
                ) -> tuple[list[Issue], list[int | None]]:
    """Organization known and of a responding kind; base on the road graph."""
    issues: list[Issue] = []
    for r in records:
        kind = ctx.org_kinds.get(r.organization_code)
        if kind is None:
            issues.append(Issue(r.file, r.line, "organization_code",
                                f"unknown organization code {r.organization_code!r}",
                                f"未知的单位代码“{r.organization_code}”"))
        elif kind not in TEAM_ORG_KINDS:
            issues.append(Issue(r.file, r.line, "organization_code",
                                f"organization {r.organization_code!r} is a {kind}; teams "
                                "belong to a maintenance company, rescue station or fire brigade",
                                f"单位“{r.organization_code}”类型为{kind}，队伍只能属于维保单位、"
                                "救援站或消防队", TEAM_ORG_KINDS))
    snap_issues, nodes = _snap_issues([(r.file, r.line) for r in records],
                                      np.array([r.lon for r in records]),
                                      np.array([r.lat for r in records]), ctx)
    return issues + snap_issues, nodes


# ---- elevators ---------------------------------------------------------------------------


_RELEASED = re.compile(r"^x\d{1,11}$")


def released_code(elevator_id: int) -> str:
    """The placeholder an out-of-service lift holds once its rescue code went to another lift
    (the column is unique and required): ``x<id>``, unique and never a valid code."""
    return f"x{elevator_id}"


def is_released_code(code: str) -> bool:
    return bool(_RELEASED.match(code))


def elevator_rows(rows: Sequence[Row], rules: Rules = Rules()
                  ) -> tuple[list[ElevatorRecord], list[Issue]]:
    parsed: list[tuple[Row, dict[str, Any]]] = []
    issues: list[Issue] = []
    for row in rows:
        c = _Cells(row.file, row.line, row.values)
        released = is_released_code(c.raw("rescue_code"))  # exported out-of-service lifts
        v: dict[str, Any] = {
            "register_code": c.digits("register_code", (20,)),
            "rescue_code": (c.raw("rescue_code") if released
                            else c.digits("rescue_code", rules.rescue_code_lengths)),
            "address": c.text("address", 300), "building": c.text("building", 120,
                                                                 required=False) or "",
            "lon": c.number("lon", -180, 180), "lat": c.number("lat", -90, 90),
            "crs": c.choice("crs", CRS_VALUES), "site_type": c.choice("site_type", SITE_TYPES),
            "use_unit_code": c.text("use_unit_code", 32, required=False),
            "maintenance_company_code": c.text("maintenance_company_code", 32, required=False),
            "maintenance_until": c.iso_date("maintenance_until"),
            "insurer_code": c.text("insurer_code", 32, required=False),
            "policy_no": c.text("policy_no", 40, required=False),
            "three_no": c.boolean("three_no", False), "in_service": c.boolean("in_service", True),
            "floors": c.integer("floors", 1, 300, default=6),
        }
        if released and v["in_service"]:
            allowed = " or ".join(str(n) for n in rules.rescue_code_lengths)
            c.err("rescue_code", f"rescue_code must be {allowed} digits for an elevator in "
                  f"service, not the placeholder {v['rescue_code']!r}",
                  f"在用电梯的“rescue_code”应为{'/'.join(map(str, rules.rescue_code_lengths))}"
                  "位数字", (f"{allowed} digits",))
        issues += c.issues
        if not c.issues:
            parsed.append((row, v))
    lon, lat = _to_wgs84(np.array([v["lon"] for _, v in parsed], dtype=float),
                         np.array([v["lat"] for _, v in parsed], dtype=float),
                         [v["crs"] for _, v in parsed])
    records = []
    for i, (row, v) in enumerate(parsed):
        v["lon"], v["lat"] = float(lon[i]), float(lat[i])
        records.append(ElevatorRecord(row.file, row.line, **v))
    dup = _duplicates(records, "register_code", "elevators")
    dup += _duplicates(records, "rescue_code", "elevators")
    return _drop(records, dup), issues + dup


_ELEVATOR_REFS = (("use_unit_code", ("use_unit",)),
                  ("maintenance_company_code", ("maintenance_company",)),
                  ("insurer_code", ("insurer",)))


@dataclass(frozen=True)
class ElevatorPlacement:
    """Derived per record: the zone code it falls in (None outside) and its road node."""

    zone_codes: list[str | None]
    road_nodes: list[int | None]


def check_elevators(records: Sequence[ElevatorRecord], ctx: Context
                    ) -> tuple[list[Issue], ElevatorPlacement]:
    """Organization codes known and of the right kind; inside a zone; on the road graph."""
    issues: list[Issue] = []
    for r in records:
        for col, kinds in _ELEVATOR_REFS:
            code = getattr(r, col)
            if code is None:
                continue
            kind = ctx.org_kinds.get(code)
            if kind is None:
                issues.append(Issue(r.file, r.line, col, f"unknown organization code {code!r}",
                                    f"未知的单位代码“{code}”"))
            elif kind not in kinds:
                issues.append(Issue(r.file, r.line, col,
                                    f"organization {code!r} is a {kind}, not a {kinds[0]}",
                                    f"单位“{code}”类型为{kind}，应为{kinds[0]}", kinds))
    lon = np.array([r.lon for r in records], dtype=float)
    lat = np.array([r.lat for r in records], dtype=float)
    zone_codes: list[str | None] = [None] * len(records)
    if ctx.zones is not None and len(records):
        idx = ctx.zones.lookup_many(lon, lat)
        zone_codes = [ctx.zones.zones[i].key if i >= 0 else None for i in idx]
    for r, z in zip(records, zone_codes, strict=True):
        if z is None:
            issues.append(Issue(r.file, r.line, "lon",
                                f"point ({r.lon}, {r.lat}) is outside every zone polygon",
                                "坐标不在任何区划多边形内"))
    snap_issues, nodes = _snap_issues([(r.file, r.line) for r in records], lon, lat, ctx)
    return issues + snap_issues, ElevatorPlacement(zone_codes, nodes)


def with_rules(ctx: Context, **changes: Any) -> Context:
    return replace(ctx, rules=replace(ctx.rules, **changes))
