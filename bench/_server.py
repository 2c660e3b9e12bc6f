"""Shared benchmark plumbing: fresh databases, a real server in a subprocess, percentiles."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import httpx
import numpy as np
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from dispatch.db import make_engine, recreate_postgres_database, session_factory
from dispatch.fixtures.loader import load_taiyuan
from dispatch.migrate import upgrade
from dispatch.models import Elevator
from dispatch.routing import router_for
from dispatch.settings import Settings
from geo.router import Router

ROOT = Path(__file__).resolve().parent.parent


def fresh_database(kind: str, workdir: Path, postgres_url: str | None, name: str) -> str:
    """A URL to an empty database of ``kind`` ("sqlite" or "postgis")."""
    if kind == "sqlite":
        path = workdir / f"{name}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}"
    assert postgres_url, "PostGIS needs --postgres-url"
    return recreate_postgres_database(postgres_url, name)


class LoadedRegistry(NamedTuple):
    engine: Engine
    factory: sessionmaker[Session]
    settings: Settings
    router: Router
    elevator_ids: list[int]


def loaded_registry(url: str, *, cache_dir: Path) -> LoadedRegistry:
    """Migrate the empty database at ``url``, load the Taiyuan fixtures, build the router."""
    engine = make_engine(url)
    upgrade(engine)
    load_taiyuan(engine)
    settings = Settings(database_url=url, geo_cache_dir=cache_dir, run_jobs=False,
                        secret_key="bench" * 10)
    factory = session_factory(engine)
    with factory() as s:
        elevator_ids = list(s.scalars(select(Elevator.id)))
    return LoadedRegistry(engine, factory, settings, router_for(settings), elevator_ids)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_server(env: dict[str, str], *, workers: int = 1) -> Iterator[str]:
    """Start ``rescue serve`` in a subprocess and yield its base URL once healthy."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "dispatch.app:create_app", "--factory",
         "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
         "--log-level", "warning"],
        env={**os.environ, **env}, cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def login(base: str, username: str, password: str) -> dict[str, str]:
    r = httpx.post(f"{base}/api/v1/auth/token",
                   data={"username": username, "password": password}, timeout=10)
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def percentiles_ms(samples_s: Sequence[float]) -> tuple[float, float, float]:
    """(p50, p99, mean) in milliseconds."""
    arr = np.asarray(samples_s) * 1000.0
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 99)), float(arr.mean())
