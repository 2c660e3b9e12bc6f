"""Fixtures of the partner tests: a real receiver, partners registered through the admin API,
and the delivery loop driven at the test clock."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from dispatch.partners.delivery import PushReport, run_partner_outbox
from tests.conftest import Api
from tests.dispatch.partners.receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture
def admin(api: Api) -> dict[str, str]:
    return api.user("admin")


def add_partner(api: Api, admin: dict[str, str], **body: Any) -> dict[str, Any]:
    body.setdefault("name", f"partner-{len(body)}-{id(body)}")
    r = api.client.post("/api/v1/partners", headers=admin, json=body)
    assert r.status_code == 201, r.text
    return r.json()


def push(api: Api, *, timeout_s: float = 2.0) -> PushReport:
    with httpx.Client(timeout=timeout_s) as client:
        return run_partner_outbox(api.db, settings=api.settings, now=api.clock.now,
                                  client=client)


def key(p: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {p['api_key']}"}
