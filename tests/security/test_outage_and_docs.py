"""Issue 12: database outage answers, the job loop's single log line, the CLI's single line,
the fake Twilio once per machine, problem+json in the OpenAPI document."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dispatch.app import create_app
from dispatch.jobs import JobLoop
from dispatch.notifications.webhooks import start_fake_once
from dispatch.settings import ROOT, Settings

DOWN = {"sqlite": "(a directory)",
        "postgis": "postgresql+psycopg://postgres@127.0.0.1:1/rescue"}


@pytest.mark.parametrize("backend", sorted(DOWN))
def test_database_down_is_503_naming_it_everywhere(backend: str, tmp_path: Path) -> None:
    url = DOWN[backend]
    if backend == "sqlite":  # the database file is a directory: SQLite cannot open it
        (tmp_path / "db").mkdir()
        url = f"sqlite:///{tmp_path / 'db'}"
    settings = Settings(database_url=url, secret_key="k" * 40, run_jobs=False,
                        var_dir=tmp_path)
    with TestClient(create_app(settings)) as client:
        # /healthz says the process is alive (issue 18); readiness names the database
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 503 and "database" in ready.text
        assert ready.headers["content-type"].startswith("application/problem+json")
        r = client.post("/api/v1/auth/token", data={"username": "a", "password": "b"})
        assert r.status_code == 503, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["dependency"] == "database" and r.headers["Retry-After"]


def test_job_loop_logs_one_line_per_outage(tmp_path: Path, caplog) -> None:
    from dispatch.db import make_engine, session_factory

    settings = Settings(database_url=DOWN["postgis"], secret_key="k" * 40, job_poll_s=0.01,
                        var_dir=tmp_path)
    factory = session_factory(make_engine(settings.database_url, pool_pre_ping=False))
    loop = JobLoop(factory, settings=settings, router=lambda: None)  # type: ignore[arg-type]
    with caplog.at_level(logging.INFO, logger="rescue"):
        loop.start()
        time.sleep(1.5)
        loop.stop()
    lines = [r for r in caplog.records if r.name.startswith("rescue")]
    assert len(lines) == 1 and "database unavailable" in lines[0].getMessage()
    assert lines[0].exc_info is None  # no traceback


def test_cli_prints_one_line_when_the_database_is_down(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "dispatch.cli", "db", "upgrade"], cwd=ROOT,
                       capture_output=True, text=True, timeout=60,
                       env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT),
                            "RESCUE_DATABASE_URL": DOWN["postgis"],
                            "RESCUE_VAR_DIR": str(tmp_path)})
    assert r.returncode == 1
    assert r.stderr.strip().startswith("database unavailable:")
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_fake_twilio_starts_once_per_machine() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    first = start_fake_once("AC" + "0" * 32, "tok", port)
    try:
        assert first is not None
        assert start_fake_once("AC" + "0" * 32, "tok", port) is None  # second worker uses it
    finally:
        assert first is not None
        first.stop()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(RuntimeError, match="not the fake Twilio"):
            start_fake_once("AC" + "0" * 32, "tok", busy.getsockname()[1])


def test_every_route_declares_its_problem_answers(tmp_path: Path) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path}/x.db", secret_key="k" * 40))
    doc = app.openapi()
    assert "Problem" in doc["components"]["schemas"]
    checked = 0
    for path, item in doc["paths"].items():
        for method, op in item.items():
            codes = {c for c in op["responses"] if c.startswith("4")}
            assert {"400", "422"} <= codes, (method, path)
            for code in codes:
                assert "application/problem+json" in op["responses"][code]["content"]
            if path not in ("/healthz", "/api/v1/auth/token", "/api/v1/auth/logout"):
                assert {"401", "403"} <= codes, (method, path)
            checked += 1
    assert checked >= 40
    assert doc["paths"]["/api/v1/auth/token"]["post"]["responses"]["429"]
