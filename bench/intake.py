"""Intake benchmark: 2,000 incidents over HTTP against a real server, SQLite and PostGIS.

Prints the fixture load time, then p50/p99 latency and requests/s of ``POST /api/v1/incidents``
for a mix of new reports and duplicate reports (merged into the open incident), and checks from
the database that exactly one incident per elevator was opened.

    python bench/intake.py [--requests 2000] [--postgres-url postgresql+psycopg://…/postgres]
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bench._server import fresh_database, login, percentiles_ms, running_server
from dispatch.db import make_engine
from dispatch.fixtures.loader import create_demo_users, load_taiyuan
from dispatch.migrate import upgrade
from dispatch.models import Elevator, Incident

PASSWORD = "bench-password"
console = Console(width=160)


def run_backend(kind: str, url: str, *, requests: int, elevators: int, concurrency: int,
                workdir: Path) -> dict[str, object]:
    engine = make_engine(url)
    upgrade(engine)
    t0 = time.perf_counter()
    load_taiyuan(engine, elevators=elevators)
    load_s = time.perf_counter() - t0
    with Session(engine) as s:
        create_demo_users(s, password=PASSWORD)
        s.commit()
        codes = list(s.scalars(select(Elevator.rescue_code).order_by(Elevator.id)))
    rng = random.Random(7)
    fresh = rng.sample(codes, int(requests * 0.7))
    plan: list[str] = []
    for code in fresh:
        plan.append(code)
        if len(plan) < requests and rng.random() < 0.43:
            plan.append(rng.choice(plan))  # a second caller for an open incident
    plan = plan[:requests]
    env = {"RESCUE_DATABASE_URL": url, "RESCUE_SECRET_KEY": "bench-secret-" + "x" * 32,
           "RESCUE_VAR_DIR": str(workdir / "var")}
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    with running_server(env) as base:
        headers = login(base, "operator1", PASSWORD)

        def worker(chunk: list[str]) -> list[tuple[float, int]]:
            out = []
            with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
                for code in chunk:
                    t = time.perf_counter()
                    r = client.post("/api/v1/incidents",
                                    json={"rescue_code": code, "channel": "call",
                                          "caller_phone": "13800138000", "trapped_count": 1})
                    out.append((time.perf_counter() - t, r.status_code))
            return out

        chunks = [plan[i::concurrency] for i in range(concurrency)]
        t0 = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            for result in pool.map(worker, chunks):
                for dt, status in result:
                    latencies.append(dt)
                    statuses[status] = statuses.get(status, 0) + 1
        wall = time.perf_counter() - t0
    with Session(engine) as s:
        opened = s.scalar(select(func.count()).where(Incident.merged_into_id.is_(None)))
        merged = s.scalar(select(func.count()).where(Incident.merged_into_id.is_not(None)))
    engine.dispose()
    p50, p99, mean = percentiles_ms(latencies)
    return {"backend": kind, "load_s": load_s, "n": len(latencies), "p50": p50, "p99": p99,
            "mean": mean, "rps": len(latencies) / wall, "statuses": statuses,
            "opened": opened, "merged": merged, "unique": len(set(plan))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--elevators", type=int, default=60_000)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--postgres-url", default=os.environ.get("RESCUE_TEST_POSTGRES_URL"))
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        kinds = ["sqlite"] + (["postgis"] if args.postgres_url else [])
        for kind in kinds:
            url = fresh_database(kind, workdir, args.postgres_url, "rescue_bench_intake")
            console.print(f"[bold]{kind}[/]: loading {args.elevators:,} elevators, "
                          f"then {args.requests:,} requests …")
            rows.append(run_backend(kind, url, requests=args.requests,
                                    elevators=args.elevators, concurrency=args.concurrency,
                                    workdir=workdir))
    table = Table(title=f"POST /api/v1/incidents, {args.concurrency} concurrent clients")
    for col in ("backend", "fixture load s", "requests", "p50 ms", "p99 ms", "mean ms", "req/s",
                "201/200", "incidents opened", "merged", "unique elevators"):
        table.add_column(col, justify="right")
    for r in rows:
        st = r["statuses"]
        table.add_row(str(r["backend"]), f"{r['load_s']:.1f}", str(r["n"]), f"{r['p50']:.1f}",
                      f"{r['p99']:.1f}", f"{r['mean']:.1f}", f"{r['rps']:.0f}",
                      f"{st.get(201, 0)}/{st.get(200, 0)}", str(r["opened"]), str(r["merged"]),
                      str(r["unique"]))
        assert r["opened"] == r["unique"], "one incident per elevator expected"
    console.print(table)
    console.print("targets: p50 ≤ 10 ms, p99 ≤ 30 ms (issue #2)")


if __name__ == "__main__":
    main()
