"""The replay simulation: a tiny case worked out by hand, determinism, and the live rule."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pytest

from dispatch import policy
from dispatch.dispatching.service import team_level
from dispatch.planning.simulate import (
    SimIncident,
    SimParams,
    SimTeam,
    figures,
    kpi_row,
    simulate,
)

COMPANY, STATION = 10, 20
TEAMS = [SimTeam(1, "A", COMPANY, "maintenance_company", 112.56, 37.83),
         SimTeam(2, "B", STATION, "rescue_station", 112.57, 37.84)]
ROAD = np.array([[600.0, 300.0, 900.0],   # team A → incidents 1, 2, 3
                 [300.0, 1200.0, 300.0]])  # team B
INCIDENTS = [SimIncident(k + 1, float(t), 112.56, 37.83, "小店区", 30,
                         maintenance_company_id=COMPANY) for k, t in enumerate((0, 100, 200))]


def travel(teams: Sequence[int], incident: int) -> np.ndarray:
    return ROAD[list(teams), incident]


def params(config: policy.PolicyConfig | None = None, **kw: object) -> SimParams:
    cfg = config or policy.PolicyConfig(turnout_s=120, safety_margin_s=300)
    base = SimParams(config_for=lambda zone: cfg, level_of=team_level, surge_min_waiting=5,
                     redispatch_retry_s=60, dispatch_delay_s=[0.0], accept_delay_s=[0.0],
                     onsite_s=[600.0])
    return replace(base, **kw)  # type: ignore[arg-type]


def test_three_incidents_two_teams_by_hand() -> None:
    out = simulate(TEAMS, INCIDENTS, travel, params())
    # 1 at t=0: A (level 1) ETA 120+600 = 720 ≤ 1800−300 → A, arrives 720, free at 1320.
    # 2 at t=100: A busy; B (level 2) ETA 120+1200 = 1320 ≤ 1700−300 → B, arrives 1420.
    # 3 at t=200: nobody free → retried every 60 s: at 1340 (200 + 19·60) A is free again;
    #   ETA 120+900 = 1020 > 660−300 → nobody makes it, A as the fastest (at risk),
    #   arrives 1340+1020 = 2360, i.e. 2160 s after reception: late.
    assert [(o.team_id, o.level) for o in out] == [(1, 1), (2, 2), (1, 1)]
    assert [o.first_offer_at for o in out] == [0.0, 100.0, 1340.0]
    assert [o.arrived_at for o in out] == [720.0, 1420.0, 2360.0]
    assert [o.arrival_s for o in out] == [720.0, 1320.0, 2160.0]
    f = figures([(o.zone, kpi_row(o)) for o in out], days=1.0,
                teams=[(o.team_id or 0, 600.0) for o in out])
    assert f["arrival_within_limit_rate"] == round(2 / 3, 4)
    assert f["arrival_p50_s"] == 1320.0
    assert f["level_share"] == {"1": round(2 / 3, 4), "2": round(1 / 3, 4), "3": 0.0}
    assert f["missed_by_zone"] == [{"zone": "小店区", "counted": 3, "missed": 1}]
    assert f["busiest_teams"][0]["team_id"] == 1 and f["busiest_teams"][0]["jobs"] == 2


def test_same_seed_same_figures_and_another_seed_differs() -> None:
    rng = np.random.default_rng(3)
    incidents = [SimIncident(k, float(t), 112.56, 37.83, "小店区", 30,
                             maintenance_company_id=COMPANY)
                 for k, t in enumerate(np.sort(rng.uniform(0, 20000, 40)))]
    road = rng.uniform(200, 1500, (2, 40))

    def tr(teams: Sequence[int], i: int) -> np.ndarray:
        return road[list(teams), i]

    p = params(onsite_s=list(rng.uniform(300, 1500, 30)),
               accept_delay_s=list(rng.uniform(20, 200, 30)), seed=5)
    a = [kpi_row(o) for o in simulate(TEAMS, incidents, tr, p)]
    b = [kpi_row(o) for o in simulate(TEAMS, incidents, tr, p)]
    c = [kpi_row(o) for o in simulate(TEAMS, incidents, tr, replace(p, seed=6))]
    assert a == b
    assert a != c


def test_a_policy_setting_changes_the_replay() -> None:
    """A wider safety margin makes the company's 720 s ETA too tight for incident 1: the
    live rule then gives it to the station (level 2), and the replay follows."""
    loose = simulate(TEAMS, INCIDENTS, travel, params())
    strict = simulate(TEAMS, INCIDENTS, travel,
                      params(policy.PolicyConfig(turnout_s=120, safety_margin_s=1200)))
    assert loose[0].level == 1
    assert strict[0].team_id == 2 and strict[0].level == 2


def test_surge_planner_takes_over_when_enough_wait() -> None:
    incidents = [SimIncident(k, 0.0, 112.56, 37.83, "小店区", 30,
                             maintenance_company_id=COMPANY) for k in range(4)]
    road = np.full((2, 4), 400.0)

    def tr(teams: Sequence[int], i: int) -> np.ndarray:
        return road[list(teams), i]

    out = simulate(TEAMS, incidents, tr, params(surge_min_waiting=2))
    assert sum(o.via_surge for o in out) == 2  # the two left waiting are served by the plan
    assert all(o.arrived_at is not None for o in out)


@pytest.mark.parametrize("give_up", [600.0])
def test_no_team_ever_ends_as_a_miss(give_up: float) -> None:
    out = simulate([], INCIDENTS, travel, params(give_up_s=give_up))
    f = figures([(o.zone, kpi_row(o)) for o in out], days=1.0)
    assert f["arrival_within_limit_rate"] == 0.0 and f["arrival_within_limit_n"] == 3
