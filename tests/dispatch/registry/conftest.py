"""Fixtures for the registry tests: the small city's files, settings routed on its roads."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete
from sqlalchemy.orm import Session, sessionmaker

from dispatch.models import Zone
from dispatch.registry.importer import ImportOptions, ImportReport, import_with_settings
from dispatch.settings import Settings
from tests.dispatch.registry import smallcity


@pytest.fixture(scope="session")
def city_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The small city written once; tests copy what they change."""
    return smallcity.write(tmp_path_factory.mktemp("hucheng"))


@pytest.fixture
def city(city_files: dict[str, Path], tmp_path: Path) -> dict[str, Path]:
    """A private copy of the city's registry files (tests edit them)."""
    out = {}
    for kind, p in city_files.items():
        if kind == "roads":
            out[kind] = p
            continue
        q = tmp_path / "city" / p.name
        q.parent.mkdir(exist_ok=True)
        q.write_bytes(p.read_bytes())
        out[kind] = q
    out["dir"] = tmp_path / "city"
    return out


@pytest.fixture
def db(db: sessionmaker[Session]) -> Iterator[sessionmaker[Session]]:
    """The shared clean database, with zones emptied too (each test imports its own)."""
    with db() as s:
        s.execute(delete(Zone))
        s.commit()
    yield db


@pytest.fixture
def settings(engine: Engine, tmp_path: Path, geo_cache_dir: Path,
             city_files: dict[str, Path]) -> Settings:
    """Test settings whose road graph is the small city's own roads file."""
    return Settings(database_url=engine.url.render_as_string(hide_password=False),
                    secret_key="test-secret-key-not-for-production-0123456789",
                    var_dir=tmp_path / "var", geo_cache_dir=geo_cache_dir, run_jobs=False,
                    geo_roads=city_files["roads"], geo_engine="scipy")


def run_import(db: sessionmaker[Session], settings: Settings, paths: Sequence[Path | str],
               **options: object) -> ImportReport:
    """One import in its own transaction, committed when the importer wrote."""
    with db() as s:
        report = import_with_settings(s, list(paths), settings,
                                      options=ImportOptions(**options))  # type: ignore[arg-type]
        if report.written:
            s.commit()
    return report
