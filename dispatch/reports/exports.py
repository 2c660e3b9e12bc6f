"""CSV and XLSX of a report table: the same flat rows the API returns, the same numbers.

Why no re-computation here: the office compares the export with the screen. Without ``lang``
the columns are the API row's keys (nested statistics flattened as ``arrival_time.p90``) and
every cell is the API's value as is. With ``lang`` (what the office page's buttons send) the
columns get the page's headers in that language, durations are minutes and rates percentages:
in XLSX as number formats on the exact values (minutes = seconds / 60, ``0.0%`` on the
fraction), in CSV as numbers rounded to 0.1 with the unit in the header.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from openpyxl import Workbook

Lang = str  # "zh-CN" or "en"
STATS = {
    "zh-CN": {"n": "样本数", "mean": "平均", "p50": "P50", "p90": "P90"},
    "en": {"n": "n", "mean": "mean", "p50": "P50", "p90": "P90"},
}
LABELS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "reports": "报警数",
        "entrapments": "困人数",
        "elevators_in_service": "在用电梯数",
        "dispatch_time": "派单用时",
        "response_time": "响应用时（派单→接单）",
        "arrival_time": "到场时间",
        "onsite_time": "现场救援时间",
        "total_time": "总被困时长",
        "response_3min_rate": "3分钟响应率",
        "response_3min_n": "3分钟响应率样本数",
        "arrival_within_limit_rate": "到场及时率",
        "arrival_within_limit_n": "到场及时率样本数",
        "late_arrivals": "超时到场",
        "entrapment_rate_per_100_per_month": "困人率（每百台每月）",
        "entrapment_rate_per_10k_per_day": "困人率（每万台每日）",
        "level_share": "响应级别占比",
        "level_n": "响应级别样本数",
        "escalations": "升级次数",
        "false_alarms": "误报数",
        "false_alarm_share": "误报率",
        "callback_24h_rate": "24小时回访率",
        "callback_24h_n": "24小时回访样本数",
        "month": "月份",
        "elevator_id": "电梯编号",
        "rescue_code": "救援码",
        "register_code": "注册码",
        "address": "地址",
        "district": "区域",
        "maintenance_company": "维保单位",
        "use_unit": "使用单位",
        "three_no": "三无",
        "id": "编号",
        "code": "代码",
        "name": "名称",
        "elevators": "电梯数",
        "arrival_p90_s": "到场时间 P90",
    },
    "en": {
        "reports": "Reports",
        "entrapments": "Entrapments",
        "elevators_in_service": "Elevators in service",
        "dispatch_time": "Dispatch time",
        "response_time": "Response time (offer → ack.)",
        "arrival_time": "Arrival time",
        "onsite_time": "On-site time",
        "total_time": "Total trapped time",
        "response_3min_rate": "3-min response rate",
        "response_3min_n": "3-min response n",
        "arrival_within_limit_rate": "Arrival within limit",
        "arrival_within_limit_n": "Arrival within limit n",
        "late_arrivals": "Late arrivals",
        "entrapment_rate_per_100_per_month": "Per 100 elevators / month",
        "entrapment_rate_per_10k_per_day": "Per 10,000 elevators / day",
        "level_share": "Level share",
        "level_n": "Level n",
        "escalations": "Escalations",
        "false_alarms": "False alarms",
        "false_alarm_share": "False-alarm share",
        "callback_24h_rate": "Callback ≤ 24 h",
        "callback_24h_n": "Callback ≤ 24 h n",
        "month": "Month",
        "elevator_id": "Elevator id",
        "rescue_code": "Rescue code",
        "register_code": "Registration code",
        "address": "Address",
        "district": "District",
        "maintenance_company": "Maintenance company",
        "use_unit": "Use unit",
        "three_no": "三无 (no owner)",
        "id": "Id",
        "code": "Code",
        "name": "Name",
        "elevators": "Elevators",
        "arrival_p90_s": "Arrival P90",
    },
}
GROUP_KEYS = {
    "zh-CN": {
        None: "范围",
        "district": "区域",
        "company": "维保单位",
        "site_type": "场所类型",
        "hour": "接警小时",
        "cause": "故障原因",
        "month": "月份",
    },
    "en": {
        None: "Scope",
        "district": "District",
        "company": "Maintenance company",
        "site_type": "Site type",
        "hour": "Hour received",
        "cause": "Cause",
        "month": "Month",
    },
}
UNITS = {"zh-CN": {"min": "（分钟）", "pct": "（%）"}, "en": {"min": " (min)", "pct": " (%)"}}
TOTAL = {
    "zh-CN": {"city": "全市合计", "area": "合计"},
    "en": {"city": "City total", "area": "Total"},
}
YES_NO = {"zh-CN": ("是", "否"), "en": ("yes", "no")}


def kind(col: str) -> str:
    """``pct`` (a fraction 0–1), ``min`` (seconds shown as minutes) or ``raw``."""
    if col.endswith(("_rate", "_share")) or col.startswith("level_share."):
        return "pct"
    if col.endswith("_s") or (
        col.split(".")[-1] in ("mean", "p50", "p90") and col.split(".")[0].endswith("_time")
    ):
        return "min"
    return "raw"


def header(col: str, lang: Lang, group_by: str | None = None) -> str:
    labels = LABELS[lang]
    if col == "key":
        return GROUP_KEYS[lang].get(group_by, GROUP_KEYS[lang][None])
    base, _, stat = col.partition(".")
    text = labels.get(base, base)
    if stat:
        text = (
            f"{text} {STATS[lang].get(stat, stat)}"
            if base != "level_share"
            else (f"{stat}级响应占比" if lang == "zh-CN" else f"Level {stat} share")
        )
    k = kind(col)
    return text + (UNITS[lang][k] if k != "raw" else "")


def _display(col: str, v: Any, lang: Lang, *, xlsx: bool) -> Any:
    if v is None:
        return None
    if isinstance(v, bool):
        return YES_NO[lang][0 if v else 1]
    k = kind(col)
    if k == "min" and isinstance(v, int | float):
        return v / 60 if xlsx else round(v / 60, 1)
    if k == "pct" and isinstance(v, int | float):
        return v if xlsx else round(v * 100, 1)
    return v


def columns(rows: Sequence[dict[str, Any]]) -> list[str]:
    cols: list[str] = []
    for r in rows:
        for k in r:
            if k not in cols:
                cols.append(k)
    return cols


def to_csv(
    rows: Sequence[dict[str, Any]], *, lang: Lang | None = None, group_by: str | None = None
) -> bytes:
    """UTF-8 with BOM so spreadsheet programs on Chinese Windows open it correctly."""
    buf = io.StringIO()
    cols = columns(rows)
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(cols if lang is None else [header(c, lang, group_by) for c in cols])
    for r in rows:
        cells = [
            r.get(c) if lang is None else _display(c, r.get(c), lang, xlsx=False) for c in cols
        ]
        w.writerow(["" if v is None else v for v in cells])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def to_xlsx(
    rows: Sequence[dict[str, Any]],
    *,
    title: str,
    meta: dict[str, Any],
    lang: Lang | None = None,
    group_by: str | None = None,
) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = title[:31]
    cols = columns(rows)
    ws.append(cols if lang is None else [header(c, lang, group_by) for c in cols])
    for r in rows:
        ws.append(
            [r.get(c) if lang is None else _display(c, r.get(c), lang, xlsx=True) for c in cols]
        )
    if lang is not None:
        for i, c in enumerate(cols, start=1):
            fmt = {"pct": "0.0%", "min": "0.0"}.get(kind(c))
            if fmt:
                for (cell,) in ws.iter_rows(min_row=2, min_col=i, max_col=i):
                    cell.number_format = fmt
    info = wb.create_sheet("about")
    for k, v in meta.items():
        info.append([k, "" if v is None else str(v)])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
