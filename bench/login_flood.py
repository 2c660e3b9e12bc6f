"""Login flood (issue 12): the operator board's p50 (``GET /api/v1/incidents``) idle and while
20 clients send wrong passwords in parallel, against a real server subprocess (SQLite, 1 worker).

Three servers in one run: password checks on the bounded pool
(``RESCUE_PASSWORD_HASH_WORKERS=1``, the default) and, as the baseline of the old behaviour, a
pool of 40 (as many as the request threads: every login may hash at once), both with throttling
lifted (it would answer the flood with 429s after 20 failures and hide the cost being measured);
a third server runs the defaults, throttling on. Target: flood p50 within 2x idle.

Run: ``.venv/bin/python -m bench.login_flood [--requests 150]``.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import httpx
from sqlalchemy import text

from bench._server import login, percentiles_ms, running_server
from dispatch.db import make_engine, session_factory
from dispatch.migrate import upgrade
from tests import factories
from tests.dispatch import scenario


def board_p50(base: str, headers: dict[str, str], n: int) -> float:
    samples = []
    with httpx.Client(base_url=base, headers=headers, timeout=30) as c:
        for _ in range(n):
            t = time.perf_counter()
            c.get("/api/v1/incidents").raise_for_status()
            samples.append(time.perf_counter() - t)
    return percentiles_ms(samples)[0]


def flood(base: str, stop: threading.Event, counts: list[int]) -> None:
    with httpx.Client(base_url=base, timeout=60) as c:
        while not stop.is_set():
            r = c.post("/api/v1/auth/token", data={"username": "bench-op", "password": "nope"})
            counts.append(r.status_code)


def measure(url: str, workdir: Path, workers: int, n: int,
            throttle: bool = False) -> tuple[float, float, int]:
    env = {"RESCUE_DATABASE_URL": url, "RESCUE_SECRET_KEY": "bench" * 10,
           "RESCUE_RUN_JOBS": "false", "RESCUE_VAR_DIR": str(workdir),
           "RESCUE_PASSWORD_HASH_WORKERS": str(workers)}
    engine = make_engine(url)  # each server starts with an empty login audit
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM login_attempt"))
    engine.dispose()
    if not throttle:
        env |= {"RESCUE_LOGIN_MAX_FAILURES": "1000000",
                "RESCUE_LOGIN_MAX_FAILURES_PER_ADDRESS": "1000000"}
    with running_server(env) as base:
        headers = login(base, "bench-op", factories.PASSWORD)
        board_p50(base, headers, 20)  # warm up
        idle = board_p50(base, headers, n)
        stop, counts = threading.Event(), []
        threads = [threading.Thread(target=flood, args=(base, stop, counts)) for _ in range(20)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        busy = board_p50(base, headers, n)
        stop.set()
        for t in threads:
            t.join()
    assert set(counts) <= {401, 429}, set(counts)
    return idle, busy, len(counts)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=150)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="rescue-flood-"))
    url = f"sqlite:///{workdir / 'flood.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with session_factory(engine)() as s:
        scenario.build(s)
        factories.make_user(s, "operator", username="bench-op")
        s.commit()
    engine.dispose()
    rows = []
    for workers in (1, 40):
        idle, busy, logins = measure(url, workdir, workers, args.requests)
        rows.append((workers, idle, busy, logins))
        print(f"hash workers {workers:>2}: board p50 idle {idle:.2f} ms, during 20 parallel "
              f"wrong logins {busy:.2f} ms (×{busy / idle:.2f}); {logins} wrong logins answered")
    print(f"bounded pool vs unbounded during the flood: {rows[0][2]:.2f} vs {rows[1][2]:.2f} ms")
    idle, busy, logins = measure(url, workdir, 1, args.requests, throttle=True)
    print(f"defaults (throttling on): board p50 idle {idle:.2f} ms, during the flood "
          f"{busy:.2f} ms (×{busy / idle:.2f}); {logins} logins answered (401, then 429)")


if __name__ == "__main__":
    main()
