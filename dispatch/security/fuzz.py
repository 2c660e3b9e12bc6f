"""Property-based fuzzing of the OpenAPI document (issue 12): every operation gets generated
requests (schemathesis + hypothesis) against the app in-process, as an operator and as an
admin; any 5xx is a failure. Used by ``make fuzz`` and, with few examples, by the test suite.
Dev-only: needs the ``dev`` extras."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI

#: A readiness probe's 503 is its answer ("not ready yet"), not a server fault: in a fuzz run the
#: road graph of a fresh app may not be loaded, and then /readyz must say 503.
READINESS_PATHS = frozenset({"/readyz"})


@dataclass
class FuzzReport:
    requests: int = 0
    operations: int = 0
    by_class: Counter[str] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)


def fuzz(app: FastAPI, *, headers: list[dict[str, str]], max_examples: int,
         seed: int = 12) -> FuzzReport:
    """Run ``max_examples`` generated requests per operation and identity. Derandomised: the
    same app gets the same requests (a finding reproduces)."""
    import schemathesis

    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    report = FuzzReport()
    for result in schema.get_all_operations():
        op = result.ok()  # type: ignore[union-attr]
        report.operations += 1
        for auth in headers:
            _run_one(op, auth, report, max_examples=max_examples, seed=seed)
    return report


def _run_one(op: Any, auth: dict[str, str], report: FuzzReport, *, max_examples: int,
             seed: int) -> None:
    import hypothesis
    from hypothesis import HealthCheck, given

    @hypothesis.settings(max_examples=max_examples, deadline=None, database=None,
                         derandomize=True,
                         suppress_health_check=list(HealthCheck),
                         phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate])
    @hypothesis.seed(seed)
    @given(case=op.as_strategy())
    def run(case: Any) -> None:
        response = case.call(headers=auth)
        report.requests += 1
        report.by_class[f"{response.status_code // 100}xx"] += 1
        if response.status_code >= 500 and not (
                response.status_code == 503 and case.path in READINESS_PATHS):
            report.server_errors.append(
                f"{case.method} {case.formatted_path} -> {response.status_code}: "
                f"{response.text[:200]}")

    run()
