"""Surge benchmark (issue 4): area power cut, 200 entrapments in one district, 40 free teams.

Scenario. All entrapments are reported at once (common clock start, 30-min arrival limit), in a
random report order; ~10 % have vulnerable people on board. The free teams are a seeded sample
of the on-duty teams based in the district, starting from their bases. Since there are five
times more incidents than teams, the run is a small event simulation: a team that arrives spends
5–10 min on site (drawn per incident, the same for both policies), then is free *at that
elevator* and takes the next assignment. Every ETA is turnout (120 s, also between jobs: the
crew packs up and walks back to the van) + real road travel time on the Taiyuan drive graph.

Policies, same simulation:

* global — :func:`dispatch.surge.assign_surge` over all still-waiting incidents and the teams free
  at that moment, re-run whenever teams free up;
* first-come — :func:`dispatch.surge.assign_greedy`: waiting incidents in report order, each takes
  the fastest free team (what one-by-one ranking does under load);
* first-come, vulnerable reports first — the same with vulnerable incidents moved to the front of
  the queue (what an attentive operator does by hand); shown to separate the gain of the global
  assignment from that of the priority alone.

Arrival time is measured from the common start. Deterministic for a given ``--seed``.
Run: ``.venv/bin/python -m bench.surge [--seed 1] [--repeat 5] [--cache-dir var/geo-cache]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dispatch.fixtures.taiyuan import DEFAULT_SEED, Registry, generate  # noqa: E402
from dispatch.surge import SurgePlan, assign_greedy, assign_surge  # noqa: E402
from geo.network import load_network  # noqa: E402
from geo.router import Router, make_router  # noqa: E402

ROADS = ROOT / "fixtures" / "taiyuan" / "taiyuan_core_roads_osm.geojson"

#: ``policy(eta_s, time_left_s, vulnerable) -> plan``; rows are waiting incidents in report order.
Policy = Callable[[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.bool_]],
                  SurgePlan]


@dataclass(frozen=True)
class Scenario:
    """One seeded surge: who is trapped, who can come, and how long everything takes."""

    travel_s: npt.NDArray[np.float64]  # (teams + incidents) positions × incidents, road seconds
    n_teams: int
    vulnerable: npt.NDArray[np.bool_]  # per incident, in report order
    onsite_s: npt.NDArray[np.float64]  # per incident
    turnout_s: float
    limit_s: float
    district: str


@dataclass(frozen=True)
class Outcome:
    """Arrival time of every incident (seconds from the common start) and solver effort."""

    arrival_s: npt.NDArray[np.float64]
    rounds: int
    solve_s: float
    first_round_eta_s: float  # mean ETA of the opening assignment (all teams free at their bases)


def build_scenario(router: Router, reg: Registry, seed: int, *, district: str,
                   incidents: int, teams: int, vulnerable_share: float, turnout_s: float,
                   limit_min: float, onsite_min: tuple[float, float]) -> Scenario:
    """Sample the incidents and teams and compute all road travel times once.

    Rows of ``travel_s``: the team bases first, then the incident elevators (where a team is
    once it has finished a job there); columns: the incident elevators.
    """
    zone_id = next(z["id"] for z in reg.zones if z["name"] == district)
    rng = np.random.default_rng(seed)
    lifts = [e for e in reg.elevators if e["zone_id"] == zone_id and e["in_service"]]
    pick = rng.choice(len(lifts), size=incidents, replace=False)  # also the report order
    lift_pts = np.array([lifts[i]["location"] for i in pick], dtype=np.float64)
    crews = [t for t in reg.teams if t["district"] == district and t["on_duty"]]
    if len(crews) < teams:
        raise SystemExit(f"only {len(crews)} on-duty teams in {district}, asked for {teams}")
    crew_pts = np.array([crews[i]["base_location"]
                         for i in sorted(rng.choice(len(crews), size=teams, replace=False))],
                        dtype=np.float64)
    vulnerable = np.zeros(incidents, dtype=bool)
    vulnerable[rng.choice(incidents, size=round(vulnerable_share * incidents),
                          replace=False)] = True
    onsite = rng.uniform(onsite_min[0] * 60.0, onsite_min[1] * 60.0, size=incidents)
    travel = router.matrix(np.vstack([crew_pts, lift_pts]), lift_pts)
    return Scenario(travel, teams, vulnerable, onsite, turnout_s, limit_min * 60.0, district)


def simulate(sc: Scenario, policy: Policy) -> Outcome:
    """Event simulation: decide whenever teams are free and incidents wait, until all are served.

    The policy only sees the teams free at that instant (a busy team's finishing time is not
    known for sure in practice), and its pairs are booked at once.
    """
    n = sc.vulnerable.shape[0]
    position = np.arange(sc.n_teams)  # row of travel_s where each team is
    free_at = np.zeros(sc.n_teams)
    waiting = list(range(n))  # report order
    arrival = np.full(n, np.inf)
    now, rounds, solve, first = 0.0, 0, 0.0, float("nan")
    while waiting:
        free = np.flatnonzero(free_at <= now)
        if free.size:
            eta = sc.travel_s[np.ix_(position[free], waiting)].T + sc.turnout_s
            left = np.full(len(waiting), sc.limit_s - now)
            t0 = time.perf_counter()
            plan = policy(eta, left, sc.vulnerable[waiting])
            solve += time.perf_counter() - t0
            rounds += 1
            if rounds == 1:
                first = plan.mean_eta_s
            for (row, col), e in zip(plan.pairs, plan.eta_s, strict=True):
                inc, team = waiting[row], int(free[col])
                arrival[inc] = now + e
                free_at[team] = arrival[inc] + sc.onsite_s[inc]
                position[team] = sc.n_teams + inc
            served = {waiting[row] for row, _ in plan.pairs}
            waiting = [i for i in waiting if i not in served]
            if not plan.pairs and free.size == sc.n_teams:
                raise RuntimeError("no team can reach the waiting incidents")
        busy = free_at[free_at > now]
        if waiting and busy.size:
            now = float(busy.min())
    return Outcome(arrival, rounds, solve, first)


def global_policy(eta: npt.NDArray[np.float64], left: npt.NDArray[np.float64],
                  vulnerable: npt.NDArray[np.bool_]) -> SurgePlan:
    return assign_surge(eta, left, vulnerable)


def greedy_policy(eta: npt.NDArray[np.float64], left: npt.NDArray[np.float64],
                  vulnerable: npt.NDArray[np.bool_]) -> SurgePlan:
    return assign_greedy(eta, left)  # rows are already in report order


def greedy_vulnerable_policy(eta: npt.NDArray[np.float64], left: npt.NDArray[np.float64],
                             vulnerable: npt.NDArray[np.bool_]) -> SurgePlan:
    order = [*np.flatnonzero(vulnerable), *np.flatnonzero(~vulnerable)]  # stable within each
    return assign_greedy(eta, left, order=order)


POLICIES: dict[str, Policy] = {
    "global": global_policy,
    "first-come": greedy_policy,
    "fc-vul-first": greedy_vulnerable_policy,
}


def summarise(sc: Scenario, out: Outcome) -> dict[str, float]:
    late = out.arrival_s > sc.limit_s
    return {
        "missed": float(late.sum()),
        "missed_vul": float(late[sc.vulnerable].sum()),
        "mean_min": float(out.arrival_s.mean()) / 60.0,
        "p90_min": float(np.percentile(out.arrival_s, 90)) / 60.0,
        "vul_mean_min": float(out.arrival_s[sc.vulnerable].mean()) / 60.0,
        "last_min": float(out.arrival_s.max()) / 60.0,
        "first_eta_min": out.first_round_eta_s / 60.0,
        "rounds": float(out.rounds),
        "solve_ms": out.solve_s * 1e3,
    }


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else ("–" if a == 0 else "∞")


ROWS = [("missed deadlines (all)", "missed", "{:.0f}"),
        ("missed deadlines (vulnerable)", "missed_vul", "{:.0f}"),
        ("mean arrival, min", "mean_min", "{:.1f}"),
        ("p90 arrival, min", "p90_min", "{:.1f}"),
        ("vulnerable mean arrival, min", "vul_mean_min", "{:.1f}"),
        ("last arrival, min", "last_min", "{:.1f}"),
        ("opening round: mean ETA, min", "first_eta_min", "{:.2f}"),
        ("decision rounds", "rounds", "{:.0f}"),
        ("solver time total, ms", "solve_ms", "{:.0f}")]


def table(results: dict[str, dict[str, float]], rows: list[tuple[str, str, str]]) -> None:
    """One column per policy, then global ÷ first-come (the ratio the issue asks for)."""
    names = list(results)
    print(f"{'':32}" + "".join(f"{n:>14}" for n in names) + f"{'global/fc':>11}")
    for label, key, fmt in rows:
        cells = "".join(f"{fmt.format(results[n][key]):>14}" for n in names)
        print(f"{label:32}{cells}"
              f"{_ratio(results['global'][key], results['first-come'][key]):>11}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=1, help="scenario seed (first of --repeat)")
    ap.add_argument("--repeat", type=int, default=5, help="scenarios with seeds seed, seed+1, …")
    ap.add_argument("--registry-seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--district", default="小店区")
    ap.add_argument("--incidents", type=int, default=200)
    ap.add_argument("--teams", type=int, default=40)
    ap.add_argument("--vulnerable-share", type=float, default=0.10)
    ap.add_argument("--turnout-s", type=float, default=120.0)
    ap.add_argument("--limit-min", type=float, default=30.0)
    ap.add_argument("--onsite-min", type=float, nargs=2, default=(5.0, 10.0))
    ap.add_argument("--cache-dir", default=str(ROOT / "var" / "geo-cache"))
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    router = make_router(load_network(ROADS, cache_dir=args.cache_dir))
    reg = generate(seed=args.registry_seed)
    runs: list[dict[str, dict[str, float]]] = []
    for seed in range(args.seed, args.seed + args.repeat):
        sc = build_scenario(router, reg, seed, district=args.district,
                            incidents=args.incidents, teams=args.teams,
                            vulnerable_share=args.vulnerable_share, turnout_s=args.turnout_s,
                            limit_min=args.limit_min,
                            onsite_min=(args.onsite_min[0], args.onsite_min[1]))
        results = {name: summarise(sc, simulate(sc, pol)) for name, pol in POLICIES.items()}
        runs.append(results)
        print(f"\nseed {seed}: {args.incidents} entrapments in {sc.district} "
              f"({int(sc.vulnerable.sum())} vulnerable), {sc.n_teams} free teams, limit "
              f"{sc.limit_s / 60:.0f} min, turnout {sc.turnout_s:.0f} s")
        table(results, ROWS)
    if len(runs) > 1:
        print(f"\nmean over {len(runs)} seeds:")
        mean = {n: {k: float(np.mean([r[n][k] for r in runs])) for _, k, _ in ROWS}
                for n in POLICIES}
        table(mean, [(label, key, "{:.1f}") for label, key, _ in ROWS[:7]])
    print(f"\nwall time {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
