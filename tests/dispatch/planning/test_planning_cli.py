"""``rescue plan replay`` on the hand-built month: the table and the JSON agree with the API's
figures (same service), and a missing plan is a clear error."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from dispatch.cli import app
from dispatch.db import make_engine
from dispatch.migrate import upgrade
from dispatch.models import Organization
from dispatch.settings import get_settings
from tests import factories
from tests.dispatch.reports import handset

runner = CliRunner()
PERIOD = ["--from", "2026-11-01", "--to", "2026-12-01"]


@pytest.fixture
def demo_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path}/plan.db"
    monkeypatch.setenv("RESCUE_DATABASE_URL", url)
    monkeypatch.setenv("RESCUE_VAR_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    engine = make_engine(url)
    upgrade(engine)
    with Session(engine) as s:
        hs = handset.build(s)
        factories.make_team(s, organization=s.get(Organization, hs.company_x),
                            base_location=factories.XIAODIAN)
        s.commit()
    engine.dispose()
    yield url
    get_settings.cache_clear()


def test_plan_replay_prints_actual_and_replay(demo_db: str) -> None:
    result = runner.invoke(app, ["plan", "replay", *PERIOD, "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["entrapments"] == 8
    assert body["actual"]["arrival_within_limit_rate"] == round(5 / 7, 4)  # handset: 5 of 7
    again = json.loads(runner.invoke(app, ["plan", "replay", *PERIOD, "--json"]).output)
    assert again == body
    table = runner.invoke(app, ["plan", "replay", *PERIOD])
    assert table.exit_code == 0 and "71.4%" in table.output and "小店区" in table.output


def test_plan_replay_unknown_plan(demo_db: str) -> None:
    result = runner.invoke(app, ["plan", "replay", *PERIOD, "--plan", "nope"])
    assert result.exit_code == 2
    assert "Plan not found" in result.output
