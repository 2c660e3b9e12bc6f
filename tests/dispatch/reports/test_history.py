"""History import: whole-file validation, --skip-bad, idempotence, same timeline, same KPIs."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from dispatch.models import Assignment, Incident, IncidentEvent
from dispatch.reports import demo_history, history, service
from dispatch.reports.history import COLUMNS, import_records, read_file
from tests import factories
from tests.conftest import Api


@pytest.fixture
def reg(db: sessionmaker[Session]) -> dict[str, Any]:
    with db() as s:
        company = factories.make_org(s, code="MC1")
        team = factories.make_team(s, organization=company, code="MC1-T1")
        e1 = factories.make_elevator(s, zone_name="小店区", rescue_code="112233",
                                     maintenance_company_id=company.id)
        e2 = factories.make_elevator(s, zone_name="清徐县", rescue_code="445566",
                                     register_code="31101401052020999999")
        s.commit()
        return {"team": team.code, "e1": e1.id, "e2": e2.id}


GOOD = [
    {"external_id": "old-1", "rescue_code": "112233", "channel": "call",
     "received_at": "2026-10-01T08:00:00+08:00", "dispatched_at": "2026-10-01T08:01:00+08:00",
     "accepted_at": "2026-10-01T08:02:00+08:00", "arrived_at": "2026-10-01T08:14:00+08:00",
     "released_at": "2026-10-01T08:20:00+08:00", "closed_at": "2026-10-01T09:00:00+08:00",
     "level": "1", "team_code": "MC1-T1", "cause_code": "door_system", "trapped_count": "2",
     "outcome": "released"},
    {"external_id": "old-2", "register_code": "31101401052020999999", "channel": "alarm",
     "received_at": "2026-10-02T10:00:00+08:00", "dispatched_at": "2026-10-02T10:00:40+08:00",
     "accepted_at": "2026-10-02T10:05:00+08:00", "arrived_at": "2026-10-02T11:10:00+08:00",
     "released_at": "2026-10-02T11:15:00+08:00", "closed_at": "", "level": "2",
     "outcome": "released"},
    {"external_id": "old-3", "rescue_code": "112233", "channel": "call",
     "received_at": "2026-10-03T19:00:00+08:00", "closed_at": "2026-10-03T19:03:00+08:00",
     "outcome": "false_alarm"},
]


def records(rows: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    return [(i + 2, r) for i, r in enumerate(rows)]


def count(s: Session, model: Any) -> int:
    return s.scalar(select(func.count()).select_from(model)) or 0


def test_good_file_builds_the_same_timeline_and_is_idempotent(db, reg) -> None:
    with db() as s:
        rep = import_records(s, records(GOOD))
        s.commit()
        assert (rep.written, rep.errors) == (3, [])
        inc = s.get(Incident, rep.incident_ids[0])
        evs = s.scalars(select(IncidentEvent).where(IncidentEvent.incident_id == inc.id)
                        .order_by(IncidentEvent.seq)).all()
        assert [e.type for e in evs] == ["received", "offered", "accepted", "arrived",
                                         "released", "cleared", "closed"]
        assert all(e.payload["imported"] and e.payload["via"] == "import" for e in evs)
        assert evs[1].at == datetime(2026, 10, 1, 0, 1, tzinfo=UTC)
        assert inc.state == "closed" and inc.outcome == "released"
        a = s.scalar(select(Assignment).where(Assignment.incident_id == inc.id))
        assert a is not None and a.level == 1 and a.state == "cleared"
        assert evs[1].payload["assignment_id"] == a.id
    with db() as s:
        again = import_records(s, records(GOOD))
        s.commit()
        assert (again.written, again.already) == (0, 3)
        assert count(s, Incident) == 3


def test_one_bad_row_and_nothing_is_written(db, reg) -> None:
    bad = [*GOOD,
           {**GOOD[0], "external_id": "old-4", "received_at": "2026-10-01T08:00:00"},
           {**GOOD[0], "external_id": "old-5", "rescue_code": "999"},
           {**GOOD[0], "external_id": "old-6", "arrived_at": "2026-10-01T07:00:00+08:00"},
           {**GOOD[0], "external_id": "old-1"},
           {**GOOD[0], "external_id": "old-7", "outcome": "maybe", "level": "5"}]
    with db() as s:
        rep = import_records(s, records(bad))
        got = {(e.line, e.field) for e in rep.errors}
        assert {(5, "received_at"), (6, "rescue_code"), (7, "arrived_at"),
                (8, "external_id"), (9, "outcome"), (9, "level")} <= got
        assert "offset" in next(e.message for e in rep.errors if e.line == 5)
        assert rep.written == 0
        s.commit()
        assert count(s, Incident) == 0 and count(s, IncidentEvent) == 0


def test_skip_bad_writes_the_good_rows(db, reg) -> None:
    bad = [*GOOD, {**GOOD[0], "external_id": "old-9", "team_code": "NOPE"}]
    with db() as s:
        rep = import_records(s, records(bad), skip_bad=True)
        s.commit()
        assert rep.written == 3 and rep.skipped_lines == [5]
        assert [(e.field, e.line) for e in rep.errors] == [("team_code", 5)]
        assert count(s, Incident) == 3


def test_csv_and_xlsx_files_and_reports_treat_imports_alike(api: Api, reg,
                                                            tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(COLUMNS))
        w.writeheader()
        for r in GOOD[:2]:
            w.writerow(r)
    wb = Workbook()
    ws = wb.active
    ws.append(list(COLUMNS))
    ws.append([GOOD[2].get(c) for c in COLUMNS])
    xlsx = tmp_path / "h.xlsx"
    wb.save(xlsx)
    with api.db() as s:
        assert import_records(s, list(read_file(path))).written == 2
        assert import_records(s, list(read_file(xlsx))).written == 1
        s.commit()
    office = api.user("office")
    body = api.client.get("/api/v1/reports/summary", headers=office, params={
        "from": "2026-10-01", "to": "2026-11-01", "group_by": "district"}).json()
    rows = {r["key"]: r for r in body["rows"]}
    xd, qx = rows["小店区"], rows["清徐县"]
    assert (xd["reports"], xd["entrapments"], xd["false_alarms"]) == (2, 1, 1)
    assert xd["arrival_time"]["p50"] == 840.0 and xd["response_time"]["p50"] == 60.0
    assert xd["response_3min_rate"] == 1.0 and xd["level_share"]["1"] == 1.0
    # 清徐: 70 min in a 60-min zone is late; the level-2 offer is not a level-1 offer
    assert qx["arrival_within_limit_rate"] == 0.0 and qx["response_3min_rate"] is None
    assert qx["level_share"] == {"1": 0.0, "2": 1.0, "3": 0.0}


def test_demo_history_is_realistic_and_rerun_safe(db) -> None:
    with db() as s:
        companies = [factories.make_org(s) for _ in range(20)]
        for c in companies:
            factories.make_team(s, organization=c)
        for i in range(400):
            factories.make_elevator(s, zone_name="小店区" if i % 4 else "清徐县",
                                    three_no=i % 50 == 0,
                                    maintenance_company_id=companies[i % 20].id)
        s.commit()
    end = datetime(2026, 11, 30, 12, tzinfo=UTC)
    with db() as s:
        rows = demo_history.generate(s, days=60, end=end)
        assert rows and all(r["received_at"] < "2026-11-30" for r in rows)
        rep = demo_history.load(s, days=60, end=end)
        s.commit()
        assert rep.errors == [] and rep.written == len(rows)
        again = demo_history.load(s, days=60, end=end)
        assert again.written == 0 and again.already == len(rows)
        assert demo_history.has_demo_history(s)
        from dispatch.scoping import Visibility
        p = service.Period(datetime(2026, 10, 1, tzinfo=UTC), end)
        (row,) = service.summary(s, Visibility.internal(), p, district=None,
                                 group_by=None)["rows"]
        assert 0.9 < row["level_share"]["1"] <= 1.0
        # 400 elevators: the power-cut burst (slow arrivals) and repeat offenders dominate
        assert row["entrapments"] > 50
        assert 480 < row["arrival_time"]["p50"] < 2400
        assert len(service.hidden_danger(s, Visibility.internal(), p, district=None)["rows"]) >= 1
    assert history.SOURCE == "history-import"
