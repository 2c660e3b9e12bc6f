"""Routing benchmark (issue 3): one-to-many travel times, 300 teams → 1 incident.

One run, same graphs, same queries for every engine:

* graphs: the Taiyuan core graph and a synthetic k×k tiling of it (k=8 ≈ 914k nodes);
* engines: routingkit-cch (CCHManyToOne), scipy Dijkstra cut at the limit;
* baselines: scipy Dijkstra without limit, networkx, and pgRouting ``pgr_dijkstraCost`` when
  ``--database-url`` points at a PostgreSQL with the pgrouting extension.

Run: ``.venv/bin/python bench/routing.py [--tiles 8] [--queries 1000] [--database-url URL]``.
Heavy: run it alone (the machine has 2 cores).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from geo.distance import haversine_m  # noqa: E402
from geo.engines import CchEngine, ScipyEngine, cch_available, load_or_compute_order  # noqa: E402
from geo.network import (  # noqa: E402
    DRIVABLE_CLASSES,
    RoadNetwork,
    load_network,
    open_network,
    save_network,
)
from geo.router import make_router  # noqa: E402

Query = tuple[npt.NDArray[np.int64], int]


def rss_mb() -> float:
    """Resident memory of this process (Linux), to show what an engine adds."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def tile_network(base: RoadNetwork, k: int) -> RoadNetwork:
    """k×k copies of ``base`` side by side, neighbours joined by 24 two-way primary roads.

    Each copy is strongly connected and every joint is two-way, so the tiling is too.
    """
    lon0, lat0, lon1, lat1 = base.bbox
    dx, dy = (lon1 - lon0) * 1.02, (lat1 - lat0) * 1.02
    n, lon, lat = base.n_nodes, np.asarray(base.lon), np.asarray(base.lat)
    tail, head = base.tail.astype(np.int64), np.asarray(base.head, dtype=np.int64)
    east = np.argsort(lon)[-24:]
    west = np.argsort(lon)[:24]
    north = np.argsort(lat)[-24:]
    south = np.argsort(lat)[:24]
    east, west = east[np.argsort(lat[east])], west[np.argsort(lat[west])]
    north, south = north[np.argsort(lon[north])], south[np.argsort(lon[south])]
    lons, lats, tails, heads, lens, classes = [], [], [], [], [], []
    primary = DRIVABLE_CLASSES.index("primary")
    for i in range(k):
        for j in range(k):
            off = (i * k + j) * n
            lons.append(lon + i * dx)
            lats.append(lat + j * dy)
            tails.append(tail + off)
            heads.append(head + off)
            lens.append(np.asarray(base.length_m))
            classes.append(np.asarray(base.arc_class))
    all_lon, all_lat = np.concatenate(lons), np.concatenate(lats)
    for i in range(k):
        for j in range(k):
            off = (i * k + j) * n
            joints = []
            if i + 1 < k:
                joints.append((east + off, west + ((i + 1) * k + j) * n))
            if j + 1 < k:
                joints.append((north + off, south + (i * k + j + 1) * n))
            for a, b in joints:
                length = np.array([haversine_m(all_lon[u], all_lat[u], all_lon[v], all_lat[v])
                                   for u, v in zip(a, b, strict=True)])
                tails += [a, b]
                heads += [b, a]
                lens += [length, length]
                classes += [np.full(a.size, primary, np.uint8)] * 2
    return RoadNetwork.from_arcs(all_lon, all_lat, np.concatenate(tails), np.concatenate(heads),
                                 np.concatenate(lens), arc_class=np.concatenate(classes),
                                 source=f"{base.source} tiled {k}x{k}")


@dataclass
class Row:
    graph: str
    engine: str
    prep_s: float | None
    start_s: float | None
    mem_mb: float | None
    times_ms: list[float]
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.times_ms)

    @property
    def p99(self) -> float:
        return float(np.percentile(self.times_ms, 99))


def time_queries(fn: Callable[[npt.NDArray[np.int64], int], object], queries: list[Query]
                 ) -> tuple[list[float], list[object]]:
    out, res = [], []
    for sources, target in queries:
        t0 = time.perf_counter()
        res.append(fn(sources, target))
        out.append((time.perf_counter() - t0) * 1000.0)
    return out, res


def networkx_rows(net: RoadNetwork, queries: list[Query], graph: str) -> Row:
    import networkx as nx

    t0 = time.perf_counter()
    g = nx.DiGraph()
    g.add_weighted_edges_from(zip(np.asarray(net.head).tolist(), net.tail.tolist(),
                                  np.asarray(net.weight_ds).tolist(), strict=True))  # reversed
    build = time.perf_counter() - t0

    def q(sources: npt.NDArray[np.int64], target: int) -> list[float]:
        d = nx.single_source_dijkstra_path_length(g, target)
        return [d.get(int(s), np.inf) for s in sources]

    times, _ = time_queries(q, queries)
    return Row(graph, "networkx (reversed graph, full)", build, None, None, times)


def _libpq_url(url: str) -> str:
    """``postgresql+psycopg://…`` (SQLAlchemy style) → ``postgresql://…`` for psycopg."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme.split('+', 1)[0]}{sep}{rest}"


#: Arcs reversed in SQL: one search from the incident over the reversed graph reaches the teams
#: (pgRouting's many-to-one form instead runs one search per origin).
PG_REVERSED_SQL = "SELECT id, target AS source, source AS target, cost FROM bench_arcs"
PG_FORWARD_SQL = "SELECT id, source, target, cost FROM bench_arcs"


def pgrouting_row(net: RoadNetwork, queries: list[Query], graph: str, url: str,
                  ref: list[Any] | None, limit_ds: float,
                  many_to_one_queries: int) -> list[Row]:
    """``pgr_dijkstraCost`` on the same arcs and integer weights, in a scratch table.

    Fair form: one-to-many from the target over the reversed arcs (a single search, like ours).
    Also timed on a few queries: the literal many-to-one form ``(arcs, origins[], target)``,
    which pgRouting answers with one search per origin. Answers are checked against ``ref``.
    """
    import psycopg

    with psycopg.connect(_libpq_url(url), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pgrouting CASCADE")
        conn.execute("DROP TABLE IF EXISTS bench_arcs")
        conn.execute("CREATE UNLOGGED TABLE bench_arcs (id bigint, source bigint, "
                     "target bigint, cost double precision)")
        t0 = time.perf_counter()
        with conn.cursor().copy("COPY bench_arcs (id, source, target, cost) FROM STDIN") as cp:
            for a, (u, v, w) in enumerate(zip(net.tail.tolist(), np.asarray(net.head).tolist(),
                                              np.asarray(net.weight_ds).tolist(), strict=True)):
                cp.write_row((a, u, v, w))
        conn.execute("ANALYZE bench_arcs")
        prep = time.perf_counter() - t0

        def answer(rows: list[tuple[int, float]], sources: npt.NDArray[np.int64], target: int
                   ) -> npt.NDArray[np.float64]:
            got = dict(rows)
            got.setdefault(target, 0.0)  # pgRouting leaves out the (v, v) pair
            return np.array([got.get(int(s), np.inf) for s in sources], dtype=np.float64)

        def reversed_q(sources: npt.NDArray[np.int64], target: int) -> npt.NDArray[np.float64]:
            rows = conn.execute(
                "SELECT end_vid, agg_cost FROM pgr_dijkstraCost(%s, %s::bigint, "
                "%s::bigint[], directed => true)",
                (PG_REVERSED_SQL, int(target), sources.tolist())).fetchall()
            return answer(rows, sources, target)

        def many_to_one_q(sources: npt.NDArray[np.int64], target: int
                          ) -> npt.NDArray[np.float64]:
            rows = conn.execute(
                "SELECT start_vid, agg_cost FROM pgr_dijkstraCost(%s, %s::bigint[], "
                "%s::bigint, directed => true)",
                (PG_FORWARD_SQL, sources.tolist(), int(target))).fetchall()
            return answer(rows, sources, target)

        times, res = time_queries(reversed_q, queries)
        out = [Row(graph, "pgRouting pgr_dijkstraCost (reversed arcs, 1 search)", prep, None,
                   None, times)]
        m2o_q = queries[:many_to_one_queries]
        m2o_res: list[object] = []
        if m2o_q:
            m2o_times, m2o_res = time_queries(many_to_one_q, m2o_q)
            out.append(Row(graph, "  pgRouting many-to-one form (1 search per origin)", None,
                           None, None, m2o_times))
        conn.execute("DROP TABLE bench_arcs")
    # pgRouting has no limit: compare where ours is finite, and check it is over the limit
    # where ours is inf.
    if ref is not None:
        ok = 0
        for ours, theirs in zip(ref, [*res], strict=False):
            fin = np.isfinite(ours)
            ok += bool(np.array_equal(ours[fin], np.asarray(theirs)[fin])
                       and np.all(np.asarray(theirs)[~fin] > limit_ds))
        same_m2o = all(np.array_equal(a, b) for a, b in zip(res, m2o_res, strict=False))
        print(f"  pgRouting == cch on {ok}/{len(res)} queries (integer sums, exact); "
              f"many-to-one form == reversed form on {len(m2o_res)} queries: {same_m2o}")
    return out


def bench_graph(graph: str, net: RoadNetwork, args: argparse.Namespace,
                rng: np.random.Generator) -> list[Row]:
    n = net.n_nodes
    queries = [(rng.integers(0, n, args.origins), int(rng.integers(0, n)))
               for _ in range(args.queries)]
    few = queries[: args.baseline_queries]
    limit_ds = args.limit * 10.0
    rows: list[Row] = []
    print(f"\n[{graph}] {n:,} nodes, {net.n_arcs:,} arcs", flush=True)

    ref = None
    if cch_available():
        order_file = Path(net.cache_path or "") / "cch_order.npy"
        had_order = order_file.is_file()
        t0 = time.perf_counter()
        load_or_compute_order(net)
        order_s = time.perf_counter() - t0
        gc.collect()
        m0 = rss_mb()
        t0 = time.perf_counter()
        assert net.cache_path is not None
        fresh = open_network(net.cache_path)  # a restart: memory map + cached order + customise
        cch = CchEngine(fresh)
        start_s = time.perf_counter() - t0
        mem = rss_mb() - m0
        rush = fresh.with_speeds({c: v * 0.6 for c, v in fresh.speeds_kmh.items()})
        t0 = time.perf_counter()
        cch.set_weights(rush.weight_ds)
        reweight_s = time.perf_counter() - t0
        cch.set_weights(fresh.weight_ds)
        times, cch_res = time_queries(lambda s, t: cch.many_to_one(s, t, limit_ds), queries)
        note = (f"order {'cached' if had_order else f'computed {order_s:.1f}s'}; "
                f"re-weight {reweight_s * 1000:.0f} ms")
        rows.append(Row(graph, "routingkit-cch CCHManyToOne", None if had_order else order_s,
                        start_s, mem, times, note))
        router = make_router(fresh, engine="cch")
        pts = np.column_stack([np.asarray(fresh.lon), np.asarray(fresh.lat)])
        times, plain = time_queries(
            lambda s, t: router.travel_times(pts[s], pts[t], args.limit).seconds, queries)
        rows.append(Row(graph, "  cch via Router.travel_times (snap)", None, None, None, times))
        # Team bases do not move: snapped once (untimed), then only the incident is snapped.
        handles = {id(s): router.snap_points(pts[s]) for s, _ in queries}
        times, fast = time_queries(
            lambda s, t: router.travel_times(handles[id(s)], pts[t], args.limit).seconds,
            queries)
        rows.append(Row(graph, "  cch via Router.travel_times (pre-snapped origins)", None, None,
                        None, times, "new 300 origins each query"))
        bases = handles[id(queries[0][0])]
        times, _ = time_queries(
            lambda s, t: router.travel_times(bases, pts[t], args.limit).seconds, queries)
        rows.append(Row(graph, "  cch via Router.travel_times (pre-snapped, same bases)", None,
                        None, None, times, "one base set for every query"))
        base_pts = pts[queries[0][0]]
        times, _ = time_queries(
            lambda s, t: router.travel_times(base_pts, pts[t], args.limit).seconds, queries)
        rows.append(Row(graph, "  cch via Router.travel_times (coordinates, same bases)", None,
                        None, None, times, "snap of the last origin sets remembered"))
        same = all(np.array_equal(a, b) for a, b in zip(plain, fast, strict=True))
        print(f"  pre-snapped == plain Router.travel_times on all {len(queries)} queries: {same}")
        ref = cch_res

    gc.collect()
    m0 = rss_mb()
    t0 = time.perf_counter()
    sc = ScipyEngine(net)
    prep = time.perf_counter() - t0
    mem = rss_mb() - m0
    times, sc_res = time_queries(lambda s, t: sc.many_to_one(s, t, limit_ds), queries)
    rows.append(Row(graph, f"scipy dijkstra limit={args.limit:.0f}s", prep, None, mem, times))
    if ref is not None:
        same = all(np.array_equal(a, b) for a, b in zip(ref, sc_res, strict=True))
        best = all(np.argmin(a) == np.argmin(b) for a, b in zip(ref, sc_res, strict=True)
                   if np.isfinite(b).any())
        print(f"  cch == scipy on all {len(queries)} queries: {same}; same best team: {best}")

    times, _ = time_queries(lambda s, t: sc.many_to_one(s, t, None), few)
    rows.append(Row(graph, "scipy dijkstra, no limit (baseline)", None, None, None, times))
    if args.networkx_queries > 0:
        rows.append(networkx_rows(net, queries[: args.networkx_queries], graph))
    if args.database_url and args.pgrouting_queries > 0:
        rows += pgrouting_row(net, queries[: args.pgrouting_queries], graph, args.database_url,
                              ref if ref is not None else sc_res, limit_ds,
                              args.pgrouting_m2o_queries)
    for r in rows:
        print(f"  {r.engine}: median {r.median:.3f} ms ({len(r.times_ms)} q)", flush=True)
    return rows


def print_table(rows: list[Row]) -> None:
    by_graph: dict[str, list[Row]] = {}
    for r in rows:
        by_graph.setdefault(r.graph, []).append(r)
    print("\n| graph | engine | prep s | start s | mem MB | median ms | p99 ms | p99/med | "
          "× networkx | × scipy no-limit | × pgRouting | note |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for graph, rs in by_graph.items():
        def base(prefix: str, rs: list[Row] = rs) -> Row | None:
            return next((r for r in rs if r.engine.startswith(prefix)), None)

        nx_row, full_row, pg_row = base("networkx"), base("scipy dijkstra, no"), base("pgRouting")

        def ratio(r: Row, b: Row | None) -> str:
            if b is None or b is r:
                return "–"
            k = min(len(r.times_ms), len(b.times_ms))  # same (first k) queries
            x = statistics.median(b.times_ms[:k]) / statistics.median(r.times_ms[:k])
            return f"{x:,.0f}×" if x >= 10 else f"{x:.2f}×"

        for r in rs:
            def f(v: float | None, fmt: str = "{:.2f}") -> str:
                return "–" if v is None else fmt.format(v)

            print(f"| {graph} | {r.engine} | {f(r.prep_s)} | {f(r.start_s)} | "
                  f"{f(r.mem_mb, '{:.0f}')} | {r.median:.3f} | {r.p99:.3f} | "
                  f"{r.p99 / r.median:.1f} | {ratio(r, nx_row)} | {ratio(r, full_row)} | "
                  f"{ratio(r, pg_row)} | {r.note} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--roads",
                    default=str(ROOT / "fixtures/taiyuan/taiyuan_core_roads_osm.geojson"))
    ap.add_argument("--cache-dir", default=None,
                    help="graph + CCH order cache (default: a fresh temp dir)")
    ap.add_argument("--tiles", type=int, default=8, help="k for the k×k tiling (0: skip)")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--origins", type=int, default=300)
    ap.add_argument("--limit", type=float, default=1800.0, help="cut-off in seconds")
    ap.add_argument("--baseline-queries", type=int, default=100,
                    help="queries for scipy-without-limit and pgRouting")
    ap.add_argument("--networkx-queries", type=int, default=100,
                    help="queries for networkx on the core graph (a tenth on the tiling)")
    ap.add_argument("--database-url", default=None,
                    help="PostgreSQL with pgrouting (postgresql[+psycopg]://…)")
    ap.add_argument("--pgrouting-queries", type=int, default=100,
                    help="queries for pgRouting on the core graph (a tenth on the tiling)")
    ap.add_argument("--pgrouting-m2o-queries", type=int, default=10,
                    help="of those, queries also timed in pgRouting's many-to-one form "
                         "(one search per origin; a tenth on the tiling)")
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    cache = Path(args.cache_dir or tempfile.mkdtemp(prefix="geo-bench-"))
    rng = np.random.default_rng(args.seed)
    print(f"cache {cache}; {args.queries} queries × {args.origins} origins; "
          f"cch installed: {cch_available()}")
    rows: list[Row] = []
    core = load_network(args.roads, cache_dir=cache)
    rows += bench_graph("Taiyuan core", core, args, rng)
    if args.tiles > 1:
        tiled_dir = cache / f"tiled{args.tiles}-{Path(core.cache_path or 'x').name}"
        if not (tiled_dir / "meta.json").is_file():
            t0 = time.perf_counter()
            save_network(tile_network(core, args.tiles), tiled_dir)
            print(f"tiled graph built in {time.perf_counter() - t0:.1f}s")
        tiled = open_network(tiled_dir)
        saved = vars(args).copy()
        for name in ("networkx_queries", "pgrouting_queries", "pgrouting_m2o_queries"):
            q = getattr(args, name)
            setattr(args, name, max(1, q // 10) if q else 0)
        rows += bench_graph(f"tiled {args.tiles}×{args.tiles}", tiled, args, rng)
        vars(args).update(saved)
    print_table(rows)


if __name__ == "__main__":
    main()
