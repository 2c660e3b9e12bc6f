"""The roster parser: the opening_hours subset, switching instants, and its error messages."""

from __future__ import annotations

from datetime import datetime

import pytest

from dispatch.registry.roster import RosterError, next_boundary, on_roster, parse_roster

MON = datetime(2026, 11, 30)  # a Monday



def test_weekdays_and_weekend_hours() -> None:
    r = parse_roster("Mo-Fr 08:00-20:00; Sa,Su 09:00-17:00")
    assert not on_roster(r, MON.replace(hour=7, minute=59))
    assert on_roster(r, MON.replace(hour=8))
    assert not on_roster(r, MON.replace(hour=20))
    sat = datetime(2026, 12, 5, 9, 30)
    assert on_roster(r, sat) and not on_roster(r, sat.replace(hour=8))
    assert next_boundary(r, MON.replace(hour=7, minute=30)) == MON.replace(hour=8)
    assert next_boundary(r, MON.replace(hour=8)) == MON.replace(hour=20)
    # Friday 20:00 → Saturday 09:00
    assert next_boundary(r, datetime(2026, 12, 4, 21, 0)) == datetime(2026, 12, 5, 9, 0)


def test_night_shift_runs_past_midnight_and_across_the_week_seam() -> None:
    r = parse_roster("Su 20:00-08:00")
    assert on_roster(r, datetime(2026, 12, 6, 23, 0))  # Sunday night
    assert on_roster(r, MON.replace(hour=7))  # Monday morning, the same shift
    assert not on_roster(r, MON.replace(hour=8))
    assert next_boundary(r, MON.replace(hour=7)) == MON.replace(hour=8)
    assert next_boundary(r, MON.replace(hour=9)) == datetime(2026, 12, 6, 20, 0)


def test_always_and_off_rules() -> None:
    always = parse_roster("24/7")
    assert always.always and on_roster(always, MON) and next_boundary(always, MON) is None
    assert parse_roster("Mo-Su 00:00-24:00").always
    r = parse_roster("24/7; Su off")  # a later rule replaces what earlier ones said of Sunday
    assert not on_roster(r, datetime(2026, 12, 6, 12, 0)) and on_roster(r, MON)
    assert next_boundary(r, MON) == datetime(2026, 12, 6, 0, 0)
    split = parse_roster("Mo 08:00-12:00,14:00-18:00")
    assert on_roster(split, MON.replace(hour=15)) and not on_roster(split, MON.replace(hour=13))
    assert parse_roster("Tu-Mo 10:00-11:00").intervals[0] == (600, 660)  # wrapping day range


@pytest.mark.parametrize(("text", "says"), [
    ("", "empty"), ("Mo-Xx 08:00-10:00", "Mo-Xx"), ("Mo 8-10", "8"),
    ("Mo 08:00-25:00", "25:00"), ("Mo 08:00", "time range"), ("PH off", "PH"),
    ("Mo 10:00-10:00", "empty"),
])
def test_bad_rosters_name_the_bad_part(text: str, says: str) -> None:
    with pytest.raises(RosterError, match=None) as exc:
        parse_roster(text)
    assert says in str(exc.value)
