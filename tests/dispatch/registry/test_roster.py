"""The roster parser and its two questions: on duty now? when does that change next?"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dispatch.registry.roster import RosterError, next_boundary, on_roster, parse_roster

SH = ZoneInfo("Asia/Shanghai")


def at(day: int, hh: int, mm: int = 0, ss: int = 0) -> datetime:
    """Local time on a day of the week of 2026-11-30 (a Monday); ``day`` 0 = Monday."""
    return datetime(2026, 11, 30, hh, mm, ss, tzinfo=SH) + timedelta(days=day)


def test_helper_days_are_the_right_weekdays() -> None:
    assert [at(d, 9).weekday() for d in range(7)] == list(range(7))


def test_24_7_is_always_on_and_never_changes() -> None:
    r = parse_roster("24/7")
    assert r.always and all(on_roster(r, at(d, h)) for d in range(7) for h in (0, 12, 23))
    assert next_boundary(r, at(3, 12)) is None


def test_weekdays_and_weekend_hours() -> None:
    r = parse_roster("Mo-Fr 08:00-20:00; Sa,Su 09:00-17:00")
    assert on_roster(r, at(0, 8)) and on_roster(r, at(4, 19, 59))
    assert not on_roster(r, at(0, 7, 59)) and not on_roster(r, at(4, 20))
    assert on_roster(r, at(5, 9)) and not on_roster(r, at(6, 17)) and not on_roster(r, at(5, 8))
    assert next_boundary(r, at(0, 7, 30, 12)) == at(0, 8)
    assert next_boundary(r, at(0, 8)) == at(0, 20)  # exactly at a boundary: the next one
    assert next_boundary(r, at(4, 20, 5)) == at(5, 9)
    assert next_boundary(r, at(6, 17, 1)) == datetime(2026, 12, 7, 8, tzinfo=SH)  # next Monday


def test_no_day_selector_means_every_day_and_several_ranges() -> None:
    r = parse_roster("08:00-12:00,14:00-18:00")
    assert on_roster(r, at(6, 11, 59)) and not on_roster(r, at(6, 12)) and on_roster(r, at(2, 14))
    assert next_boundary(r, at(2, 12, 30)) == at(2, 14)


def test_overnight_range_spills_into_the_next_morning() -> None:
    r = parse_roster("Fr 20:00-08:00")
    assert on_roster(r, at(4, 23)) and on_roster(r, at(5, 7, 59))
    assert not on_roster(r, at(5, 8)) and not on_roster(r, at(4, 7))
    assert next_boundary(r, at(4, 21)) == at(5, 8)


def test_overnight_over_sunday_midnight_wraps_to_monday() -> None:
    r = parse_roster("Su 22:00-06:00")
    assert on_roster(r, at(6, 23)) and on_roster(r, at(0, 5))
    assert next_boundary(r, at(6, 23)) == datetime(2026, 12, 7, 6, tzinfo=SH)


def test_every_night_is_not_a_boundary_at_midnight() -> None:
    r = parse_roster("Mo-Su 20:00-08:00")
    assert next_boundary(r, at(2, 21)) == at(3, 8)


def test_later_rule_replaces_the_days_it_names() -> None:
    r = parse_roster("Mo-Sa 08:00-18:00; Th off")
    assert not on_roster(r, at(3, 10)) and on_roster(r, at(2, 10)) and on_roster(r, at(5, 10))
    assert parse_roster("24/7; Su off").spans == ((0, 6 * 24 * 60),)


def test_whole_days_joined_across_midnight_are_one_span() -> None:
    r = parse_roster("Mo-Fr 00:00-24:00")
    assert r.spans == ((0, 5 * 24 * 60),)
    assert next_boundary(r, at(1, 3)) == at(5, 0)


def test_all_days_off_is_never_on() -> None:
    r = parse_roster("off")
    assert r.never and not on_roster(r, at(1, 12)) and next_boundary(r, at(1, 12)) is None


def test_whitespace_is_normalised() -> None:
    assert parse_roster("  Mo-Fr   08:00-20:00 ;").text == "Mo-Fr 08:00-20:00 ;"
    assert parse_roster("Mo-Fr 08:00-20:00;").spans == parse_roster("Mo-Fr 08:00-20:00").spans


@pytest.mark.parametrize(("text", "says"), [
    ("", "empty roster"),
    ("Mon-Fri 08:00-20:00", "unknown day 'Mon-Fri'"),
    ("Mo-Fr 8:00-20:00", "bad time '8:00'"),
    ("Mo-Fr 08:00-24:30", "bad time '24:30'"),
    ("Mo-Fr 08:00", "bad time range '08:00'"),
    ("Mo-Fr 08:00-08:00", "empty time range"),
    ("PH off", "unknown day 'PH'"),
    ("Mo-Fr 08:00-12:00, 14:00-18:00", "not understood"),
    ("Jan Mo 08:00-12:00", "not understood"),
])
def test_unsupported_text_is_refused_with_the_part_named(text: str, says: str) -> None:
    with pytest.raises(RosterError, match=says.replace("(", r"\(")):
        parse_roster(text)
