"""Live-console fan-out (issue 6): 500 websocket consoles on 2 uvicorn workers with Redis.

Phase 1, fan-out. A real server (``uvicorn --workers 2``, SQLite file, ``RESCUE_REDIS_URL``);
500 operator websockets connect (the kernel spreads them over both workers). Then
* 200 bus messages are published straight to the Redis channel (what a third worker does),
  ``--rate`` per second (default 20); latency = receipt at each client − publish time: the pure
  fan-out path (Redis → each worker's hub → 250 sockets each);
* 200 real events: incidents recorded through the API, 10 per second; latency = receipt − the
  moment the request was sent (so it includes the HTTP request, the write and its commit, and
  the per-worker enrichment read).
Baseline in the same run: the same 200 published messages to a single client.
Server memory: RSS of the uvicorn processes before and with the 500 sockets.

Phase 2, first load. 500 active incidents (100 dispatched); Chromium opens ``/console``; time
from navigation start until the board shows all 500 rows (page ``data-ready`` and the rows
drawn), against the same page with 20 incidents.

Run: ``.venv/bin/python -m bench.fanout [--redis-url redis://127.0.0.1:6379/1]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import redis
import websockets

from bench._server import free_port, login
from dispatch.bus import channel_for
from dispatch.db import make_engine, session_factory
from dispatch.fixtures.loader import load_taiyuan
from dispatch.migrate import upgrade
from dispatch.models import Elevator
from tests import factories
from tests.dispatch.live_servers import start_server, stop

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


def rss_mb(root_pid: int) -> float:
    """Resident memory of a process and its children (uvicorn's workers), in MB."""
    out = subprocess.run(["ps", "-o", "pid=,ppid=,rss=", "-e"], capture_output=True, text=True)
    rows = [tuple(int(x) for x in line.split()) for line in out.stdout.splitlines() if line.strip()]
    pids, total, grew = {root_pid}, 0, True
    while grew:
        grew = False
        for pid, ppid, _ in rows:
            if ppid in pids and pid not in pids:
                pids.add(pid)
                grew = True
    for pid, _, rss in rows:
        if pid in pids:
            total += rss
    return total / 1024


def pct(samples: list[float]) -> tuple[float, float]:
    arr = np.asarray(samples) * 1000
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 99))


async def open_clients(ws_url: str, n: int) -> list[websockets.ClientConnection]:
    async def one() -> websockets.ClientConnection:
        ws = await websockets.connect(ws_url, max_size=None, open_timeout=60)
        while json.loads(await ws.recv()).get("type") != "ready":
            pass
        return ws

    clients: list[websockets.ClientConnection] = []
    for i in range(0, n, 50):  # connect in waves, as consoles come online
        clients += await asyncio.gather(*(one() for _ in range(min(50, n - i))))
    return clients


def _default_key(msg: dict[str, Any]) -> Any:
    return msg["data"].get("k") if msg.get("type") == "bench_ping" else msg["incident_id"]


async def collect(clients: list[websockets.ClientConnection], expect: int,
                  match: str, timeout: float,
                  key: Callable[[dict[str, Any]], Any] = _default_key
                  ) -> list[list[tuple[str, float]]]:
    """Per client: (``key(frame)``, receive time) of frames whose type is ``match``."""

    async def read(ws: websockets.ClientConnection) -> list[tuple[str, float]]:
        got: list[tuple[str, float]] = []
        try:
            while len(got) < expect:
                raw = await asyncio.wait_for(ws.recv(), timeout)
                t = time.time()
                msg = json.loads(raw)
                if msg.get("type") == match:
                    got.append((str(key(msg)), t))
        except TimeoutError:
            pass
        return got

    return list(await asyncio.gather(*(read(ws) for ws in clients)))


async def publish_pings(r: redis.Redis, channel: str, n: int, rate: float) -> dict[str, float]:
    sent: dict[str, float] = {}
    for i in range(n):
        t = time.time()
        msg = {"seq": None, "type": "bench_ping", "incident_id": None, "team_id": None,
               "at": "", "data": {"k": i}}
        r.publish(channel, json.dumps({"o": "bench", "m": msg}))
        sent[str(i)] = t
        await asyncio.sleep(1 / rate)
    return sent


async def ping_round(clients: list[websockets.ClientConnection], r: redis.Redis, channel: str,
                     n: int, rate: float) -> tuple[list[float], int]:
    reader = asyncio.create_task(collect(clients, n, "bench_ping", 10))
    await asyncio.sleep(0.2)
    sent = await publish_pings(r, channel, n, rate=rate)
    got = await reader
    lat = [t - sent[k] for per in got for k, t in per]
    return lat, sum(len(per) for per in got)


async def event_round(clients: list[websockets.ClientConnection], base: str,
                      headers: dict[str, str], codes: list[str]) -> tuple[list[float], int]:
    reader = asyncio.create_task(collect(clients, len(codes), "received", 15))
    await asyncio.sleep(0.2)
    sent: dict[str, float] = {}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as http:
        for code in codes:
            t = time.time()
            r = await http.post("/api/v1/incidents", json={"rescue_code": code, "channel": "call"})
            r.raise_for_status()
            sent[str(r.json()["id"])] = t
            await asyncio.sleep(0.1)
    got = await reader
    lat = [t - sent[k] for per in got for k, t in per if k in sent]
    return lat, sum(len(per) for per in got)


def console_load_ms(base: str, user: str, password: str, rows: int) -> tuple[float, float]:
    """(ms from navigation start to the board showing ``rows`` rows, snapshot KB)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                              args=CHROMIUM_ARGS)
        ctx = b.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
        page = ctx.new_page()
        page.goto(base + "/login")
        page.fill("#username", user)
        page.fill("#password", password)
        page.keyboard.press("Enter")
        page.wait_for_selector("body[data-ready='1']")
        sizes: list[int] = []
        page.on("websocket", lambda ws: ws.on(
            "framereceived", lambda f: sizes.append(len(f if isinstance(f, bytes | str) else ""))))
        best = float("inf")
        for _ in range(3):
            page.reload()
            page.wait_for_function(
                f"document.body.dataset.ready === '1' && "
                f"document.querySelectorAll('#board tbody tr').length >= {rows}", timeout=20000)
            best = min(best, page.evaluate("performance.now()"))
        b.close()
    return best, (max(sizes) / 1024 if sizes else 0.0)


async def main_async(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="fanout-"))
    url = f"sqlite:///{work / 'fanout.db'}"
    engine = make_engine(url)
    upgrade(engine)
    load_taiyuan(engine, elevators=3000)
    with session_factory(engine)() as s:
        factories.make_user(s, "operator", username="bench-op")
        s.commit()
        codes = [e.rescue_code for e in s.query(Elevator).filter(
            Elevator.zone_id.isnot(None)).order_by(Elevator.id).limit(900)]
    engine.dispose()
    port = free_port()
    env = {"RESCUE_DATABASE_URL": url, "RESCUE_SECRET_KEY": "fanout-" + "k" * 40,
           "RESCUE_VAR_DIR": str(work / "var"), "RESCUE_REDIS_URL": args.redis_url,
           "RESCUE_RUN_JOBS": "false"}
    proc = start_server(env | {"WEB_CONCURRENCY": "2"}, port, workers=2)
    base = f"http://127.0.0.1:{port}"
    try:
        headers = login(base, "bench-op", factories.PASSWORD)
        token = headers["Authorization"].split()[1]
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as http:
            for code in codes[:20]:
                (await http.post("/api/v1/incidents",
                                 json={"rescue_code": code, "channel": "call"})).raise_for_status()
        small_ms, small_kb = await asyncio.to_thread(console_load_ms, base, "bench-op",
                                                     factories.PASSWORD, 20)
        ws_url = f"ws://127.0.0.1:{port}/api/v1/stream?token={token}"
        r = redis.Redis.from_url(args.redis_url)
        channel = channel_for(url)
        mem0 = rss_mb(proc.pid)

        one = await open_clients(ws_url, 1)
        base_lat, _ = await ping_round(one, r, channel, args.events, args.rate)
        for ws in one:
            await ws.close()

        t0 = time.perf_counter()
        clients = await open_clients(ws_url, args.clients)
        connect_s = time.perf_counter() - t0
        mem1 = rss_mb(proc.pid)
        ping_lat, ping_n = await ping_round(clients, r, channel, args.events, args.rate)
        ev_lat, ev_n = await event_round(clients, base, headers,
                                         codes[20:20 + args.events])
        for ws in clients:
            await ws.close()

        # phase 2: 500 active incidents, 100 of them dispatched
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as http:
            need = 500 - 20 - args.events
            ids = []
            for code in codes[20 + args.events:20 + args.events + need]:
                resp = await http.post("/api/v1/incidents",
                                       json={"rescue_code": code, "channel": "call"})
                resp.raise_for_status()
                ids.append(resp.json()["id"])
            for inc in ids[:100]:
                (await http.post(f"/api/v1/incidents/{inc}/confirm")).raise_for_status()
            total = (await http.get("/api/v1/incidents?limit=1")).json()["total"]
        big_ms, big_kb = await asyncio.to_thread(console_load_ms, base, "bench-op",
                                                 factories.PASSWORD, total)
    finally:
        stop(proc)

    bp50, bp99 = pct(base_lat)
    p50, p99 = pct(ping_lat)
    e50, e99 = pct(ev_lat)
    print(f"clients: {args.clients} on 2 workers (connected in {connect_s:.1f} s); "
          f"Redis {args.redis_url}")
    print(f"fan-out, {args.events} published messages at {args.rate:g}/s: delivered {ping_n}/"
          f"{args.clients * args.events}; p50 {p50:.1f} ms, p99 {p99:.1f} ms "
          f"(target p99 <= 100 ms)")
    print(f"  baseline, 1 client: p50 {bp50:.1f} ms, p99 {bp99:.1f} ms "
          f"-> 500 clients cost x{p99 / bp99:.1f} at p99")
    print(f"real events, {args.events} incidents via the API: delivered {ev_n}/"
          f"{args.clients * args.events}; request sent -> on every console: p50 {e50:.1f} ms, "
          f"p99 {e99:.1f} ms")
    print(f"server memory (2 workers + parent): {mem0:.0f} MB idle, {mem1:.0f} MB with "
          f"{args.clients} sockets (+{(mem1 - mem0) / args.clients * 1024:.0f} KB per socket)")
    print(f"console first load: {total} active incidents {big_ms:.0f} ms "
          f"(snapshot {big_kb:.0f} KB) vs 20 incidents {small_ms:.0f} ms "
          f"(snapshot {small_kb:.0f} KB): x{big_ms / small_ms:.2f} (target <= 1000 ms)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--redis-url", default=os.environ.get("RESCUE_TEST_REDIS_URL",
                                                          "redis://127.0.0.1:6379/1"))
    ap.add_argument("--clients", type=int, default=500)
    ap.add_argument("--events", type=int, default=200)
    ap.add_argument("--rate", type=float, default=20.0, help="published messages per second")
    asyncio.run(main_async(ap.parse_args()))


if __name__ == "__main__":
    main()
