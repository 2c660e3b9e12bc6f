"""The README's example of each import file is a valid import (docs that cannot rot)."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from dispatch.settings import ROOT, Settings
from tests.dispatch.registry.conftest import run_import


def _examples() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### The import contract"):]
    section = section[:section.index("\n## ")]
    return re.findall(r"```(?:json|csv)\n(.*?)```", section, flags=re.S)


def test_the_readme_examples_import(db: sessionmaker[Session], settings: Settings,
                                    tmp_path: Path) -> None:
    zones, orgs, teams, elevators = _examples()
    orgs += ("91500000UU0001,use_unit,湖城幸福里物业管理有限公司,,990101\n"
             "91500000IN0001,insurer,湖城人寿保险股份有限公司,95500,\n")  # the lifts name them
    for name, text in (("zones.geojson", zones), ("organizations.csv", orgs),
                       ("teams.csv", teams), ("elevators.csv", elevators)):
        (tmp_path / name).write_text(text, encoding="utf-8")
    report = run_import(db, settings, [tmp_path])
    assert not report.issues, [i.where() + " " + i.message for i in report.issues]
    assert {k: r.created for k, r in report.kinds.items()} == {
        "zones": 1, "organizations": 4, "teams": 2, "elevators": 2}
