"""Ops tests: the shared fixtures with a metrics token configured."""

from __future__ import annotations

import pytest

from dispatch.settings import Settings
from tests.dispatch.ops.helpers import METRICS_TOKEN


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"metrics_token": METRICS_TOKEN})
