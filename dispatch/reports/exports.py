"""CSV and XLSX of a report table: the same flat rows the API returns, the same numbers.

Why no re-computation or re-rounding here: the office compares the export with the screen; the
columns are the API row's keys (nested statistics flattened as ``arrival_time.p90``) and every
cell is the API's value as is.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from openpyxl import Workbook


def columns(rows: Sequence[dict[str, Any]]) -> list[str]:
    cols: list[str] = []
    for r in rows:
        for k in r:
            if k not in cols:
                cols.append(k)
    return cols


def to_csv(rows: Sequence[dict[str, Any]]) -> bytes:
    """UTF-8 with BOM so spreadsheet programs on Chinese Windows open it correctly."""
    buf = io.StringIO()
    cols = columns(rows)
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(cols)
    for r in rows:
        w.writerow(["" if r.get(c) is None else r.get(c) for c in cols])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def to_xlsx(rows: Sequence[dict[str, Any]], *, title: str, meta: dict[str, Any]) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = title[:31]
    cols = columns(rows)
    ws.append(cols)
    for r in rows:
        ws.append([r.get(c) for c in cols])
    info = wb.create_sheet("about")
    for k, v in meta.items():
        info.append([k, "" if v is None else str(v)])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
