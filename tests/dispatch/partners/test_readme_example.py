"""The README's partner signature example is what the server sends and what a receiver
following the README computes."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from pathlib import Path

from dispatch.partners.delivery import raw_body, signature_header

README = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")


def _example() -> dict[str, str]:
    block = README.split("<!-- partner-signature-example -->", 1)[1].split("```", 2)[1]
    fields = dict(re.findall(r"^(secret|t|body|header)\s+(.+)$", block, flags=re.M))
    assert set(fields) == {"secret", "t", "body", "header"}
    return fields


def test_the_worked_example_is_what_the_server_sends() -> None:
    ex = _example()
    body = ex["body"].encode()
    assert raw_body(json.loads(body)) == body  # the server's compact serialisation
    assert signature_header(ex["secret"], body, int(ex["t"])) == ex["header"]


def test_the_worked_example_by_the_readme_rule() -> None:
    ex = _example()
    mac = hmac.new(ex["secret"].encode("utf-8"), (ex["t"] + ".").encode() + ex["body"].encode(),
                   hashlib.sha256).hexdigest()
    assert ex["header"] == f"t={ex['t']},v1={mac}"


def test_the_section_sits_before_operations() -> None:
    assert README.index("## Connecting to the regional emergency system") < README.index(
        "## Operations: health, metrics, logs, backups")
