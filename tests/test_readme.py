"""The README is the contract: its settings table lists every setting, its commands exist."""

from pathlib import Path

from dispatch.settings import Settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_in_the_readme_table() -> None:
    for name in Settings.model_fields:
        assert f"`RESCUE_{name.upper()}`" in README, name


def test_the_two_commands_are_documented() -> None:
    assert "make run" in README and "make test" in README
    ci = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text()
    assert "make test" in ci
