"""Exports as the office page asks for them (issue 16 item 11): local dates in the file name,
the page's headers in zh-CN or English, minutes and percentages as XLSX number formats, and a
city-wide total row."""

from __future__ import annotations

import csv
import io
from typing import Any

from openpyxl import load_workbook

from tests.conftest import Api
from tests.dispatch.reports.test_reports_api import PERIOD, get, hs, office  # noqa: F401

LOCAL = {"from": "2026-11-01T00:00:00+08:00", "to": "2026-12-01T00:00:00+08:00"}


def export(api: Api, who: dict[str, str], name: str, **params: Any) -> Any:
    r = api.client.get(f"/api/v1/reports/export/{name}", headers=who, params=params)
    assert r.status_code == 200, r.text
    return r


def test_file_name_uses_the_centres_local_dates(api: Api, hs, office) -> None:  # noqa: F811
    r = export(api, office, "summary.csv", **LOCAL)
    # 2026-11-01 00:00 +08:00 is 2026-10-31 in UTC: the name follows the page, not UTC
    assert 'filename="summary_2026-11-01_2026-12-01.csv"' in r.headers["content-disposition"]


def test_xlsx_has_the_pages_headers_formats_and_a_total_row(api: Api, hs,  # noqa: F811
                                                            office) -> None:  # noqa: F811
    shown = get(api, office, "summary", group_by="district", **PERIOD)["rows"]
    total = get(api, office, "summary", **PERIOD)["rows"][0]
    r = export(api, office, "summary.xlsx", group_by="district", lang="zh-CN", **PERIOD)
    ws = load_workbook(io.BytesIO(r.content)).worksheets[0]
    head = [c.value for c in ws[1]]
    assert head[:3] == ["区域", "报警数", "困人数"]
    assert "到场及时率（%）" in head and "到场时间 P90（分钟）" in head
    assert "arrival_within_limit_rate" not in head
    rows = list(ws.iter_rows(min_row=2))
    assert len(rows) == len(shown) + 1
    last = {h: c for h, c in zip(head, rows[-1], strict=True)}
    assert last["区域"].value == "全市合计"
    assert last["困人数"].value == total["entrapments"] == sum(r["entrapments"] for r in shown)
    rate = last["到场及时率（%）"]
    assert rate.value == total["arrival_within_limit_rate"] and rate.number_format == "0.0%"
    p90 = last["到场时间 P90（分钟）"]
    assert p90.value == total["arrival_time"]["p90"] / 60 and p90.number_format == "0.0"
    r = export(api, office, "summary.xlsx", group_by="district", lang="en", **PERIOD)
    head = [c.value for c in load_workbook(io.BytesIO(r.content)).worksheets[0][1]]
    assert head[:3] == ["District", "Reports", "Entrapments"]
    assert "Arrival within limit (%)" in head and "Arrival time P90 (min)" in head


def test_csv_in_the_page_language_rounds_minutes_and_percentages(api: Api, hs,  # noqa: F811
                                                                 office) -> None:  # noqa: F811
    total = get(api, office, "summary", **PERIOD)["rows"][0]
    r = export(api, office, "summary.csv", group_by="district", lang="en", **PERIOD)
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    city = rows[-1]
    assert city["District"] == "City total"
    rate = total["arrival_within_limit_rate"]
    assert city["Arrival within limit (%)"] == str(round(rate * 100, 1))
    assert city["Arrival time P50 (min)"] == str(round(total["arrival_time"]["p50"] / 60, 1))
    comp = export(api, office, "companies.csv", lang="zh-CN", **PERIOD)
    head = next(csv.reader(io.StringIO(comp.content.decode("utf-8-sig"))))
    assert head[:3] == ["编号", "代码", "名称"] and "到场时间 P90（分钟）" in head
