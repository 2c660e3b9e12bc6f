"""Every payload the server generates validates against its JSON Schema in docs/partner-events."""

from __future__ import annotations

import json

import jsonschema_rs
from sqlalchemy import select

from dispatch.partners.models import PartnerDelivery
from dispatch.partners.outbox import EVENT_TYPES
from dispatch.settings import ROOT
from tests.conftest import Api
from tests.dispatch.partners.conftest import add_partner
from tests.dispatch.partners.test_push import new_incident, rescue

SCHEMAS = ROOT / "docs/partner-events"


def validators() -> dict[str, jsonschema_rs.Validator]:
    return {t: jsonschema_rs.validator_for(json.loads((SCHEMAS / f"{t}.v1.json").read_text()))
            for t in EVENT_TYPES}


def test_every_generated_payload_validates(api: Api, net, op, admin) -> None:
    add_partner(api, admin, name="省平台", kind="province_platform")
    add_partner(api, admin, name="119", kind="fire_119", duty_phone="13912345678")
    rescue(api, op, net, new_incident(api, op, net))
    api.clock.advance(hours=1)
    esc = new_incident(api, op, net, injured=True, caller_phone="13812345678")
    api.client.post(f"/api/v1/incidents/{esc}/confirm", headers=op)
    api.client.post(f"/api/v1/incidents/{esc}/escalate", headers=op, json={"reason": "冒烟"})
    api.clock.advance(minutes=31)
    api.run_jobs()  # at risk, overdue
    api.client.post(f"/api/v1/incidents/{esc}/cancel", headers=op,
                    json={"reason": "误报", "outcome": "false_alarm"})
    check = validators()
    seen = set()
    with api.db() as s:
        for row in s.scalars(select(PartnerDelivery)):
            errors = [e.message for e in check[row.event_type].iter_errors(row.payload)]
            assert errors == [], (row.event_type, errors)
            seen.add(row.event_type)
    assert seen >= set(EVENT_TYPES) - {"power_cut.detected", "incident.cancelled"}


def test_a_broken_payload_does_not_validate() -> None:
    check = validators()["province.status"]
    assert not check.is_valid({"version": 1, "type": "province.status"})
