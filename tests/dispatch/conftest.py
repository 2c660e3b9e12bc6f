"""Fixtures shared by the dispatch integration tests."""

from __future__ import annotations

import pytest

from tests.conftest import Api
from tests.dispatch import scenario


@pytest.fixture
def net(api: Api) -> scenario.Scenario:
    """The small real-geometry rescue network of ``tests/dispatch/scenario.py``."""
    with api.db() as s:
        sc = scenario.build(s)
        s.commit()
    return sc


@pytest.fixture
def op(api: Api) -> dict[str, str]:
    """Auth headers of a fresh operator."""
    return api.user("operator")
