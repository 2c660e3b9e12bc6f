"""``ingest_many``: many device batches in one transaction (the MQTT consumer's batch) behave
exactly like the same batches sent one request each."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from dispatch.models import Incident
from dispatch.telemetry.models import Alarm
from dispatch.telemetry.schemas import EventIn
from dispatch.telemetry.service import DeviceBatch, ingest_many
from tests import factories
from tests.conftest import Api
from tests.dispatch.telemetry.device import register


def _batch(device: str, lift: int, api: Api, *events: tuple[str, str, float]) -> DeviceBatch:
    raw = [{"event_id": e, "code": c, "occurred_at": (api.clock.now - timedelta(seconds=s))
            .isoformat()} for e, c, s in events]
    return DeviceBatch(device, lift, [EventIn.model_validate(r) for r in raw], raw)


def test_batches_of_one_call_share_the_incident_and_see_each_others_events(api: Api) -> None:
    admin = api.user("admin")
    with api.db() as s:
        lift, other = factories.make_elevator(s).id, factories.make_elevator(s).id
        s.commit()
    a, b, c = (register(api, admin, x) for x in (lift, lift, other))
    batches = [
        _batch(c.device_id, other, api, ("c1", "43", 20), ("c2", "11", 10)),  # inspection
        _batch(a.device_id, lift, api, ("a1", "11", 9)),
        _batch(b.device_id, lift, api, ("b1", "90", 8)),  # a second terminal, same lift
        _batch(a.device_id, lift, api, ("a1", "11", 9), ("a2", "02", 7)),  # a1 resent
    ]
    with api.db() as s:
        out = ingest_many(s, batches, now=api.clock.now, settings=api.settings)
        s.commit()
    assert [[(r.outcome, r.reason, r.duplicate) for r in o.results] for o in out] == [
        [("recorded", None, False), ("filtered", "inspection_mode", False)],
        [("created", None, False)],
        [("joined", None, False)],
        [("created", None, True), ("recorded", None, False)],
    ]
    assert [(o.stored, o.duplicates) for o in out] == [(2, 0), (1, 0), (1, 0), (1, 1)]
    assert out[1].results[0].incident_id == out[2].results[0].incident_id
    with api.db() as s:
        assert s.scalar(select(func.count()).select_from(Alarm)) == 5
        assert s.scalar(select(func.count()).select_from(Incident)) == 1
    with api.db() as s:  # the whole call again: nothing new
        again = ingest_many(s, batches, now=api.clock.now, settings=api.settings)
        s.commit()
    assert all(r.duplicate for o in again for r in o.results)
    assert [o.stored for o in again] == [0, 0, 0, 0]
