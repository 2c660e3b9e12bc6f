"""MQTT storm (issue 19): the alarm storm plan of ``bench/alarm_storm.py`` sent over MQTT while
50,000 simulated terminals heartbeat at a compressed interval, against a real server on PostGIS
with its own Mosquitto; one consumer, then two (a shared subscription: 2 uvicorn workers, each
with its consumer); the HTTP storm (the same plan, flat out) as the baseline in the same run.

Each run has a fresh database, a fresh broker session and a fresh server. The storm events are
published flat out at QoS 1 (one message per batch of the plan, resends included) by one
process; the heartbeats by two processes, every terminal once per ``--hb-interval`` seconds
(all signed, QoS 1). The publishers write packets encoded before the start
(``bench/_mqtt_wire.py``: a few µs a message, where a paho publish took ~270 µs of the two
cores the server under test needs). Measured:
- events/s: distinct events of the plan ÷ time from the first publish to the last one stored;
- heartbeats/s: heartbeats the consumers processed (the store's counter) ÷ time they took;
- publish → stored: per event, from its publish to the moment it is visible in the ``alarm``
  table (polled every 25 ms, so up to ~25 ms late); publish → judged: to the moment it is no
  longer ``queued`` (polled every 100 ms);
- publish → console: per incident, from the publish of the lift's first entrapment message to
  the ``received`` event on an operator's websocket.
Afterwards the database is checked like the alarm storm: every distinct ``(device, event_id)``
exactly once, one incident per lift with a dispatchable entrapment.

    .venv/bin/python -m bench.mqtt_storm --postgres-url postgresql+psycopg://postgres@127.0.0.1/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from sqlalchemy import text
from sqlalchemy.orm import Session

from bench import alarm_storm
from bench._mqtt_wire import WirePublisher
from bench._server import free_port, fresh_database, login, percentiles_ms, running_server
from dispatch.db import make_engine
from dispatch.telemetry.envelope import seal_envelope, topic_for
from dispatch.telemetry.liveness_store import RedisStore
from dispatch.telemetry.models import Device
from dispatch.telemetry.signing import new_secret, seal

console = Console(width=150)
PREFIX = "rescue/v1"
ENTRAPMENT = {"11", "trapped_between_floors", "trapped_at_floor", "90"}


@contextmanager
def mosquitto(workdir: Path) -> Iterator[str]:
    """Our own broker: loopback, anonymous, persistence in ``workdir``, deep queues."""
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    port = free_port()
    d = workdir / f"mosquitto-{port}"
    d.mkdir()
    conf = d / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
                    f"persistence_location {d}/\nmax_queued_messages 1000000\n"
                    f"max_inflight_messages 0\nlog_dest file {d}/log\n"
                    f"user {os.environ.get('USER') or 'root'}\n")
    proc = subprocess.Popen([binary, "-c", str(conf)])
    try:
        import socket
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield f"mqtt://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _publisher(url: str, name: str) -> WirePublisher:
    host, port = url.removeprefix("mqtt://").split(":")
    return WirePublisher(host, int(port), name)


def publish_events(url: str, batches: list[tuple[float, str, list[dict[str, Any]]]],
                   secrets: dict[str, str], start_at: float, out: Any) -> None:
    """One process: every batch of the plan as one message, flat out; reports publish times
    (a message's is when the write that carries it began). The signed envelopes are made
    before the start, stamped with the start time."""
    c = _publisher(url, f"bench-ev-{os.getpid()}")
    messages = []
    for _, dev, events in batches:
        body = json.dumps({"events": [
            {**e, "occurred_at": datetime.fromtimestamp(start_at + e["occurred_at"] - 60,
                                                        UTC).isoformat()} for e in events]},
            separators=(",", ":"))
        messages.append((topic_for(PREFIX, dev, "events"),
                         seal_envelope(secrets[dev], int(start_at), body)))
    packets = c.encode(messages)
    while time.time() < start_at:
        time.sleep(0.001)
    sent: list[tuple[str, list[str], list[str], float]] = []
    step = 50
    for i in range(0, len(packets), step):
        now = time.time()
        c.send(packets[i:i + step])
        for _, dev, events in batches[i:i + step]:
            sent.append((dev, [e["event_id"] for e in events],
                         [str(e["code"]) for e in events], now))
    c.wait_acked(120)
    out.put(("events", sent, time.time()))
    c.close()


def publish_heartbeats(url: str, devices: list[tuple[str, str]], interval_s: float,
                       duration_s: float, start_at: float, out: Any) -> None:
    """One process: each device heartbeats once per ``interval_s`` for ``duration_s``,
    spread evenly (slices every 10 ms). The signed packets are made before the start (each
    with the time it is due), so the loop only writes; the report comes once the broker
    acknowledged every one."""
    c = _publisher(url, f"bench-hb-{os.getpid()}")
    rounds = max(1, round(duration_s / interval_s))
    slices = max(1, int(interval_s / 0.01))
    per = -(-len(devices) // slices)
    plan: list[list[bytes]] = []  # per slot of 10 ms: its packets
    for r in range(rounds):
        for k in range(slices):
            due = int(start_at + r * interval_s + k * 0.01)
            plan.append(c.encode([(topic_for(PREFIX, dev, "heartbeat"),
                                   seal_envelope(secret, due, f'{{"seq":{r + 1},"at":{due},'
                                                              f'"mode":"normal"}}'))
                                  for dev, secret in devices[k * per:(k + 1) * per]]))
    while time.time() < start_at:
        time.sleep(0.001)
    t0 = time.time()
    for i, slot in enumerate(plan):
        delay = t0 + i * 0.01 - time.time()
        if delay > 0:
            time.sleep(delay)
        c.send(slot)
    c.wait_acked(300)
    out.put(("heartbeats", c.acked - c.refused, time.time() - t0))
    c.close()


def add_heartbeat_terminals(url: str, lifts: list[int], n: int) -> list[tuple[str, str]]:
    """``n`` more registered terminals spread over the lifts (several per lift)."""
    engine = make_engine(url)
    out = []
    with Session(engine) as s:
        rows = []
        for i in range(n):
            dev, secret = f"hb-{i:06d}", new_secret()
            rows.append({"id": dev, "elevator_id": lifts[i % len(lifts)], "active": True,
                         "secret_sealed": seal(secret, alarm_storm.APP_SECRET),
                         "created_at": datetime.now(UTC)})
            out.append((dev, secret))
        s.execute(Device.__table__.insert(), rows)
        s.commit()
    engine.dispose()
    return out


@dataclass
class Watch:
    stored_at: dict[tuple[str, str], float] = field(default_factory=dict)
    judged_at: dict[tuple[str, str], float] = field(default_factory=dict)
    received: dict[int, float] = field(default_factory=dict)  # elevator id → ws time
    hb_counts: list[tuple[float, int]] = field(default_factory=list)


def poll_db(url: str, stop: threading.Event, watch: Watch) -> None:
    engine = make_engine(url)
    last = polls = 0
    with engine.connect() as conn:
        while not stop.is_set():
            rows = conn.execute(text("SELECT id, device_id, event_id FROM alarm WHERE id > :l "
                                     "ORDER BY id"), {"l": last}).all()
            now = time.time()
            for i, d, e in rows:
                watch.stored_at.setdefault((d, e), now)
                last = max(last, i)
            polls += 1
            if polls % 4 == 0 and len(watch.judged_at) < len(watch.stored_at):
                # judged = stored and no longer queued (every 100 ms: the queued set is big)
                queued = {(d, e) for d, e in conn.execute(text(
                    "SELECT device_id, event_id FROM alarm WHERE outcome = 'queued'"))}
                now = time.time()
                for k in watch.stored_at.keys() - watch.judged_at.keys() - queued:
                    watch.judged_at[k] = now
            conn.commit()
            stop.wait(0.025)
    engine.dispose()


def _wait_judged(url: str, *, deadline: float) -> None:
    """Until nothing is queued (the capacity run's events too), so the check sees it all."""
    engine = make_engine(url)
    with engine.connect() as conn:
        while time.time() < deadline and conn.execute(text(
                "SELECT count(*) FROM alarm WHERE outcome = 'queued'")).scalar():
            conn.commit()
            time.sleep(0.2)
    engine.dispose()


def poll_heartbeats(store: RedisStore, stop: threading.Event, watch: Watch) -> None:
    while not stop.is_set():
        watch.hb_counts.append((time.time(), store.counters().get("heartbeats", 0)))
        stop.wait(0.25)


async def watch_console(base: str, token: str, stop: threading.Event, watch: Watch) -> None:
    import websockets

    url = base.replace("http://", "ws://") + f"/api/v1/stream?token={token}"
    async with websockets.connect(url, max_size=None) as ws:
        while not stop.is_set():
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=0.2)
            except TimeoutError:
                continue
            msg = json.loads(raw)
            if msg.get("type") == "received" and msg.get("incident"):
                watch.received.setdefault(msg["incident"]["elevator"]["id"], time.time())


def run_mqtt(args: argparse.Namespace, workdir: Path, consumers: int,
             own_processes: tuple[str, ...] = ()) -> dict[str, Any]:
    """``own_processes``: lanes (``heartbeat``, ``judge``) that one ``rescue mqtt consume
    --lanes <lane>`` process each takes (a lane named twice: two processes sharing it); the
    servers keep the rest."""
    url = fresh_database("postgis", workdir, args.postgres_url, f"rescue_bench_mqtt_c{consumers}")
    t0 = time.perf_counter()
    devices, secrets, lifts = alarm_storm.setup(url, elevators=args.devices, seed=args.seed)
    plan = alarm_storm.make_plan(lifts, devices, events=args.events, window=args.window,
                                 seed=args.seed)
    hb_devices = add_heartbeat_terminals(url, [lift for lift, _ in lifts], args.terminals)
    store = RedisStore(args.redis_url, scope=url)
    store.clear()
    lift_of = {dev: lift for lift, dev in devices.items()}
    console.print(f"[mqtt ×{consumers}] {len(lifts)} lifts, {len(devices)} storm terminals + "
                  f"{len(hb_devices)} heartbeating ready in {time.perf_counter() - t0:.1f} s")
    with mosquitto(workdir) as broker:
        env = {"RESCUE_DATABASE_URL": url, "RESCUE_SECRET_KEY": alarm_storm.APP_SECRET,
               "RESCUE_VAR_DIR": str(workdir / f"var-{consumers}"),
               "RESCUE_GEO_CACHE_DIR": args.geo_cache, "RESCUE_REDIS_URL": args.redis_url,
               "RESCUE_MQTT_URL": broker, "RESCUE_MQTT_CLIENT_ID": "bench-consumer",
               "RESCUE_LOG_LEVEL": "WARNING",
               # the compressed interval is for load only: nobody goes offline mid-run (a
               # sweep of 50,000 silent terminals at the end is not what is measured)
               "RESCUE_HEARTBEAT_INTERVAL_S": "3600"}
        env["RESCUE_MQTT_LANES"] = ",".join(
            lane for lane in ("events", "heartbeat", "judge") if lane not in own_processes)
        lane_procs = [subprocess.Popen(
            [sys.executable, "-m", "dispatch.cli", "mqtt", "consume", "--lanes", lane,
             "--client-id", f"bench-{lane}-{i}"],
            env={**os.environ, **env, "RESCUE_VAR_DIR": str(workdir / f"var-{lane}-{i}")},
            stdout=subprocess.DEVNULL) for i, lane in enumerate(own_processes)]
        with running_server(env, workers=consumers) as base:
            token = login(base, "operator1", alarm_storm.PASSWORD)["Authorization"].split()[1]
            time.sleep(1.5)  # the consumers' subscriptions
            watch = Watch()
            stop = threading.Event()
            threads = [threading.Thread(target=poll_db, args=(url, stop, watch), daemon=True),
                       threading.Thread(target=poll_heartbeats, args=(store, stop, watch),
                                        daemon=True),
                       threading.Thread(target=lambda: asyncio.run(
                           watch_console(base, token, stop, watch)), daemon=True)]
            for t in threads:
                t.start()
            ctx = mp.get_context("spawn")
            out = ctx.Queue()
            start_at = time.time() + 3.0
            half = len(hb_devices) // 2
            procs = [ctx.Process(target=publish_events,
                                 args=(broker, plan.batches, secrets, start_at, out)),
                     *(ctx.Process(target=publish_heartbeats,
                                   args=(broker, part, args.hb_interval, args.hb_duration,
                                         start_at, out))
                       for part in (hb_devices[:half], hb_devices[half:]))]
            for p in procs:
                p.start()
            results = [out.get(timeout=600) for _ in procs]
            for p in procs:
                p.join(timeout=30)
            sent = next(r[1] for r in results if r[0] == "events")
            hb_sent = sum(r[1] for r in results if r[0] == "heartbeats")
            deadline = time.time() + 120
            while time.time() < deadline and (
                    len(watch.judged_at) < len(plan.unique)
                    or store.counters().get("heartbeats", 0) < hb_sent):
                time.sleep(0.2)
            time.sleep(1.0)
            stop.set()
            for t in threads:
                t.join(timeout=10)
            # capacity: fault events only (no incident to open), 10 per message, flat out
            n_cap = args.capacity // 10
            devs = list(secrets)
            cap = [(0.0, devs[i % len(devs)],
                    [{"event_id": f"cap-{i:06d}-{j}", "code": "02", "occurred_at": 0.0}
                     for j in range(10)]) for i in range(n_cap)]
            before = len(watch.stored_at)
            stop2 = threading.Event()
            poller = threading.Thread(target=poll_db, args=(url, stop2, watch), daemon=True)
            poller.start()
            proc = ctx.Process(target=publish_events,
                               args=(broker, cap, secrets, time.time() + 1.0, out))
            proc.start()
            cap_sent = out.get(timeout=600)[1]
            proc.join(timeout=30)
            deadline = time.time() + 120
            while time.time() < deadline and len(watch.stored_at) < before + n_cap * 10:
                time.sleep(0.1)
            stop2.set()
            poller.join(timeout=10)
            _wait_judged(url, deadline=time.time() + 120)
            cap_first = min(t for *_, t in cap_sent)
            cap_last = max(v for k, v in watch.stored_at.items() if k[1].startswith("cap-"))
            cap_eps = n_cap * 10 / (cap_last - cap_first)
            status = {}
            try:
                import httpx
                admin = login(base, "admin1", alarm_storm.PASSWORD)
                status = httpx.get(f"{base}/api/v1/telemetry/mqtt", headers=admin,
                                   timeout=10).json()["counters"]
            except Exception as exc:
                status = {"error": str(exc)}
        for proc in lane_procs:
            proc.terminate()
            proc.wait(timeout=30)
    first_pub = min(t for *_, t in sent)
    first_seen_pub: dict[tuple[str, str], float] = {}
    first_entrapment: dict[int, float] = {}
    for dev, ids, codes_, t in sent:
        for eid, code in zip(ids, codes_, strict=True):
            first_seen_pub.setdefault((dev, eid), t)
            if code in ENTRAPMENT:
                lift = lift_of[dev]
                first_entrapment[lift] = min(first_entrapment.get(lift, t), t)
    stored_lat = [watch.stored_at[k] - t for k, t in first_seen_pub.items()
                  if k in watch.stored_at]
    judged_lat = [watch.judged_at[k] - t for k, t in first_seen_pub.items()
                  if k in watch.judged_at]
    last_judged = max((v for k, v in watch.judged_at.items() if not k[1].startswith("cap-")),
                      default=first_pub)
    console_lat = [watch.received[lift] - first_entrapment[lift] for lift in watch.received
                   if lift in first_entrapment]
    last_stored = max((v for k, v in watch.stored_at.items() if not k[1].startswith("cap-")),
                      default=first_pub)
    hb = [(t, n) for t, n in watch.hb_counts]
    hb_total = hb[-1][1] if hb else 0
    hb_start = next((t for t, n in hb if n > 0), first_pub)
    hb_end = next((t for t, n in hb if n >= hb_total), hb[-1][0] if hb else first_pub)
    check = alarm_storm.verify(url, plan, extra_events=n_cap * 10)
    store.clear()
    store.close()
    return {"consumers": "".join([str(consumers), *(f" + {lane} process"
                                                    for lane in own_processes)]),
            "events": len(plan.unique), "sent_events": plan.sent_events,
            "messages": len(sent), "events_per_s": len(plan.unique) / max(1e-9,
                                                                          last_stored - first_pub),
            "stored": percentiles_ms(stored_lat) if stored_lat else (0, 0, 0),
            "judged": percentiles_ms(judged_lat) if judged_lat else (0, 0, 0),
            "judged_per_s": len(plan.unique) / max(1e-9, last_judged - first_pub),
            "console": percentiles_ms(console_lat) if console_lat else (0, 0, 0),
            "console_n": len(console_lat), "hb_sent": hb_sent, "hb_done": hb_total,
            "hb_per_s": hb_total / max(1e-9, hb_end - hb_start),
            "hb_offered": args.terminals / args.hb_interval, "check": check, "counters": status,
            "capacity_events_per_s": cap_eps}


def run_http(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    ns = argparse.Namespace(**{**vars(args), "workers": 2, "concurrency": 32})
    url = fresh_database("postgis", workdir, args.postgres_url, "rescue_bench_mqtt_http")
    devices, secrets, lifts = alarm_storm.setup(url, elevators=args.devices, seed=args.seed)
    plan = alarm_storm.make_plan(lifts, devices, events=args.events, window=args.window,
                                 seed=args.seed)
    env = {"RESCUE_DATABASE_URL": url, "RESCUE_SECRET_KEY": alarm_storm.APP_SECRET,
           "RESCUE_VAR_DIR": str(workdir / "var-http"), "RESCUE_GEO_CACHE_DIR": args.geo_cache,
           "RESCUE_REDIS_URL": args.redis_url, "RESCUE_LOG_LEVEL": "WARNING"}
    with running_server(env, workers=ns.workers) as base:
        r = asyncio.run(alarm_storm.storm(base, plan, secrets, paced=False,
                                          concurrency=ns.concurrency, token=None))
    r["events"] = len(plan.unique)
    r["distinct_per_s"] = len(plan.unique) / r["elapsed_s"]
    r["check"] = alarm_storm.verify(url, plan)
    return r


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--postgres-url", default=os.environ.get("RESCUE_TEST_POSTGRES_URL"))
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/11")
    p.add_argument("--devices", type=int, default=2000, help="lifts with a storm terminal")
    p.add_argument("--events", type=int, default=8000, help="storm events sent")
    p.add_argument("--window", type=float, default=20.0)
    p.add_argument("--terminals", type=int, default=50000, help="heartbeating terminals")
    p.add_argument("--hb-interval", type=float, default=5.0, help="compressed interval (s)")
    p.add_argument("--hb-duration", type=float, default=15.0)
    p.add_argument("--capacity", type=int, default=20000, help="fault events, capacity run")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--runs", default="http,1,2,1+hb,1+hb+judge",
                   help="http, N (N server workers doing every lane), N+hb (a heartbeat-only "
                        "consumer process beside them), N+hb+judge (and a judge process), "
                        "N+hb+hb (two heartbeat processes)")
    p.add_argument("--geo-cache", default=str(Path("var/geo-cache").resolve()))
    args = p.parse_args()
    if not args.postgres_url:
        raise SystemExit("needs PostGIS: --postgres-url or RESCUE_TEST_POSTGRES_URL")
    with tempfile.TemporaryDirectory() as tmp:
        base_eps = None
        for run in args.runs.split(","):
            if run == "http":
                r = run_http(args, Path(tmp))
                base_eps = r["distinct_per_s"]
                c = r["check"]
                console.print(
                    f"[bold]HTTP baseline[/] (2 workers, 32 connections, flat out): "
                    f"{r['requests']} requests, {r['events']} distinct events in "
                    f"{r['elapsed_s']:.1f} s → [bold]{base_eps:.0f} events/s[/]; request p50 "
                    f"{r['p50_ms']:.0f} ms p99 {r['p99_ms']:.0f} ms; exactly once: "
                    f"{c['exactly_once']}, one incident per lift: {c['one_per_lift']}")
                continue
            n, *own = run.split("+")
            lanes = tuple({"hb": "heartbeat"}.get(x, x) for x in own)
            r = run_mqtt(args, Path(tmp), int(n), own_processes=lanes)
            c = r["check"]
            ratio = f" (×{r['events_per_s'] / base_eps:.1f} HTTP)" if base_eps else ""
            console.print(
                f"[bold]MQTT, {r['consumers']} consumer(s)[/]: {r['messages']} messages, "
                f"{r['events']} distinct events → [bold]{r['events_per_s']:.0f} events/s[/]"
                f"{ratio}; publish→stored p50 {r['stored'][0]:.0f} ms [bold]p99 "
                f"{r['stored'][1]:.0f} ms[/]; publish→judged p50 {r['judged'][0]:.0f} ms p99 "
                f"{r['judged'][1]:.0f} ms ({r['judged_per_s']:.0f} events/s); publish→console "
                f"p50 {r['console'][0]:.0f} ms p99 {r['console'][1]:.0f} ms "
                f"(n={r['console_n']})")
            console.print(
                f"  heartbeats: {r['hb_sent']} sent ({r['hb_offered']:.0f}/s offered), "
                f"{r['hb_done']} processed → [bold]{r['hb_per_s']:.0f} heartbeats/s[/]; "
                f"exactly once: {c['exactly_once']} ({c['stored']} of {c['distinct_sent']}), "
                f"incidents {c['incidents']} for {c['lifts_expected']} lifts, one per lift: "
                f"{c['one_per_lift']}, left unjudged: {c['unjudged']}")
            console.print(f"  capacity: {args.capacity} fault events, 10 per message, flat out "
                          f"→ [bold]{r['capacity_events_per_s']:.0f} events/s[/]; counters "
                          f"{r['counters']}")


if __name__ == "__main__":
    main()
