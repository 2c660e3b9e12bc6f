"""The hand-computed data set: a dozen incidents with chosen timestamps (November 2026, UTC+8).

Every expected figure in the tests is worked out by hand from the table below (see the
comments in ``test_summary_matches_the_hand_computation``). Timelines are written through the
one write path (``append_event``) exactly as the live system and the importer write them.

id, district, elevator: story (seconds after received)

A 小店 30' e1 三无: offer L1 +60, accept +150, arrive +900, release +1200, cleared door_system,
  callback +1 h, closed
B 小店 e1: offer L1 +30, accept +230 (200 s: a 3-min miss), arrive +1500, release +1800, closed
C 小店 e1: offer L1 +40, timed out +220; offer L1 +225, declined +300; escalated;
  offer L2 +305, accept +365, arrive +1700, release +2000, callback +25 h (late)
D 小店 e2: offer L1 +20, accept +80, arrive +600, release +720, callback +1 h
E 小店 e2: duplicate report merged into D (+120 after D)
F 小店 e3: offer L1 +50, accept +110, false alarm +400
G 小店 e4: cancelled +100
H 清徐 60' e9: offer L1 +45, accept +105, arrive +4200 (70 min: late), release +4500
I 清徐 e10: offer L1 +30, accept +90, arrive +2400 (40 min: in time), release +2700
J 小店 e5: offer L1 +60, accept +120, released by the property's staff +1100 (no arrival),
  closed +1500
K 小店 e6: offer L1 +30, accept +100; still on the way (open)
L 小店 e7: received 2026-10-31 23:59:59 +08:00 — before the period
M 小店 e7: received 2026-12-01 00:00:00 +08:00 — the exclusive end

Elevators in service: 小店 e1–e8 (company X), 清徐 e9–e10 (company Y): 10. Period 30 days.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy.orm import Session

from dispatch.events import Actor, append_event
from dispatch.models import Incident
from tests import factories

CST = timezone(timedelta(hours=8))
FROM = datetime(2026, 11, 1, tzinfo=CST)
TO = datetime(2026, 12, 1, tzinfo=CST)
OP = Actor("op1", "operator")
CREW = Actor("crew1", "crew")


@dataclass
class HandSet:
    ids: dict[str, int] = field(default_factory=dict)
    elevators: dict[str, int] = field(default_factory=dict)
    company_x: int = 0
    company_y: int = 0


def _incident(session: Session, elevator: Any, zone: Any, t0: datetime,
              steps: list[tuple[float, str, dict[str, Any]]], *, state: str,
              merged_into: int | None = None) -> Incident:
    inc = Incident(elevator_id=elevator.id, zone_id=zone.id, channel="call", state=state,
                   sla_minutes=zone.arrival_limit_min,
                   sla_deadline=t0 + timedelta(minutes=zone.arrival_limit_min),
                   received_at=t0, last_event_seq=0, merged_into_id=merged_into)
    session.add(inc)
    session.flush()
    first = ("merged", {"merged_into": merged_into}) if merged_into else (
        "received", {"sla_minutes": zone.arrival_limit_min, "zone": zone.name})
    # A fixed past: marked imported so live hooks (the SMS outbox) stay out of it, as they do
    # for history brought in by ``rescue incidents import``.
    append_event(session, inc, type=first[0], actor=OP, at=t0,
                 payload={**first[1], "imported": True})
    for dt, type_, payload in steps:
        actor = CREW if type_ in ("accepted", "declined", "arrived", "released", "cleared") \
            else OP
        append_event(session, inc, type=type_, actor=actor, at=t0 + timedelta(seconds=dt),
                     payload={**payload, "imported": True})
    session.flush()
    return inc


def offer(n: int, level: int = 1) -> dict[str, Any]:
    return {"assignment_id": n, "team_id": n, "level": level}


def build(session: Session) -> HandSet:
    hs = HandSet()
    x = factories.make_org(session, name="甲维保公司")
    y = factories.make_org(session, name="乙维保公司")
    hs.company_x, hs.company_y = x.id, y.id
    unit = factories.make_org(session, "use_unit", name="阳光物业")
    e = {}
    for i in range(1, 9):
        e[i] = factories.make_elevator(session, zone_name="小店区", maintenance_company_id=x.id,
                                       use_unit_id=unit.id, three_no=(i == 1))
    for i in (9, 10):
        e[i] = factories.make_elevator(session, zone_name="清徐县", maintenance_company_id=y.id,
                                       use_unit_id=unit.id)
    # an elevator out of service does not count in the population
    factories.make_elevator(session, zone_name="小店区", maintenance_company_id=x.id,
                            in_service=False)
    hs.elevators = {f"e{i}": ev.id for i, ev in e.items()}
    xd = factories.make_zone(session, "小店区")
    qx = factories.make_zone(session, "清徐县")

    def t(day: int, hour: int, minute: int = 0) -> datetime:
        return datetime(2026, 11, day, hour, minute, tzinfo=CST)

    hs.ids["A"] = _incident(session, e[1], xd, FROM, [
        (60, "offered", offer(1)), (150, "accepted", offer(1)), (900, "arrived", offer(1)),
        (1200, "released", offer(1)), (1300, "cleared", {**offer(1), "cause_code": "door_system"}),
        (1200 + 3600, "callback_done", {}), (1200 + 3700, "closed", {})], state="closed").id
    hs.ids["B"] = _incident(session, e[1], xd, t(5, 8, 30), [
        (30, "offered", offer(2)), (230, "accepted", offer(2)), (1500, "arrived", offer(2)),
        (1800, "released", offer(2)), (2000, "closed", {})], state="closed").id
    hs.ids["C"] = _incident(session, e[1], xd, t(20, 18, 10), [
        (40, "offered", offer(3)), (220, "offer_timed_out", offer(3)),
        (225, "offered", offer(4)), (300, "declined", offer(4)),
        (305, "level_escalated", {"from": 1, "to": 2}), (305, "offered", offer(5, 2)),
        (365, "accepted", offer(5, 2)), (1700, "arrived", offer(5, 2)),
        (2000, "released", offer(5, 2)), (2000 + 25 * 3600, "callback_done", {})],
        state="callback_done").id
    d = _incident(session, e[2], xd, t(7, 9, 0), [
        (20, "offered", offer(6)), (80, "accepted", offer(6)), (600, "arrived", offer(6)),
        (720, "released", offer(6)), (720 + 3600, "callback_done", {})], state="callback_done")
    hs.ids["D"] = d.id
    hs.ids["E"] = _incident(session, e[2], xd, t(7, 9, 2), [], state="merged",
                            merged_into=d.id).id
    hs.ids["F"] = _incident(session, e[3], xd, t(9, 19, 0), [
        (50, "offered", offer(7)), (110, "accepted", offer(7)),
        (400, "false_alarm", {"reason": "乘客已自行离开"})], state="false_alarm").id
    hs.ids["G"] = _incident(session, e[4], xd, t(11, 12, 0), [
        (100, "cancelled", {"reason": "重复来电"})], state="cancelled").id
    hs.ids["H"] = _incident(session, e[9], qx, t(12, 10, 0), [
        (45, "offered", offer(8)), (105, "accepted", offer(8)), (4200, "arrived", offer(8)),
        (4500, "released", offer(8))], state="released").id
    hs.ids["I"] = _incident(session, e[10], qx, t(14, 15, 0), [
        (30, "offered", offer(9)), (90, "accepted", offer(9)), (2400, "arrived", offer(9)),
        (2700, "released", offer(9))], state="released").id
    hs.ids["J"] = _incident(session, e[5], xd, t(16, 21, 0), [
        (60, "offered", offer(10)), (120, "accepted", offer(10)),
        (1100, "released", {"by": "物业人员"}), (1500, "closed", {})], state="closed").id
    hs.ids["K"] = _incident(session, e[6], xd, t(30, 23, 0), [
        (30, "offered", offer(11)), (100, "accepted", offer(11))], state="accepted").id
    hs.ids["L"] = _incident(session, e[7], xd, FROM - timedelta(seconds=1), [
        (30, "offered", offer(12)), (100, "accepted", offer(12))], state="accepted").id
    hs.ids["M"] = _incident(session, e[7], xd, TO, [
        (30, "offered", offer(13)), (100, "accepted", offer(13))], state="accepted").id
    return hs
