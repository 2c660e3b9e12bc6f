"""The ``rescue`` command: help for every command, migrate, add users."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from dispatch.auth.passwords import verify_password
from dispatch.cli import app
from dispatch.db import make_engine
from dispatch.models import User
from dispatch.settings import get_settings

runner = CliRunner()


@pytest.fixture
def sqlite_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path}/cli.db"
    monkeypatch.setenv("RESCUE_DATABASE_URL", url)
    monkeypatch.setenv("RESCUE_VAR_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


@pytest.mark.parametrize("args", [
    [], ["serve"], ["db"], ["db", "upgrade"], ["fixtures"], ["fixtures", "load"], ["users"],
    ["users", "add"], ["users", "demo"], ["geo"],
])
def test_every_command_has_help(args: list[str]) -> None:
    result = runner.invoke(app, [*args, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_upgrade_then_add_user(sqlite_env: str) -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    result = runner.invoke(app, ["users", "add", "dispatcher7", "--role", "operator",
                                 "--password", "s3cret-pass"])
    assert result.exit_code == 0, result.output
    with Session(make_engine(sqlite_env)) as s:
        user = s.scalar(select(User).where(User.username == "dispatcher7"))
    assert user is not None and user.role == "operator"
    assert user.password_hash.startswith("$argon2id$")
    assert verify_password(user.password_hash, "s3cret-pass")
    again = runner.invoke(app, ["users", "add", "dispatcher7", "--role", "operator",
                                "--password", "s3cret-pass"])
    assert again.exit_code != 0 and "exists" in again.output


def test_bad_role_and_crew_without_team_are_refused(sqlite_env: str) -> None:
    runner.invoke(app, ["db", "upgrade"])
    bad = runner.invoke(app, ["users", "add", "x", "--role", "king", "--password", "12345678"])
    assert bad.exit_code != 0 and "role" in bad.output
    crew = runner.invoke(app, ["users", "add", "x", "--role", "crew", "--password", "12345678"])
    assert crew.exit_code != 0 and "team" in crew.output


def test_incident_import_names_missing_columns_before_any_row(sqlite_env: str,
                                                              tmp_path: Path) -> None:
    f = tmp_path / "old.csv"
    f.write_text("external_id,channel,received_at\nX1,call,2026-01-01T08:00:00+08:00\n",
                 encoding="utf-8")
    result = runner.invoke(app, ["incidents", "import", str(f)])
    assert result.exit_code == 1
    assert "missing columns: outcome, rescue_code|register_code" in result.output
    assert "line" not in result.output  # no row was validated


def test_serve_announces_the_pages_on_the_port_it_uses(monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    from dispatch import cli

    monkeypatch.delenv("RESCUE_PUBLIC_BASE_URL", raising=False)
    base = cli._follow_port("0.0.0.0", 8311)
    assert base == "http://127.0.0.1:8311"
    assert get_settings().public_base_url == "http://127.0.0.1:8311"
    cli._announce(base)
    out = capsys.readouterr().out
    for page in ("/console", "/crew", "/office", "/docs"):
        assert f"http://127.0.0.1:8311{page}" in out
    monkeypatch.delenv("RESCUE_PUBLIC_BASE_URL")
    get_settings.cache_clear()


def test_serve_ends_its_output_with_the_pages_urls(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 16 item 14: the URLs come after uvicorn's startup lines (the server announces
    once it listens); the test's announce hook stops the server right away."""
    import uvicorn

    from bench._server import free_port
    from dispatch import cli

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    seen: list[bool] = []
    real_announce = cli._announce

    def announce(b: str) -> None:
        seen.append(server.started)
        real_announce(b)
        server.should_exit = True

    monkeypatch.setattr(cli, "_announce", announce)
    server = cli.announcing_server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"), base)
    server.run()
    assert seen == [True]  # announced after uvicorn's "running on" line, once
    lines = [ln.strip() for ln in capsys.readouterr().out.splitlines() if ln.strip()]
    assert [ln.split()[0] for ln in lines[-4:]] == [
        f"{base}/console", f"{base}/crew", f"{base}/office", f"{base}/docs"]


def test_pyproject_license_is_an_spdx_string() -> None:
    """A ``project.license`` table makes setuptools print deprecation warnings on every
    ``make run`` install; an SPDX string needs setuptools ≥ 77 in the build requirements."""
    import tomllib

    from dispatch.settings import ROOT

    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert meta["project"]["license"] == "Apache-2.0"
    assert "setuptools>=77" in meta["build-system"]["requires"]
