"""Several hosts on one PostgreSQL + PostGIS and one Redis (issue 18): a compressed peak day.

Two ``rescue serve --workers 2`` processes stand for two app hosts (each its own
``RESCUE_VAR_DIR`` and port; all four workers run the job loop), sharing one PostgreSQL database
and one Redis database. The load, all through the public API and websockets:

* ``--incidents`` entrapments over ``--window-s`` (an area power cut; the issue's figure is 200
  in 5 minutes), reported by operators on both hosts and confirmed at once (auto-dispatch);
* ``--teams`` teams each sending a GPS fix every ``--gps-every-s`` seconds;
* ``--consoles`` operator consoles (websockets) split across the hosts;
* crews stepping through their jobs (accept → depart → arrive → release → clear) with pauses
  of 2–20 s (a job of about a minute, compressed from an hour); one offer in
  ``--ignore-every`` is left unanswered, so its offer deadline fires (a
  short ``RESCUE_OFFER_TIMEOUT_S``) and the job loop offers it again; the trapped-person
  reminder is set to one minute so reminders fire throughout.

Checked after the run (from the database, which is the truth): no team was ever booked twice
at once; every deadline due during the run fired exactly once (tasks ``done``, one timeline
event per fired reminder, one ``timed_out`` assignment per fired offer deadline); every console
received every event (counted against the timeline table); every notification row was handed
to the channel once and no event produced two of the same. Printed: throughput and p50/p99 of
intake, dispatch (confirm → committed offer), crew steps, GPS fixes and console delivery
(commit-to-screen, measured as request sent → frame received), for the two-host run and for
the same run on one host (the baseline).

    python -m bench.cluster [--incidents 200 --window-s 300] [--consoles 100]
        [--postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
        [--redis-url redis://127.0.0.1:6379/11]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import redis
import websockets
from sqlalchemy import func, select, text

from bench._server import free_port
from dispatch.auth.passwords import hash_password
from dispatch.auth.tokens import issue_token
from dispatch.db import make_engine, recreate_postgres_database, session_factory
from dispatch.fixtures.loader import load_taiyuan
from dispatch.migrate import upgrade
from dispatch.models import Assignment, Elevator, IncidentEvent, ScheduledTask, Team, User
from dispatch.notifications.models import Notification

ROOT = Path(__file__).resolve().parent.parent
SECRET = "cluster-bench-secret-" + "k" * 40
TEMPLATE_DB = "rescue_bench_cluster_tmpl"


@dataclass
class Samples:
    intake: list[float] = field(default_factory=list)
    dispatch: list[float] = field(default_factory=list)
    steps: list[float] = field(default_factory=list)
    gps: list[float] = field(default_factory=list)
    delivery: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    requests: int = 0


# --- setup ---------------------------------------------------------------------------------

def prepare_template(server_url: str, elevators: int) -> None:
    """Migrate and load the registry once; each run copies it (``CREATE DATABASE … TEMPLATE``)."""
    url = recreate_postgres_database(server_url, TEMPLATE_DB)
    engine = make_engine(url)
    upgrade(engine)
    load_taiyuan(engine, elevators=elevators)
    factory = session_factory(engine)
    pw = hash_password("cluster-bench-pw")
    with factory() as s:
        for team in s.scalars(select(Team)):
            s.add(User(username=f"crew-{team.id}", role="crew", team_id=team.id,
                       organization_id=team.organization_id, password_hash=pw,
                       display_name=f"crew {team.id}"))
        for i in range(8):
            s.add(User(username=f"op-{i}", role="operator", password_hash=pw,
                       display_name=f"operator {i}"))
        s.commit()
    engine.dispose()


def copy_database(server_url: str, name: str) -> str:
    admin = make_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE_DB}"'))
    admin.dispose()
    return server_url.rsplit("/", 1)[0] + "/" + name


def drop_database(server_url: str, name: str) -> None:
    admin = make_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def start_host(env: dict[str, str], var_dir: Path, log: Path) -> tuple[subprocess.Popen[bytes],
                                                                         str]:
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from dispatch.cli import app; app()", "serve",
             "--workers", "2", "--port", str(port)],
            env={**os.environ, **env, "RESCUE_VAR_DIR": str(var_dir)}, cwd=ROOT,
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.3)
    stop_host(proc)
    raise RuntimeError(f"host did not become ready; see {log}")


def stop_host(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


# --- load ----------------------------------------------------------------------------------

def token(user_id: int, role: str) -> str:
    return issue_token(secret=SECRET, user_id=user_id, role=role, now=datetime.now(UTC),
                       ttl_min=600)


async def timed(samples: Samples, bucket: list[float], coro: Any) -> httpx.Response | None:
    t0 = time.perf_counter()
    try:
        r = await coro
    except httpx.HTTPError as exc:
        samples.errors[type(exc).__name__] += 1
        return None
    samples.requests += 1
    bucket.append(time.perf_counter() - t0)
    if r.status_code >= 400:
        samples.errors[f"{r.request.method} {r.status_code}"] += 1
    return r


class Console:
    def __init__(self, url: str) -> None:
        self.url = url
        self.seqs: set[int] = set()
        self.received_at: dict[int, float] = {}  # incident id → first 'received' frame
        self.ws: websockets.ClientConnection | None = None

    async def connect(self) -> None:
        self.ws = await websockets.connect(self.url, max_size=None, open_timeout=60)
        while json.loads(await self.ws.recv()).get("type") != "ready":
            pass

    async def read(self, stop: asyncio.Event) -> None:
        assert self.ws is not None
        while not stop.is_set():
            try:
                raw = await asyncio.wait_for(self.ws.recv(), 0.5)
            except TimeoutError:
                continue
            except websockets.ConnectionClosed:
                return
            now = time.time()
            msg = json.loads(raw)
            seq = msg.get("seq")
            if isinstance(seq, int):
                self.seqs.add(seq)
                if msg.get("type") == "received":
                    self.received_at.setdefault(int(msg["incident_id"]), now)


async def crew_job(http: httpx.AsyncClient, samples: Samples, assignment_id: int,
                   crew_token: str, rng: random.Random, pause_s: tuple[float, float]) -> None:
    h = {"Authorization": f"Bearer {crew_token}"}
    steps = [("accept", None), ("depart", None), ("arrive", None),
             ("release", {"released_count": 1}), ("clear", {"cause_code": "door_system"})]
    for i, (step, body) in enumerate(steps):
        # accept within seconds (well inside the offer deadline), then the job takes its time
        await asyncio.sleep(rng.uniform(0.5, 3.0) if i == 0 else rng.uniform(*pause_s))
        await timed(samples, samples.steps, http.post(
            f"/api/v1/assignments/{assignment_id}/{step}", headers=h, json=body))


async def incident_flow(bases: list[str], k: int, code: str, op_tokens: list[str],
                        crew_tokens: dict[int, str], samples: Samples, sent_at: dict[int, float],
                        ignore_every: int, offer_timeout_s: int, rng: random.Random,
                        clients: list[httpx.AsyncClient]) -> None:
    host = k % len(bases)
    http = clients[host]
    op = {"Authorization": f"Bearer {op_tokens[k % len(op_tokens)]}"}
    t_send = time.time()
    r = await timed(samples, samples.intake, http.post(
        "/api/v1/incidents", headers=op, json={"rescue_code": code, "channel": "call",
                                               "trapped_count": 1}))
    if r is None or r.status_code != 201:
        return
    body = r.json()
    incident_id = int(body["id"])
    sent_at[incident_id] = t_send
    if body.get("state") == "merged" or body.get("duplicate"):
        return
    r = await timed(samples, samples.dispatch, http.post(
        f"/api/v1/incidents/{incident_id}/confirm", headers=op))
    if r is None or r.status_code != 200:
        return
    detail = r.json()
    open_a = [a for a in detail.get("assignments", []) if a["state"] == "offered"]
    if not open_a:
        return
    a = open_a[-1]
    if ignore_every and k % ignore_every == 0:
        # leave the offer unanswered; the job loop times it out and offers the next team
        deadline = time.monotonic() + offer_timeout_s + 60
        while time.monotonic() < deadline:
            await asyncio.sleep(2)
            try:
                r = await http.get(f"/api/v1/incidents/{incident_id}", headers=op)
            except httpx.HTTPError as exc:
                samples.errors[type(exc).__name__] += 1
                continue
            fresh = [x for x in r.json().get("assignments", [])
                     if x["state"] == "offered" and x["id"] != a["id"]]
            if fresh:
                a = fresh[-1]
                break
        else:
            samples.errors["no re-offer after timeout"] += 1
            return
    await crew_job(http, samples, int(a["id"]), crew_tokens[int(a["team_id"])], rng,
                   (2.0, 20.0))  # a job of ~1 minute: many outlive the 1-minute reminder


async def gps_loop(clients: list[httpx.AsyncClient], samples: Samples,
                   teams: list[tuple[int, float, float]], crew_tokens: dict[int, str],
                   every_s: float, stop: asyncio.Event, rng: random.Random) -> None:
    per_tick = max(1, int(len(teams) * 0.5 / every_s))  # spread fixes over the period
    i = 0
    while not stop.is_set():
        t0 = time.monotonic()
        batch = [teams[(i + j) % len(teams)] for j in range(per_tick)]
        i += per_tick
        await asyncio.gather(*(timed(samples, samples.gps, clients[tid % len(clients)].post(
            f"/api/v1/teams/{tid}/position",
            headers={"Authorization": f"Bearer {crew_tokens[tid]}"},
            json={"lon": lon + rng.uniform(-0.002, 0.002),
                  "lat": lat + rng.uniform(-0.002, 0.002), "accuracy_m": 15}))
            for tid, lon, lat in batch))
        await asyncio.sleep(max(0.0, 0.5 - (time.monotonic() - t0)))


async def drive(bases: list[str], args: argparse.Namespace,
                db_url: str) -> tuple[Samples, list[Console], dict[int, float], float,
                                      tuple[int, int, float]]:
    rng = random.Random(20261202)
    engine = make_engine(db_url)
    with engine.connect() as conn:
        ops = list(conn.execute(select(User.id).where(User.role == "operator")).scalars())
        crews = dict(conn.execute(select(User.team_id, User.id).where(User.role == "crew")).all())
        team_rows = conn.execute(select(Team.id, Team.base_location)).all()
        codes = list(conn.execute(select(Elevator.rescue_code)
                                  .where(Elevator.zone_id.isnot(None))).scalars())
        first_seq = conn.scalar(select(func.coalesce(func.max(IncidentEvent.id), 0))) or 0
    engine.dispose()
    teams = [(tid, loc.lon, loc.lat) for tid, loc in team_rows if tid in crews][:args.teams]
    op_tokens = [token(uid, "operator") for uid in ops]
    crew_tokens = {tid: token(uid, "crew") for tid, uid in crews.items()}
    chosen_codes = rng.sample(codes, args.incidents)
    samples = Samples()
    sent_at: dict[int, float] = {}
    consoles = [Console(f"{bases[i % len(bases)].replace('http', 'ws')}/api/v1/stream"
                        f"?token={op_tokens[i % len(op_tokens)]}") for i in range(args.consoles)]
    for i in range(0, len(consoles), 25):
        await asyncio.gather(*(c.connect() for c in consoles[i:i + 25]))
    stop = asyncio.Event()
    # drop idle connections before uvicorn does (its keep-alive is 5 s), or a request sent
    # just as the server closes one fails with ReadError
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=100,
                          keepalive_expiry=3.0)
    clients = [httpx.AsyncClient(base_url=b, timeout=60, limits=limits) for b in bases]
    readers = [asyncio.create_task(c.read(stop)) for c in consoles]
    stop_gps = asyncio.Event()
    gps = asyncio.create_task(gps_loop(clients, samples, teams, crew_tokens, args.gps_every_s,
                                       stop_gps, rng))
    started = time.monotonic()
    flows = []
    gap = args.window_s / args.incidents
    for k, code in enumerate(chosen_codes):
        flows.append(asyncio.create_task(incident_flow(
            bases, k, code, op_tokens, crew_tokens, samples, sent_at, args.ignore_every,
            args.offer_timeout_s, random.Random(k), clients)))
        await asyncio.sleep(max(0.0, started + (k + 1) * gap - time.monotonic()))
    await asyncio.gather(*flows)
    elapsed = time.monotonic() - started
    stop_gps.set()
    await gps
    # every event committed so far must reach every console; wait (bounded) until it has
    engine = make_engine(db_url)
    with engine.connect() as conn:
        expected = set(conn.execute(select(IncidentEvent.id).where(
            IncidentEvent.id > first_seq)).scalars())
    engine.dispose()
    drain_started = time.monotonic()
    while time.monotonic() - drain_started < 90 and any(not expected <= c.seqs
                                                         for c in consoles):
        await asyncio.sleep(0.5)
    drain_s = time.monotonic() - drain_started
    stop.set()
    await asyncio.gather(*readers)
    for c in consoles:
        assert c.ws is not None
        await c.ws.close()
    for cl in clients:
        await cl.aclose()
    return samples, consoles, sent_at, elapsed, (first_seq, max(expected, default=first_seq),
                                                 drain_s)


# --- checks --------------------------------------------------------------------------------

def check(db_url: str, consoles: list[Console], first_seq: int, last_seq: int,
          ended: datetime) -> dict[str, Any]:
    engine = make_engine(db_url)
    out: dict[str, Any] = {}
    with engine.connect() as conn:
        rows = conn.execute(select(Assignment.team_id, Assignment.offered_at,
                                   Assignment.declined_at, Assignment.timed_out_at,
                                   Assignment.cleared_at, Assignment.cancelled_at)
                            .where(Assignment.parallel.is_(False))
                            .order_by(Assignment.team_id, Assignment.offered_at)).all()
        double = 0
        last_end: dict[int, datetime | None] = {}
        for team_id, offered, *ends in rows:
            end = next((e for e in ends if e is not None), None)
            if team_id in last_end and (last_end[team_id] is None or last_end[team_id] > offered):
                double += 1
            last_end[team_id] = end
        out["assignments"] = len(rows)
        out["double_booked"] = double
        tasks = conn.execute(select(ScheduledTask.kind, ScheduledTask.status,
                                    ScheduledTask.result, ScheduledTask.handled_by)
                             .where(ScheduledTask.due_at <= ended)).all()
        out["tasks_due"] = len(tasks)
        out["tasks_not_done"] = sum(1 for t in tasks if t.status not in ("done", "cancelled"))
        out["task_states"] = dict(Counter(f"{t.kind}:{t.status}" for t in tasks))
        out["task_workers"] = len({t.handled_by for t in tasks if t.handled_by})  # host:pid
        # fired tasks whatever their due time (one may fire in the moment before the hosts stop)
        fired = conn.execute(select(ScheduledTask.kind, ScheduledTask.result)
                             .where(ScheduledTask.status == "done")).all()
        reminded = sum(1 for t in fired if t.kind == "trapped_reminder" and t.result == "reminded")
        reminder_events = conn.scalar(select(func.count()).select_from(IncidentEvent)
                                      .where(IncidentEvent.type == "trapped_update_due")) or 0
        timed_out_tasks = sum(1 for t in fired
                              if t.kind == "offer_timeout" and t.result == "timed out")
        timed_out = conn.scalar(select(func.count()).select_from(Assignment)
                                .where(Assignment.timed_out_at.isnot(None))) or 0
        out["reminders_fired"] = reminded
        out["reminders_exactly_once"] = reminded == reminder_events
        out["reminder_events"] = reminder_events
        out["offer_timeouts_fired"] = timed_out_tasks
        out["offer_timeouts_exactly_once"] = timed_out_tasks == timed_out
        # events committed while the consoles were connected (the job loops go on after)
        seqs = set(conn.execute(select(IncidentEvent.id).where(
            IncidentEvent.id > first_seq, IncidentEvent.id <= last_seq)).scalars())
        out["events"] = len(seqs)
        out["consoles_missing_events"] = sum(1 for c in consoles if not seqs <= c.seqs)
        out["console_frames_missing"] = sum(len(seqs - c.seqs) for c in consoles)
        notes = conn.execute(select(Notification.event_id, Notification.template,
                                    Notification.recipient_kind, Notification.recipient_id,
                                    Notification.status, Notification.next_try_at)).all()
        keys = Counter((n.event_id, n.template, n.recipient_kind, n.recipient_id) for n in notes)
        offered_events = conn.scalar(select(func.count()).select_from(IncidentEvent)
                                     .where(IncidentEvent.type == "offered")) or 0
        offer_sms = sum(1 for n in notes if n.template == "offer_sms")
        out["notifications"] = len(notes)
        out["notifications_duplicated"] = sum(c - 1 for c in keys.values() if c > 1)
        out["notifications_unsent"] = sum(1 for n in notes if n.status in ("pending", "sending")
                                          and n.next_try_at <= ended)  # not yet due: fine
        out["notification_states"] = dict(Counter(f"{n.template}:{n.status}" for n in notes))
        out["offer_sms_per_offer"] = f"{offer_sms}/{offered_events}"
    engine.dispose()
    return out


def pct(xs: list[float]) -> str:
    if not xs:
        return "—"
    a = np.asarray(xs) * 1000
    return f"{np.percentile(a, 50):7.1f} / {np.percentile(a, 99):7.1f}"


def run(kind: str, n_hosts: int, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    name = f"rescue_bench_cluster_{kind}"
    db_url = copy_database(args.postgres_url, name)
    r = redis.Redis.from_url(args.redis_url)
    r.flushdb()
    r.close()
    env = {"RESCUE_DATABASE_URL": db_url, "RESCUE_REDIS_URL": args.redis_url,
           "RESCUE_SECRET_KEY": SECRET, "RESCUE_LOG_LEVEL": "WARNING",
           "RESCUE_LOG_FORMAT": "json", "RESCUE_OFFER_TIMEOUT_S": str(args.offer_timeout_s),
           "RESCUE_TRAPPED_REMINDER_MIN": "1", "RESCUE_NOTIFY_VOICE_AFTER_S": "600",
           "RESCUE_GEO_CACHE_DIR": str(ROOT / "var" / "geo-cache")}
    hosts = []
    try:
        for h in range(n_hosts):
            var = work / f"{kind}-host{h}"
            hosts.append(start_host(env, var, work / f"{kind}-host{h}.log"))
        bases = [b for _, b in hosts]
        samples, consoles, sent_at, elapsed, (first_seq, last_seq, drain_s) = asyncio.run(
            drive(bases, args, db_url))
        # let the job loops finish what fell due and the outbox drain
        time.sleep(max(3.0, args.offer_timeout_s / 3))
        ended = datetime.now(UTC)
        metrics = httpx.get(f"{bases[0]}/metrics", timeout=10).text
    finally:
        for proc, _ in hosts:
            stop_host(proc)
    for c in consoles:
        samples.delivery += [t - sent_at[i] for i, t in c.received_at.items() if i in sent_at]
    checks = check(db_url, consoles, first_seq, last_seq, ended)
    checks["console_catch_up_s"] = round(drain_s, 1)
    drop_database(args.postgres_url, name)
    fired = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                if line.startswith("rescue_jobs_fired_total{"))
    return {"kind": kind, "hosts": n_hosts, "samples": samples, "elapsed": elapsed,
            "checks": checks, "jobs_fired_metric_host0": fired}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--incidents", type=int, default=200)
    p.add_argument("--window-s", type=float, default=300)
    p.add_argument("--teams", type=int, default=300)
    p.add_argument("--gps-every-s", type=float, default=10)
    p.add_argument("--consoles", type=int, default=100)
    p.add_argument("--ignore-every", type=int, default=10)
    p.add_argument("--offer-timeout-s", type=int, default=20)
    p.add_argument("--elevators", type=int, default=60_000)
    p.add_argument("--postgres-url", default=os.environ.get(
        "RESCUE_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/11")
    p.add_argument("--skip-baseline", action="store_true")
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cluster-"))
    t0 = time.perf_counter()
    prepare_template(args.postgres_url, args.elevators)
    print(f"registry template ({args.elevators} elevators) ready in "
          f"{time.perf_counter() - t0:.0f} s; logs in {work}", flush=True)
    results = [run("two_hosts", 2, args, work)]
    if not args.skip_baseline:
        results.append(run("one_host", 1, args, work))
    drop_database(args.postgres_url, TEMPLATE_DB)
    print(f"\nload: {args.incidents} entrapments in {args.window_s:.0f} s, {args.teams} teams "
          f"GPS every {args.gps_every_s:.0f} s, {args.consoles} consoles, 2 workers per host\n")
    head = f"{'':22}" + "".join(f"{r['kind'] + ' (' + str(r['hosts']) + '×2)':>26}"
                                for r in results)
    print(head)
    for label, attr in (("intake p50/p99 ms", "intake"), ("dispatch p50/p99 ms", "dispatch"),
                        ("crew step p50/p99 ms", "steps"), ("GPS fix p50/p99 ms", "gps"),
                        ("console p50/p99 ms", "delivery")):
        print(f"{label:22}" + "".join(f"{pct(getattr(r['samples'], attr)):>26}"
                                      for r in results))
    print(f"{'requests/s':22}" + "".join(
        f"{r['samples'].requests / r['elapsed']:>26.1f}" for r in results))
    print(f"{'errors':22}" + "".join(
        f"{sum(r['samples'].errors.values()):>26}" for r in results))
    for r in results:
        print(f"\n{r['kind']}: checks {json.dumps(r['checks'])}")
        print(f"{r['kind']}: errors {dict(r['samples'].errors)}; jobs fired (host 0 "
              f"/metrics, all its workers) {r['jobs_fired_metric_host0']:.0f}")
    if len(results) == 2:
        a, b = (results[0]["samples"], results[1]["samples"])
        for label, attr in (("intake", "intake"), ("dispatch", "dispatch"),
                            ("console", "delivery")):
            x, y = getattr(a, attr), getattr(b, attr)
            if x and y:
                print(f"ratio two hosts / one host, {label} p50: "
                      f"{np.percentile(x, 50) / np.percentile(y, 50):.2f}")
    bad = [r["kind"] for r in results if r["checks"]["double_booked"]
           or r["checks"]["tasks_not_done"] or not r["checks"]["reminders_exactly_once"]
           or not r["checks"]["offer_timeouts_exactly_once"]
           or r["checks"]["consoles_missing_events"] or r["checks"]["notifications_duplicated"]
           or r["checks"]["notifications_unsent"]]
    print("\nall checks passed" if not bad else f"\nCHECKS FAILED: {bad}")


if __name__ == "__main__":
    main()
