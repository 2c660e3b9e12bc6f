"""The office KPIs, defined once (see ``docs/kpis.md``). Pure: plain rows in, plain numbers out.

Why one module: offices are held to these definitions (Shandong DB37/T 3451, TSG T5002, city
rules) and compare them across districts and companies; two slightly different "30-minute
arrival rates" in two screens would make the system useless to them. Everything below reads the
*timeline* (the append-only ``incident_event`` rows), never the incident's ladder columns, which
a correction can change after the fact.

Two steps:

1. :func:`facts_from_timeline` condenses one incident's events into :class:`Facts` (the times
   and counts the definitions need). These are cached per incident in ``report_fact`` and
   recomputed whenever the incident's timeline grows (``dispatch.reports.facts``).
2. :func:`summarize` turns a list of :class:`Row` (facts + the zone's clock rule) into one
   summary row: counts, interval statistics (n, mean, P50, P90) and rates with their
   denominators.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import numpy as np

MONTH_DAYS: Final = 365.25 / 12
"""A month for the entrapment rate (so a 31-day and a 28-day period compare fairly)."""
RESPONSE_LIMIT_S: Final = 180.0
"""The 3-minute response rule: a level-1 offer acknowledged within 180 s (inclusive)."""
CALLBACK_LIMIT_S: Final = 24 * 3600.0
OFFER_TYPES: Final = ("offered", "level3_alerted")
NOT_ENTRAPMENT: Final = ("false_alarm", "cancelled")
STAT_DIGITS: Final = 1
RATE_DIGITS: Final = 4


@dataclass(frozen=True, slots=True)
class Event:
    """One timeline row, as the definitions need it."""

    type: str
    at: datetime
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Facts:
    """What one incident's timeline says, for reporting. Times are POSIX seconds (UTC epoch):
    intervals are plain subtractions, and the cache reads back floats instead of parsing
    ~50,000 datetimes for a city-year.

    ``outcome``: ``merged`` (a duplicate report), ``false_alarm``, ``cancelled``, ``released``
    (people out), ``closed`` (closed without release), or ``open``.
    """

    received_at: float | None
    outcome: str
    first_offer_at: float | None = None
    went_level: int | None = None
    went_offer_at: float | None = None
    went_accept_at: float | None = None
    arrived_at: float | None = None
    released_at: float | None = None
    closed_at: float | None = None
    callback_at: float | None = None
    cause_code: str | None = None
    escalated: bool = False
    l1_offers: int = 0
    l1_hits: int = 0
    sla_minutes: int | None = None
    imported: bool = False


def _offer_key(payload: Mapping[str, Any]) -> Any:
    return payload.get("assignment_id")


def facts_from_timeline(events: Sequence[Event]) -> Facts:
    """Condense one incident's timeline (in ``seq`` order) into :class:`Facts`.

    Rules:
    - the *team that went* is the one whose assignment first reported arrival; with no arrival,
      the last team that accepted; its level and offer/acceptance times are that assignment's;
    - an acceptance belongs to the offer with the same ``assignment_id``; an event without one
      (imported history without a team) belongs to the latest offer before it;
    - a level-1 offer is a hit when its acceptance came ≤ 180 s after it; an offer never
      accepted (declined, timed out, still pending) is a miss;
    - escalated: a ``level_escalated`` or ``escalated`` event, or a level-3 alert;
    - the arrival limit is the ``sla_minutes`` recorded when the report was received.
    """
    received_at = first_offer_at = arrived_at = released_at = closed_at = None
    callback_at = None
    cause = None
    outcome = "open"
    escalated = imported = False
    sla = None
    offers: dict[Any, tuple[float, int | None]] = {}
    accepts: dict[Any, float] = {}
    last_offer_key: Any = None
    arrived_key: Any = None
    last_accept_key: Any = None
    n_anon = 0
    for ev in events:
        p = ev.payload or {}
        at = ev.at.timestamp()
        if p.get("imported"):
            imported = True
        t = ev.type
        if t == "received":
            received_at = received_at or at
            if isinstance(p.get("sla_minutes"), int):
                sla = p["sla_minutes"]
        elif t == "merged":
            received_at = received_at or at
            outcome = "merged"
        elif t in OFFER_TYPES:
            key = _offer_key(p)
            if key is None:
                n_anon += 1
                key = ("anon", n_anon)
            offers[key] = (at, p.get("level"))
            last_offer_key = key
            if t == "offered" and first_offer_at is None:
                first_offer_at = at
            if t == "level3_alerted":
                escalated = True
        elif t == "accepted":
            key = _offer_key(p) if _offer_key(p) is not None else last_offer_key
            if key in offers and key not in accepts:
                accepts[key] = at
                last_accept_key = key
        elif t == "arrived":
            if arrived_at is None:
                arrived_at = at
                k = _offer_key(p)
                arrived_key = k if k is not None else last_accept_key or last_offer_key
        elif t == "released":
            released_at = released_at or at
        elif t == "cleared":
            cause = p.get("cause_code") or cause
        elif t == "callback_done":
            callback_at = callback_at or at
        elif t in ("level_escalated", "escalated"):
            escalated = True
        elif t == "closed":
            closed_at = closed_at or at
        elif t in NOT_ENTRAPMENT and outcome != "merged":
            outcome = t
    if outcome == "open":
        if released_at is not None:
            outcome = "released"
        elif closed_at is not None:
            outcome = "closed"
    went = arrived_key if arrived_key in offers else last_accept_key
    went_offer = offers.get(went) if went is not None else None
    l1 = [k for k, (_, level) in offers.items() if level == 1]
    hits = sum(1 for k in l1 if k in accepts
               and accepts[k] - offers[k][0] <= RESPONSE_LIMIT_S)
    return Facts(
        received_at=received_at, outcome=outcome, first_offer_at=first_offer_at,
        went_level=went_offer[1] if went_offer else None,
        went_offer_at=went_offer[0] if went_offer else None,
        went_accept_at=accepts.get(went) if went is not None else None,
        arrived_at=arrived_at, released_at=released_at, closed_at=closed_at,
        callback_at=callback_at, cause_code=cause, escalated=escalated, l1_offers=len(l1),
        l1_hits=hits, sla_minutes=sla, imported=imported,
    )


@dataclass(frozen=True, slots=True)
class Row:
    """An incident's facts with the rule of its zone: which event starts the arrival clock and
    the limit to use when the timeline recorded none."""

    facts: Facts
    clock_start: str = "received"
    zone_limit_min: int = 30

    @property
    def limit_min(self) -> int:
        return self.facts.sla_minutes or self.zone_limit_min


def _span(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else b - a


def is_report(f: Facts) -> bool:
    """A report: any incident not merged into another."""
    return f.outcome != "merged"


def is_entrapment(f: Facts) -> bool:
    """An entrapment: a report whose outcome is not false alarm or cancelled."""
    return is_report(f) and f.outcome not in NOT_ENTRAPMENT


def dispatch_s(r: Row) -> float | None:
    """Dispatch time: first offer − received."""
    return _span(r.facts.received_at, r.facts.first_offer_at)


def response_s(r: Row) -> float | None:
    """Response time: acceptance by the team that went − its offer (DB37/T 3451)."""
    return _span(r.facts.went_offer_at, r.facts.went_accept_at)


def clock_start_at(r: Row) -> float | None:
    return r.facts.first_offer_at if r.clock_start == "dispatched" else r.facts.received_at


def arrival_s(r: Row) -> float | None:
    """Arrival time: arrived − the zone's clock start (received by default, or first offer)."""
    return _span(clock_start_at(r), r.facts.arrived_at)


def onsite_s(r: Row) -> float | None:
    """On-site time: released − arrived."""
    return _span(r.facts.arrived_at, r.facts.released_at)


def total_s(r: Row) -> float | None:
    """Total trapped time: released − received."""
    return _span(r.facts.received_at, r.facts.released_at)


INTERVALS: Final = {
    "dispatch_time": dispatch_s, "response_time": response_s, "arrival_time": arrival_s,
    "onsite_time": onsite_s, "total_time": total_s,
}


def arrival_verdict(r: Row) -> bool | None:
    """Within the limit (True), a miss (False), or not counted (None).

    Counted: entrapments that reached arrival (within when arrival time ≤ limit), and those
    closed without an arrival (a miss: nobody came). Still-open entrapments without arrival are
    not counted yet.
    """
    f = r.facts
    if not is_entrapment(f):
        return None
    a = arrival_s(r)
    if a is not None:
        return a <= r.limit_min * 60
    if f.arrived_at is None and f.closed_at is not None:
        return False
    return None


def stat(values: Iterable[float | None]) -> dict[str, float | int | None]:
    """``{n, mean, p50, p90}`` in seconds; percentiles by numpy's linear interpolation."""
    arr = np.array([v for v in values if v is not None], dtype=float)
    if arr.size == 0:
        return {"n": 0, "mean": None, "p50": None, "p90": None}
    p50, p90 = np.percentile(arr, [50, 90])
    return {"n": int(arr.size), "mean": round(float(arr.mean()), STAT_DIGITS),
            "p50": round(float(p50), STAT_DIGITS), "p90": round(float(p90), STAT_DIGITS)}


def rate(num: int, den: int) -> float | None:
    """A fraction 0–1, or None when there is no denominator."""
    return None if den == 0 else round(num / den, RATE_DIGITS)


def entrapment_rates(entrapments: int, elevators: int | None,
                     days: float) -> tuple[float | None, float | None]:
    """(per 100 elevators per month, per 10,000 elevators per day); month = 365.25/12 days."""
    if not elevators or days <= 0:
        return None, None
    per_elevator_day = entrapments / elevators / days
    return (round(per_elevator_day * MONTH_DAYS * 100, 6),
            round(per_elevator_day * 10_000, 6))


def summarize(rows: Sequence[Row], *, days: float,
              elevators: int | None) -> dict[str, Any]:
    """One summary row over ``rows`` (every incident of the period and area, merged ones too).

    ``days`` is the period length; ``elevators`` the elevators in service in the area (None
    when the grouping has no population, e.g. an hour of the day).
    """
    reports = [r for r in rows if is_report(r.facts)]
    ent = [r for r in reports if is_entrapment(r.facts)]
    false_alarms = sum(1 for r in reports if r.facts.outcome == "false_alarm")
    out: dict[str, Any] = {
        "reports": len(reports),
        "entrapments": len(ent),
        "elevators_in_service": elevators,
    }
    for name, fn in INTERVALS.items():
        out[name] = stat(fn(r) for r in ent)
    l1_offers = sum(r.facts.l1_offers for r in ent)
    l1_hits = sum(r.facts.l1_hits for r in ent)
    out["response_3min_rate"] = rate(l1_hits, l1_offers)
    out["response_3min_n"] = l1_offers
    verdicts = [v for v in (arrival_verdict(r) for r in ent) if v is not None]
    out["arrival_within_limit_rate"] = rate(sum(verdicts), len(verdicts))
    out["arrival_within_limit_n"] = len(verdicts)
    out["late_arrivals"] = sum(1 for v in verdicts if not v)
    per100, per10k = entrapment_rates(len(ent), elevators, days)
    out["entrapment_rate_per_100_per_month"] = per100
    out["entrapment_rate_per_10k_per_day"] = per10k
    levels = [r.facts.went_level for r in ent if r.facts.went_level in (1, 2, 3)]
    out["level_share"] = {str(lv): rate(levels.count(lv), len(levels)) for lv in (1, 2, 3)}
    out["level_n"] = len(levels)
    out["escalations"] = sum(1 for r in ent if r.facts.escalated)
    out["false_alarms"] = false_alarms
    out["false_alarm_share"] = rate(false_alarms, len(reports))
    released = [r for r in ent if r.facts.released_at is not None]
    on_time_callbacks = sum(
        1 for r in released if r.facts.callback_at is not None
        and r.facts.released_at is not None
        and r.facts.callback_at - r.facts.released_at <= CALLBACK_LIMIT_S)
    out["callback_24h_rate"] = rate(on_time_callbacks, len(released))
    out["callback_24h_n"] = len(released)
    return out
