"""Read a centre's registry files into rows of text, each with where it came from.

Why rows of text first: the bureau's exports arrive as CSV or XLSX with English or Chinese
headers, numbers formatted as numbers, dates as dates; validation wants one shape — a header
name of the contract and the cell's text — and a line number for every error it reports.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

__all__ = ["ALIASES", "COLUMNS", "KINDS", "FileRows", "Issue", "Row", "ZoneFeature",
           "discover", "read_file", "read_table", "read_zones"]

#: Processing order: zones before the organizations that name them, and so on.
KINDS = ("zones", "organizations", "teams", "elevators")

#: Columns per kind; a trailing ``?`` marks an optional column.
COLUMNS: dict[str, tuple[str, ...]] = {
    "organizations": ("code", "kind", "name", "phone?", "region?"),
    "teams": ("code", "organization_code", "name", "phone", "lon", "lat", "crs?", "capacity?",
              "on_duty?", "roster?"),
    "elevators": ("register_code", "rescue_code", "address", "building?", "lon", "lat", "crs",
                  "site_type", "use_unit_code?", "maintenance_company_code?",
                  "maintenance_until?", "insurer_code?", "policy_no?", "three_no?",
                  "in_service?", "floors?"),
}

#: Chinese header → contract header, per kind (the README prints this table).
ALIASES: dict[str, dict[str, str]] = {
    "organizations": {"代码": "code", "单位代码": "code", "统一社会信用代码": "code",
                      "类型": "kind", "名称": "name", "单位名称": "name", "电话": "phone",
                      "值班电话": "phone", "区域": "region"},
    "teams": {"队伍代码": "code", "所属单位代码": "organization_code", "名称": "name",
              "队伍名称": "name", "电话": "phone", "值班电话": "phone", "经度": "lon",
              "纬度": "lat", "坐标系": "crs", "容量": "capacity", "在岗": "on_duty",
              "排班": "roster"},
    "elevators": {"注册代码": "register_code", "救援识别码": "rescue_code", "地址": "address",
                  "楼栋": "building", "建筑": "building", "经度": "lon", "纬度": "lat",
                  "坐标系": "crs", "场所类型": "site_type", "使用单位代码": "use_unit_code",
                  "维保单位代码": "maintenance_company_code",
                  "维保合同到期": "maintenance_until", "保险公司代码": "insurer_code",
                  "保单号": "policy_no", "三无": "three_no", "在用": "in_service",
                  "层数": "floors"},
}


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem with the input: where (file, line or feature index, column) and what.

    ``allowed`` lists the accepted values when there is a fixed set; ``severity`` is "error"
    (the row is not written) or "warning" (written, but look at it).
    """

    file: str
    line: int | None
    column: str | None
    message: str
    message_zh: str
    allowed: tuple[str, ...] = ()
    severity: str = "error"

    def where(self) -> str:
        parts = [self.file]
        if self.line is not None:
            parts.append(f"features[{self.line}]" if self.file.endswith(".geojson")
                         else f"line {self.line}")
        if self.column:
            parts.append(self.column)
        return ":".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "column": self.column,
                "message": self.message, "message_zh": self.message_zh,
                "allowed": list(self.allowed), "severity": self.severity}


@dataclass(frozen=True, slots=True)
class Row:
    """One data row: contract header → cell text (stripped; "" for empty)."""

    file: str
    line: int
    values: Mapping[str, str]

    def get(self, name: str) -> str:
        return self.values.get(name, "")


@dataclass(frozen=True, slots=True)
class ZoneFeature:
    """One GeoJSON feature: its index in ``features``, properties and raw geometry."""

    file: str
    index: int
    properties: Mapping[str, Any]
    geometry: Mapping[str, Any] | None


@dataclass
class FileRows:
    """What one file held: its kind, rows (or features) and file-level issues."""

    kind: str
    path: Path
    rows: list[Row] = field(default_factory=list)
    features: list[ZoneFeature] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)


def _kind_of(path: Path) -> str | None:
    name = path.name.lower()
    if name == "zones.geojson":
        return "zones"
    for kind in ("organizations", "teams", "elevators"):
        if name in (f"{kind}.csv", f"{kind}.xlsx"):
            return kind
    return None


def discover(paths: Iterable[str | Path]) -> tuple[dict[str, Path], list[Issue]]:
    """Files by kind from files and directories; unknown names given explicitly are errors.

    Files inside a directory with other names are ignored (a centre's folder holds notes too).
    """
    found: dict[str, Path] = {}
    issues: list[Issue] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            candidates = sorted(c for c in p.iterdir() if c.is_file() and _kind_of(c))
        elif p.is_file():
            if _kind_of(p) is None:
                issues.append(Issue(p.name, None, None,
                                    "file name not recognised", "无法识别的文件名",
                                    allowed=("zones.geojson", "organizations.csv|xlsx",
                                             "teams.csv|xlsx", "elevators.csv|xlsx")))
                continue
            candidates = [p]
        else:
            issues.append(Issue(str(p), None, None, "no such file or directory",
                                "文件或目录不存在"))
            continue
        for c in candidates:
            kind = _kind_of(c)
            assert kind is not None
            if kind in found and found[kind].resolve() != c.resolve():
                issues.append(Issue(c.name, None, None,
                                    f"two {kind} files given ({found[kind]} and {c})",
                                    f"给出了两个{kind}文件"))
                continue
            found[kind] = c
    return {k: found[k] for k in KINDS if k in found}, issues


def _cell(value: Any) -> str:
    """XLSX cells come typed; turn each back into the text a CSV would have held."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() \
            else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return str(value).strip()


def _header(kind: str, names: list[str], file: str) -> tuple[list[str | None], list[Issue]]:
    """Map the file's headers to contract names; report unknown, duplicate and missing ones."""
    spec = COLUMNS[kind]
    known = {c.rstrip("?") for c in spec}
    aliases = ALIASES[kind]
    out: list[str | None] = []
    issues: list[Issue] = []
    seen: set[str] = set()
    for raw in names:
        name = (raw or "").strip().lstrip("\ufeff")
        canon = name if name in known else aliases.get(name)
        if not name:
            out.append(None)
            continue
        if canon is None:
            issues.append(Issue(file, 1, name, f"unknown column {name!r}",
                                f"未知的列“{name}”", allowed=tuple(c.rstrip("?") for c in spec)))
            out.append(None)
            continue
        if canon in seen:
            issues.append(Issue(file, 1, name, f"column {canon!r} given twice",
                                f"列“{canon}”重复"))
            out.append(None)
            continue
        seen.add(canon)
        out.append(canon)
    for c in spec:
        if not c.endswith("?") and c not in seen:
            zh = next((k for k, v in aliases.items() if v == c), c)
            issues.append(Issue(file, 1, c, f"required column {c!r} missing",
                                f"缺少必填列“{c}”（或“{zh}”）"))
    return out, issues


def _rows(kind: str, path: Path, table: Iterable[tuple[int, list[Any]]]) -> FileRows:
    result = FileRows(kind, path)
    it = iter(table)
    first = next(it, None)
    if first is None:
        result.issues.append(Issue(path.name, None, None, "file is empty", "文件为空"))
        return result
    header, result.issues = _header(kind, [_cell(v) for v in first[1]], path.name)
    for line, cells in it:
        texts = [c.strip() if type(c) is str else _cell(c) for c in cells]
        if not any(texts):
            continue  # blank lines, trailing empty spreadsheet rows
        values = {name: texts[i] if i < len(texts) else ""
                  for i, name in enumerate(header) if name is not None}
        if len(texts) > len(header) and any(texts[len(header):]):
            result.issues.append(Issue(path.name, line, None,
                                       "more cells than columns", "单元格多于列数"))
        result.rows.append(Row(path.name, line, values))
    return result


def _csv_lines(text: str) -> Iterable[tuple[int, list[Any]]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    start = 1
    for cells in reader:
        yield start, cells
        start = reader.line_num + 1


def _xlsx_lines(path: Path) -> Iterable[tuple[int, list[Any]]]:
    from openpyxl import load_workbook  # local import: CSV imports need no openpyxl

    wb = load_workbook(path, read_only=True, data_only=True)
    try:
        ws = wb.worksheets[0]
        for i, row in enumerate(ws.iter_rows(values_only=True), start=1):
            yield i, list(row)
    finally:
        wb.close()


def read_table(kind: str, path: Path) -> FileRows:
    """Rows of an organizations/teams/elevators CSV (UTF-8, BOM allowed) or XLSX (sheet 1)."""
    if path.suffix.lower() == ".xlsx":
        try:
            return _rows(kind, path, _xlsx_lines(path))
        except Exception as exc:  # a corrupt workbook is the centre's error, not a crash
            return FileRows(kind, path, issues=[Issue(path.name, None, None,
                                                      f"not a readable XLSX file: {exc}",
                                                      "无法读取的XLSX文件")])
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        return FileRows(kind, path, issues=[Issue(
            path.name, None, None, f"not UTF-8 text (byte {exc.start}); save the CSV as UTF-8",
            "文件不是UTF-8编码，请另存为UTF-8 CSV")])
    return _rows(kind, path, _csv_lines(text))


def read_zones(path: Path) -> FileRows:
    """Features of ``zones.geojson`` (a FeatureCollection), with their index."""
    result = FileRows("zones", path)
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        result.issues.append(Issue(path.name, None, None, f"not valid GeoJSON: {exc}",
                                   "不是有效的GeoJSON"))
        return result
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        result.issues.append(Issue(path.name, None, "type", "expected a FeatureCollection",
                                   "应为FeatureCollection", allowed=("FeatureCollection",)))
        return result
    for i, feat in enumerate(data.get("features") or []):
        props = feat.get("properties") if isinstance(feat, dict) else None
        geom = feat.get("geometry") if isinstance(feat, dict) else None
        result.features.append(ZoneFeature(path.name, i, props or {}, geom))
    return result


def read_file(kind: str, path: Path) -> FileRows:
    return read_zones(path) if kind == "zones" else read_table(kind, path)
