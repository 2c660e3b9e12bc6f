"""Office reports over HTTP on both backends, against figures computed by hand (handset.py)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from openpyxl import load_workbook

from dispatch.events import Actor, append_event
from dispatch.models import Incident
from tests.conftest import Api
from tests.dispatch.reports import handset
from tests.dispatch.reports.handset import FROM, TO

PERIOD = {"from": FROM.isoformat(), "to": TO.isoformat()}
MONTH = 365.25 / 12


@pytest.fixture
def hs(api: Api) -> handset.HandSet:
    with api.db() as s:
        out = handset.build(s)
        s.commit()
    return out


@pytest.fixture
def office(api: Api) -> dict[str, str]:
    return api.user("office")


def get(api: Api, who: dict[str, str], path: str, **params: Any) -> dict[str, Any]:
    r = api.client.get(f"/api/v1/reports/{path}", headers=who, params={**PERIOD, **params})
    assert r.status_code == 200, r.text
    return r.json()


def approx(x: float, digits: int = 1) -> Any:
    return pytest.approx(round(x, digits), abs=10 ** -digits / 2 + 1e-9)


def test_summary_matches_the_hand_computation(api: Api, hs, office) -> None:
    body = get(api, office, "summary")
    assert body["from"] == FROM.isoformat() and body["to"] == TO.isoformat()
    (row,) = body["rows"]
    assert row["key"] == "all"
    # reports: A B C D F G H I J K (E merged; L before from; M at the exclusive to)
    assert row["reports"] == 10
    # entrapments: not F (false alarm) nor G (cancelled)
    assert row["entrapments"] == 8
    assert row["elevators_in_service"] == 10  # the out-of-service car is not counted
    # dispatch: A60 B30 C40 D20 H45 I30 J60 K30 → sorted 20 30 30 30 40 45 60 60
    assert row["dispatch_time"] == {"n": 8, "mean": approx(315 / 8), "p50": 35.0, "p90": 60.0}
    # response of the team that went: A90 B200 C60(L2) D60 H60 I60 J60 K70
    # sorted 60 60 60 60 60 70 90 200 → p50 60; p90 at 6.3 → 90 + 0.3·110 = 123
    assert row["response_time"] == {"n": 8, "mean": 82.5, "p50": 60.0, "p90": 123.0}
    # arrival: A900 B1500 C1700 D600 H4200 I2400; p50 (1500+1700)/2; p90 2400 + .5·1800
    assert row["arrival_time"] == {"n": 6, "mean": approx(11300 / 6), "p50": 1600.0,
                                   "p90": 3300.0}
    assert row["onsite_time"] == {"n": 6, "mean": 270.0, "p50": 300.0, "p90": 300.0}
    # total: A1200 B1800 C2000 D720 H4500 I2700 J1100 → p90 at 5.4 → 2700 + .4·1800
    assert row["total_time"] == {"n": 7, "mean": approx(14020 / 7), "p50": 1800.0,
                                 "p90": 3420.0}
    # level-1 offers for entrapments: A1 B1 C2 D1 H1 I1 J1 K1 = 9; within 180 s: A D H I J K
    assert row["response_3min_n"] == 9
    assert row["response_3min_rate"] == approx(6 / 9, 4)
    # counted for arrival: A B C D H I (arrived) + J (closed without arrival: a miss); K open
    # within: A B C D I → 5/7; misses: H (70 min in a 60-min zone) and J
    assert row["arrival_within_limit_n"] == 7
    assert row["arrival_within_limit_rate"] == approx(5 / 7, 4)
    assert row["late_arrivals"] == 2
    # 8 entrapments / 10 elevators over 30 days, per 100 per month (30.4375 days)
    assert row["entrapment_rate_per_100_per_month"] == approx(8 / 10 / 30 * MONTH * 100, 6)
    assert row["entrapment_rate_per_10k_per_day"] == approx(8 / 10 / 30 * 10_000, 6)
    # the team that went: level 1 for all but C (level 2); J and K by their acceptance
    assert row["level_n"] == 8
    assert row["level_share"] == {"1": 0.875, "2": 0.125, "3": 0.0}
    assert row["escalations"] == 1
    assert row["false_alarms"] == 1 and row["false_alarm_share"] == 0.1
    # released entrapments A B C D H I J; callbacks within 24 h: A and D (C was 25 h)
    assert row["callback_24h_n"] == 7
    assert row["callback_24h_rate"] == approx(2 / 7, 4)


def test_grouped_by_district_and_a_rate_without_denominator_is_null(api: Api, hs,
                                                                    office) -> None:
    rows = {r["key"]: r for r in get(api, office, "summary", group_by="district")["rows"]}
    assert set(rows) == {"小店区", "清徐县"}
    xd, qx = rows["小店区"], rows["清徐县"]
    assert (xd["reports"], xd["entrapments"], xd["elevators_in_service"]) == (8, 6, 8)
    assert (qx["reports"], qx["entrapments"], qx["elevators_in_service"]) == (2, 2, 2)
    assert qx["arrival_within_limit_rate"] == 0.5 and qx["late_arrivals"] == 1
    # 小店: A B C D within, J a miss → 4/5
    assert xd["arrival_within_limit_rate"] == 0.8
    assert qx["false_alarm_share"] == 0.0 and qx["callback_24h_rate"] == 0.0
    empty = get(api, office, "summary", **{"from": "2025-01-01", "to": "2025-02-01"})
    (row,) = empty["rows"]
    assert row["entrapments"] == 0 and row["response_3min_rate"] is None
    assert row["arrival_within_limit_rate"] is None and row["false_alarm_share"] is None
    assert row["arrival_time"] == {"n": 0, "mean": None, "p50": None, "p90": None}
    assert row["entrapment_rate_per_100_per_month"] == 0.0


def test_figures_come_from_the_timeline_and_follow_late_edits(api: Api, hs, office) -> None:
    before = get(api, office, "summary")["rows"][0]
    with api.db() as s:
        # editing a ladder column changes nothing: reports read the timeline
        a = s.get(Incident, hs.ids["A"])
        a.arrived_at = a.received_at + timedelta(hours=5)
        s.commit()
    assert get(api, office, "summary")["rows"][0] == before
    with api.db() as s:
        # a callback for B recorded late (through the write path) is picked up at once
        b = s.get(Incident, hs.ids["B"])
        append_event(s, b, type="callback_done", actor=Actor("op1", "operator"),
                     at=b.received_at + timedelta(hours=2))
        s.commit()
    after = get(api, office, "summary")["rows"][0]
    assert after["callback_24h_rate"] == pytest.approx(round(3 / 7, 4))


def test_an_office_of_one_district_never_sees_another(api: Api, hs) -> None:
    qx_office = api.user("office", region="清徐县")
    (row,) = get(api, qx_office, "summary")["rows"]
    assert row["entrapments"] == 2 and row["elevators_in_service"] == 2
    by_district = get(api, qx_office, "summary", group_by="district")["rows"]
    assert [r["key"] for r in by_district] == ["清徐县"]
    r = api.client.get("/api/v1/reports/summary", headers=qx_office,
                       params={**PERIOD, "district": "小店区"})
    assert r.status_code == 403 and r.json()["field"] == "district"
    assert get(api, qx_office, "rankings/elevators")["rows"] == []
    names = [c["name"] for c in get(api, qx_office, "rankings/companies")["rows"]]
    assert names == ["乙维保公司"]
    r = api.client.get(f"/api/v1/reports/incidents/{hs.ids['A']}/audit", headers=qx_office)
    assert r.status_code == 404
    csv_rows = _csv(api, qx_office, "summary", group_by="district")
    assert [r["key"] for r in csv_rows] == ["清徐县"]
    zones = api.client.get("/api/v1/reports/zones", headers=qx_office).json()
    assert [z["name"] for z in zones] == ["清徐县"]


def test_roles(api: Api, hs) -> None:
    for role, status in (("operator", 403), ("crew", 403), ("supervisor", 200),
                         ("admin", 200)):
        who = api.user(role) if role != "crew" else api.user("crew", team_id=None)
        r = api.client.get("/api/v1/reports/summary", headers=who, params=PERIOD)
        assert r.status_code == status, role
    r = api.client.get("/api/v1/reports/summary", params=PERIOD)
    assert r.status_code == 401


def test_bad_parameters_name_the_field(api: Api, office) -> None:
    r = api.client.get("/api/v1/reports/summary", headers=office,
                       params={"from": "yesterday", "to": TO.isoformat()})
    assert r.status_code == 422 and r.json()["field"] == "from"
    r = api.client.get("/api/v1/reports/summary", headers=office,
                       params={"from": TO.isoformat(), "to": FROM.isoformat()})
    assert r.status_code == 422 and r.json()["field"] == "to"
    r = api.client.get("/api/v1/reports/summary", headers=office,
                       params={**PERIOD, "district": "火星区"})
    assert r.status_code == 422 and r.json()["field"] == "district"
    r = api.client.get("/api/v1/reports/summary", headers=office,
                       params={**PERIOD, "group_by": "weather"})
    assert r.status_code == 422 and r.json()["field"] == "group_by"
    assert r.headers["content-type"].startswith("application/problem+json")


def test_rankings(api: Api, hs, office) -> None:
    danger = get(api, office, "rankings/elevators")["rows"]
    # e1 had A, B, C in November; e2's second report was merged, so it is not listed
    assert [(d["elevator_id"], d["month"], d["entrapments"], d["three_no"]) for d in danger] \
        == [(hs.elevators["e1"], "2026-11", 3, True)]
    comp = get(api, office, "rankings/companies")["rows"]
    # Y: 2 entrapments / 2 elevators; X: 6 / 8 — per 100 per month over 30 days
    assert [c["name"] for c in comp] == ["乙维保公司", "甲维保公司"]
    y, x = comp
    assert y["entrapment_rate_per_100_per_month"] == approx(2 / 2 / 30 * MONTH * 100, 6)
    assert x["entrapment_rate_per_100_per_month"] == approx(6 / 8 / 30 * MONTH * 100, 6)
    assert (x["elevators"], x["entrapments"], x["late_arrivals"]) == (8, 6, 1)
    assert (y["elevators"], y["entrapments"], y["late_arrivals"]) == (2, 2, 1)
    units = get(api, office, "rankings/use-units")["rows"]
    assert [(u["name"], u["entrapments"], u["elevators"]) for u in units] == \
        [("阳光物业", 8, 10)]


def test_audit_view(api: Api, hs, office) -> None:
    body = api.client.get(f"/api/v1/reports/incidents/{hs.ids['C']}/audit",
                          headers=office).json()
    types = [e["type"] for e in body["timeline"]]
    assert types[0] == "received" and "level_escalated" in types
    k = body["kpi"]
    assert k["went_level"] == 2 and k["response_time_s"] == 60.0
    assert k["arrival_time_s"] == 1700.0 and k["arrival_within_limit"] is True
    assert (k["level1_offers"], k["level1_within_3min"]) == (2, 0)
    who = {w["actor"]: w["events"] for w in body["who_did_what"]}
    assert "accepted" in who["crew1"] and "offered" in who["op1"]
    assert body["notifications"] == []  # imported history: nothing was sent by this system


def _csv(api: Api, who: dict[str, str], table: str, **params: Any) -> list[dict[str, str]]:
    r = api.client.get(f"/api/v1/reports/export/{table}.csv", headers=who,
                       params={**PERIOD, **params})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))


def _cell(v: Any) -> str:
    return "" if v is None else str(v)


def _flat(row: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in row.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = v
    return out


@pytest.mark.parametrize("table,path,params", [
    ("summary", "summary", {"group_by": "district"}),
    ("elevators", "rankings/elevators", {}),
    ("companies", "rankings/companies", {"sort": "late"}),
    ("use-units", "rankings/use-units", {}),
])
def test_exports_equal_the_api(api: Api, hs, office, table: str, path: str,
                               params: dict[str, str]) -> None:
    shown = [_flat(r) for r in get(api, office, path, **params)["rows"]]
    assert shown
    exported = _csv(api, office, table, **params)
    assert exported == [{k: _cell(v) for k, v in r.items()} for r in shown]
    r = api.client.get(f"/api/v1/reports/export/{table}.xlsx", headers=office,
                       params={**PERIOD, **params})
    assert r.status_code == 200
    ws = load_workbook(io.BytesIO(r.content)).worksheets[0]
    values = list(ws.iter_rows(values_only=True))
    header = list(values[0])
    assert header == list(shown[0])
    assert [dict(zip(header, v, strict=True)) for v in values[1:]] == shown


def test_histogram_counts_entrapments(api: Api, hs, office) -> None:
    h = get(api, office, "histogram", metric="response_time", bin_s=60)
    assert h["n"] == 8
    counts = {b["from_s"]: b["count"] for b in h["bins"]}
    # 60 60 60 60 60 70 90 | 200
    assert counts[60] == 7 and counts[180] == 1 and sum(counts.values()) == 8
