"""Partner pushes benchmark (issue 14): what the partner outbox adds to an incident's
transaction, and push throughput to a local receiver with the direct-send baseline.

1. Overhead. On a small registry (one district, 200 elevators, two partners: the provincial
   platform and a regional command centre), one transaction = intake (``received``) + operator
   confirmation (``confirmed``): the partner hook writes 3 rows for the platform (incident
   events + ``province.status``) and 2 for the centre. Pairs alternate with and without the
   hook in the same run (drift hits both). The hook's own time is also measured (wrapped).
2. Throughput. ``N`` rows spread over ``N/10`` incidents (ordered per incident) pushed by
   ``run_partner_outbox`` (one worker, one keep-alive HTTP client) to a local
   ``ThreadingHTTPServer`` that checks every signature; then checked: every row ``delivered``,
   the receiver saw ``N`` distinct delivery ids in order per incident. Baseline: the same
   ``N`` bodies POSTed straight with the same client (no outbox, no signing, no database).

    python -m bench.partners [--pairs 300] [--rows 2000] [--postgres-url postgresql+psycopg://…]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from sqlalchemy import func, select

from bench._server import fresh_database
from dispatch import lifecycle
from dispatch.db import make_engine, session_factory
from dispatch.events import Actor, register_hook, transition
from dispatch.incidents.schemas import IncidentCreate
from dispatch.incidents.service import create_incident
from dispatch.migrate import upgrade
from dispatch.notifications.outbox import write_outbox
from dispatch.partners import outbox as partner_outbox
from dispatch.partners.delivery import raw_body, run_partner_outbox
from dispatch.partners.models import PartnerDelivery
from dispatch.partners.schemas import PartnerCreate
from dispatch.partners.service import create_partner
from dispatch.settings import Settings
from dispatch.uow import unit_of_work
from tests import factories


class Sink:
    def __init__(self, secret: str) -> None:
        self.secret, self.got, self.bad = secret, [], 0
        owner = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                sig = self.headers.get("X-Rescue-Signature")
                if sig:
                    parts = dict(p.split("=", 1) for p in sig.split(","))
                    mac = hmac.new(owner.secret.encode(), parts["t"].encode() + b"." + body,
                                   hashlib.sha256).hexdigest()
                    if not hmac.compare_digest(mac, parts["v1"]):
                        owner.bad += 1
                    owner.got.append((self.headers["X-Rescue-Delivery"], json.loads(body)))
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


def ms(xs: list[float]) -> str:
    a = np.asarray(xs) * 1000
    return f"p50 {np.percentile(a, 50):.2f} ms · p95 {np.percentile(a, 95):.2f} ms"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=300)
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--postgres-url")
    args = ap.parse_args()
    kinds = ["sqlite"] + (["postgis"] if args.postgres_url else [])
    for kind in kinds:
        with tempfile.TemporaryDirectory() as tmp:
            run(kind, fresh_database(kind, Path(tmp), args.postgres_url, "bench_partners"),
                args.pairs, args.rows, Path(tmp))


def run(kind: str, url: str, pairs: int, n_rows: int, tmp: Path) -> None:
    engine = make_engine(url)
    upgrade(engine)
    settings = Settings(database_url=url, run_jobs=False, secret_key="bench" * 10,
                        var_dir=tmp / "var")
    app_secret = settings.resolved_secret_key()
    base = session_factory(engine)
    now = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    with unit_of_work(base) as s:
        zone = factories.make_zone(s)
        lifts = [factories.make_elevator(s).id for _ in range(200)]
        sink = None
        _, _, secret = create_partner(s, PartnerCreate(name="省平台", kind="province_platform",
                                                       url="http://127.0.0.1:9/x"),
                                      app_secret=app_secret, now=now)
        create_partner(s, PartnerCreate(name="市指挥中心", kind="city_command",
                                        region=zone.code), app_secret=app_secret, now=now)
    with_hook = session_factory(engine)
    register_hook(with_hook, write_outbox)
    hook_time: list[float] = []

    def timed(session: Any, incident: Any, ev: Any) -> None:
        t = time.perf_counter()
        partner_outbox.write_partner_outbox(session, incident, ev)
        hook_time.append(time.perf_counter() - t)

    register_hook(with_hook, timed)
    without = session_factory(engine)
    register_hook(without, write_outbox)
    actor = Actor("bench", "operator")
    times: dict[str, list[float]] = {"with": [], "without": []}
    for i in range(pairs):
        for label, factory in (("with", with_hook), ("without", without)):
            at = now + timedelta(hours=i + 1)
            lift = lifts[(2 * i + (label == "with")) % len(lifts)]
            t = time.perf_counter()
            with unit_of_work(factory) as s:
                inc, _ = create_incident(s, data=IncidentCreate(elevator_id=lift, channel="call"),
                                         actor=actor, user_id=None, now=at, settings=settings)
                transition(s, inc, lifecycle.CONFIRMED, actor=actor, at=at)
            times[label].append(time.perf_counter() - t)
    with base() as s:
        rows = s.scalar(select(func.count()).select_from(PartnerDelivery))
    d50 = (np.percentile(times["with"], 50) - np.percentile(times["without"], 50)) * 1000
    print(f"[{kind}] intake+confirm transaction, {pairs} pairs, {rows} partner rows written")
    print(f"  without partner hook: {ms(times['without'])}")
    print(f"  with partner hook:    {ms(times['with'])}  (added p50 {d50:.2f} ms)")
    print(f"  hook itself (per event, 2 events/transaction): {ms(hook_time)}")

    # 2. throughput: fresh rows for the pushing partner only
    with unit_of_work(base) as s:
        s.query(PartnerDelivery).delete()
        pid = s.scalar(select(partner_outbox.Partner.id).where(
            partner_outbox.Partner.kind == "province_platform"))
        incidents = list(s.scalars(select(partner_outbox.Incident.id)))[: max(1, n_rows // 10)]
        for k in range(n_rows):
            inc = incidents[k % len(incidents)]
            did = f"00000000-0000-4000-8000-{k:012d}"
            s.add(PartnerDelivery(partner_id=pid, incident_id=inc, event_type="incident.confirmed",
                                  payload={"version": 1, "type": "incident.confirmed",
                                           "delivery_id": did, "incident": {"id": inc}, "n": k,
                                           "data": {"pad": "x" * 600}},
                                  delivery_id=did, seq=k // len(incidents) + 1, status="pending",
                                  attempts=0, next_at=now, created_at=now))
    sink = Sink(secret)
    with unit_of_work(base) as s:
        p = s.get(partner_outbox.Partner, pid)
        assert p is not None
        p.url = sink.url
    with httpx.Client(timeout=5) as client:
        t = time.perf_counter()
        done = 0
        while True:
            r = run_partner_outbox(base, settings=settings, now=now + timedelta(days=1),
                                   client=client, batch=100, limit=100_000)
            done += r.delivered
            if r.handled == 0:
                break
        elapsed = time.perf_counter() - t
        bodies = [raw_body({"n": k, "data": {"pad": "x" * 600}}) for k in range(n_rows)]
        t = time.perf_counter()
        for b in bodies:
            client.post(sink.url.replace("/hook", "/direct"), content=b,
                        headers={"Content-Type": "application/json"})
        direct = time.perf_counter() - t
    with base() as s:
        states = dict(s.execute(select(PartnerDelivery.status, func.count())
                                .group_by(PartnerDelivery.status)).all())
    ids = [g[0] for g in sink.got]
    per_inc: dict[int, list[int]] = {}
    for _, body in sink.got:
        per_inc.setdefault(body["incident"]["id"], []).append(body["n"])
    ordered = all(v == sorted(v) for v in per_inc.values())
    print(f"[{kind}] push throughput, {n_rows} rows over {len(incidents)} incidents, one worker")
    print(f"  outbox → receiver: {done / elapsed:.0f} deliveries/s ({elapsed:.2f} s); "
          f"states {states}; distinct ids {len(set(ids))}; bad signatures {sink.bad}; "
          f"in order per incident: {ordered}")
    print(f"  direct POST baseline: {n_rows / direct:.0f} requests/s ({direct:.2f} s)")
    sink.server.shutdown()
    engine.dispose()


if __name__ == "__main__":
    main()
