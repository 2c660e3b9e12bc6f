"""Reading ``/metrics`` in tests: parsed with prometheus_client's own parser."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

METRICS_TOKEN = "metrics-test-token-0123456789abcdef"


def scrape(client: Any, token: str = METRICS_TOKEN) -> dict[tuple[str, frozenset[tuple[str, str]]],
                                                              float]:
    r = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return parse(r.text)


def parse(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str,
          **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def series(samples: dict[tuple[str, frozenset[tuple[str, str]]], float],
           name: str) -> list[dict[str, str]]:
    return [dict(labels) for (n, labels) in samples if n == name]
