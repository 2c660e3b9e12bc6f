"""``rescue serve --workers 2`` as a real server: metrics add up over the workers, and its
log (uvicorn's own lines included) is JSON without tokens or query strings."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from websockets.sync.client import connect as ws_connect

from bench._server import free_port
from dispatch.db import make_engine
from dispatch.migrate import upgrade
from tests.dispatch.ops.helpers import METRICS_TOKEN, parse, value

ROOT = Path(__file__).resolve().parents[3]
CREW_LINK_TOKEN = "crewlinktoken-0123456789abcdef"


def test_two_workers_add_up_and_log_json_without_secrets(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    port = free_port()
    var = tmp_path / "var"
    env = {**os.environ, "RESCUE_DATABASE_URL": url, "RESCUE_VAR_DIR": str(var),
           "RESCUE_SECRET_KEY": "serve-test-secret-key-0123456789abcdef",
           "RESCUE_LOG_FORMAT": "json", "RESCUE_METRICS_TOKEN": METRICS_TOKEN,
           "RESCUE_RUN_JOBS": "false", "PYTHONPATH": str(ROOT)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from dispatch.cli import app; app()", "serve",
             "--workers", "2", "--port", str(port)],
            env=env, cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT,
            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
        run_dirs = list((var / "prometheus").glob("run-*"))
        assert len(run_dirs) == 1

        def one(_: int) -> int:
            r = httpx.get(f"{base}/crew?t={CREW_LINK_TOKEN}", timeout=10)
            assert r.status_code == 200
            return int(httpx.get(f"{base}/healthz", timeout=10).json()["pid"])

        pids: set[int] = set()
        sent = 0
        with ThreadPoolExecutor(8) as pool:
            while len(pids) < 2 and sent < 400:  # until both workers have answered
                pids.update(pool.map(one, range(40)))
                sent += 40
        assert len(pids) == 2, "the kernel gave every connection to one worker"
        # uvicorn logs websocket handshakes itself, with the path and its query string
        with contextlib.suppress(Exception):
            ws_connect(f"ws://127.0.0.1:{port}/api/v1/stream?token={CREW_LINK_TOKEN}",
                       open_timeout=10).close()
        # every worker wrote its own file; any worker's scrape adds them all up
        assert len({p.name.rsplit("_", 1)[1] for p in run_dirs[0].glob("counter_*.db")}) == 2
        for _ in range(4):
            samples = parse(httpx.get(f"{base}/metrics", timeout=10, headers={
                "Authorization": f"Bearer {METRICS_TOKEN}"}).text)
            assert value(samples, "rescue_http_requests_total", method="GET", route="/crew",
                         status="200") == sent
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    text = log_path.read_text()
    records = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    lines = [line for line in text.splitlines() if line.strip()]
    first_json = next(i for i, line in enumerate(lines) if line.startswith("{"))
    assert lines[0].startswith("elevator-rescue")  # the command's banner comes first …
    assert all(line.startswith("{") for line in lines[first_json:])  # … then only JSON
    assert any(r["logger"].startswith("uvicorn") for r in records)  # uvicorn's own, as JSON
    assert any("WebSocket /api/v1/stream?token=[redacted]" in r["msg"] for r in records)
    crew = [r for r in records if r.get("route") == "/crew"]
    assert len(crew) == sent and all(r["status"] == 200 for r in crew)
    assert CREW_LINK_TOKEN not in text and "?t=" not in text
    assert not any("GET /crew?" in r.get("msg", "") for r in records)  # no access-log line


def test_each_run_gets_a_fresh_metrics_dir_and_dead_runs_are_removed(
        tmp_path: Path, monkeypatch) -> None:
    from dispatch.ops.serving import ENV, multiprocess_dir
    from dispatch.settings import Settings

    monkeypatch.delenv(ENV, raising=False)
    settings = Settings(var_dir=tmp_path / "var", secret_key="x" * 40)
    assert multiprocess_dir(settings, 1) is None and ENV not in os.environ
    base = tmp_path / "var" / "prometheus"
    dead = base / "run-999999999"  # no such process
    alive = base / f"run-{os.getppid()}"  # another run still going
    for d in (dead, alive):
        d.mkdir(parents=True)
        (d / "counter_1.db").write_bytes(b"x")
    path = multiprocess_dir(settings, 2)
    assert path == base.resolve() / f"run-{os.getpid()}" and os.environ[ENV] == str(path)
    assert path.is_dir() and not any(path.iterdir())
    assert not dead.exists() and (alive / "counter_1.db").exists()
    # an operator's own directory is kept but emptied of the last run's values
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "gauge_livesum_7.db").write_bytes(b"x")
    monkeypatch.setenv(ENV, str(mine))
    assert multiprocess_dir(settings, 4) == mine and not any(mine.iterdir())
