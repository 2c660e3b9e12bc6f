"""Weekly duty rosters in the OpenStreetMap ``opening_hours`` style (a small, strict subset).

Pure: no clock, no database. A centre writes a team's hours the way it writes a shop's:

- ``24/7``
- ``Mo-Fr 08:00-20:00; Sa,Su 09:00-17:00``
- ``08:00-12:00,14:00-18:00`` (no day selector: every day)
- ``Mo-Su 20:00-08:00`` (past midnight: the range spills into the next morning)
- ``Mo-Sa 08:00-18:00; Th off`` (a later rule replaces earlier ones for the days it names)
- ``24/7; Su off``

Times are local wall-clock times of the centre (``RESCUE_TIMEZONE``); the caller converts.
Anything outside this subset (public holidays, months, week numbers) is refused with a message
naming the part that was not understood, so an import never silently misreads a roster.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

DAYS = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")
DAY_MIN = 24 * 60
WEEK_MIN = 7 * DAY_MIN
_TIME = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


class RosterError(ValueError):
    """The roster text is not in the supported ``opening_hours`` subset."""


@dataclass(frozen=True, slots=True)
class Roster:
    """On-duty spans as minutes from Monday 00:00, merged, sorted, within ``[0, WEEK_MIN)``;
    a span running over Sunday midnight is stored as two spans."""

    text: str
    spans: tuple[tuple[int, int], ...]

    @property
    def always(self) -> bool:
        return self.spans == ((0, WEEK_MIN),)

    @property
    def never(self) -> bool:
        return not self.spans


def _days(selector: str) -> list[int]:
    out: list[int] = []
    for part in selector.split(","):
        ends = part.split("-")
        if len(ends) > 2 or any(e not in DAYS for e in ends):
            raise RosterError(f"unknown day {part!r}: use {', '.join(DAYS)} (e.g. Mo-Fr, Sa,Su)")
        first = DAYS.index(ends[0])
        last = DAYS.index(ends[-1])
        span = (last - first) % 7
        out.extend((first + i) % 7 for i in range(span + 1))
    return out


def _minute(text: str) -> int:
    m = _TIME.match(text)
    if not m or (m.group(1) == "24" and m.group(2) != "00"):
        raise RosterError(f"bad time {text!r}: use HH:MM from 00:00 to 24:00")
    return int(m.group(1)) * 60 + int(m.group(2))


def _ranges(text: str) -> list[tuple[int, int]]:
    out = []
    for part in text.split(","):
        ends = part.split("-")
        if len(ends) != 2:
            raise RosterError(f"bad time range {part!r}: use HH:MM-HH:MM")
        start, end = _minute(ends[0]), _minute(ends[1])
        if start == end:
            raise RosterError(f"empty time range {part!r}")
        if start == DAY_MIN:
            raise RosterError(f"time range {part!r} starts at 24:00")
        out.append((start, end if end > start else end + DAY_MIN))
    return out


def _merge(spans: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    cut: list[tuple[int, int]] = []
    for start, end in spans:  # fold onto the week, splitting at Sunday midnight
        start, end = start % WEEK_MIN, start % WEEK_MIN + (end - start)
        if end > WEEK_MIN:
            cut += [(start, WEEK_MIN), (0, end - WEEK_MIN)]
        else:
            cut.append((start, end))
    merged: list[list[int]] = []
    for start, end in sorted(cut):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return tuple((s, e) for s, e in merged)


def parse_roster(text: str) -> Roster:
    """Parse roster text; raises ``RosterError`` (a ``ValueError``) saying what is wrong."""
    source = " ".join(text.split())
    if not source:
        raise RosterError("empty roster")
    per_day: dict[int, list[tuple[int, int]]] = {d: [] for d in range(7)}
    for rule in (r.strip() for r in source.split(";")):
        if not rule:
            continue
        words = rule.split(" ")
        if rule == "24/7":
            days, hours = list(range(7)), "00:00-24:00"
        elif len(words) == 1:
            days, hours = list(range(7)), words[0]
        elif len(words) == 2:
            days, hours = _days(words[0]), words[1]
        else:
            raise RosterError(f"rule {rule!r} not understood: use e.g. 'Mo-Fr 08:00-20:00'")
        ranges = [] if hours == "off" else _ranges(hours)
        for day in days:  # a later rule replaces the hours of the days it names
            per_day[day] = ranges
    spans = [(day * DAY_MIN + s, day * DAY_MIN + e) for day, rs in per_day.items() for s, e in rs]
    return Roster(source, _merge(spans))


def _week_minute(local_dt: datetime) -> int:
    return local_dt.weekday() * DAY_MIN + local_dt.hour * 60 + local_dt.minute


def on_roster(roster: Roster, local_dt: datetime) -> bool:
    """Whether the roster has the team on duty at the local wall-clock time ``local_dt``."""
    minute = _week_minute(local_dt)
    return any(start <= minute < end for start, end in roster.spans)


def next_boundary(roster: Roster, local_dt: datetime) -> datetime | None:
    """The first local time after ``local_dt`` at which ``on_roster`` changes (None: never).

    The answer keeps ``local_dt``'s tzinfo; wall-clock arithmetic, so a DST jump moves the
    boundary with the clock on the wall, as a roster means it.
    """
    if roster.always or roster.never:
        return None
    edges = sorted({s for s, _ in roster.spans} | {e % WEEK_MIN for _, e in roster.spans})
    # a span ending at Sunday 24:00 that continues at Monday 00:00 is no boundary
    joined = {0} if roster.spans[0][0] == 0 and roster.spans[-1][1] == WEEK_MIN else set()
    edges = [e for e in edges if e not in joined]
    minute = _week_minute(local_dt)
    floor = local_dt.replace(second=0, microsecond=0)
    ahead = min((e - minute) % WEEK_MIN or WEEK_MIN for e in edges)
    return floor + timedelta(minutes=ahead)
