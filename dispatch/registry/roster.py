"""Weekly duty hours in the OpenStreetMap ``opening_hours`` style, as a pure parser.

Why this syntax: centres already write it (it is what maps use for opening hours), it is short
enough for a CSV cell, and a small subset covers duty rosters: ``24/7``;
``Mo-Fr 08:00-20:00; Sa,Su 09:00-17:00``; a night shift ``Mo-Fr 20:00-08:00`` (the end before
the start runs past midnight); ``Su off``. As in ``opening_hours``, a later rule replaces what
earlier rules said about the days it names. Times are the centre's local wall-clock time.

A roster is a set of minute intervals of the week (Monday 00:00 = 0); ``on_roster`` and
``next_boundary`` answer from it, so the job loop can schedule the next switch as a row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["DAYS", "Roster", "RosterError", "next_boundary", "on_roster", "parse_roster"]

DAYS = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")
DAY_MIN = 24 * 60
WEEK_MIN = 7 * DAY_MIN
SYNTAX = "24/7 | [Mo-Fr|Sa,Su …] HH:MM-HH:MM[,HH:MM-HH:MM] | <days> off, rules joined by ';'"

_TIME = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


class RosterError(ValueError):
    """The text is not a roster this parser reads; the message says where and what is allowed."""


@dataclass(frozen=True, slots=True)
class Roster:
    """Parsed duty hours: sorted, disjoint ``[start, end)`` minute intervals of the week."""

    text: str
    intervals: tuple[tuple[int, int], ...]

    @property
    def always(self) -> bool:
        return self.intervals == ((0, WEEK_MIN),)

    @property
    def never(self) -> bool:
        return not self.intervals


def _minutes(token: str, text: str) -> int:
    m = _TIME.match(token)
    if not m or (m.group(1) == "24" and m.group(2) != "00"):
        raise RosterError(f"{text!r}: {token!r} is not a time HH:MM (00:00-24:00)")
    return int(m.group(1)) * 60 + int(m.group(2))


def _days(selector: str, text: str) -> list[int]:
    out: list[int] = []
    for item in selector.split(","):
        item = item.strip()
        if "-" in item:
            a, _, b = item.partition("-")
            if a not in DAYS or b not in DAYS:
                raise RosterError(f"{text!r}: {item!r} is not a day range like Mo-Fr "
                                  f"(days: {', '.join(DAYS)})")
            i, j = DAYS.index(a), DAYS.index(b)
            out.extend(d % 7 for d in range(i, j + 1 if j >= i else j + 8))
        elif item in DAYS:
            out.append(DAYS.index(item))
        else:
            raise RosterError(f"{text!r}: {item!r} is not a day (days: {', '.join(DAYS)})")
    return out


def _spans(times: str, text: str) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for span in times.split(","):
        start, sep, end = span.strip().partition("-")
        if not sep:
            raise RosterError(f"{text!r}: {span.strip()!r} is not a time range HH:MM-HH:MM")
        a, b = _minutes(start.strip(), text), _minutes(end.strip(), text)
        if a == b:
            raise RosterError(f"{text!r}: {span.strip()!r} is empty")
        out.append((a, b if b > a else b + DAY_MIN))  # end before start: past midnight
    return out


def _merge(raw: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Fold week minutes onto ``[0, WEEK_MIN)`` and join touching intervals."""
    flat: list[tuple[int, int]] = []
    for a, b in raw:
        a, b = a % WEEK_MIN, a % WEEK_MIN + (b - a)
        if b > WEEK_MIN:
            flat += [(a, WEEK_MIN), (0, b - WEEK_MIN)]
        else:
            flat.append((a, b))
    flat.sort()
    out: list[list[int]] = []
    for a, b in flat:
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return tuple((a, b) for a, b in out)


def parse_roster(text: str) -> Roster:
    """Parse ``text``; raise :class:`RosterError` naming the bad part and the syntax read.

    >>> parse_roster("Mo 08:00-12:00").intervals
    ((480, 720),)
    >>> parse_roster("24/7").always
    True
    """
    src = text.strip()
    if not src:
        raise RosterError(f"empty roster (syntax: {SYNTAX})")
    per_day: dict[int, list[tuple[int, int]]] = {}
    for rule in (r.strip() for r in src.split(";")):
        if not rule:
            continue
        if rule == "24/7":
            per_day = {d: [(0, DAY_MIN)] for d in range(7)}
            continue
        head, _, rest = rule.partition(" ")
        if head[:2] in DAYS:
            days, times = _days(head, src), rest.strip()
        else:
            days, times = list(range(7)), rule
        if not times:
            spans = [(0, DAY_MIN)]
        elif times in ("off", "closed"):
            spans = []
        else:
            try:
                spans = _spans(times, src)
            except RosterError as exc:
                raise RosterError(f"{exc} (syntax: {SYNTAX})") from None
        for d in days:
            per_day[d] = list(spans)  # a later rule replaces earlier ones for its days
    raw = [(d * DAY_MIN + a, d * DAY_MIN + b) for d, spans in per_day.items() for a, b in spans]
    return Roster(src, _merge(raw))


def _week_minute(at: datetime) -> float:
    return (at.weekday() * DAY_MIN + at.hour * 60 + at.minute + at.second / 60
            + at.microsecond / 60e6)


def on_roster(roster: Roster, at: datetime) -> bool:
    """Is ``at`` (local wall-clock time) inside the duty hours?"""
    m = _week_minute(at)
    return any(a <= m < b for a, b in roster.intervals)


def next_boundary(roster: Roster, at: datetime) -> datetime | None:
    """The first time after ``at`` at which :func:`on_roster` changes; None if it never does.

    Wall-clock arithmetic on ``at``'s own zone (China keeps no daylight saving).
    """
    if roster.always or roster.never:
        return None
    m = _week_minute(at)
    edges = {e % WEEK_MIN for iv in roster.intervals for e in iv}
    if roster.intervals[0][0] == 0 and roster.intervals[-1][1] == WEEK_MIN:
        edges.discard(0)  # Sunday night runs on into Monday: no switch at the week's seam
    ordered = sorted(edges)
    later = [e for e in ordered if e > m]
    step = (later[0] - m) if later else (WEEK_MIN - m + ordered[0])
    return at + timedelta(minutes=step)
