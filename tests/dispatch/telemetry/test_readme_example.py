"""The README's worked signature example is what the server computes and accepts, and its code
table lists every code the server knows."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dispatch.telemetry import codes
from dispatch.telemetry.models import Device
from dispatch.telemetry.signing import seal, sign
from tests import factories
from tests.conftest import Api

README = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")


def _example() -> dict[str, str]:
    block = README.split("<!-- telemetry-signature-example -->", 1)[1].split("```", 2)[1]
    fields = dict(re.findall(r"^(device id|secret|timestamp|body|signature)\s+(.+)$", block,
                             flags=re.M))
    assert set(fields) == {"device id", "secret", "timestamp", "body", "signature"}
    return fields


def test_the_worked_example_signature_is_recomputed_from_the_readme() -> None:
    ex = _example()
    assert sign(ex["secret"], ex["timestamp"], ex["body"].encode()) == ex["signature"]
    assert re.fullmatch(r"[0-9a-f]{64}", ex["signature"])


def test_the_worked_example_is_accepted_by_the_server(api: Api) -> None:
    ex = _example()
    api.clock.now = datetime.fromtimestamp(int(ex["timestamp"]), UTC)
    with api.db() as s:
        lift = factories.make_elevator(s)
        s.add(Device(id=ex["device id"], elevator_id=lift.id,
                     secret_sealed=seal(ex["secret"], api.settings.resolved_secret_key())))
        s.commit()
    r = api.client.post("/api/v1/telemetry/events", content=ex["body"].encode(), headers={
        "Content-Type": "application/json", "X-Device-Id": ex["device id"],
        "X-Timestamp": ex["timestamp"], "X-Signature": ex["signature"]})
    assert r.status_code == 200, r.text
    assert [x["outcome"] for x in r.json()["results"]] == ["created", "recorded"]


@pytest.mark.parametrize("code", [c for c in codes.table() if not c.code.startswith("6")],
                         ids=lambda c: c.code)
def test_the_readme_code_table_lists_every_code(code: codes.Code) -> None:
    assert f"| `{code.code}` |" in README
    assert code.name_zh in README


def test_every_vendor_name_in_the_readme_resolves() -> None:
    section = README.split("### Code table", 1)[1].lstrip("\n")
    table = section.split("\n\n", 1)[0]  # the table ends at the first blank line
    rows = [r for r in table.splitlines() if r.startswith("| `")]
    assert len(rows) >= 20
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        canonical = cells[0].strip("`")
        for name in re.findall(r"`([^`]+)`", cells[-1]):
            got = codes.lookup(name).code
            assert got == canonical, (name, got, canonical)
