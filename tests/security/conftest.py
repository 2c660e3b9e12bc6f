"""Fixtures of the hardening suite (issue 12): the dispatch scenario and signed-in users."""

from __future__ import annotations

import pytest

from tests.conftest import Api
from tests.dispatch import scenario


@pytest.fixture
def net(api: Api) -> scenario.Scenario:
    with api.db() as s:
        sc = scenario.build(s)
        s.commit()
    return sc


@pytest.fixture
def op(api: Api) -> dict[str, str]:
    return api.user("operator")


@pytest.fixture
def admin(api: Api) -> dict[str, str]:
    return api.user("admin")
