"""One Settings object for the whole application (environment prefix ``RESCUE_``).

Validated at start-up and injected; nothing else reads the environment. Every knob a dispatch
centre may want to change per deployment lives here, with a default that works for the demo.
"""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RESCUE_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///var/rescue.db",
        description="SQLAlchemy URL: sqlite:///path or postgresql+psycopg://user@host/db.",
    )
    redis_url: str | None = Field(
        default=None, description="Redis URL for the event bus; unset means in-process."
    )
    secret_key: str | None = Field(
        default=None,
        description="Signs access tokens. Unset in dev: generated once into var/secret_key.",
    )
    demo_password: str = Field(default="rescue-demo", description="Password of the demo users.")
    var_dir: Path = Field(default=Path("var"), description="Where dev state lives.")
    token_ttl_min: int = Field(default=720, description="Access token lifetime in minutes.")
    duplicate_window_min: int = Field(
        default=30, description="A report for an elevator whose entrapment (not yet released) "
        "was reported within this many minutes is merged into it."
    )

    def resolved_secret_key(self) -> str:
        """The configured secret, or one generated once and kept under ``var/``."""
        if self.secret_key:
            return self.secret_key
        path = self.var_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.write_text(key)
        path.chmod(0o600)
        return key

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
