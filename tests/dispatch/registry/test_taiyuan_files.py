"""Taiyuan goes in through the importer: the generator's rows as files, imported unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from dispatch.cli import app
from dispatch.fixtures.taiyuan import generate
from dispatch.fixtures.taiyuan_files import write_registry_files
from dispatch.models import Elevator, Organization, Zone
from dispatch.settings import Settings, get_settings
from tests.dispatch.registry.conftest import run_import


def test_generated_taiyuan_imports_as_files(engine: Engine, db: sessionmaker[Session],
                                            tmp_path: Path, geo_cache_dir: Path) -> None:
    registry = generate(1500, seed=7)
    counts = write_registry_files(registry, tmp_path / "taiyuan")
    assert counts == registry.counts()
    settings = Settings(database_url=engine.url.render_as_string(hide_password=False),
                        geo_cache_dir=geo_cache_dir, geo_engine="scipy")  # Taiyuan's roads
    report = run_import(db, settings, [tmp_path / "taiyuan"], actor="fixtures",
                        off_network_is_error=False)
    assert report.written and not report.errors
    assert {k: r.created for k, r in report.kinds.items()} == registry.counts()
    # only the outer counties, which have no roads in the demo extract, are off the network
    assert report.kinds["elevators"].warnings == 40
    zone_code = {z["id"]: z["code"] for z in registry.zones}
    with db() as s:
        got = {r.register_code: r.code for r in s.execute(
            select(Elevator.register_code, Zone.code).join(Zone, Zone.id == Elevator.zone_id))}
        authority = s.scalar(select(Organization).where(Organization.code == "AMR-01"))
        station = s.scalar(select(Organization).where(Organization.code == "RSC-01"))
    assert got == {e["register_code"]: zone_code[e["zone_id"]] for e in registry.elevators}
    assert authority is not None and authority.kind == "office" and authority.region is None
    assert station is not None and station.region in set(zone_code.values())
    again = run_import(db, settings, [tmp_path / "taiyuan"], off_network_is_error=False)
    assert again.changes == 0


def test_cli_dry_run_prints_the_report_and_exit_code_says_invalid(
        tmp_path: Path, city: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    mp = monkeypatch
    mp.setenv("RESCUE_DATABASE_URL", f"sqlite:///{tmp_path}/cli.db")
    mp.setenv("RESCUE_VAR_DIR", str(tmp_path / "var"))
    mp.setenv("RESCUE_GEO_ROADS", str(city["roads"]))
    mp.setenv("RESCUE_GEO_CACHE_DIR", str(tmp_path / "geo"))
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
        result = runner.invoke(app, ["registry", "import", str(city["dir"]), "--dry-run"])
        assert result.exit_code == 0, result.output
        assert "dry run: nothing written" in result.output and "elevators" in result.output
        (city["dir"] / "teams.csv").write_text("code,name\nX,Y\n", encoding="utf-8")
        result = runner.invoke(app, ["registry", "import", str(city["dir"])])
        assert result.exit_code == 1
        assert "teams.csv:line 1:organization_code" in result.output
        assert "nothing written" in result.output
    finally:
        get_settings.cache_clear()


def test_fixtures_load_goes_through_the_importer(tmp_path: Path, geo_cache_dir: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path}/demo.db"
    monkeypatch.setenv("RESCUE_DATABASE_URL", url)
    monkeypatch.setenv("RESCUE_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("RESCUE_GEO_CACHE_DIR", str(geo_cache_dir))
    monkeypatch.setenv("RESCUE_GEO_ENGINE", "scipy")
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
        result = runner.invoke(app, ["fixtures", "load", "taiyuan", "--elevators", "300",
                                     "--if-empty"])
        assert result.exit_code == 0, result.output
        files = tmp_path / "var" / "fixtures" / "taiyuan"
        assert sorted(p.name for p in files.iterdir()) == [
            "elevators.csv", "organizations.csv", "teams.csv", "zones.geojson"]
        from dispatch.db import make_engine, session_factory
        from dispatch.registry.models import RegistryChange

        with session_factory(make_engine(url))() as s:
            actors = set(s.scalars(select(RegistryChange.actor)))
            n = len(s.scalars(select(Elevator.id)).all())
        assert actors == {"fixtures"} and n == 300 + 40
        again = runner.invoke(app, ["fixtures", "load", "taiyuan", "--if-empty"])
        assert again.exit_code == 0 and "already loaded" in again.output
    finally:
        get_settings.cache_clear()
