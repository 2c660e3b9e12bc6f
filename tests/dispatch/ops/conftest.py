"""Ops tests: the shared fixtures with a metrics token configured, and databases to break."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from dispatch.db import make_engine, recreate_postgres_database
from dispatch.migrate import upgrade
from dispatch.settings import Settings
from tests.conftest import POSTGRES_URL
from tests.dispatch.ops.helpers import METRICS_TOKEN

_seq = itertools.count()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"metrics_token": METRICS_TOKEN})


@pytest.fixture
def new_db(engine: Engine, tmp_path: Path) -> Iterator[Callable[..., str]]:
    """``new_db(migrate=True)``: a database of the current backend of this test's own (a
    SQLite file, or a PostgreSQL database dropped afterwards)."""
    made: list[str] = []

    def make(migrate: bool = True) -> str:
        n = next(_seq)
        if engine.dialect.name == "postgresql":
            assert POSTGRES_URL
            name = f"rescue_t_ops_{os.getpid()}_{n}"
            url = recreate_postgres_database(POSTGRES_URL, name)
            made.append(name)
        else:
            url = f"sqlite:///{tmp_path / f'own{n}.db'}"
        if migrate:
            eng = make_engine(url)
            upgrade(eng)
            eng.dispose()
        return url

    yield make
    if made:
        admin = make_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for name in made:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def own_db(new_db: Callable[..., str]) -> str:
    """A migrated database of the current backend that this test may break."""
    return new_db()
