"""Phone desk (issue 15): from the Twilio webhook of a hotline call to the ringing row on 50
open consoles.

A real server (uvicorn, one worker, SQLite file, in-process bus), 50 operator websockets. Each
round sends ``--calls`` hotline calls (``--rate`` per second): ``POST /twilio/voice`` then the
signed ``POST /twilio/voice/gather?step=code`` with ``Digits=0`` (the caller asks for an
operator: the call is queued); latency = receipt of ``call_ringing`` at each console − the
moment the gather webhook was sent (HTTP, signature check, the call row, commit, fan-out).
Baseline in the same run: the plain event fan-out, ``--calls`` incidents recorded through the
API at the same rate, latency = receipt of the ``received`` event − the request's send time.

Run: ``.venv/bin/python -m bench.calls [--consoles 50 --calls 100 --rate 5]``.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import websockets

from bench._server import free_port, login
from bench.fanout import collect, open_clients, pct
from dispatch.db import make_engine, session_factory
from dispatch.fixtures.loader import load_taiyuan
from dispatch.migrate import upgrade
from dispatch.models import Elevator
from notify.signatures import HEADER, sign
from tests import factories
from tests.dispatch.live_servers import start_server, stop

PUBLIC = "https://rescue.example"
ACCOUNT, TOKEN = "AC" + "b" * 32, "bench-auth-token"


def _key(msg: dict[str, Any]) -> Any:
    """A ringing call by its call id, an incident event by its incident."""
    return msg["call"]["id"] if msg.get("type") == "call_ringing" else msg["incident_id"]


def signed(path: str, params: dict[str, str]) -> dict[str, str]:
    return {HEADER: sign(TOKEN, PUBLIC + path, params)}


async def call_round(clients: list[websockets.ClientConnection], base: str, n: int,
                     rate: float, offset: int) -> tuple[list[float], int]:
    reader = asyncio.create_task(collect(clients, n, "call_ringing", 15, _key))
    await asyncio.sleep(0.2)
    sent: dict[str, float] = {}
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        for i in range(n):
            call = {"CallSid": f"CA{offset + i:032x}", "From": f"+86138{offset + i:08d}",
                    "To": "+8635196333"}
            r = await http.post("/twilio/voice", data=call, headers=signed("/twilio/voice", call))
            r.raise_for_status()
            path = "/twilio/voice/gather?step=code"
            params = {**call, "Digits": "0"}
            t = time.time()
            r = await http.post(path, data=params, headers=signed(path, params))
            r.raise_for_status()
            assert "<Enqueue" in r.text
            enqueue_at = r.text.index("?c=") + 3
            sent[r.text[enqueue_at:r.text.index('"', enqueue_at)]] = t
            await asyncio.sleep(1 / rate)
    got = await reader
    lat = [t - sent[k] for per in got for k, t in per if k in sent]
    return lat, sum(len(per) for per in got)


async def event_round(clients: list[websockets.ClientConnection], base: str,
                      headers: dict[str, str], codes: list[str],
                      rate: float) -> tuple[list[float], int]:
    reader = asyncio.create_task(collect(clients, len(codes), "received", 15, _key))
    await asyncio.sleep(0.2)
    sent: dict[str, float] = {}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as http:
        for code in codes:
            t = time.time()
            r = await http.post("/api/v1/incidents", json={"rescue_code": code, "channel": "call"})
            r.raise_for_status()
            sent[str(r.json()["id"])] = t
            await asyncio.sleep(1 / rate)
    got = await reader
    lat = [t - sent[k] for per in got for k, t in per if k in sent]
    return lat, sum(len(per) for per in got)


async def main_async(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="calls-"))
    url = f"sqlite:///{work / 'calls.db'}"
    engine = make_engine(url)
    upgrade(engine)
    load_taiyuan(engine, elevators=1000)
    with session_factory(engine)() as s:
        factories.make_user(s, "operator", username="bench-op")
        s.commit()
        codes = [e.rescue_code for e in s.query(Elevator).filter(
            Elevator.zone_id.isnot(None)).order_by(Elevator.id).limit(args.calls * 2)]
    engine.dispose()
    port = free_port()
    env = {"RESCUE_DATABASE_URL": url, "RESCUE_SECRET_KEY": "calls-" + "k" * 40,
           "RESCUE_VAR_DIR": str(work / "var"), "RESCUE_REDIS_URL": "",
           "RESCUE_RUN_JOBS": "false", "RESCUE_TWILIO_ACCOUNT_SID": ACCOUNT,
           "RESCUE_TWILIO_AUTH_TOKEN": TOKEN, "RESCUE_PUBLIC_BASE_URL": PUBLIC,
           "RESCUE_AUTO_DISPATCH": "false"}
    proc = start_server(env, port)
    base = f"http://127.0.0.1:{port}"
    try:
        headers = login(base, "bench-op", factories.PASSWORD)
        token = headers["Authorization"].split()[1]
        clients = await open_clients(f"ws://127.0.0.1:{port}/api/v1/stream?token={token}",
                                     args.consoles)
        # warm-up (first requests load code paths), then the measured rounds
        await call_round(clients, base, 5, args.rate, offset=900_000)
        await event_round(clients, base, headers, codes[-5:], args.rate)
        call_lat, call_n = await call_round(clients, base, args.calls, args.rate, offset=0)
        ev_lat, ev_n = await event_round(clients, base, headers, codes[:args.calls], args.rate)
        for ws in clients:
            await ws.close()
    finally:
        stop(proc)
    expected = args.calls * args.consoles
    c50, c99 = pct(call_lat)
    e50, e99 = pct(ev_lat)
    print(f"consoles {args.consoles}, {args.calls} each at {args.rate}/s")
    print(f"hotline webhook → call_ringing: {call_n}/{expected} delivered, "
          f"p50 {c50:.1f} ms, p99 {c99:.1f} ms")
    print(f"baseline incident → received:   {ev_n}/{expected} delivered, "
          f"p50 {e50:.1f} ms, p99 {e99:.1f} ms")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--consoles", type=int, default=50)
    p.add_argument("--calls", type=int, default=100)
    p.add_argument("--rate", type=float, default=5.0)
    asyncio.run(main_async(p.parse_args()))


if __name__ == "__main__":
    main()
