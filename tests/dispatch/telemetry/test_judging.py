"""Accepted now, judged next (issue 19): the MQTT consumer stores events unjudged
(``accept_many``) and judges them from the stored rows (``judge_queued``). Judged later, every
event must come out exactly as if it had been judged on arrival, once, in the order it
happened; on SQLite and PostGIS."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from dispatch.events import Actor
from dispatch.incidents.schemas import IncidentCreate
from dispatch.incidents.service import create_incident
from dispatch.models import Incident
from dispatch.telemetry import service
from dispatch.telemetry.models import Alarm, AlarmIncident
from dispatch.telemetry.mqtt import Processor
from dispatch.telemetry.schemas import EventIn
from dispatch.telemetry.service import DeviceBatch, accept_many, ingest_many, judge_queued
from dispatch.uow import unit_of_work
from tests import factories
from tests.conftest import Api
from tests.dispatch.telemetry.device import Terminal, register


def _batch(t: Terminal, api: Api, *events: tuple[str, str, float, dict[str, Any]]
           ) -> DeviceBatch:
    raw = [{"event_id": e, "code": c, "occurred_at": (api.clock.now - timedelta(seconds=s))
            .isoformat(), **kw} for e, c, s, kw in events]
    return DeviceBatch(t.device_id, t.elevator_id, [EventIn.model_validate(r) for r in raw], raw)


def _fleet(api: Api, lifts: int, per_lift: int = 1) -> list[list[Terminal]]:
    admin = api.user("admin")
    with api.db() as s:
        ids = [factories.make_elevator(s).id for _ in range(lifts)]
        s.commit()
    return [[register(api, admin, lift) for _ in range(per_lift)] for lift in ids]


def _plan(api: Api, f: list[list[Terminal]]) -> list[DeviceBatch]:
    """Messages of four lifts: an entrapment that recovers by itself (its message resent),
    inspection then an alarm, two terminals of one lift alarming (one a brushed button), an
    unknown code and a fault. Events of one message out of order, as terminals send them."""
    (a,), (b,), (c1, c2), (d,) = f
    return [
        _batch(a, api, ("a1", "11", 30, {})),
        _batch(b, api, ("b2", "11", 25, {}), ("b1", "43", 30, {})),
        _batch(c1, api, ("c1", "90", 10, {"detail": {"held_s": 9}})),
        _batch(a, api, ("a2", "40", 20, {}), ("a1", "11", 30, {})),
        _batch(c2, api, ("c2", "11", 9, {}), ("c3", "90", 8, {"detail": {"held_s": 1}})),
        _batch(d, api, ("d1", "zz", 5, {}), ("d2", "02", 4, {})),
        _batch(b, api, ("b3", "02", 3, {})),
    ]


def _fates(api: Api, f: list[list[Terminal]]) -> dict[tuple[int, str], tuple[Any, ...]]:
    """(lift index, event id) → (outcome, reason, incident number within its lift); and each
    lift's incidents with their alarm facts."""
    index = {t.elevator_id: i for i, ts in enumerate(f) for t in ts}
    out: dict[tuple[int, str], tuple[Any, ...]] = {}
    with api.db() as s:
        first: dict[int, int] = {}
        for a in s.scalars(select(Alarm).where(Alarm.elevator_id.in_(index))
                           .order_by(Alarm.id)):
            n = None
            if a.incident_id is not None:
                n = first.setdefault(a.elevator_id, a.incident_id) == a.incident_id
            out[(index[a.elevator_id], a.event_id)] = (a.outcome, a.reason, n)
        for lift, i in index.items():
            facts = s.scalars(select(AlarmIncident).where(AlarmIncident.elevator_id == lift)).all()
            out[(i, "incidents")] = tuple(
                (x.alarm_count, x.recovered_after_s is not None) for x in facts)
    return out


def test_judged_later_every_event_comes_out_as_judged_on_arrival(api: Api) -> None:
    inline, deferred = _fleet(api, 4, 1), _fleet(api, 4, 1)
    inline[2].append(register(api, api.user("admin"), inline[2][0].elevator_id))
    deferred[2].append(register(api, api.user("admin"), deferred[2][0].elevator_id))
    for m in _plan(api, inline):  # one request each, judged on arrival
        with unit_of_work(api.db) as s:
            ingest_many(s, [m], now=api.clock.now, settings=api.settings)
    accepted = []
    for m in _plan(api, deferred):
        with unit_of_work(api.db) as s:
            accepted.extend(accept_many(s, [m], now=api.clock.now))
    assert [(x.stored, x.duplicates) for x in accepted] == [
        (1, 0), (2, 0), (1, 0), (1, 1), (2, 0), (2, 0), (1, 0)]
    with api.db() as s:
        assert set(s.scalars(select(Alarm.outcome).where(
            Alarm.elevator_id.in_([t.elevator_id for ts in deferred for t in ts])))) == {
            "queued"}
        assert s.scalar(select(func.count()).select_from(Incident)) == 2  # the inline ones
    with unit_of_work(api.db) as s:
        assert judge_queued(s, now=api.clock.now, settings=api.settings) == 10
    with unit_of_work(api.db) as s:
        assert judge_queued(s, now=api.clock.now, settings=api.settings) == 0
    fates = _fates(api, deferred)
    assert fates == _fates(api, inline)
    assert fates[(0, "a1")] == ("created", None, True)
    assert fates[(0, "a2")] == ("flagged", None, True)
    assert fates[(0, "incidents")] == ((1, True),)
    assert fates[(1, "b2")] == ("filtered", "inspection_mode", None)
    assert fates[(2, "c2")] == ("joined", None, True)
    assert fates[(2, "c3")] == ("filtered", "button_not_held", None)
    assert fates[(3, "d1")] == ("recorded", "unknown_code", None)


def test_the_clock_of_an_incident_starts_when_its_alarm_was_stored(api: Api) -> None:
    ((t,),) = _fleet(api, 1)
    stored_at = api.clock.now
    with unit_of_work(api.db) as s:
        accept_many(s, [_batch(t, api, ("x1", "11", 2, {}))], now=stored_at)
    api.clock.advance(seconds=40)  # judged 40 s later (a storm ahead of it)
    with unit_of_work(api.db) as s:
        assert judge_queued(s, now=api.clock.now, settings=api.settings) == 1
    with api.db() as s:
        incident = s.scalars(select(Incident)).one()
    assert incident.received_at.replace(tzinfo=None) == stored_at.replace(tzinfo=None)
    assert (incident.sla_deadline - incident.received_at) == timedelta(
        minutes=incident.sla_minutes)


def test_two_judges_at_once_judge_each_event_once_and_open_one_incident_per_lift(
        api: Api) -> None:
    fleet = _fleet(api, 24, 2)
    with unit_of_work(api.db) as s:  # every lift: two terminals alarming, then faults
        accept_many(s, [_batch(t, api, (f"{t.device_id}-{k}", code, 20 - k, {}))
                        for ts in fleet for t in ts for k, code in enumerate(("11", "02"))],
                    now=api.clock.now)
    settings = api.settings.model_copy(update={"mqtt_judge_lifts": 5})
    judges = [Processor(api.db, api.client.app.state.liveness,  # type: ignore[attr-defined]
                        settings=settings, app_secret=settings.resolved_secret_key(),
                        clock=api.clock) for _ in range(2)]
    done: list[int] = []
    errors: list[BaseException] = []

    def run(p: Processor) -> None:
        try:
            done.append(p.judge())
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(p,)) for p in judges]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert not errors
    assert sum(done) == 24 * 4
    with api.db() as s:
        assert s.scalar(select(func.count()).select_from(Alarm)
                        .where(Alarm.outcome == "queued")) == 0
        per_lift = dict(s.execute(select(Incident.elevator_id, func.count())
                                  .group_by(Incident.elevator_id)).all())
        facts = s.scalars(select(AlarmIncident)).all()
        outcomes = sorted(s.scalars(select(Alarm.outcome)))
    assert per_lift == {ts[0].elevator_id: 1 for ts in fleet}
    assert sorted(f.alarm_count for f in facts) == [2] * 24  # no event counted twice
    assert outcomes == sorted(["created"] * 24 + ["joined"] * 24 + ["recorded"] * 48)


def test_a_lift_whose_judging_raises_is_marked_failed_and_the_rest_are_judged(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    fleet = _fleet(api, 3)
    bad = fleet[1][0].elevator_id
    with unit_of_work(api.db) as s:
        accept_many(s, [_batch(ts[0], api, (f"e{i}", "11", 5, {}))
                        for i, ts in enumerate(fleet)], now=api.clock.now)
    real = service._apply

    def flaky(b: Any, ev: EventIn, code: Any) -> Any:
        if b.elevator_id == bad:
            raise RuntimeError("a bug in a rule")
        return real(b, ev, code)

    monkeypatch.setattr(service, "_apply", flaky)
    p = Processor(api.db, api.client.app.state.liveness,  # type: ignore[attr-defined]
                  settings=api.settings, app_secret=api.settings.resolved_secret_key(),
                  clock=api.clock)
    assert p.judge() == 3
    with api.db() as s:
        fates = {a.event_id: (a.outcome, a.reason) for a in s.scalars(select(Alarm))}
        incidents = set(s.scalars(select(Incident.elevator_id)))
    assert fates == {"e0": ("created", None), "e1": ("failed", "RuntimeError"),
                     "e2": ("created", None)}
    assert incidents == {fleet[0][0].elevator_id, fleet[2][0].elevator_id}
    assert p.stats.snapshot()["events_failed"] == 1
    deployment = api.client.app.state.liveness.counters()  # type: ignore[attr-defined]
    assert deployment["events_failed"] == 1 and deployment["events_judged"] == 3


def test_an_http_resend_of_an_event_still_queued_is_answered_as_stored(api: Api) -> None:
    """A terminal that sent over MQTT and resends over HTTP before the judge got to it: a
    duplicate, answered with the stored row's outcome (queued), nothing stored twice."""
    ((t,),) = _fleet(api, 1)
    event = {"event_id": "q1", "code": "11",
             "occurred_at": (api.clock.now - timedelta(seconds=3)).isoformat()}
    with unit_of_work(api.db) as s:
        accept_many(s, [DeviceBatch(t.device_id, t.elevator_id, [EventIn.model_validate(event)],
                                    [event])], now=api.clock.now)
    body = t.ok([event])
    assert body["stored"] == 0 and body["duplicates"] == 1
    assert body["results"][0]["outcome"] == "queued" and body["results"][0]["duplicate"]
    with unit_of_work(api.db) as s:
        assert judge_queued(s, now=api.clock.now, settings=api.settings) == 1
    again = t.ok([event])["results"][0]
    assert again["outcome"] == "created" and again["incident_id"] is not None
    with api.db() as s:
        assert s.scalar(select(func.count()).select_from(Alarm)) == 1
        assert s.scalar(select(func.count()).select_from(Incident)) == 1


def test_a_round_finds_the_incidents_opened_before_it(api: Api) -> None:
    """A round reads its lifts' elevators and open incidents at once: an alarm joins a call's
    incident still open, or an alarm incident of an earlier round, and opens a new one only
    once the earlier one is older than the duplicate window."""
    (called,), (earlier,), (stale,) = _fleet(api, 3)
    with unit_of_work(api.db) as s:
        call, _ = create_incident(
            s, data=IncidentCreate(elevator_id=called.elevator_id, channel="call"),
            actor=Actor("user:operator", None, "operator"), user_id=None, now=api.clock.now,
            settings=api.settings)
        accept_many(s, [_batch(t, api, (f"{t.device_id}-1", "11", 1, {}))
                        for t in (earlier, stale)], now=api.clock.now)
    with unit_of_work(api.db) as s:
        assert judge_queued(s, now=api.clock.now, settings=api.settings) == 2
    api.clock.advance(seconds=60)
    with unit_of_work(api.db) as s:
        accept_many(s, [_batch(t, api, (f"{t.device_id}-2", "11", 1, {}))
                        for t in (called, earlier)], now=api.clock.now)
    api.clock.advance(minutes=api.settings.duplicate_window_min + 1)
    with unit_of_work(api.db) as s:
        accept_many(s, [_batch(stale, api, (f"{stale.device_id}-2", "11", 1, {}))],
                    now=api.clock.now)
    with unit_of_work(api.db) as s:
        assert judge_queued(s, now=api.clock.now, settings=api.settings) == 3
    with api.db() as s:
        fate = {a.event_id: (a.outcome, a.incident_id) for a in s.scalars(select(Alarm))}
        opened = dict(s.execute(select(Incident.elevator_id, func.count())
                                .where(Incident.merged_into_id.is_(None))
                                .group_by(Incident.elevator_id)).all())
        counts = {f.incident_id: f.alarm_count for f in s.scalars(select(AlarmIncident))}
    assert fate[f"{called.device_id}-2"] == ("joined", call.id)
    assert counts[call.id] == 1
    first = fate[f"{earlier.device_id}-1"]
    assert first[0] == "created" and fate[f"{earlier.device_id}-2"] == ("joined", first[1])
    assert counts[first[1]] == 2
    old, new = fate[f"{stale.device_id}-1"], fate[f"{stale.device_id}-2"]
    assert old[0] == "created" and new[0] == "created" and new[1] != old[1]
    assert opened == {called.elevator_id: 1, earlier.elevator_id: 1, stale.elevator_id: 2}


def test_the_lifts_waiting_longest_are_judged_first(api: Api) -> None:
    fleet = _fleet(api, 4)
    order = [fleet[3], fleet[0], fleet[2], fleet[1]]  # stored in this order
    for (t,) in order:
        with unit_of_work(api.db) as s:
            accept_many(s, [_batch(t, api, (f"{t.device_id}-1", "02", 1, {}))],
                        now=api.clock.now)
    judged: list[set[int]] = []
    for _ in range(2):
        with unit_of_work(api.db) as s:
            assert judge_queued(s, now=api.clock.now, settings=api.settings, elevators=2) == 2
        with api.db() as s:
            judged.append(set(s.scalars(select(Alarm.elevator_id)
                                        .where(Alarm.outcome != "queued"))))
    assert judged[0] == {order[0][0].elevator_id, order[1][0].elevator_id}
    assert judged[1] == {t.elevator_id for (t,) in order}
