"""Every event type, problem code and notification name the code can produce has a zh-CN and
an English label in ``web/static/labels.json`` (the table the pages render from), issue 16 #4.

What the code can produce is collected from the source, not listed by hand: event types from
:data:`dispatch.events.EVENT_TYPES` (and that enumeration is checked against every ``type=`` /
``event_type=`` literal and every lifecycle state), problem titles from every ``Problem(…)``
and problem-building call, notification templates, channels and recipient kinds from the
outbox and :mod:`notify.templates`.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from dispatch import lifecycle
from dispatch.dispatching.steps import STEPS
from dispatch.errors import problem_code
from dispatch.events import EVENT_TYPES, TEAM_EVENT_TYPES
from dispatch.settings import ROOT
from notify.templates import TEMPLATES

LABELS: dict[str, dict[str, dict[str, str]]] = json.loads(
    (ROOT / "web" / "static" / "labels.json").read_text(encoding="utf-8"))
LANGS = ("zh-CN", "en")


def _trees(*packages: str) -> list[tuple[Path, ast.AST]]:
    return [(p, ast.parse(p.read_text(encoding="utf-8")))
            for pkg in packages for p in sorted((ROOT / pkg).rglob("*.py"))]


def _name(func: ast.expr) -> str | None:
    return func.id if isinstance(func, ast.Name) else (
        func.attr if isinstance(func, ast.Attribute) else None)


def _literal(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def event_literals() -> set[str]:
    """``type="…"``/``event_type="…"`` keywords, ``event_type = "…"`` assignments and
    ``TeamEvent(type=…)`` alternatives anywhere in the server code."""
    found: set[str] = set()
    for _, tree in _trees("dispatch"):
        for node in ast.walk(tree):
            if isinstance(node, ast.keyword) and node.arg in ("type", "event_type"):
                values = [node.value.body, node.value.orelse] if isinstance(
                    node.value, ast.IfExp) else [node.value]
                found |= {v for v in map(_literal, values) if v}
            if isinstance(node, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id in ("event_type", "type_")
                    for t in node.targets) and _literal(node.value):
                found.add(node.value.value)  # type: ignore[attr-defined]
    return found


def problem_titles() -> set[str]:
    titles: set[str] = set()
    position = {"Problem": 1, "problem": 1, "_unauthorized": 0}
    for path, tree in _trees("dispatch"):
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _name(node.func) in position:
                arg = node.args[position[_name(node.func)]] if len(
                    node.args) > position[_name(node.func)] else None  # type: ignore[index]
                values = list(arg.values) if isinstance(arg, ast.BoolOp) else [arg]
                titles |= {v for v in map(_literal, values) if v}
            if isinstance(node, ast.Dict):
                for k, v in zip(node.keys, node.values, strict=True):
                    if _literal(k) == "title" and _literal(v) and path.name != "openapi.py":
                        titles.add(_literal(v))  # type: ignore[arg-type]
            if isinstance(node, ast.FunctionDef) and node.name == "session_problem":
                titles |= {v for r in ast.walk(node) if isinstance(r, ast.Return)
                           for v in [_literal(r.value)] if v}
    return titles


def notification_names() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {"templates": set(TEMPLATES), "channels": set(),
                                "recipients": set()}
    keys = {"template": "templates", "channel": "channels", "kind": "recipients",
            "recipient_kind": "recipients"}
    for _, tree in _trees("dispatch/notifications"):
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _name(node.func) in ("_add", "Notification"):
                for kw in node.keywords:
                    if kw.arg in keys and _literal(kw.value):
                        out[keys[kw.arg]].add(kw.value.value)  # type: ignore[attr-defined]
    return out


def missing(section: str, names: set[str]) -> list[str]:
    table = LABELS.get(section, {})
    return sorted(f"{n} ({lang})" for n in names for lang in LANGS
                  if not (table.get(n) or {}).get(lang))


def test_the_event_enumeration_covers_every_event_the_code_writes() -> None:
    written = event_literals() | set(lifecycle.STATES) | {s[1] for s in STEPS.values()}
    assert written - EVENT_TYPES - TEAM_EVENT_TYPES == set()
    assert len(EVENT_TYPES) > 30


def test_every_event_type_has_both_labels() -> None:
    assert missing("events", set(EVENT_TYPES) | set(TEAM_EVENT_TYPES)) == []


def test_every_problem_code_has_both_labels() -> None:
    titles = problem_titles()
    assert {"Invalid request", "Team not available", "Unknown rescue code"} <= titles
    assert missing("problems", {problem_code(t) for t in titles}) == []


@pytest.mark.parametrize("section", ["templates", "channels", "recipients"])
def test_every_notification_name_has_both_labels(section: str) -> None:
    names = notification_names()[section]
    assert names
    assert missing(section, names) == []


def test_states_and_notification_statuses_have_both_labels() -> None:
    states = set(lifecycle.STATES) | set(lifecycle.ASSIGNMENT_TRANSITIONS) | {
        "available", "busy", "off_duty", "assignment_cancelled"}
    assert missing("states", states) == []
    statuses = {"pending", "queued", "sending", "sent", "delivered", "undelivered", "failed",
                "completed", "busy", "no-answer", "cancelled"}
    assert missing("notification_status", statuses) == []


def test_sentences_only_use_known_placeholders() -> None:
    """A timeline sentence names payload keys; a typo would print the braces."""
    import re

    known = {"team_name", "accept_by", "eta", "reason", "released_count", "cause", "merged_into",
             "report_id", "minutes_left", "minutes_trapped", "deadline", "from", "to", "level",
             "waiting", "free_teams", "override_reason", "after", "outage", "channel",
             "trapped_count", "zone"}
    for type_, texts in LABELS["event_text"].items():
        assert type_ in EVENT_TYPES, type_
        for lang in LANGS:
            used = set(re.findall(r"\{(\w+)\}", texts[lang]))
            assert used <= known, (type_, lang, used - known)


def test_labels_file_is_well_formed() -> None:
    for section, table in LABELS.items():
        for key, value in table.items():
            assert isinstance(value, dict) and set(value) <= {*LANGS}, (section, key)
            assert all(isinstance(v, str) and v.strip() for v in value.values()), (section, key)
