"""Alarm storm: 5,000 terminals send 20,000 events within 60 s to a real server on PostGIS.

The storm mixes area power-cut bursts (two districts lose mains power; a third of their lifts
then report entrapments, alarm buttons and "back to normal"), ordinary entrapments whose
terminals re-send the alarm until someone reacts, lifts in inspection that raise alarms, faults,
unknown vendor codes, whole batches resent (a lost response) and events repeated inside a batch.

Two runs, each on a fresh database and a fresh server (2 uvicorn workers, Redis event bus):
- **paced**: every batch is sent at its planned time within the window (what a real storm
  looks like); prints the API's p50/p99 and checks the console stream stays live (pings and
  live events on ``/api/v1/stream`` during the storm);
- **flat out**: the same batches as fast as the server answers (capacity, events/s), and a
  baseline measured right after on the same server: the same kind of events sent one per
  request (no batching).

After each run the database is checked: every distinct ``(device, event_id)`` is stored exactly
once, no other row exists, and exactly one incident is open per lift with a dispatchable
entrapment (none for the others, none merged).

    .venv/bin/python -m bench.alarm_storm [--postgres-url postgresql+psycopg://postgres@127.0.0.1/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from rich.console import Console
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bench._server import fresh_database, login, percentiles_ms, running_server
from dispatch.db import make_engine
from dispatch.fixtures.loader import create_demo_users, load_taiyuan
from dispatch.migrate import upgrade
from dispatch.models import Elevator, Incident
from dispatch.telemetry.models import Alarm, Device
from dispatch.telemetry.signing import new_secret, seal, sign

APP_SECRET = "bench-secret-" + "s" * 40
PASSWORD = "bench-password"
console = Console(width=150)


@dataclass
class Plan:
    batches: list[tuple[float, str, list[dict[str, Any]]]]  # (send at s, device, events)
    unique: set[tuple[str, str]]
    sent_events: int
    expected_incident_lifts: set[int]
    power_cut_zones: set[int]
    counts: Counter[str] = field(default_factory=Counter)


def _ev(eid: str, code: str, at: float, **kw: Any) -> dict[str, Any]:
    return {"event_id": eid, "code": code, "occurred_at": at, **kw}


def make_plan(lifts: list[tuple[int, int]], devices: dict[int, str], *, events: int,
              window: float, seed: int) -> Plan:
    """Batches with send offsets (seconds) and occurred_at offsets (filled in at send time)."""
    rng = random.Random(seed)
    by_zone: dict[int, list[int]] = {}
    for lift, zone in lifts:
        by_zone.setdefault(zone, []).append(lift)
    big = sorted(by_zone, key=lambda z: len(by_zone[z]), reverse=True)[:2]
    per_lift: dict[int, list[tuple[float, list[dict[str, Any]]]]] = {}
    expected: set[int] = set()
    counts: Counter[str] = Counter()
    seq = Counter[int]()

    def eid(lift: int) -> str:
        seq[lift] += 1
        return f"{seq[lift]:06d}"

    cut_lifts = {lift for z in big for lift in by_zone[z][:700]}
    others = [lift for lift, _ in lifts if lift not in cut_lifts]
    rng.shuffle(others)
    trapped_lifts = set(others[:600])
    inspection_lifts = set(others[600:850])
    last = window - 0.01
    for i, z in enumerate(big):  # power-cut bursts, then entrapments and "back to normal"
        t_cut = window * (0.1 + 0.3 * i)
        for lift in by_zone[z][:700]:
            t = t_cut + rng.uniform(0, window * 0.2)
            batch = [_ev(eid(lift), rng.choice(["41", "power_cut"]), t)]
            counts["power_lost"] += 1
            per_lift.setdefault(lift, []).append((t + rng.uniform(0.2, 2), batch))
            if rng.random() < 0.35:
                t2 = t + rng.uniform(window * 0.05, window * 0.15)
                alarm = [_ev(eid(lift), rng.choice(["11", "trapped_between_floors"]), t2,
                             passenger_present=True)]
                if rng.random() < 0.5:
                    alarm.append(_ev(eid(lift), "90", t2 + 2, detail={"held_s": 8}))
                expected.add(lift)
                counts["entrapment_lifts"] += 1
                per_lift[lift].append((t2 + rng.uniform(0.2, 2), alarm))
                if rng.random() < 0.3:
                    back = [_ev(eid(lift), "40", min(t2 + rng.uniform(10, 50), last - 1))]
                    per_lift[lift].append((min(back[0]["occurred_at"] + 0.5, last), back))
    for lift in trapped_lifts:  # an entrapment re-sent every ~10 s until acknowledged
        t = rng.uniform(0, window - 25)
        expected.add(lift)
        counts["entrapment_lifts"] += 1
        for k in range(rng.randint(2, 3)):
            per_lift.setdefault(lift, []).append(
                (t + 10 * k + 0.3, [_ev(eid(lift), "11", t + 10 * k, floor=rng.randint(1, 30))]))
    for lift in inspection_lifts:  # the maintainer's test alarm is filtered
        t = rng.uniform(0, window - 10)
        counts["inspection_lifts"] += 1
        per_lift.setdefault(lift, []).append(
            (t + 6, [_ev(eid(lift), "43", t), _ev(eid(lift), "11", t + 5)]))
    # fill with faults, modes and unknown codes up to the event budget (resends included)
    noise = ["02", "03", "04", "07", "R:ebike", "door_blocking", "overspeed", "63", "99",
             "vendor_thermal_warning"]  # faults only: a mode change would alter the filtering
    all_lifts = [lift for lift, _ in lifts]
    planned = sum(len(b) for v in per_lift.values() for _, b in v)
    budget = int(events * 0.85)  # ~15 % of the sent events are resends and repeats
    for lift in all_lifts:  # every terminal sends at least once
        if lift not in per_lift:
            t = rng.uniform(0, window - 1)
            per_lift[lift] = [(t + 0.3, [_ev(eid(lift), rng.choice(noise), t)])]
            planned += 1
    while planned < budget:
        lift = rng.choice(all_lifts)
        t = rng.uniform(0, window - 1)
        n = rng.randint(1, 4)
        per_lift[lift].append((t + 0.5, [_ev(eid(lift), rng.choice(noise), t + 0.1 * j)
                                         for j in range(n)]))
        planned += n
    unique = {(devices[lift], e["event_id"]) for lift, v in per_lift.items()
              for _, b in v for e in b}
    batches: list[tuple[float, str, list[dict[str, Any]]]] = []
    for lift, items in per_lift.items():
        for send_at, batch in items:
            batches.append((min(send_at, last), devices[lift], batch))
    sent = sum(len(b) for _, _, b in batches)
    while sent < events:  # resends (the response was lost) and repeats inside a batch
        send_at, dev, batch = rng.choice(batches)
        if rng.random() < 0.8:
            batches.append((min(send_at + rng.uniform(0.5, 3), window - 0.01), dev, batch))
            counts["resent_batches"] += 1
            sent += len(batch)
        else:
            batch.append(dict(batch[0]))
            counts["repeated_in_batch"] += 1
            sent += 1
    batches.sort(key=lambda b: b[0])
    return Plan(batches, unique, sent, expected, set(big), counts)


def setup(url: str, *, elevators: int, seed: int) -> tuple[dict[int, str], dict[str, str],
                                                             list[tuple[int, int]]]:
    engine = make_engine(url)
    upgrade(engine)
    load_taiyuan(engine, elevators=elevators)
    with Session(engine) as s:
        create_demo_users(s, password=PASSWORD)
        lifts = [(int(a), int(b)) for a, b in
                 s.execute(select(Elevator.id, Elevator.zone_id).order_by(Elevator.id))]
        devices, secrets = {}, {}
        for lift, _ in lifts:
            dev = f"storm-{lift:06d}"
            secret = new_secret()
            devices[lift], secrets[dev] = dev, secret
            s.add(Device(id=dev, elevator_id=lift, secret_sealed=seal(secret, APP_SECRET)))
        s.commit()
    engine.dispose()
    return devices, secrets, lifts


async def _post(http: aiohttp.ClientSession, base: str, dev: str, secret: str,
                events: list[dict[str, Any]], t0_wall: float) -> tuple[float, int, dict[str, Any]]:
    body_events = [{**e, "occurred_at": datetime.fromtimestamp(t0_wall + e["occurred_at"],
                                                               UTC).isoformat()}
                   for e in events]
    raw = json.dumps({"events": body_events}, separators=(",", ":")).encode()
    ts = str(int(time.time()))
    headers = {"Content-Type": "application/json", "X-Device-Id": dev, "X-Timestamp": ts,
               "X-Signature": sign(secret, ts, raw)}
    start = time.perf_counter()
    async with http.post(f"{base}/api/v1/telemetry/events", data=raw, headers=headers) as r:
        body = await r.json(content_type=None)
        return time.perf_counter() - start, r.status, body


@dataclass
class StreamWatch:
    pongs: list[float] = field(default_factory=list)
    live_events: Counter[str] = field(default_factory=Counter)
    connected: bool = False
    error: str | None = None


async def watch_stream(base: str, token: str, stop: asyncio.Event, out: StreamWatch) -> None:
    """A console on the websocket: ping every 0.5 s, count live incident events."""
    import websockets

    url = base.replace("http://", "ws://") + f"/api/v1/stream?token={token}"
    try:
        async with websockets.connect(url, max_size=None) as ws:
            out.connected = True
            sent_at: list[float] = []

            async def pinger() -> None:
                while not stop.is_set():
                    sent_at.append(time.perf_counter())
                    await ws.send("ping")
                    await asyncio.sleep(0.5)

            task = asyncio.create_task(pinger())
            try:
                while not stop.is_set():
                    try:
                        raw = await asyncio.wait_for(ws.recv(), timeout=0.5)
                    except TimeoutError:
                        continue
                    msg = json.loads(raw)
                    if msg.get("type") == "pong" and sent_at:
                        out.pongs.append(time.perf_counter() - sent_at.pop(0))
                    elif msg.get("incident_id") is not None and msg.get("type"):
                        out.live_events[msg["type"]] += 1
            finally:
                task.cancel()
    except Exception as exc:  # the stream is another engineer's module: report, don't fail
        out.error = f"{type(exc).__name__}: {exc}"


async def storm(base: str, plan: Plan, secrets: dict[str, str], *, paced: bool,
                concurrency: int, token: str | None) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    outcomes: Counter[str] = Counter()
    dup_reported = 0
    sem = asyncio.Semaphore(concurrency)
    conn = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    watch = StreamWatch()
    stop = asyncio.Event()
    async with aiohttp.ClientSession(connector=conn,
                                     timeout=aiohttp.ClientTimeout(total=60)) as http:
        watcher = (asyncio.create_task(watch_stream(base, token, stop, watch))
                   if token else None)
        await asyncio.sleep(1.0 if token else 0)
        t0_wall = time.time()
        t0 = time.perf_counter()

        async def one(send_at: float, dev: str, events: list[dict[str, Any]]) -> None:
            nonlocal dup_reported
            if paced:
                delay = send_at - (time.perf_counter() - t0)
                if delay > 0:
                    await asyncio.sleep(delay)
            async with sem:
                lat, status, body = await _post(http, base, dev, secrets[dev], events, t0_wall)
            latencies.append(lat)
            statuses[status] += 1
            if status == 200:
                for res in body["results"]:
                    outcomes["duplicate" if res["duplicate"] else res["outcome"]] += 1
                dup_reported += body["duplicates"]

        await asyncio.gather(*(one(*b) for b in plan.batches))
        elapsed = time.perf_counter() - t0
        stop.set()
        if watcher:
            await watcher
    p50, p99, mean = percentiles_ms(latencies)
    return {"elapsed_s": elapsed, "requests": len(latencies), "statuses": dict(statuses),
            "p50_ms": p50, "p99_ms": p99, "max_ms": max(latencies) * 1000, "mean_ms": mean,
            "events_per_s": plan.sent_events / elapsed, "outcomes": dict(outcomes),
            "duplicates_reported": dup_reported, "stream": watch}


async def capacity(base: str, devices: list[str], secrets: dict[str, str], *, n: int,
                   per_batch: int, concurrency: int, prefix: str) -> float:
    """Events/s for ``n`` fault events sent ``per_batch`` per request, as fast as answered."""
    sem = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:
        t0 = time.perf_counter()
        t0_wall = time.time()

        async def one(i: int) -> None:
            dev = devices[i % len(devices)]
            events = [_ev(f"{prefix}{i:06d}-{j:03d}", "02", -1.0) for j in range(per_batch)]
            async with sem:
                _, status, _ = await _post(http, base, dev, secrets[dev], events, t0_wall)
            assert status == 200

        await asyncio.gather(*(one(i) for i in range(n // per_batch)))
        return n / (time.perf_counter() - t0)


def verify(url: str, plan: Plan, *, extra_events: int = 0) -> dict[str, Any]:
    engine = make_engine(url)
    with Session(engine) as s:
        rows = s.execute(select(Alarm.device_id, Alarm.event_id)).all()
        stored = {(d, e) for d, e in rows}
        per_lift = dict(s.execute(
            select(Incident.elevator_id, func.count()).where(Incident.merged_into_id.is_(None))
            .group_by(Incident.elevator_id)).all())
        merged = s.scalar(select(func.count()).select_from(Incident)
                          .where(Incident.merged_into_id.is_not(None))) or 0
        unjudged = s.scalar(select(func.count()).select_from(Alarm)
                            .where(Alarm.outcome.in_(("queued", "failed")))) or 0
    engine.dispose()
    storm_rows = {k for k in stored if not k[1].startswith(("base-", "cap-"))}
    return {
        "distinct_sent": len(plan.unique), "stored": len(rows) - extra_events,
        "exactly_once": len(rows) == len(stored) and storm_rows == plan.unique,
        "lifts_expected": len(plan.expected_incident_lifts),
        "incidents": sum(per_lift.values()),
        "one_per_lift": set(per_lift) == plan.expected_incident_lifts
        and all(n == 1 for n in per_lift.values()),
        "merged_rows": merged,
        "unjudged": unjudged,  # MQTT: stored, still queued (or failed) when checked
    }


def run(kind: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    url = fresh_database("postgis", workdir, args.postgres_url, f"rescue_bench_storm_{kind}")
    t0 = time.perf_counter()
    devices, secrets, lifts = setup(url, elevators=args.devices, seed=args.seed)
    plan = make_plan(lifts, devices, events=args.events, window=args.window, seed=args.seed)
    console.print(f"[{kind}] {len(lifts)} lifts and terminals ready in "
                  f"{time.perf_counter() - t0:.1f} s; plan: {len(plan.batches)} batches, "
                  f"{plan.sent_events} events sent, {len(plan.unique)} distinct, "
                  f"{dict(plan.counts)}")
    env = {"RESCUE_DATABASE_URL": url, "RESCUE_SECRET_KEY": APP_SECRET,
           "RESCUE_VAR_DIR": str(workdir / "var"), "RESCUE_GEO_CACHE_DIR": args.geo_cache}
    if args.redis_url:
        env["RESCUE_REDIS_URL"] = args.redis_url
    with running_server(env, workers=args.workers) as base:
        token = login(base, "operator1", PASSWORD)["Authorization"].split()[1]
        result = asyncio.run(storm(base, plan, secrets, paced=kind == "paced",
                                   concurrency=args.concurrency,
                                   token=token if kind == "paced" else None))
        extra = 0
        if kind == "flat":
            result["batched_events_per_s"] = asyncio.run(capacity(
                base, list(secrets), secrets, n=args.events, per_batch=args.batch,
                concurrency=args.concurrency, prefix="cap-"))
            result["baseline_events_per_s"] = asyncio.run(capacity(
                base, list(secrets), secrets, n=args.baseline, per_batch=1,
                concurrency=args.concurrency, prefix="base-"))
            extra = args.baseline + args.events // args.batch * args.batch
        cuts = httpx.get(f"{base}/api/v1/telemetry/power-cuts",
                         headers={"Authorization": f"Bearer {token}"}, timeout=30).json()
    result["power_cuts"] = [(c["zone"], c["elevator_count"], len(c["incidents"])) for c in cuts]
    result["check"] = verify(url, plan, extra_events=extra)
    result["plan"] = plan
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--postgres-url", default=os.environ.get("RESCUE_TEST_POSTGRES_URL"))
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/11",
                   help="event bus shared by the workers ('' for in-process)")
    p.add_argument("--devices", type=int, default=5000)
    p.add_argument("--events", type=int, default=20000)
    p.add_argument("--window", type=float, default=60.0)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--baseline", type=int, default=2000, help="unbatched requests")
    p.add_argument("--batch", type=int, default=50, help="events per request (capacity run)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--runs", default="paced,flat")
    p.add_argument("--geo-cache", default=str(Path("var/geo-cache").resolve()))
    args = p.parse_args()
    if not args.postgres_url:
        raise SystemExit("needs PostGIS: --postgres-url or RESCUE_TEST_POSTGRES_URL")
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.runs.split(","):
            r = run(kind, args, Path(tmp))
            c, w = r["check"], r["stream"]
            console.print(
                f"[bold]{kind}[/]: {r['requests']} requests, {r['plan'].sent_events} events in "
                f"{r['elapsed_s']:.1f} s → [bold]{r['events_per_s']:.0f} events/s[/]; "
                f"p50 {r['p50_ms']:.1f} ms, [bold]p99 {r['p99_ms']:.1f} ms[/], "
                f"max {r['max_ms']:.0f} ms; statuses {r['statuses']}")
            console.print(f"  outcomes {r['outcomes']}; duplicates answered "
                          f"{r['duplicates_reported']}")
            console.print(f"  stored {c['stored']} of {c['distinct_sent']} distinct events, "
                          f"exactly once: {c['exactly_once']}; incidents {c['incidents']} for "
                          f"{c['lifts_expected']} lifts with an entrapment, one per lift: "
                          f"{c['one_per_lift']}; merged rows {c['merged_rows']}")
            console.print(f"  power cuts (zone, lifts, incidents): {r['power_cuts']}")
            if "baseline_events_per_s" in r:
                base, batched = r["baseline_events_per_s"], r["batched_events_per_s"]
                console.print(f"  capacity: {args.events} fault events {args.batch} per request "
                              f"[bold]{batched:.0f} events/s[/]; baseline one per request "
                              f"{base:.0f} events/s → batching ×{batched / base:.1f}")
            if kind == "paced":
                if w.error or not w.connected:
                    console.print(f"  stream: not checked ({w.error})")
                else:
                    p50, p99, _ = percentiles_ms(w.pongs) if w.pongs else (0, 0, 0)
                    console.print(f"  stream live: {len(w.pongs)} pings answered during the "
                                  f"storm, pong p50 {p50:.0f} ms p99 {p99:.0f} ms; live events "
                                  f"{dict(w.live_events)}")


if __name__ == "__main__":
    main()
