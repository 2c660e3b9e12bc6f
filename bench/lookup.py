"""Elevator lookup at province scale (issue 13): p50/p99 per keystroke at 500,000 elevators.

The keystroke mix is cut from random elevators of the generated registry, the way an operator
types: address prefixes without the city (小, 小店, 小店区, 小店区青年…), district and road
words of two characters, estate and building names, two-word queries, rescue-code keystrokes
(26, 262, … up to the full code, which is an exact hit) and registration codes. Each query runs
through ``lookup_elevators`` (the route's service call: codes, phone, words, then the rows with
their references), and the same queries through the lookup as it was before issue 13 (a LIKE scan
over the address), measured in the same run on the same database, query by query in turn so that
both see the same load of the shared machine. A query answers in one
statement plus the reference load, so the figure is what a keystroke costs the server.

The 500,000-elevator SQLite file is generated once and cached under ``var/bench/``; the PostGIS
database ``rescue_bench_lookup`` is filled from it once and kept while it holds the same rows.

    python -m bench.lookup [--elevators 500000] [--queries 150] [--postgres-url URL]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import time
from collections.abc import Callable, Sequence

from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, and_, func, or_, select, text
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session

from bench._registry500k import cached_sqlite, copy_registry
from bench._server import percentiles_ms
from dispatch.db import make_engine, recreate_postgres_database, session_factory
from dispatch.elevators import search
from dispatch.elevators.service import _with_refs, lookup_elevators
from dispatch.migrate import upgrade
from dispatch.models import Elevator

console = Console()
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PG_NAME = "rescue_bench_lookup"


def old_lookup(session: Session, query: str, *, limit: int = 20) -> list[Elevator]:
    """``lookup_elevators`` as it was before issue 13: the baseline."""
    q = query.strip()
    if re.match(r"^\d{5,7}$", q) or re.match(r"^\d{20}$", q):
        hits = session.scalars(_with_refs(select(Elevator)).where(
            or_(Elevator.rescue_code == q, Elevator.register_code == q))).all()
        if hits:
            return list(hits)
    words = [w for w in re.split(r"[\s,，]+", q) if w][:6]
    esc = [w.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") for w in words]
    stmt = (_with_refs(select(Elevator))
            .where(and_(*[Elevator.address.like(f"%{w}%", escape="\\") for w in esc]))
            .order_by(Elevator.address, Elevator.id).limit(limit))
    return list(session.scalars(stmt).unique().all())


def keystrokes(session: Session, n: int, seed: int = 13) -> list[tuple[str, str]]:
    """``(kind, query)`` pairs, ``n`` in all, from random elevators (fixed seed)."""
    rng = random.Random(seed)
    max_id = session.scalar(select(func.max(Elevator.id))) or 0
    out: list[tuple[str, str]] = []
    while len(out) < n:
        e = session.get(Elevator, rng.randint(1, max_id))
        if e is None:
            continue
        street = e.address.removeprefix("太原市")
        estate = re.sub(r"\d+号楼$", "", e.building) or e.building
        road = re.split(r"\d", street, maxsplit=1)[0]
        pick = rng.random()
        if pick < 0.30:
            k = rng.choice([1, 2, 3, 5, 7, 9, 12])
            out.append(("address prefix", street[:k]))
        elif pick < 0.45:
            out.append(("2-char word", rng.choice([street[:2], road[-3:-1] or road[:2],
                                                   estate[:2]])))
        elif pick < 0.60:
            out.append(("building", rng.choice([estate, e.building])))
        elif pick < 0.75:
            number = rng.choice(re.findall(r"\d+号", street) or ["1号"])
            out.append(("two words", f"{street[:2]} {estate}" if rng.random() < 0.5
                        else f"{road} {number}"))
        elif pick < 0.90:
            k = rng.choice([2, 3, 4, 5, 6])
            out.append(("rescue code keys", e.rescue_code[:k]))
        else:
            out.append(("register code", e.register_code))
    return out


def _time(session: Session, fns: Sequence[Callable[[Session, str], list[Elevator]]],
          queries: Sequence[str]) -> list[tuple[list[float], list[list[int]]]]:
    """Each query through each function in turn, so both see the same machine load."""
    out: list[tuple[list[float], list[list[int]]]] = [([], []) for _ in fns]
    for q in queries:
        for fn, (samples, answers) in zip(fns, out, strict=True):
            t0 = time.perf_counter()
            rows = fn(session, q)
            samples.append(time.perf_counter() - t0)
            answers.append([e.id for e in rows])
            session.expunge_all()
    return out


def explain(engine: Engine, session: Session) -> list[str]:
    """The plan of one selective and one short-word query (PostgreSQL: which index serves it)."""
    lines = []
    for q in ("精工府", "小店 精工府"):
        stmt = search._candidates(session, search.split_words(q))
        if stmt is None:
            continue
        sql = str(stmt.compile(engine, compile_kwargs={"literal_binds": True}))
        prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
        plan = [str(r[-1]) for r in session.execute(text(prefix + sql))]
        lines.append(f"{q}: " + " / ".join(p.strip() for p in plan))
    return lines


def run_backend(engine: Engine, queries: list[tuple[str, str]]) -> dict[str, object]:
    factory = session_factory(engine)
    texts = [q for _, q in queries]
    with factory() as s:
        _time(s, [lookup_elevators], texts)  # warm the page cache for the indexed path
        (new_t, new_a), (old_t, old_a) = _time(s, [lookup_elevators, old_lookup], texts)
        plans = explain(engine, s)
    per_kind: dict[str, list[float]] = {}
    for (kind, _), t in zip(queries, new_t, strict=True):
        per_kind.setdefault(kind, []).append(t)
    same = sum(a == b for a, b in zip(new_a, old_a, strict=True))
    return {"new": percentiles_ms(new_t), "old": percentiles_ms(old_t), "same": same,
            "per_kind": {k: percentiles_ms(v) for k, v in per_kind.items()}, "plans": plans}


def postgis_engine(server_url: str, source: Engine, elevators: int) -> Engine:
    """The kept PostGIS copy of the cached registry (rebuilt when it is missing or different)."""
    url = server_url.rsplit("/", 1)[0] + "/" + PG_NAME
    try:
        eng = make_engine(url)
        with eng.connect() as conn:
            have = conn.execute(text("SELECT count(*) FROM elevator")).scalar_one()
        if have == elevators:
            upgrade(eng)
            _vacuum(eng)
            return eng
        eng.dispose()
    except (OperationalError, ProgrammingError):  # no database or no tables yet
        pass
    eng = make_engine(recreate_postgres_database(server_url, PG_NAME))
    upgrade(eng)
    t0 = time.perf_counter()
    n = copy_registry(source, eng)
    console.print(f"copied {n:,} elevators to PostGIS in {time.perf_counter() - t0:.0f} s")
    _vacuum(eng)
    return eng


def _vacuum(engine: Engine) -> None:
    """Flush the GIN pending lists and refresh statistics, as autovacuum would after a load."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE elevator"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--elevators", type=int, default=500_000)
    ap.add_argument("--queries", type=int, default=150)
    ap.add_argument("--postgres-url", default=os.environ.get("RESCUE_BENCH_POSTGRES_URL",
                                                             DEFAULT_PG))
    ap.add_argument("--no-postgis", action="store_true")
    args = ap.parse_args()

    sqlite_engine, _ = cached_sqlite(args.elevators)
    with session_factory(sqlite_engine)() as s:
        queries = keystrokes(s, args.queries)
        total = s.scalar(select(func.count()).select_from(Elevator))
    backends: list[tuple[str, Engine]] = [("sqlite", sqlite_engine)]
    if not args.no_postgis:
        backends.append(("postgis", postgis_engine(args.postgres_url, sqlite_engine,
                                                   int(total or 0))))
    results = []
    for name, eng in backends:
        console.print(f"[bold]{name}[/]: {len(queries)} keystrokes on {total:,} elevators …")
        results.append((name, run_backend(eng, queries)))

    table = Table(title=f"lookup per keystroke at {total:,} elevators (ms)")
    for col in ("backend", "p50", "p99", "mean", "old LIKE p50", "old p99", "p50 ratio",
                "same answer"):
        table.add_column(col, justify="right")
    for name, r in results:
        new, old = r["new"], r["old"]
        table.add_row(name, f"{new[0]:.2f}", f"{new[1]:.2f}", f"{new[2]:.2f}", f"{old[0]:.1f}",
                      f"{old[1]:.1f}", f"{old[0] / new[0]:.0f}×",
                      f"{r['same']}/{len(queries)}")
    console.print(table)
    kinds = Table(title="indexed lookup by kind of keystroke: p50 / p99 (ms)")
    kinds.add_column("kind")
    for name, _ in results:
        kinds.add_column(name, justify="right")
    for kind in sorted({k for k, _ in queries}):
        n = sum(1 for k, _ in queries if k == kind)
        kinds.add_row(f"{kind} ({n})", *[
            "{:.2f} / {:.2f}".format(*r["per_kind"][kind][:2]) for _, r in results])
    console.print(kinds)
    for name, r in results:
        for line in r["plans"]:
            console.print(f"{name} plan  {line}")
    console.print("target: p50 ≤ 10 ms (issue #13). 'same answer': identical ids to the old "
                  "query (differences: building-only matches, and broad queries past the cap)")


if __name__ == "__main__":
    main()
