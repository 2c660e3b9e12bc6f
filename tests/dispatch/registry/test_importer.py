"""The importer on both backends: all or nothing, only changed rows written, dry run, full
sync, the change log, polygons re-deriving zones, and export → import reporting no change."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session, sessionmaker

from dispatch.models import Elevator, Organization, Team, Zone
from dispatch.registry.export import export_registry
from dispatch.registry.models import RegistryChange
from dispatch.settings import Settings
from tests.dispatch.registry import smallcity
from tests.dispatch.registry.conftest import run_import


def edit_csv(path: Path, fn: Any) -> None:
    """Rewrite a CSV through ``fn(rows) -> rows`` (rows as dicts)."""
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        fields = list(reader.fieldnames or [])
        rows = list(reader)
    rows = fn(rows)
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)


@contextmanager
def writes(engine: Engine) -> Iterator[list[tuple[str, int]]]:
    """Every INSERT/UPDATE/DELETE sent to the database: (table statement, rows it carried)."""
    seen: list[tuple[str, int]] = []

    def listen(conn: Any, cursor: Any, statement: str, params: Any, context: Any,
               many: bool) -> None:
        verb = statement.lstrip().split(" ", 1)[0].upper()
        if verb in ("INSERT", "UPDATE", "DELETE"):
            target = statement.split()[2 if verb != "UPDATE" else 1].strip('"')
            seen.append((f"{verb} {target}", len(params) if many else 1))

    event.listen(engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", listen)


def count(db: sessionmaker[Session], model: Any, *where: Any) -> int:
    with db() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_reimport_writes_nothing_and_one_change_writes_one_row(
        engine: Engine, db: sessionmaker[Session], settings: Settings,
        city: dict[str, Path]) -> None:
    assert run_import(db, settings, [city["dir"]]).written
    with writes(engine) as seen:
        again = run_import(db, settings, [city["dir"]])
    assert again.changes == 0 and again.kinds["elevators"].unchanged == 20
    assert seen == []  # not one statement for 34 unchanged rows

    target = smallcity.elevator_rows()[3]["register_code"]
    edit_csv(city["elevators"], lambda rows: [
        {**r, "address": r["address"] + "（东门）"} if r["register_code"] == target else r
        for r in rows])
    edit_csv(city["teams"], lambda rows: [
        {**r, "phone": "13911112222"} if r["code"] == "HE-01" else r for r in rows])
    with writes(engine) as seen:
        report = run_import(db, settings, [city["dir"]], actor="registrar")
    assert report.kinds["elevators"].updated == 1 and report.kinds["elevators"].unchanged == 19
    assert report.kinds["teams"].updated == 1 and report.changes == 2
    assert sorted(seen) == [("INSERT registry_change", 2), ("UPDATE elevator", 1),
                            ("UPDATE team", 1)]
    assert report.written_keys["elevators"] == [target]
    assert report.written_keys["teams"] == ["HE-01"]
    with db() as s:
        change = s.scalar(select(RegistryChange).where(RegistryChange.key == target,
                                                       RegistryChange.action == "update"))
        assert change is not None and change.actor == "registrar"
        assert change.source == "elevators.csv" and list(change.fields) == ["address"]
        old, new = change.fields["address"]
        assert new == old + "（东门）"


def test_one_bad_row_writes_nothing_and_skip_bad_writes_the_rest(
        db: sessionmaker[Session], settings: Settings, city: dict[str, Path]) -> None:
    edit_csv(city["elevators"], lambda rows: [
        {**r, "site_type": "factory"} if i == 4 else r for i, r in enumerate(rows)])
    report = run_import(db, settings, [city["dir"]])
    assert not report.written and report.kinds["elevators"].errors == 1
    (err,) = report.errors
    assert (err.file, err.line, err.column) == ("elevators.csv", 6, "site_type")
    assert "residential" in err.allowed
    assert count(db, Zone) == count(db, Organization) == count(db, Elevator) == 0

    report = run_import(db, settings, [city["dir"]], skip_bad=True)
    assert report.written and report.kinds["elevators"].created == 19
    assert report.kinds["elevators"].errors == 1 and report.errors[0].line == 6
    assert count(db, Elevator) == 19 and count(db, Team) == 5


def test_an_unknown_organization_in_teams_blocks_the_whole_import(
        db: sessionmaker[Session], settings: Settings, city: dict[str, Path]) -> None:
    edit_csv(city["teams"], lambda rows: [
        {**r, "organization_code": "91500000XX9999"} if r["code"] == "RS-01" else r
        for r in rows])
    report = run_import(db, settings, [city["dir"]])
    (err,) = report.errors
    assert (err.file, err.line, err.column) == ("teams.csv", 5, "organization_code")
    assert count(db, Team) == 0 and count(db, Zone) == 0


def test_dry_run_reports_the_same_counts_and_writes_nothing(
        db: sessionmaker[Session], settings: Settings, city: dict[str, Path]) -> None:
    report = run_import(db, settings, [city["dir"]], dry_run=True)
    assert not report.written and report.dry_run
    assert report.kinds["elevators"].created == 20 and report.kinds["zones"].created == 2
    assert count(db, Zone) == count(db, Elevator) == count(db, RegistryChange) == 0


def test_full_sync_deactivates_missing_rows_and_never_deletes(
        db: sessionmaker[Session], settings: Settings, city: dict[str, Path]) -> None:
    assert run_import(db, settings, [city["dir"]]).written
    gone = smallcity.elevator_rows()[0]["register_code"]
    edit_csv(city["elevators"], lambda rows: [r for r in rows if r["register_code"] != gone])
    edit_csv(city["teams"], lambda rows: [r for r in rows if r["code"] != "HW-02"])
    edit_csv(city["organizations"], lambda rows: [r for r in rows
                                                  if r["code"] != smallcity.OFFICE])
    plain = run_import(db, settings, [city["dir"]], dry_run=True)
    assert plain.changes == 0  # without --full-sync, missing rows are simply left alone
    report = run_import(db, settings, [city["dir"]],
                        full_sync=frozenset({"elevators", "teams", "organizations"}))
    assert {k: r.deactivated for k, r in report.kinds.items()} == {
        "zones": 0, "organizations": 1, "teams": 1, "elevators": 1}
    with db() as s:
        e = s.scalar(select(Elevator).where(Elevator.register_code == gone))
        t = s.scalar(select(Team).where(Team.code == "HW-02"))
        o = s.scalar(select(Organization).where(Organization.code == smallcity.OFFICE))
        assert e is not None and not e.in_service
        assert t is not None and not t.on_duty and t.retired
        assert o is not None and not o.active
        actions = s.execute(select(RegistryChange.kind, RegistryChange.fields)
                            .where(RegistryChange.action == "deactivate")).all()
    assert sorted(a.kind for a in actions) == ["elevator", "organization", "team"]
    assert count(db, Elevator) == 20 and count(db, Team) == 5
    again = run_import(db, settings, [city["dir"]],
                       full_sync=frozenset({"elevators", "teams", "organizations"}))
    assert again.changes == 0  # already inactive: nothing to do twice


def test_full_sync_needs_the_file_of_its_kind(db: sessionmaker[Session], settings: Settings,
                                              city: dict[str, Path]) -> None:
    report = run_import(db, settings, [city["zones"]], full_sync=frozenset({"elevators"}))
    assert not report.written and "needs a elevators file" in report.errors[0].message


def test_export_then_import_reports_no_change(db: sessionmaker[Session], settings: Settings,
                                              city: dict[str, Path], tmp_path: Path) -> None:
    assert run_import(db, settings, [city["dir"]]).written
    with db() as s:
        counts = export_registry(s, tmp_path / "export")
    assert counts == {"zones": 2, "organizations": 7, "teams": 5, "elevators": 20}
    report = run_import(db, settings, [tmp_path / "export"])
    assert not report.issues and report.changes == 0
    assert report.kinds["elevators"].unchanged == 20 and report.kinds["zones"].unchanged == 2
    text = (tmp_path / "export" / "elevators.csv").read_text(encoding="utf-8")
    assert text.splitlines()[0].startswith("register_code,rescue_code,address")
    assert ",gcj02," not in text  # everything is exported in WGS-84


def test_moving_a_zone_border_re_derives_the_elevators(
        db: sessionmaker[Session], settings: Settings, city: dict[str, Path]) -> None:
    assert run_import(db, settings, [city["dir"]]).written
    doc = json.loads(city["zones"].read_text(encoding="utf-8"))
    new_mid = smallcity.MID_LON + smallcity.STEP  # the border moves one block east
    for feat in doc["features"]:
        ring = feat["geometry"]["coordinates"][0]
        for pt in ring:
            if abs(pt[0] - smallcity.MID_LON) < 1e-9:
                pt[0] = new_mid
    city["zones"].write_text(json.dumps(doc), encoding="utf-8")
    moved = [r["register_code"] for r in smallcity.elevator_rows()
             if smallcity.MID_LON < _wgs_lon(db, r["register_code"]) < new_mid]
    assert moved
    report = run_import(db, settings, [city["zones"]])  # the zones file alone
    assert report.kinds["zones"].updated == 2
    assert report.kinds["elevators"].updated == len(moved)
    with db() as s:
        west = s.scalar(select(Zone.id).where(Zone.code == smallcity.WEST))
        for code in moved:
            assert s.scalar(select(Elevator.zone_id)
                            .where(Elevator.register_code == code)) == west
        zone_changes = s.scalars(select(RegistryChange.fields).where(
            RegistryChange.kind == "elevator", RegistryChange.action == "update")).all()
        boundary = s.scalar(select(RegistryChange.fields).where(
            RegistryChange.kind == "zone", RegistryChange.key == smallcity.WEST,
            RegistryChange.action == "update"))
    assert all(f == {"zone": [smallcity.EAST, smallcity.WEST]} for f in zone_changes)
    assert boundary is not None and list(boundary) == ["boundary"]
    assert boundary["boundary"][1]["bbox"][2] == round(new_mid, 5)


def _wgs_lon(db: sessionmaker[Session], register_code: str) -> float:
    with db() as s:
        loc = s.scalar(select(Elevator.location).where(Elevator.register_code == register_code))
    assert loc is not None
    return float(loc.lon)
