"""Surge assignment: the global plan against first-come, on matrices small enough to check by hand.

The brute-force oracle enumerates every way to give each incident a distinct team or let it wait
and scores it with the documented tiers; matching it on random inputs is what shows the cost
weights really make the single assignment lexicographic.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatch.surge import SurgePlan, assign_greedy, assign_surge

INF = math.inf


def _vulnerable_missed(plan: SurgePlan, vulnerable: list[bool]) -> int:
    on_time = {i for (i, _), ok in zip(plan.pairs, plan.makes_deadline, strict=True) if ok}
    return sum(1 for i, v in enumerate(vulnerable) if v and i not in on_time)


def _assert_valid(plan: SurgePlan, eta: np.ndarray, left: np.ndarray) -> None:
    incidents = [i for i, _ in plan.pairs]
    teams = [j for _, j in plan.pairs]
    assert len(set(teams)) == len(teams), "a team was used twice"
    assert len(set(incidents)) == len(incidents), "an incident got two teams"
    assert sorted(incidents + plan.waiting) == list(range(eta.shape[0]))
    assert plan.eta_s == [eta[i, j] for i, j in plan.pairs]
    assert all(math.isfinite(e) for e in plan.eta_s)
    assert plan.makes_deadline == [eta[i, j] <= left[i] for i, j in plan.pairs]
    assert plan.missed == eta.shape[0] - sum(plan.makes_deadline)


def test_greedy_misses_a_deadline_the_global_plan_makes() -> None:
    # Team 0 is the only one that reaches incident 1 in time, and it is also the fastest for
    # incident 0 — which the slower team 1 could still reach in time.
    eta = np.array([[300.0, 900.0],
                    [600.0, 2400.0]])
    left = np.array([1800.0, 1800.0])
    greedy = assign_greedy(eta, left)
    assert greedy.pairs == [(0, 0), (1, 1)]
    assert greedy.missed == 1
    plan = assign_surge(eta, left, np.zeros(2, dtype=bool))
    assert plan.pairs == [(0, 1), (1, 0)]
    assert plan.makes_deadline == [True, True]
    assert plan.missed == 0
    assert plan.mean_eta_s == pytest.approx(750.0)


def test_total_eta_breaks_ties_between_plans_that_make_every_deadline() -> None:
    eta = np.array([[100.0, 200.0],
                    [150.0, 500.0]])
    plan = assign_surge(eta, np.array([3600.0, 3600.0]), np.zeros(2, dtype=bool))
    assert plan.pairs == [(0, 1), (1, 0)]  # 350 s in total, against 600 s
    assert plan.missed == 0


def test_vulnerable_incident_gets_the_only_team_in_time() -> None:
    # One team, both incidents reachable in time: the vulnerable one is served, the other waits.
    eta = np.array([[400.0], [900.0]])
    left = np.array([1800.0, 1800.0])
    plan = assign_surge(eta, left, np.array([False, True]))
    assert plan.pairs == [(1, 0)]
    assert plan.waiting == [0]
    plain = assign_surge(eta, left, np.array([False, True]), vulnerable_first=False)
    assert plain.pairs == [(0, 0)]  # without the priority the nearer incident wins


def test_vulnerable_first_never_costs_an_on_time_arrival() -> None:
    # The vulnerable incident cannot be reached in time by anyone: serving it would turn an
    # on-time rescue into a wait, so it waits — but it still beats a non-vulnerable one to a team
    # once nobody can make it.
    eta = np.array([[2000.0, 2100.0], [500.0, 2200.0], [2100.0, 2050.0]])
    left = np.array([1800.0, 1800.0, 1800.0])
    vul = np.array([True, False, False])
    plan = assign_surge(eta, left, vul)
    assert (1, 0) in plan.pairs  # the only on-time arrival is kept
    assert (0, 1) in plan.pairs  # the vulnerable late one gets the remaining team, not incident 2
    assert plan.missed == 2


def test_safety_margin_prefers_arrivals_with_a_cushion() -> None:
    # Both plans are on time; only one leaves each arrival ≥ 5 min before the deadline, at the
    # price of 1290 s more in total: the tier holds however large the ETA difference.
    eta = np.array([[100.0, 1500.0],
                    [1400.0, 1510.0]])
    left = np.array([1800.0, 1800.0])
    plan = assign_surge(eta, left, np.zeros(2, dtype=bool), safety_margin_s=300.0)
    assert plan.pairs == [(0, 1), (1, 0)]  # 1500 and 1400 are both ≤ 1500; 2900 s in total
    no_margin = assign_surge(eta, left, np.zeros(2, dtype=bool), safety_margin_s=0.0)
    assert no_margin.pairs == [(0, 0), (1, 1)]  # 1610 s in total, 1510 s only 290 s early
    assert no_margin.missed == plan.missed == 0


def test_unreachable_pairs_are_never_chosen() -> None:
    eta = np.array([[INF, 700.0, INF],
                    [INF, 300.0, INF],
                    [INF, INF, INF]])
    left = np.array([1800.0, 1800.0, 1800.0])
    plan = assign_surge(eta, left, np.array([False, False, True]))
    _assert_valid(plan, eta, left)
    assert len(plan.pairs) == 1 and plan.pairs[0][1] == 1
    assert 2 in plan.waiting  # nobody can reach it, vulnerable or not
    greedy = assign_greedy(eta, left)
    _assert_valid(greedy, eta, left)
    assert greedy.pairs == [(0, 1)]


def test_all_unreachable_gives_an_empty_plan() -> None:
    eta = np.full((2, 3), INF)
    plan = assign_surge(eta, np.array([600.0, 600.0]), np.array([True, False]))
    assert plan.pairs == [] and plan.waiting == [0, 1] and plan.missed == 2
    assert math.isnan(plan.mean_eta_s)


def test_more_incidents_than_teams_waits_by_priority() -> None:
    # Two teams, four incidents. Incident 3 is vulnerable; incident 2 can only be reached late.
    eta = np.array([[600.0, 700.0],
                    [650.0, 500.0],
                    [2500.0, 2600.0],
                    [1500.0, 1400.0]])
    left = np.array([1800.0, 1800.0, 1800.0, 1800.0])
    vul = np.array([False, False, False, True])
    plan = assign_surge(eta, left, vul)
    _assert_valid(plan, eta, left)
    assert len(plan.pairs) == 2
    assert 3 in {i for i, _ in plan.pairs}  # vulnerable served
    assert 2 in plan.waiting  # hopeless one waits
    assert plan.missed == 2  # two of four wait; both pairs are on time


def test_more_teams_than_incidents_uses_the_fastest() -> None:
    eta = np.array([[900.0, 400.0, 800.0, 300.0, 1200.0]])
    plan = assign_surge(eta, np.array([1800.0]), np.array([False]))
    assert plan.pairs == [(0, 3)]
    assert plan.waiting == []
    assert assign_greedy(eta, np.array([1800.0])).pairs == [(0, 3)]


def test_overdue_incidents_are_still_served() -> None:
    eta = np.array([[600.0, 900.0], [300.0, 400.0]])
    left = np.array([-120.0, -60.0])
    plan = assign_surge(eta, left, np.zeros(2, dtype=bool))
    assert len(plan.pairs) == 2 and plan.missed == 2


def test_waiting_prefers_the_incident_with_more_slack() -> None:
    # One team: A is nearer but has an hour left; B has 20 minutes. Both are reachable in time.
    eta = np.array([[600.0], [900.0]])
    left = np.array([3600.0, 1200.0])
    plan = assign_surge(eta, left, np.zeros(2, dtype=bool))
    assert plan.pairs == [(1, 0)]


def test_empty_inputs() -> None:
    assert assign_surge(np.zeros((0, 3)), np.zeros(0), np.zeros(0, dtype=bool)).pairs == []
    plan = assign_surge(np.zeros((2, 0)), np.array([10.0, 10.0]), np.zeros(2, dtype=bool))
    assert plan.waiting == [0, 1] and plan.missed == 2
    assert assign_greedy(np.zeros((2, 0)), np.array([10.0, 10.0])).missed == 2


def test_greedy_follows_the_arrival_order() -> None:
    eta = np.array([[300.0, 900.0], [200.0, 2400.0]])
    left = np.array([1800.0, 1800.0])
    assert assign_greedy(eta, left, order=[1, 0]).pairs == [(0, 1), (1, 0)]
    assert assign_greedy(eta, left, order=[1]).waiting == [0]


@pytest.mark.parametrize(("eta", "left", "vul"), [
    (np.array([1.0, 2.0]), np.array([1.0]), np.array([False])),
    (np.array([[np.nan]]), np.array([1.0]), np.array([False])),
    (np.array([[-1.0]]), np.array([1.0]), np.array([False])),
    (np.array([[1.0]]), np.array([1.0, 2.0]), np.array([False])),
    (np.array([[1.0]]), np.array([1.0]), np.array([False, True])),
])
def test_bad_shapes_and_values_are_refused(eta: np.ndarray, left: np.ndarray,
                                           vul: np.ndarray) -> None:
    with pytest.raises(ValueError):
        assign_surge(eta, left, vul)


def test_greedy_refuses_a_bad_order() -> None:
    with pytest.raises(ValueError):
        assign_greedy(np.ones((2, 2)), np.ones(2), order=[0, 0])
    with pytest.raises(ValueError):
        assign_greedy(np.ones((2, 2)), np.ones(2), order=[2])


# ---- properties --------------------------------------------------------------------------------

def _tiers(eta: np.ndarray, left: np.ndarray, vul: np.ndarray, margin: float,
           choice: tuple[int | None, ...]) -> tuple[int, int, int, int]:
    """The four integer tiers of the documented objective for one complete choice."""
    vmiss = miss = vwait = unsafe = 0
    for i, j in enumerate(choice):
        e = INF if j is None else eta[i, j]
        on_time = e <= left[i]
        miss += not on_time
        vmiss += bool(vul[i]) and not on_time
        vwait += bool(vul[i]) and j is None
        unsafe += not e <= left[i] - margin
    return vmiss, miss, vwait, unsafe


def _best_tiers(eta: np.ndarray, left: np.ndarray, vul: np.ndarray, margin: float
                ) -> tuple[int, int, int, int]:
    n, m = eta.shape
    best: tuple[int, int, int, int] | None = None
    options = [None, *range(m)]
    for choice in itertools.product(options, repeat=n):
        used = [j for j in choice if j is not None]
        if len(set(used)) != len(used) or any(math.isinf(eta[i, j])
                                              for i, j in enumerate(choice) if j is not None):
            continue
        t = _tiers(eta, left, vul, margin, choice)
        best = t if best is None or t < best else best
    assert best is not None  # everybody waiting is always possible
    return best


_eta_value = st.one_of(st.just(INF), st.integers(60, 3000).map(float))


@st.composite
def _surges(draw: st.DrawFn, max_n: int = 6, max_m: int = 6
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = draw(st.integers(0, max_n))
    m = draw(st.integers(0, max_m))
    eta = np.array(draw(st.lists(st.lists(_eta_value, min_size=m, max_size=m),
                                 min_size=n, max_size=n)), dtype=float).reshape(n, m)
    left = np.array(draw(st.lists(st.integers(-300, 2400).map(float), min_size=n, max_size=n)))
    vul = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    return eta, left, vul


@settings(max_examples=300, deadline=None)
@given(_surges(), st.permutations(range(6)))
def test_global_never_misses_more_than_greedy(
        case: tuple[np.ndarray, np.ndarray, np.ndarray], perm: list[int]) -> None:
    eta, left, vul = case
    order = [i for i in perm if i < eta.shape[0]]
    plan = assign_surge(eta, left, vul)
    greedy = assign_greedy(eta, left, order=order)
    _assert_valid(plan, eta, left)
    _assert_valid(greedy, eta, left)
    assert plan.missed <= greedy.missed
    assert _vulnerable_missed(plan, list(vul)) <= _vulnerable_missed(greedy, list(vul))
    # No team idles while a waiting incident could use it.
    used = {j for _, j in plan.pairs}
    for i in plan.waiting:
        assert all(math.isinf(eta[i, j]) for j in range(eta.shape[1]) if j not in used)


@settings(max_examples=300, deadline=None)
@given(_surges(max_n=4, max_m=3), st.sampled_from([0.0, 300.0]), st.booleans())
def test_plan_is_the_lexicographic_optimum(
        case: tuple[np.ndarray, np.ndarray, np.ndarray], margin: float, vfirst: bool) -> None:
    eta, left, vul = case
    plan = assign_surge(eta, left, vul, safety_margin_s=margin, vulnerable_first=vfirst)
    served = dict(plan.pairs)
    choice = tuple(served.get(i) for i in range(eta.shape[0]))
    vmask = vul if vfirst else np.zeros_like(vul)
    assert _tiers(eta, left, vmask, margin, choice) == _best_tiers(eta, left, vmask, margin)
