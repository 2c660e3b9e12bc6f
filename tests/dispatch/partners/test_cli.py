"""``rescue partners add`` registers a partner whose printed key and secret work."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from dispatch.cli import app
from dispatch.db import make_engine
from dispatch.partners.models import Partner
from dispatch.partners.service import authenticate
from dispatch.settings import get_settings
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


def test_partners_add_json(sqlite_env: str) -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    engine = make_engine(sqlite_env)
    with Session(engine) as s:
        code = factories.make_zone(s).code
        s.commit()
    result = runner.invoke(app, ["partners", "add", "省平台", "--kind", "province_platform",
                                 "--url", "https://p.example.cn/hook", "--events",
                                 "incident.received,province.status", "--region", code,
                                 "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert set(out) == {"id", "api_key", "secret"}
    with Session(engine) as s:
        p = s.get(Partner, out["id"])
        assert p is not None and p.kind == "province_platform"
        assert p.events == ["incident.received", "province.status"]
        assert out["api_key"] not in p.api_key_hash and out["secret"] not in p.secret_sealed
        assert unseal(p.secret_sealed, get_settings().resolved_secret_key()) == out["secret"]
        assert authenticate(s, out["api_key"]) is not None
        assert authenticate(s, out["api_key"] + "x") is None


def test_partners_add_rejects_a_bad_kind_and_region(sqlite_env: str) -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    bad = runner.invoke(app, ["partners", "add", "x", "--kind", "nope"])
    assert bad.exit_code != 0 and "kind" in bad.output
    bad = runner.invoke(app, ["partners", "add", "x", "--kind", "other", "--region", "000000"])
    assert bad.exit_code != 0 and "region" in bad.output
