"""The rules of ARCHITECTURE.md kept by the code, not by habit.

Beside the access-rule walk (``tests/dispatch/test_access_rules.py``) these read the source:

- only the unit of work (``dispatch/uow.py``) commits;
- only the write path (``dispatch/events.py``) assigns incident state, outcome, deadline,
  at-risk, response level and assignment state; timeline rows are made by the write path
  only (``events.py`` for incidents, ``teams/duty.py`` for teams);
- role and region decisions live in ``dispatch/deps.py`` and ``dispatch/scoping.py`` only;
- ``geo`` and ``notify`` never import ``dispatch``; routers never import other routers.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from dispatch.settings import ROOT

DISPATCH = ROOT / "dispatch"
WRITE_PATH_FIELDS = {"state", "outcome", "sla_deadline", "at_risk", "response_level"}
DECISION_ATTRS = {"role", "region_zone_id"}


def sources(package: Path) -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(package.rglob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def commits(tree: ast.Module) -> list[int]:
    return [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Call)
            and isinstance(n.func, ast.Attribute) and n.func.attr == "commit"]


def write_path_assignments(tree: ast.Module) -> list[tuple[int, str]]:
    found = []
    for n in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(n, ast.Assign):
            targets = list(n.targets)
        elif isinstance(n, ast.AugAssign | ast.AnnAssign):
            targets = [n.target]
        for t in targets:
            for el in (t.elts if isinstance(t, ast.Tuple) else [t]):
                if isinstance(el, ast.Attribute) and el.attr in WRITE_PATH_FIELDS:
                    found.append((n.lineno, el.attr))
        if (isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "setattr"
                and len(n.args) >= 2 and isinstance(n.args[1], ast.Constant)
                and n.args[1].value in WRITE_PATH_FIELDS):
            found.append((n.lineno, str(n.args[1].value)))
    return found


def role_or_region_checks(tree: ast.Module) -> list[tuple[int, str]]:
    found = []
    for n in ast.walk(tree):
        if isinstance(n, ast.Compare):
            for side in (n.left, *n.comparators):
                if isinstance(side, ast.Attribute) and side.attr in DECISION_ATTRS:
                    found.append((n.lineno, side.attr))
    return found


def test_only_the_unit_of_work_commits() -> None:
    offenders = [f"{rel(p)}:{line}" for p, tree in sources(DISPATCH)
                 if rel(p) != "dispatch/uow.py" for line in commits(tree)]
    assert offenders == [], "commit outside the unit of work: " + ", ".join(offenders)


def test_only_the_write_path_changes_state_and_clocks() -> None:
    offenders = [f"{rel(p)}:{line} .{attr} =" for p, tree in sources(DISPATCH)
                 if rel(p) != "dispatch/events.py"
                 for line, attr in write_path_assignments(tree)]
    assert offenders == [], "write path bypassed: " + ", ".join(offenders)


TIMELINE_ROWS = {"IncidentEvent": "dispatch/events.py", "TeamEvent": "dispatch/teams/duty.py"}


def timeline_rows_made(tree: ast.Module) -> list[tuple[int, str]]:
    return [(n.lineno, n.func.id) for n in ast.walk(tree) if isinstance(n, ast.Call)
            and isinstance(n.func, ast.Name) and n.func.id in TIMELINE_ROWS]


def test_timeline_rows_are_appended_by_their_write_path_only() -> None:
    offenders = [f"{rel(p)}:{line} {cls}(…)" for p, tree in sources(DISPATCH)
                 for line, cls in timeline_rows_made(tree) if TIMELINE_ROWS[cls] != rel(p)]
    assert offenders == [], "timeline row outside its write path: " + ", ".join(offenders)


def test_role_and_region_are_decided_in_one_place() -> None:
    allowed = {"dispatch/deps.py", "dispatch/scoping.py"}
    offenders = [f"{rel(p)}:{line} ({attr})" for p, tree in sources(DISPATCH)
                 if rel(p) not in allowed for line, attr in role_or_region_checks(tree)]
    assert offenders == [], "role/region decided outside deps/scoping: " + ", ".join(offenders)


def imports(tree: ast.Module) -> set[str]:
    out = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Import):
            out |= {a.name for a in n.names}
        elif isinstance(n, ast.ImportFrom) and n.module:
            out.add(n.module)
    return out


@pytest.mark.parametrize("library", ["geo", "notify"])
def test_libraries_do_not_import_the_application(library: str) -> None:
    offenders = [rel(p) for p, tree in sources(ROOT / library)
                 if any(m == "dispatch" or m.startswith("dispatch.") for m in imports(tree))]
    assert offenders == []


def test_routers_do_not_import_other_routers() -> None:
    offenders = []
    for p, tree in sources(DISPATCH):
        if p.name != "router.py":
            continue
        offenders += [f"{rel(p)} imports {m}" for m in imports(tree)
                      if m.endswith(".router") and m.startswith("dispatch.")]
    assert offenders == []


def test_the_checks_catch_what_they_are_for() -> None:
    """Each check on a sample that breaks its rule (so a check that finds nothing is not
    silently passing for the wrong reason)."""
    bad = ast.parse(
        "def close(session, incident, user):\n"
        "    incident.state = 'closed'\n"
        "    incident.outcome, x = 'released', 1\n"
        "    setattr(incident, 'sla_deadline', None)\n"
        "    if user.role == 'crew':\n"
        "        pass\n"
        "    session.commit()\n")
    assert commits(bad) == [7]
    assert write_path_assignments(bad) == [(2, "state"), (3, "outcome"), (4, "sla_deadline")]
    assert role_or_region_checks(bad) == [(5, "role")]
    made = ast.parse("def log(session):\n    session.add(TeamEvent(team_id=1, type='x'))\n")
    assert timeline_rows_made(made) == [(2, "TeamEvent")]
