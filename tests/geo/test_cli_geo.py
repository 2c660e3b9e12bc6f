"""The geo CLI commands through typer's test runner (cache in a tmp dir)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from dispatch.cli_geo import geo_app, parse_duration_s, route
from geo.network import load_network
from geo.router import make_router
from tests.geo.geo_samples import ROADS

app = typer.Typer()
app.add_typer(geo_app, name="geo")
app.command("route")(route)
runner = CliRunner()


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("RESCUE_GEO_ROADS", str(ROADS))
    monkeypatch.setenv("RESCUE_GEO_CACHE_DIR", str(cache))
    return cache


def test_import_prints_figures(env: Path) -> None:
    res = runner.invoke(app, ["geo", "import", str(ROADS)])
    assert res.exit_code == 0, res.output
    assert "nodes 14,285" in res.output and "arcs 21,364" in res.output
    assert "bbox lon 112.4843–112.6122, lat 37.7787–37.9001" in res.output
    assert any(env.iterdir())


def test_route_json_matches_router(env: Path) -> None:
    res = runner.invoke(app, ["route", "--from", "112.5301,37.8102", "--to", "112.5712,37.8650",
                              "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert set(out) == {"seconds", "meters", "engine", "off_network"}
    r = make_router(load_network(ROADS, cache_dir=env), engine="scipy").route(
        (112.5301, 37.8102), (112.5712, 37.8650))
    assert out["seconds"] == pytest.approx(r.seconds, abs=0.05)
    assert out["meters"] == pytest.approx(r.meters, abs=0.05)
    assert out["off_network"] is False
    text = runner.invoke(app, ["route", "--from", "112.5301,37.8102", "--to",
                               "112.5712,37.8650"])
    assert text.exit_code == 0 and " s (" in text.output


def test_route_off_network_and_bad_input(env: Path) -> None:
    res = runner.invoke(app, ["route", "--from", "113.3,38.3", "--to", "112.55,37.85", "--json"])
    assert json.loads(res.output)["off_network"] is True
    bad = runner.invoke(app, ["route", "--from", "37.85,112.55", "--to", "112.55,37.85"])
    assert bad.exit_code != 0


def test_coverage_with_files(env: Path, tmp_path: Path) -> None:
    stations = tmp_path / "stations.csv"
    stations.write_text("name,lon,lat\nA,112.55,37.85\n")
    elevators = tmp_path / "elevators.geojson"
    elevators.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {},
         "geometry": {"type": "Point", "coordinates": c}}
        for c in ([112.551, 37.851], [112.60, 37.90])]}))
    res = runner.invoke(app, ["geo", "coverage", "--limit", "5m", "--stations", str(stations),
                              "--elevators", str(elevators), "--suggest", "1"])
    assert res.exit_code == 0, res.output
    assert "covered 1 (50.0%)" in res.output and "uncovered 1" in res.output
    demo = runner.invoke(app, ["geo", "coverage", "--limit", "30m", "--demo"])
    assert demo.exit_code == 0 and "demo data" in demo.output


def test_coverage_defaults_to_the_registry_and_writes_the_uncovered(
        env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dispatch.db import LonLat, make_engine
    from dispatch.migrate import upgrade
    from dispatch.settings import get_settings
    from tests import factories

    url = f"sqlite:///{tmp_path / 'reg.db'}"
    monkeypatch.setenv("RESCUE_DATABASE_URL", url)
    get_settings.cache_clear()
    engine = make_engine(url)
    upgrade(engine)
    from sqlalchemy.orm import Session

    with Session(engine) as s:
        factories.make_team(s, base_location=LonLat(112.55, 37.85))
        factories.make_team(s, base_location=LonLat(112.40, 37.70), on_duty=False)
        factories.make_elevator(s, location=LonLat(112.551, 37.851))
        factories.make_elevator(s, location=LonLat(112.60, 37.90))
        s.commit()
    engine.dispose()
    out = tmp_path / "uncovered.csv"
    res = runner.invoke(app, ["geo", "coverage", "--limit", "5m", "--suggest", "0",
                              "--uncovered", str(out)])
    get_settings.cache_clear()
    assert res.exit_code == 0, res.output
    assert "stations 1  elevators 2" in res.output and "covered 1 (50.0%)" in res.output
    assert out.read_text().splitlines() == ["lon,lat", "112.600000,37.900000"]


@pytest.mark.parametrize("args, says", [
    (["--stations", "/nonexistent.csv"], "no such file"),
    (["--limit", "0m"], "more than 0"),
])
def test_coverage_bad_options_are_one_line(env: Path, args: list[str], says: str) -> None:
    res = runner.invoke(app, ["geo", "coverage", *args])
    assert res.exit_code == 2 and says in res.output
    assert "Traceback" not in res.output


def test_parse_duration() -> None:
    assert parse_duration_s("30m") == 1800
    assert parse_duration_s("1h") == 3600
    assert parse_duration_s("90s") == parse_duration_s("90") == 90
    with pytest.raises(typer.BadParameter):
        parse_duration_s("soon")
