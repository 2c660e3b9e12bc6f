"""Shared fixtures: one parametrised database fixture over SQLite and PostGIS.

Each backend is created once per session by running the Alembic migrations (which tests them);
each test then starts from empty transactional tables. PostGIS comes from
``scripts/test-services.sh`` (``RESCUE_TEST_POSTGRES_URL``); without it those cases skip.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from dispatch.all_models import Base
from dispatch.app import create_app
from dispatch.db import make_engine, recreate_postgres_database, session_factory
from dispatch.deps import get_now
from dispatch.hooks import install_event_hooks
from dispatch.jobs import run_due_tasks
from dispatch.migrate import upgrade
from dispatch.routing import router_for
from dispatch.settings import Settings
from tests import factories

POSTGRES_URL = os.environ.get("RESCUE_TEST_POSTGRES_URL")
BACKENDS = ["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)]


@pytest.fixture(scope="session")
def backend_urls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    urls = {"sqlite": f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"}
    if POSTGRES_URL:
        urls["postgis"] = recreate_postgres_database(POSTGRES_URL, f"rescue_t_{os.getpid()}")
    return urls


_engines: dict[str, Engine] = {}


@pytest.fixture(scope="session", params=BACKENDS)
def engine(request: pytest.FixtureRequest, backend_urls: dict[str, str]) -> Iterator[Engine]:
    name = request.param
    if name not in backend_urls:
        pytest.skip("PostGIS not available (run through scripts/test-services.sh)")
    if name not in _engines:
        eng = make_engine(backend_urls[name])
        upgrade(eng)
        _engines[name] = eng
    yield _engines[name]


_KEEP = ("zone", "alembic_version")


def _truncate(engine: Engine) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables) if t.name not in _KEEP]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE"))
        else:
            for t in tables:
                conn.execute(text(f'DELETE FROM "{t}"'))


@pytest.fixture
def db(engine: Engine) -> Iterator[sessionmaker[Session]]:
    """A session factory on a clean database (registry tables emptied, zones kept)."""
    _truncate(engine)
    factory = session_factory(engine)
    install_event_hooks(factory)  # as create_app does: services write their outbox rows
    yield factory


@pytest.fixture
def session(db: sessionmaker[Session]) -> Iterator[Session]:
    with db() as s:
        yield s


class Clock:
    """A controllable clock injected into the app (no sleeping in tests)."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> datetime:
        self.now += timedelta(**kw)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 30, 8, 30, tzinfo=UTC))


@dataclass
class Api:
    client: TestClient
    db: sessionmaker[Session]
    clock: Clock
    settings: Settings

    def run_jobs(self) -> int:
        """Fire every task due at the test clock's time (what the job loop would do)."""
        return run_due_tasks(self.db, settings=self.settings, router=router_for(self.settings),
                             now=self.clock.now, worker="test")

    def login(self, username: str, password: str = factories.PASSWORD) -> dict[str, str]:
        r = self.client.post("/api/v1/auth/token",
                             data={"username": username, "password": password})
        assert r.status_code == 200, r.text
        self.client.cookies.clear()
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    def user(self, role: str, **kw: object) -> dict[str, str]:
        with self.db() as s:
            u = factories.make_user(s, role, **kw)
            s.commit()
            name = u.username
        return self.login(name)


@pytest.fixture(scope="session")
def geo_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("geo-cache")


@pytest.fixture
def settings(engine: Engine, tmp_path: Path, geo_cache_dir: Path) -> Settings:
    """Test settings: the job loop is driven by the test (``run_jobs`` off) with the test clock."""
    return Settings(database_url=engine.url.render_as_string(hide_password=False),
                    secret_key="test-secret-key-not-for-production-0123456789",
                    var_dir=tmp_path / "var", geo_cache_dir=geo_cache_dir, run_jobs=False)


@pytest.fixture
def api(db: sessionmaker[Session], settings: Settings, clock: Clock) -> Iterator[Api]:
    app = create_app(settings)
    app.dependency_overrides[get_now] = clock
    with TestClient(app) as client:
        yield Api(client, db, clock, settings)


@pytest.fixture
def seed(db: sessionmaker[Session]) -> Callable[..., object]:
    """Run ``fn(session)`` and commit, returning its result (ids survive the session)."""

    def run(fn: Callable[[Session], object]) -> object:
        with db() as s:
            out = fn(s)
            s.commit()
            return out

    return run
