"""Planning benchmark (issue 17) on the Taiyuan fixture: 60,500 elevators, ~300 team bases.

Four figures, each next to a naive baseline measured in the same run:

* full coverage — one multi-source search from every base (``geo.coverage.compute_coverage``)
  vs one search per elevator (what asking the dispatch router elevator by elevator does;
  CCH many-to-one from all bases, timed on a sample and scaled to the register);
* one added station — ``geo.coverage.add_station`` (one search from the new base) vs a full
  recomputation with the station added;
* suggest 10 stations — the greedy set cover over ~400 candidate nodes
  (``geo.coverage.suggest_stations``) vs the naive greedy that scores each candidate by a
  full recomputation (timed on a sample of candidates for one round, scaled to 10 rounds);
* replay of 90 days — ``dispatch.planning.simulate`` (live policy + surge code) with the CCH
  router vs the same replay with scipy Dijkstra per decision.

The 90-day history here is synthetic (0.1 entrapments per elevator-year, the demo's hour
weights), so the bench needs no database; ``rescue plan replay`` on the demo history is the
end-to-end figure. Run: ``.venv/bin/python -m bench.planning [--cache-dir var/geo-cache]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dispatch.dispatching.service import team_level  # noqa: E402
from dispatch.fixtures.taiyuan import generate  # noqa: E402
from dispatch.planning import simulate as sim  # noqa: E402
from dispatch.policy import PolicyConfig  # noqa: E402
from dispatch.reports.demo_history import HOUR_WEIGHTS  # noqa: E402
from geo.coverage import (  # noqa: E402
    add_station,
    candidate_nodes,
    compute_coverage,
    snap_elevators,
    suggest_stations,
)
from geo.network import load_network  # noqa: E402
from geo.router import GraphRouter, make_router  # noqa: E402

ROADS = ROOT / "fixtures" / "taiyuan" / "taiyuan_core_roads_osm.geojson"
LIMIT_S = 1800.0 - 120.0 - 300.0  # urban limit − turnout − safety margin: the "safe" band


def best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    out, times = None, []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def history(reg: Any, days: int, seed: int) -> list[sim.SimIncident]:
    rng = np.random.default_rng(seed)
    lifts = [e for e in reg.elevators if e["in_service"]]
    zone = {z["id"]: z for z in reg.zones}
    n = int(rng.poisson(len(lifts) * 0.1 / 365.25 * days))
    p = HOUR_WEIGHTS / HOUR_WEIGHTS.sum()
    t0 = 1_788_000_000.0
    day = rng.integers(0, days, n)
    hour = rng.choice(24, n, p=p)
    at = np.sort(t0 + day * 86400 + hour * 3600 + rng.uniform(0, 3600, n))
    out = []
    for k, i in enumerate(rng.choice(len(lifts), n)):
        e = lifts[int(i)]
        z = zone[e["zone_id"]]
        out.append(sim.SimIncident(k, float(at[k]), e["location"].lon, e["location"].lat,
                                   z["name"], z["arrival_limit_min"], z["clock_start"],
                                   e["maintenance_company_id"], bool(rng.random() < 0.1)))
    return out


def replay(router: GraphRouter, teams: list[sim.SimTeam], incidents: list[sim.SimIncident],
           seed: int) -> list[sim.SimOutcome]:
    bases = router.snap_points(np.array([(t.lon, t.lat) for t in teams]))
    targets = router.snap_points(np.array([(i.lon, i.lat) for i in incidents]))

    def travel(idx: Sequence[int], i: int) -> npt.NDArray[np.float64]:
        return router.travel_times(bases[list(idx)], targets[i]).seconds

    cfg = PolicyConfig()
    rng = np.random.default_rng(seed)
    params = sim.SimParams(config_for=lambda z: cfg, level_of=team_level, surge_min_waiting=5,
                           redispatch_retry_s=60, dispatch_delay_s=rng.uniform(15, 90, 500),
                           accept_delay_s=rng.gamma(2.0, 35.0, 500),
                           onsite_s=rng.gamma(2.2, 132.0, 500), seed=seed)
    return sim.simulate(teams, incidents, travel, params)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache-dir", type=Path, default=ROOT / "var" / "geo-cache")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--sample", type=int, default=2000, help="elevators for the naive search")
    args = ap.parse_args()

    net = load_network(ROADS, cache_dir=args.cache_dir)
    reg = generate()
    kinds = {o["id"]: o["kind"] for o in reg.organizations}
    el = np.array([(e["location"].lon, e["location"].lat) for e in reg.elevators
                   if e["in_service"]])
    crews = [t for t in reg.teams if t["on_duty"]
             and kinds[t["organization_id"]] in ("maintenance_company", "rescue_station")]
    st = np.array([(t["base_location"].lon, t["base_location"].lat) for t in crews])
    print(f"Taiyuan: {el.shape[0]:,} elevators, {st.shape[0]} bases, {net.n_nodes:,} nodes")
    rows: list[tuple[str, float, float, str]] = []

    # 1. full coverage vs one search per elevator
    t_full, res = best(lambda: compute_coverage(net, st, el, limit_s=LIMIT_S), args.repeat)
    router = make_router(net, engine="auto")
    assert isinstance(router, GraphRouter)
    bases = router.snap_points(st)
    sample = el[np.random.default_rng(1).choice(el.shape[0], args.sample, replace=False)]
    t0 = time.perf_counter()
    naive = np.array([router.travel_times(bases, tuple(p), limit_s=LIMIT_S).seconds.min()
                      for p in sample])
    t_naive = (time.perf_counter() - t0) / args.sample * el.shape[0]
    ref = compute_coverage(net, st, sample, limit_s=LIMIT_S)
    agree = float(np.mean(ref.covered == (naive <= LIMIT_S)))
    rows.append(("full coverage", t_full, t_naive,
                 f"{res.covered_share:.1%} covered; per-elevator {router.engine_name} "
                 f"({args.sample} timed, scaled); agreement {agree:.2%}"))

    # 2. one added station: one search vs recomputation
    snapped = snap_elevators(net, el)
    rng = np.random.default_rng(2)
    new = el[rng.choice(np.flatnonzero(~res.covered))] if (~res.covered).any() else el[0]
    t_add, added = best(lambda: add_station(net, res, snapped, tuple(new), index=len(st)),
                        args.repeat * 5)
    t_re, full = best(lambda: compute_coverage(net, np.vstack([st, new]), el, limit_s=LIMIT_S),
                      args.repeat)
    assert np.array_equal(added.covered, full.covered)
    rows.append(("one added station", t_add, t_re,
                 f"+{int(added.covered.sum() - res.covered.sum())} covered; equals recompute"))

    # 3. suggest 10
    cand = candidate_nodes(net)
    t_sug, picks = best(lambda: suggest_stations(net, el, 10, limit_s=LIMIT_S, coverage=res,
                                                 candidates=cand), 1)
    few = cand[:10]
    t0 = time.perf_counter()
    for c in few:
        compute_coverage(net, np.vstack([st, [(net.lon[c], net.lat[c])]]), el, limit_s=LIMIT_S)
    t_naive_sug = (time.perf_counter() - t0) / few.size * cand.size * 10
    after = picks[-1].covered_share_after if picks else res.covered_share
    rows.append(("suggest 10 stations", t_sug, t_naive_sug,
                 f"{cand.size} candidates; {res.covered_share:.2%} → {after:.2%}; naive: a "
                 "recomputation per candidate and round (10 timed, scaled)"))

    # 4. replay 90 days
    teams = [sim.SimTeam(t["id"], t["name"], t["organization_id"], kinds[t["organization_id"]],
                         t["base_location"].lon, t["base_location"].lat) for t in reg.teams
             if kinds[t["organization_id"]] in sim.MAIN_KINDS]
    incidents = history(reg, 90, args.seed)
    t_rep, out = best(lambda: replay(router, teams, incidents, args.seed), 1)
    scipy_router = make_router(net, engine="scipy")
    assert isinstance(scipy_router, GraphRouter)
    t_rep_naive, out2 = best(lambda: replay(scipy_router, teams, incidents, args.seed), 1)
    f = sim.figures([(o.zone, sim.kpi_row(o)) for o in out], days=90)
    same = float(np.mean([a.team_id == b.team_id for a, b in zip(out, out2, strict=True)]))
    rows.append(("replay 90 days", t_rep, t_rep_naive,
                 f"{len(incidents):,} entrapments, {len(teams)} teams; within limit "
                 f"{f['arrival_within_limit_rate']:.1%}, P50 {f['arrival_p50_s'] / 60:.1f} min; "
                 f"baseline: scipy Dijkstra per decision (same team chosen: {same:.1%})"))

    print(f"\n{'figure':<22}{'time':>10}{'baseline':>12}{'speed-up':>10}  note")
    for name, t, b, note in rows:
        print(f"{name:<22}{t * 1000:>8.1f}ms{b * 1000:>10.0f}ms{b / t:>9.1f}×  {note}")


if __name__ == "__main__":
    main()
