"""Pure alarm rules (no I/O): what an event does given the elevator's reported state, whether
"back to normal" means "recovered by itself", and which power-lost reports form an area cut."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from dispatch.telemetry.codes import Code

INSPECTION = "inspection"


@dataclass(frozen=True, slots=True)
class Verdict:
    """``action``: incident (open or join), recover (check the recovery rule), record, filter."""

    action: str
    reason: str | None = None


def judge(code: Code, *, mode: str, held_s: object, button_hold_s: float) -> Verdict:
    """What an event should do. Inspection mode suppresses every alarm and fault (the lift is
    being worked on; EN 81-28 filtering); a brushed alarm button (held shorter than the
    threshold, when the terminal reports it) is not an entrapment."""
    if code.kind == "mode":
        return Verdict("recover" if code.mode == "normal" else "record")
    if mode == INSPECTION:
        return Verdict("filter", "inspection_mode")
    if code.entrapment:
        if (code.code == "90" and isinstance(held_s, int | float) and not isinstance(held_s, bool)
                and held_s < button_hold_s):
            return Verdict("filter", "button_not_held")
        return Verdict("incident")
    if code.kind == "unknown":
        return Verdict("record", "unknown_code")
    return Verdict("record")


def recovered_after(entrapment_at: datetime | None, normal_at: datetime, *,
                    window_s: float) -> float | None:
    """Seconds from the entrapment alarm to "back to normal" if within the window, else None."""
    if entrapment_at is None:
        return None
    delta = (normal_at - entrapment_at).total_seconds()
    return delta if 0 <= delta <= window_s else None


@dataclass(frozen=True, slots=True)
class PowerLost:
    zone_id: int
    elevator_id: int
    at: datetime


@dataclass(slots=True)
class Cluster:
    zone_id: int
    started_at: datetime
    last_at: datetime
    elevator_ids: set[int] = field(default_factory=set)


def power_cuts(reports: Iterable[PowerLost], *, gap: timedelta,
               min_elevators: int) -> list[Cluster]:
    """Group power-lost reports per zone into runs whose consecutive reports are at most ``gap``
    apart; a run that reached ``min_elevators`` distinct elevators is an area power cut."""
    by_zone: dict[int, list[PowerLost]] = {}
    for r in reports:
        by_zone.setdefault(r.zone_id, []).append(r)
    out: list[Cluster] = []
    for zone_id, rows in by_zone.items():
        rows.sort(key=lambda r: r.at)
        run: Cluster | None = None
        for r in rows:
            if run is None or r.at - run.last_at > gap:
                if run is not None and len(run.elevator_ids) >= min_elevators:
                    out.append(run)
                run = Cluster(zone_id, r.at, r.at)
            run.last_at = r.at
            run.elevator_ids.add(r.elevator_id)
        if run is not None and len(run.elevator_ids) >= min_elevators:
            out.append(run)
    out.sort(key=lambda c: c.started_at, reverse=True)
    return out


def order_events(times: Sequence[datetime]) -> list[int]:
    """Indices in the order events happened (stable for equal times): a batch may arrive
    unordered, and "inspection then alarm" must not be read as "alarm then inspection"."""
    return sorted(range(len(times)), key=lambda i: (times[i], i))
