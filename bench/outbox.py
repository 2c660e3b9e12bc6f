"""Outbox benchmark (issue 5): what writing notification rows adds to a dispatch, and delivery
throughput through the fake Twilio with 20 % injected failures.

1. Overhead. On the Taiyuan fixtures (60,500 elevators, ~300 teams), confirm → committed offer
   for random elevators, alternating with and without the outbox hook in the same run (pairs,
   so drift hits both equally). The offer event writes two rows (team SMS + delayed voice call).
   Also reported: the hook's own time inside the transaction (wrapped with a timer).
2. Throughput. ``N`` notification rows are delivered by ``run_outbox`` through the real
   ``twilio`` client to :class:`notify.fake_twilio.FakeTwilio` answering 500 to a seeded 20 % of
   requests; retries follow the backoff (the simulated clock jumps to the next due row). Then
   checked: every row ends ``queued`` with the SID of exactly one message the fake created, the
   fake created exactly ``N`` messages with ``N`` distinct bodies (nothing lost, nothing sent
   twice). Baseline in the same run: the same ``N`` sends straight through the channel, no outbox,
   no failures.

    python -m bench.outbox [--incidents 300] [--messages 1000] [--postgres-url postgresql+psycopg://…]
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from sqlalchemy import delete, func, select

from bench._server import fresh_database, loaded_registry
from dispatch import lifecycle
from dispatch.db import make_engine, session_factory
from dispatch.dispatching.service import (
    DispatchContext,
    dispatch_incident,
    end_open_work,
    load_for_dispatch,
)
from dispatch.events import Actor, register_hook, transition
from dispatch.incidents.schemas import IncidentCreate
from dispatch.incidents.service import create_incident
from dispatch.models import Elevator
from dispatch.notifications import outbox
from dispatch.notifications.channels import Channels
from dispatch.notifications.delivery import run_outbox
from dispatch.notifications.models import Notification
from dispatch.settings import Settings
from dispatch.uow import unit_of_work
from notify.channel import Outbound
from notify.fake_twilio import FakeTwilio
from notify.log_channel import LogChannel
from notify.twilio_channel import TwilioConfig, TwilioSms, make_client

console = Console(width=160)


class _Timed:
    """Wraps the outbox hook to add up its own time."""

    def __init__(self) -> None:
        self.total = 0.0

    def __call__(self, *args: object) -> None:
        t0 = time.perf_counter()
        outbox.write_outbox(*args)  # type: ignore[arg-type]
        self.total += time.perf_counter() - t0


def overhead(url: str, *, incidents: int, cache_dir: Path) -> dict[str, float]:
    engine, factory, settings, router, elevator_ids = loaded_registry(url, cache_dir=cache_dir)
    rng = random.Random(5)
    actor = Actor("bench-operator", "operator")
    now = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    timed = _Timed()
    hooked = session_factory(engine)
    register_hook(hooked, timed)
    with_hook: list[float] = []
    without: list[float] = []
    hook_self: list[float] = []
    try:
        for k in range(2 * incidents + 20):
            on = k % 2 == 0
            now += timedelta(seconds=7)
            with factory() as s:
                inc, _ = create_incident(
                    s, data=IncidentCreate(elevator_id=rng.choice(elevator_ids),
                                           channel="call", trapped_count=1),
                    actor=actor, user_id=None, now=now, settings=settings)
                s.commit()
                incident_id = inc.id
            timed.total = 0.0
            t0 = time.perf_counter()
            with unit_of_work(hooked if on else factory) as s:
                incident = load_for_dispatch(s, incident_id)
                transition(s, incident, lifecycle.CONFIRMED, actor=actor, at=now)
                ctx = DispatchContext(settings=settings, router=router, now=now, actor=actor)
                dispatch_incident(s, incident, ctx=ctx)
            elapsed = time.perf_counter() - t0
            if k >= 20:
                (with_hook if on else without).append(elapsed)
                if on:
                    hook_self.append(timed.total)
            with factory() as s:
                incident = load_for_dispatch(s, incident_id)
                transition(s, incident, lifecycle.CANCELLED, actor=actor, at=now)
                end_open_work(s, incident, ctx=DispatchContext(
                    settings=settings, router=router, now=now, actor=actor), why="bench")
                s.commit()
        with factory() as s:
            rows = s.scalar(select(func.count()).select_from(Notification)) or 0
    finally:
        engine.dispose()
    w, wo, h = (np.array(x) * 1000 for x in (with_hook, without, hook_self))
    return {"n": len(w), "with_p50": float(np.median(w)), "without_p50": float(np.median(wo)),
            "with_mean": float(w.mean()), "without_mean": float(wo.mean()),
            "hook_p50": float(np.median(h)), "hook_p99": float(np.percentile(h, 99)),
            "rows": rows}


def throughput(url: str, *, messages: int, failure: float) -> dict[str, float]:
    engine = make_engine(url)
    factory = session_factory(engine)
    settings = Settings(database_url=url, run_jobs=False, secret_key="bench" * 10,
                        notify_max_tries=20, notify_retry_base_s=2.0, notify_timeout_s=5.0)
    now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    with factory() as s:
        s.execute(delete(Notification))  # the overhead phase's rows are not part of this
        inc, _ = create_incident(s, data=IncidentCreate(elevator_id=s.scalar(
            select(Elevator.id).limit(1)), channel="call"), actor=Actor("bench"),
            user_id=None, now=now, settings=settings)
        s.flush()
        s.add_all(Notification(
            incident_id=inc.id, channel="sms", recipient_kind="use_unit", to="+8613700000000",
            template="use_unit_notice", data={"address": f"测试地址#{i}", "rescue_code": "1",
                                              "eta_min": 9},
            status="pending", attempts=0, next_try_at=now, created_at=now)
            for i in range(messages))
        s.commit()
    with FakeTwilio(callbacks="manual") as fake:
        config = TwilioConfig(fake.account_sid, fake.auth_token, "+8635196333", fake.base_url,
                              timeout_s=5.0)
        sms = TwilioSms(config, make_client(config))
        # baseline: the same number of sends straight through the channel
        t0 = time.perf_counter()
        for i in range(messages):
            sms.send(Outbound("sms", "+8613700000000", f"baseline #{i}"))
        baseline_s = time.perf_counter() - t0
        fake.reset()
        fake.fail_ratio(failure, seed=7)
        channels = replace(Channels(LogChannel("sms"), LogChannel("voice"), None, "k"),
                           sms=sms)
        clock = now
        rng = random.Random(3)
        passes = 0
        t0 = time.perf_counter()
        while True:
            report = run_outbox(factory, settings=settings, now=clock, channels=channels,
                                rng=rng, limit=10 * messages)
            passes += 1
            with factory() as s:
                nxt = s.scalar(select(func.min(Notification.next_try_at))
                               .where(Notification.status == "pending"))
            if nxt is None:
                break
            clock = max(clock, nxt)
            del report
        outbox_s = time.perf_counter() - t0
        with factory() as s:
            rows = s.execute(select(Notification.status, Notification.provider_id,
                                    Notification.attempts)).all()
        received = fake.messages()
        failed_requests = sum(1 for _, _, st in fake.requests if st == 500)
    engine.dispose()
    sids = {r.sid for r in received}
    bodies = {r.body for r in received}
    assert all(st == "queued" for st, _, _ in rows), "a row did not end queued"
    assert {sid for _, sid, _ in rows} == sids, "a row's SID is not a created message"
    assert len(received) == messages == len(bodies), "lost or duplicated messages"
    return {"messages": messages, "outbox_s": outbox_s, "baseline_s": baseline_s,
            "rate": messages / outbox_s, "baseline_rate": messages / baseline_s,
            "failed_requests": failed_requests, "attempts": sum(a for _, _, a in rows),
            "passes": passes, "created": len(received), "distinct": len(bodies)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--incidents", type=int, default=300)
    ap.add_argument("--messages", type=int, default=1000)
    ap.add_argument("--failure", type=float, default=0.2)
    ap.add_argument("--cache-dir", type=Path, default=Path("var/geo-cache"))
    ap.add_argument("--postgres-url", default=os.environ.get("RESCUE_TEST_POSTGRES_URL"))
    args = ap.parse_args()
    over, thr = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ["sqlite"] + (["postgis"] if args.postgres_url else []):
            url = fresh_database(kind, Path(tmp), args.postgres_url, "rescue_bench_outbox")
            console.print(f"[bold]{kind}[/]: {args.incidents} dispatches with and without the "
                          f"outbox, then {args.messages} messages …")
            over.append((kind, overhead(url, incidents=args.incidents,
                                        cache_dir=args.cache_dir)))
            thr.append((kind, throughput(url, messages=args.messages, failure=args.failure)))
    t = Table(title="confirm → committed offer (ms), with vs without the outbox hook")
    for col in ("backend", "pairs", "p50 with", "p50 without", "Δ p50", "mean with",
                "mean without", "Δ mean", "hook self p50", "hook self p99", "rows written"):
        t.add_column(col, justify="right")
    for kind, r in over:
        t.add_row(kind, str(r["n"]), f"{r['with_p50']:.2f}", f"{r['without_p50']:.2f}",
                  f"{r['with_p50'] - r['without_p50']:+.2f}", f"{r['with_mean']:.2f}",
                  f"{r['without_mean']:.2f}", f"{r['with_mean'] - r['without_mean']:+.2f}",
                  f"{r['hook_p50']:.3f}", f"{r['hook_p99']:.3f}", str(r["rows"]))
    console.print(t)
    t = Table(title=f"delivery through the fake Twilio, {args.failure:.0%} injected 500s")
    for col in ("backend", "messages", "outbox msg/s", "direct msg/s (baseline)", "ratio",
                "500s answered", "attempts", "created", "distinct bodies", "loop passes"):
        t.add_column(col, justify="right")
    for kind, r in thr:
        t.add_row(kind, str(r["messages"]), f"{r['rate']:.0f}", f"{r['baseline_rate']:.0f}",
                  f"{r['rate'] / r['baseline_rate']:.2f}", str(r["failed_requests"]),
                  str(r["attempts"]), str(r["created"]), str(r["distinct"]), str(r["passes"]))
    console.print(t)
    console.print("target: outbox adds ≤ 1 ms to a dispatch; nothing lost, nothing sent twice")


if __name__ == "__main__":
    main()
