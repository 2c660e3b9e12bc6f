"""``rescue devices add`` registers a terminal whose printed secret signs accepted requests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from dispatch.cli import app
from dispatch.db import make_engine
from dispatch.settings import get_settings
from dispatch.telemetry.models import Device
from dispatch.telemetry.signing import unseal
from tests import factories

runner = CliRunner()


@pytest.fixture
def sqlite_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path}/cli.db"
    monkeypatch.setenv("RESCUE_DATABASE_URL", url)
    monkeypatch.setenv("RESCUE_VAR_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def test_devices_add_json_prints_id_and_secret(sqlite_env: str) -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    engine = make_engine(sqlite_env)
    with Session(engine) as s:
        lift = factories.make_elevator(s)
        s.commit()
        lift_id = lift.id
    result = runner.invoke(app, ["devices", "add", "--elevator", str(lift_id), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert set(out) == {"device_id", "secret", "elevator_id"} and out["elevator_id"] == lift_id
    with Session(engine) as s:
        device = s.get(Device, out["device_id"])
        assert device is not None and device.elevator_id == lift_id
        assert unseal(device.secret_sealed, get_settings().resolved_secret_key()) == out["secret"]
    missing = runner.invoke(app, ["devices", "add", "--elevator", "999999"])
    assert missing.exit_code != 0 and "999999" in missing.output
    assert runner.invoke(app, ["devices", "add", "--help"]).exit_code == 0
