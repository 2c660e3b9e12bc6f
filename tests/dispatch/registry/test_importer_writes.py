"""The importer's writes that other parts own or constrain, on both backends: duty and rosters
through the duty service (team events, roster boundaries, no stranded job), rescue codes that
move between lifts in one import, and the SQLite search index after bulk and single writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from dispatch.elevators import fts
from dispatch.elevators.search import like_lookup_ids, search_ids
from dispatch.events import Actor, append_event
from dispatch.models import Assignment, Elevator, Incident, ScheduledTask, Team
from dispatch.registry.models import RegistryChange
from dispatch.settings import Settings
from dispatch.teams.models import TeamEvent
from tests.dispatch.registry import smallcity
from tests.dispatch.registry.conftest import run_import
from tests.dispatch.registry.test_importer import edit_csv, writes

NOW = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)  # Wednesday 10:00 in Asia/Shanghai


def team(db: sessionmaker[Session], code: str) -> Team:
    with db() as s:
        t = s.scalar(select(Team).where(Team.code == code))
        assert t is not None
        s.expunge(t)
        return t


def events(db: sessionmaker[Session], team_id: int) -> list[tuple[str, str, str, str | None]]:
    with db() as s:
        return [(e.type, e.source, e.actor, e.reason) for e in s.scalars(
            select(TeamEvent).where(TeamEvent.team_id == team_id).order_by(TeamEvent.id))]


def boundaries(db: sessionmaker[Session], team_id: int) -> list[tuple[str, datetime]]:
    with db() as s:
        return [(t.status, t.due_at.replace(tzinfo=UTC) if t.due_at.tzinfo is None else t.due_at)
                for t in s.scalars(select(ScheduledTask).where(
                    ScheduledTask.team_id == team_id,
                    ScheduledTask.kind == "roster_boundary").order_by(ScheduledTask.id))]


def set_team(path: Path, code: str, **values: str) -> None:
    edit_csv(path, lambda rows: [{**r, **values} if r["code"] == code else r for r in rows])


def open_job(db: sessionmaker[Session], team_id: int) -> int:
    """An accepted assignment of ``team_id`` on a new incident at some imported lift."""
    with db() as s:
        e = s.scalars(select(Elevator).order_by(Elevator.id)).first()
        assert e is not None
        inc = Incident(elevator_id=e.id, zone_id=e.zone_id, channel="call", state="received",
                       sla_minutes=30, sla_deadline=NOW, received_at=NOW, last_event_seq=0)
        s.add(inc)
        s.flush()
        append_event(s, inc, type="received", actor=Actor("t"), at=NOW)
        a = Assignment(incident_id=inc.id, team_id=team_id, level=1, state="accepted",
                       offered_at=NOW, accept_by=NOW + timedelta(seconds=20), accepted_at=NOW,
                       offered_by="system")
        s.add(a)
        s.commit()
        return a.id


# ---- duty through the duty service ------------------------------------------------------------


def test_created_teams_go_on_duty_through_the_service_and_plan_their_roster(
        db: sessionmaker[Session], settings: Settings, city: dict[str, Path]) -> None:
    assert run_import(db, settings, [city["dir"]], actor="registrar", now=NOW).written
    he1 = team(db, "HE-01")
    assert he1.on_duty and events(db, he1.id) == [
        ("duty_on", "import", "registrar", "registry import (teams.csv)")]
    assert boundaries(db, he1.id) == [("pending", NOW)]  # 24/7 applied at once by the job


def test_an_import_that_changes_duty_writes_a_team_event_and_nothing_else(
        engine: Engine, db: sessionmaker[Session], settings: Settings,
        city: dict[str, Path]) -> None:
    assert run_import(db, settings, [city["dir"]], now=NOW).written
    he1 = team(db, "HE-01")
    set_team(city["teams"], "HE-01", on_duty="false")
    with writes(engine) as seen:
        report = run_import(db, settings, [city["dir"]], actor="registrar", now=NOW)
    assert report.kinds["teams"].updated == 1 and report.kinds["teams"].unchanged == 4
    assert not team(db, "HE-01").on_duty
    assert events(db, he1.id)[-1] == ("duty_off", "import", "registrar",
                                      "registry import (teams.csv)")
    # the unchanged teams are not touched; the changed one only through the service
    assert sorted(seen) == [("INSERT registry_change", 1), ("INSERT team_event", 1),
                            ("UPDATE team", 1)]


def test_a_roster_change_replans_the_durable_boundary(
        db: sessionmaker[Session], settings: Settings, city: dict[str, Path]) -> None:
    assert run_import(db, settings, [city["dir"]], now=NOW).written
    he1 = team(db, "HE-01")
    later = NOW + timedelta(hours=1)
    set_team(city["teams"], "HE-01", roster="Mo-Fr 08:00-09:00")
    assert run_import(db, settings, [city["dir"]], now=later).written
    assert team(db, "HE-01").roster == "Mo-Fr 08:00-09:00"
    # the first boundary was cancelled and one row scheduled now: the job loop applies the new
    # roster (off duty at 11:00 on a Wednesday) at its next tick
    assert boundaries(db, he1.id) == [("cancelled", NOW), ("pending", later)]


def test_full_sync_retires_teams_through_the_service(
        db: sessionmaker[Session], settings: Settings, city: dict[str, Path]) -> None:
    assert run_import(db, settings, [city["dir"]], now=NOW).written
    he1 = team(db, "HE-01")
    edit_csv(city["teams"], lambda rows: [r for r in rows if r["code"] != "HE-01"])
    report = run_import(db, settings, [city["dir"]], actor="registrar", now=NOW,
                        full_sync=frozenset({"teams"}))
    assert report.kinds["teams"].deactivated == 1
    gone = team(db, "HE-01")
    assert gone.retired and not gone.on_duty
    assert [e[:2] for e in events(db, he1.id)] == [("duty_on", "import"), ("duty_off", "import"),
                                                   ("retired", "import")]
    assert [b[0] for b in boundaries(db, he1.id)] == ["cancelled"]


@pytest.mark.parametrize("how", ["off duty", "full sync"])
def test_a_team_with_an_open_job_is_an_error_naming_the_assignment(
        db: sessionmaker[Session], settings: Settings, city: dict[str, Path], how: str) -> None:
    """Policy: the importer refuses that row, as the duty API's 409 (the job would be orphaned);
    without --skip-bad nothing is written, with it the team stays as it was."""
    assert run_import(db, settings, [city["dir"]], now=NOW).written
    he1 = team(db, "HE-01")
    aid = open_job(db, he1.id)
    if how == "off duty":
        set_team(city["teams"], "HE-01", on_duty="false", phone="13911112222")
        full: frozenset[str] = frozenset()
    else:
        edit_csv(city["teams"], lambda rows: [r for r in rows if r["code"] != "HE-01"])
        full = frozenset({"teams"})
    set_team(city["teams"], "HW-02", phone="13922223333")
    report = run_import(db, settings, [city["dir"]], now=NOW, full_sync=full)
    assert not report.written
    [err] = report.errors
    assert err.column == "on_duty" and f"assignment #{aid}" in err.message
    assert err.file == "teams.csv" and (err.line == 4 if how == "off duty" else err.line is None)
    assert team(db, "HW-02").phone != "13922223333"

    report = run_import(db, settings, [city["dir"]], now=NOW, full_sync=full, skip_bad=True)
    assert report.written and report.kinds["teams"].errors == 1
    kept = team(db, "HE-01")
    assert kept.on_duty and not kept.retired and kept.phone != "13911112222"
    assert team(db, "HW-02").phone == "13922223333"
    assert [e[0] for e in events(db, he1.id)] == ["duty_on"]


# ---- rescue codes moving between lifts ---------------------------------------------------------


def _codes(db: sessionmaker[Session]) -> dict[str, str]:
    with db() as s:
        return dict(s.execute(select(Elevator.register_code, Elevator.rescue_code)).all())


def test_two_elevators_swap_rescue_codes_in_one_import(
        db: sessionmaker[Session], settings: Settings, city: dict[str, Path]) -> None:
    assert run_import(db, settings, [city["dir"]]).written
    rows = smallcity.elevator_rows()
    a, b = rows[0]["register_code"], rows[1]["register_code"]
    ca, cb = rows[0]["rescue_code"], rows[1]["rescue_code"]
    swap = {a: cb, b: ca}
    edit_csv(city["elevators"], lambda rs: [
        {**r, "rescue_code": swap.get(r["register_code"], r["rescue_code"])} for r in rs])
    report = run_import(db, settings, [city["dir"]])
    assert report.written and report.kinds["elevators"].updated == 2, report.issues
    codes = _codes(db)
    assert (codes[a], codes[b]) == (cb, ca)
    with db() as s:
        logged = {c.key: c.fields for c in s.scalars(select(RegistryChange).where(
            RegistryChange.action == "update"))}
    assert logged == {a: {"rescue_code": [ca, cb]}, b: {"rescue_code": [cb, ca]}}


def test_a_rescue_code_moves_from_a_retired_lift_to_a_new_one(
        db: sessionmaker[Session], settings: Settings, city: dict[str, Path]) -> None:
    assert run_import(db, settings, [city["dir"]]).written
    rows = smallcity.elevator_rows()
    old = rows[2]
    new = {**old, "register_code": "9" * 20, "address": old["address"] + "（新梯）"}

    def replace_lift(rs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [r for r in rs if r["register_code"] != old["register_code"]] + [new]

    edit_csv(city["elevators"], replace_lift)
    # without a full sync the old lift stays in service and keeps its code: an error
    refused = run_import(db, settings, [city["dir"]])
    assert not refused.written and [i.column for i in refused.errors] == ["rescue_code"]

    report = run_import(db, settings, [city["dir"]], full_sync=frozenset({"elevators"}))
    assert report.written, report.issues
    assert report.kinds["elevators"].created == 1 and report.kinds["elevators"].deactivated == 1
    with db() as s:
        gone = s.scalar(select(Elevator).where(Elevator.register_code == old["register_code"]))
        assert gone is not None and not gone.in_service and gone.rescue_code == f"x{gone.id}"
        change = s.scalar(select(RegistryChange).where(
            RegistryChange.key == old["register_code"], RegistryChange.action == "deactivate"))
        assert change is not None
        assert change.fields["rescue_code"] == [old["rescue_code"], f"x{gone.id}"]
    assert _codes(db)[new["register_code"]] == old["rescue_code"]

    # the retired lift as the export writes it (its placeholder) imports with no change
    edit_csv(city["elevators"], lambda rs: [
        *rs, {**old, "rescue_code": f"x{gone.id}", "in_service": "false"}])
    again = run_import(db, settings, [city["dir"]])
    assert again.written and again.changes == 0, again.issues


# ---- the SQLite search index after bulk and single writes --------------------------------------


def test_search_finds_rows_after_a_bulk_import_and_after_an_edit(
        engine: Engine, db: sessionmaker[Session], settings: Settings, city: dict[str, Path],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fts, "BULK_MIN_ROWS", 5)  # the small city takes the bulk path
    monkeypatch.setattr("dispatch.registry.importer.BULK_MIN_ROWS", 5)
    assert run_import(db, settings, [city["dir"]]).written
    if engine.dialect.name == "sqlite":
        with db() as s:
            assert s.execute(text("SELECT count(*) FROM elevator_search WHERE elevator_search "
                                  "MATCH '\"湖城市\"'")).scalar_one() == 20
            assert s.execute(text(  # the trigger is back for single-row edits
                "SELECT count(*) FROM sqlite_master WHERE name = 'elevator_search_ai'")
            ).scalar_one() == 1
    rows = smallcity.elevator_rows()
    with db() as s:
        for words in (["湖西区"], ["湖东区", "号"], ["湖城市"], ["西区"]):
            assert search_ids(s, words, limit=50) == like_lookup_ids(s, words, limit=50) != []
    target = rows[5]["register_code"]
    edit_csv(city["elevators"], lambda rs: [
        {**r, "address": "湖城市湖东区翡翠湾9号"} if r["register_code"] == target else r
        for r in rs])
    assert run_import(db, settings, [city["dir"]]).kinds["elevators"].updated == 1
    with db() as s:
        hit = search_ids(s, ["翡翠湾"], limit=5)
        short = search_ids(s, ["翡翠"], limit=5)
        eid = s.scalar(select(Elevator.id).where(Elevator.register_code == target))
        assert hit == short == [eid]


def test_a_failed_bulk_insert_leaves_the_trigger_in_place(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("the SQLite search index only")
    with engine.connect() as conn:
        conn.execute(text("INSERT INTO elevator_search_gram(gram) SELECT '' WHERE 0"))
        with pytest.raises(RuntimeError), fts.bulk_search_index(conn, fts.BULK_MIN_ROWS):
            raise RuntimeError("insert failed")
        conn.rollback()
        assert conn.execute(text("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' "
                                 "AND name = 'elevator_search_ai'")).scalar_one() == 1
