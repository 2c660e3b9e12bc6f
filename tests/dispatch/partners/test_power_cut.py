"""``power_cut.detected`` goes once to the partners of the zone whose lifts lost mains."""

from __future__ import annotations

import json

import jsonschema_rs
from sqlalchemy import select

from dispatch.partners.models import PartnerDelivery
from dispatch.partners.power import announce_power_cuts
from dispatch.settings import ROOT
from tests import factories
from tests.conftest import Api
from tests.dispatch.partners.conftest import add_partner, push
from tests.dispatch.partners.receiver import Receiver
from tests.dispatch.telemetry.device import ago, ev, register


def test_area_power_cut_announced_once_to_the_zone(api: Api, admin, receiver: Receiver) -> None:
    with api.db() as s:
        lifts = [factories.make_elevator(s).id for _ in range(6)]
        qx = factories.make_zone(s, "清徐县").code
        s.commit()
    p = add_partner(api, admin, name="省平台", kind="province_platform", url=receiver.url)
    receiver.secret = p["secret"]
    far = add_partner(api, admin, name="清徐", kind="city_command", region=qx)
    for i, lift in enumerate(lifts):
        register(api, admin, lift).ok([ev("p", "power_cut", ago(api, 300 - 20 * i))])
    assert announce_power_cuts(api.db, settings=api.settings, now=api.clock.now) == 1
    assert announce_power_cuts(api.db, settings=api.settings, now=api.clock.now) == 0
    push(api)
    [got] = [r for r in receiver.received if r.event == "power_cut.detected"]
    assert got.body["data"]["elevator_count"] == 6 and got.body["incident"] is None
    schema = json.loads((ROOT / "docs/partner-events/power_cut.detected.v1.json").read_text())
    assert jsonschema_rs.validator_for(schema).is_valid(got.body)
    with api.db() as s:
        assert s.scalars(select(PartnerDelivery).where(
            PartnerDelivery.partner_id == far["id"])).all() == []
