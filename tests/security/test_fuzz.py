"""A short property-based fuzz of the whole OpenAPI document (``make fuzz`` runs it long):
generated requests to every operation, as an operator and as an admin, never get a 5xx."""

from __future__ import annotations

import pytest

from dispatch.security.fuzz import fuzz
from tests.conftest import Api

pytest.importorskip("schemathesis")


def test_no_generated_request_gets_a_5xx(api: Api) -> None:
    op, admin = api.user("operator"), api.user("admin")
    report = fuzz(api.client.app, headers=[op, admin], max_examples=3)  # type: ignore[arg-type]
    print(f"fuzz: {report.requests} requests, {report.operations} operations, "
          f"{dict(report.by_class)}")
    assert report.operations >= 40 and report.requests >= report.operations * 2
    assert report.server_errors == []
