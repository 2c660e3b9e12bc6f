"""Run Alembic from code (the CLI and the tests), against either backend."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from dispatch.resources import data_path


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(data_path("alembic")))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "heads") -> None:
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def check(engine: Engine) -> None:
    """Raise if the models and the migrated database differ (``alembic check``)."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.check(cfg)
