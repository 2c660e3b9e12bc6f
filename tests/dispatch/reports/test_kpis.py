"""The pure definitions: clock rules, offer matching, percentiles and empty denominators."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dispatch.reports import kpis
from dispatch.reports.kpis import Event, Row, facts_from_timeline, summarize

T0 = datetime(2026, 11, 2, 8, tzinfo=UTC)


def ev(type_: str, s: float, **p: object) -> Event:
    return Event(type_, T0 + timedelta(seconds=s), p)


def test_arrival_clock_can_start_at_the_first_offer() -> None:
    f = facts_from_timeline([ev("received", 0, sla_minutes=30), ev("offered", 120, level=1),
                             ev("accepted", 200), ev("arrived", 1900), ev("released", 2000)])
    assert kpis.arrival_s(Row(f)) == 1900
    at_dispatch = Row(f, clock_start="dispatched")
    assert kpis.arrival_s(at_dispatch) == 1780
    assert kpis.arrival_verdict(Row(f)) is False          # 31:40 > 30 min
    assert kpis.arrival_verdict(at_dispatch) is True      # 29:40
    # offers without assignment ids (imported history): the acceptance is the latest offer's
    assert kpis.response_s(Row(f)) == 80 and (f.l1_offers, f.l1_hits) == (1, 1)


def test_the_team_that_went_is_the_one_that_arrived() -> None:
    f = facts_from_timeline([
        ev("received", 0), ev("offered", 10, assignment_id=1, level=1),
        ev("accepted", 300, assignment_id=1),               # 290 s: a 3-min miss
        ev("level3_alerted", 320, assignment_id=2, level=3), ev("accepted", 330, assignment_id=2),
        ev("arrived", 900, assignment_id=2), ev("released", 1000, assignment_id=2)])
    assert f.went_level == 3 and kpis.response_s(Row(f)) == 10 and f.escalated
    assert (f.l1_offers, f.l1_hits) == (1, 0)


def test_percentiles_are_numpy_linear_and_empty_rates_are_null() -> None:
    assert kpis.stat([10, 20, 30, 40]) == {"n": 4, "mean": 25.0, "p50": 25.0, "p90": 37.0}
    assert kpis.stat([None]) == {"n": 0, "mean": None, "p50": None, "p90": None}
    s = summarize([], days=30, elevators=None)
    assert s["response_3min_rate"] is None and s["entrapment_rate_per_100_per_month"] is None
    assert s["level_share"] == {"1": None, "2": None, "3": None}
    assert kpis.entrapment_rates(1, 100, kpis.MONTH_DAYS) == (1.0, 3.285421)
