"""``/healthz`` and ``/readyz`` on both backends: ready, then each dependency taken away."""

from __future__ import annotations

import os
import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from dispatch.app import create_app
from dispatch.db import make_engine
from dispatch.routing import router_for
from dispatch.settings import Settings
from tests.conftest import POSTGRES_URL
from tests.dispatch.live_servers import PrivateRedis


def ready(client: TestClient) -> tuple[int, dict]:
    r = client.get("/readyz")
    if r.status_code != 200:
        assert r.headers["content-type"] == "application/problem+json"
    return r.status_code, r.json()


def test_healthz_touches_no_database(settings: Settings, tmp_path: Path) -> None:
    gone = settings.model_copy(update={"database_url": "postgresql+psycopg://x@127.0.0.1:1/x"})
    with TestClient(create_app(gone)) as client:
        r = client.get("/healthz")
        assert r.status_code == 200 and r.json()["status"] == "ok"
        assert r.json()["pid"] == os.getpid()
        status, body = ready(client)
        assert status == 503 and body["failing"][0] == "database"


def test_ready_then_503_naming_the_database_when_it_is_gone(settings: Settings, own_db: str,
                                                            engine: Engine) -> None:
    s = settings.model_copy(update={"database_url": own_db})
    router_for(s)
    app = create_app(s)
    with TestClient(app) as client:
        status, body = ready(client)
        assert status == 200, body
        assert body == {"status": "ready", "checks": {
            "database": "ok", "redis": "not configured", "road_graph": "ok",
            "job_loop": "not run in this process"}}
        if engine.dialect.name == "postgresql":
            admin = make_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE "{own_db.rsplit("/", 1)[1]}" WITH (FORCE)'))
            admin.dispose()
        else:
            path = own_db.split("///", 1)[1]
            for suffix in ("", "-wal", "-shm"):
                Path(path + suffix).unlink(missing_ok=True)
            app.state.engine.dispose()  # the open handle still sees the unlinked file
        status, body = ready(client)
        assert status == 503
        assert body["title"] == "Not ready" and body["failing"] == ["database"]
        assert body["checks"]["database"].startswith("unreachable or not migrated")
        assert body["detail"].startswith("database: ")
        assert body["checks"]["road_graph"] == "ok"
        r = client.get("/readyz", headers={"X-Request-ID": "lb-probe-42"})
        assert r.headers["x-request-id"] == "lb-probe-42" == r.json()["request_id"]


def test_503_names_a_database_behind_the_code(settings: Settings, own_db: str) -> None:
    eng = make_engine(own_db)
    with eng.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    eng.dispose()
    s = settings.model_copy(update={"database_url": own_db})
    router_for(s)
    with TestClient(create_app(s)) as client:
        status, body = ready(client)
    assert status == 503 and body["failing"] == ["database"]
    assert "at revision 0001, code expects" in body["checks"]["database"]
    assert "rescue db upgrade" in body["detail"]


def test_503_when_the_job_loop_stops_or_stalls(settings: Settings) -> None:
    # a real loop on the test database; a long poll so the test controls when it ticks
    s = settings.model_copy(update={"run_jobs": True, "job_poll_s": 30.0})
    app = create_app(s)
    with TestClient(app) as client:
        deadline = time.monotonic() + 20
        while app.state.jobs.last_tick is None and time.monotonic() < deadline:
            time.sleep(0.05)
        status, body = ready(client)
        assert status == 200, body
        assert body["checks"]["job_loop"] == "ok"
        app.state.jobs.last_tick = time.monotonic() - 60  # a pass that never came back
        status, body = ready(client)
        assert status == 503 and body["failing"] == ["job_loop"]
        assert body["checks"]["job_loop"] == "job loop last ticked 60 s ago (limit 10 s)"
        app.state.jobs.stop()
        status, body = ready(client)
        assert status == 503 and body["failing"] == ["job_loop"]
        assert body["checks"]["job_loop"] == "job loop not running"


def test_redis_is_checked_when_configured(settings: Settings, tmp_path: Path) -> None:
    redis = PrivateRedis(tmp_path)
    redis.start()
    try:
        s = settings.model_copy(update={"redis_url": redis.url})
        router_for(s)
        with TestClient(create_app(s)) as client:
            status, body = ready(client)
            assert status == 200 and body["checks"]["redis"] == "ok", body
            redis.stop()
            status, body = ready(client)
            assert status == 503 and body["failing"] == ["redis"]
            assert body["checks"]["redis"].startswith("unreachable (")
    finally:
        redis.stop()
