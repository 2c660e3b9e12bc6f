"""A partner hands an entrapment over; reads its own view; the feed; the 119 handover."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from dispatch.models import Incident, IncidentEvent, ScheduledTask
from dispatch.notifications.models import Notification
from dispatch.partners.models import PartnerDelivery
from dispatch.partners.outbox import PROVINCE_STATUS, province_code
from notify.phones import to_e164
from tests.conftest import Api
from tests.dispatch.partners.conftest import add_partner, key, push
from tests.dispatch.partners.receiver import Receiver
from tests.dispatch.partners.test_push import new_incident, rescue


def hand_over(api: Api, p: dict[str, Any], **body: Any) -> Any:
    return api.client.post("/api/v1/partner/incidents", headers=key(p), json=body)


def timeline(api: Api, inc: int) -> list[str]:
    with api.db() as s:
        return list(s.scalars(select(IncidentEvent.type).where(
            IncidentEvent.incident_id == inc).order_by(IncidentEvent.seq)))


def test_transfer_is_idempotent_and_merges_like_any_duplicate(
        api: Api, net, op, admin, receiver: Receiver) -> None:
    p = add_partner(api, admin, name="110指挥中心", kind="police_110", url=receiver.url)
    receiver.secret = p["secret"]
    r = hand_over(api, p, external_id="110-20261130-0001", rescue_code=net.rescue_code,
                  caller_phone="13812345678", trapped_count=1, injured=True)
    assert r.status_code == 201, r.text
    first = r.json()
    again = hand_over(api, p, external_id="110-20261130-0001", rescue_code=net.rescue_code)
    assert again.status_code == 201 and again.json()["incident_id"] == first["incident_id"]
    assert again.json()["repeated"] is True
    with api.db() as s:
        inc = s.get(Incident, first["incident_id"])
        assert inc is not None and inc.channel == "transfer" and inc.injured
        assert s.scalar(select(IncidentEvent.actor).where(
            IncidentEvent.incident_id == inc.id)) == "partner:110指挥中心"
        assert len(s.scalars(select(Incident)).all()) == 1
    dup = hand_over(api, p, external_id="110-20261130-0002", register_code=_register(api, net))
    assert dup.status_code == 200 and dup.json()["duplicate"] is True
    assert dup.json()["merged_into"] == first["incident_id"]
    push(api)
    received = next(x for x in receiver.received if x.event == "incident.received")
    assert received.body["incident"]["external_id"] == "110-20261130-0001"
    view = api.client.get("/api/v1/partner/incidents/110-20261130-0002", headers=key(p)).json()
    assert view["incident_id"] == first["incident_id"] and view["state"] == "received"
    assert view["incident"]["rescue_code"] == net.rescue_code


def _register(api: Api, net) -> str:
    from dispatch.models import Elevator
    with api.db() as s:
        e = s.get(Elevator, net.elevator_id)
        assert e is not None
        return e.register_code


def test_unknown_elevator_is_422_naming_the_field_and_kept_for_an_operator(
        api: Api, net, op, admin) -> None:
    p = add_partner(api, admin, name="12345", kind="hotline_12345")
    r = hand_over(api, p, external_id="A1", rescue_code="999999", caller_phone="13812345678")
    assert r.status_code == 422 and r.json()["field"] == "rescue_code"
    assert r.headers["content-type"].startswith("application/problem+json")
    again = hand_over(api, p, external_id="A1", rescue_code="999999")
    assert again.status_code == 422 and again.json()["field"] == "rescue_code"
    listed = api.client.get("/api/v1/partner-reports?unresolved=true", headers=op).json()
    assert [(x["external_id"], x["resolved"]) for x in listed] == [("A1", False)]
    assert listed[0]["body"]["caller_phone"] == "13812345678"
    by_address = hand_over(api, p, external_id="A2", address="没有这个地址", lon=112.5, lat=37.8)
    assert by_address.status_code == 422 and by_address.json()["field"] == "address"
    crew = api.user("crew", team_id=net.a_near)
    assert api.client.get("/api/v1/partner-reports", headers=crew).status_code == 403
    assert hand_over(api, {"api_key": "pk_wrong"},
                     external_id="x", rescue_code="1").status_code == 401


def test_bad_body_names_the_field(api: Api, admin) -> None:
    p = add_partner(api, admin, name="city", kind="city_command")
    r = hand_over(api, p, external_id="B1")
    assert r.status_code == 422
    r = hand_over(api, p, external_id="B1", rescue_code="250001", trapped_count="many")
    assert r.status_code == 422 and "trapped_count" in r.text


@pytest.mark.parametrize(("event_type", "code"), sorted(
    (k, v[0]) for k, v in PROVINCE_STATUS.items()))
def test_province_status_table_row(event_type: str, code: str) -> None:
    class Inc:
        released_at = object()
    assert province_code(event_type, Inc()) == code  # type: ignore[arg-type]


def test_province_closed_without_release_is_not_completed() -> None:
    class Inc:
        released_at = None
    assert province_code("incident.closed", Inc()) is None  # type: ignore[arg-type]
    assert province_code("incident.confirmed", Inc()) is None  # type: ignore[arg-type]


def test_province_false_alarm_is_05(api: Api, net, op, admin, receiver: Receiver) -> None:
    p = add_partner(api, admin, name="省平台", kind="province_platform", url=receiver.url)
    receiver.secret = p["secret"]
    inc = new_incident(api, op, net)
    api.client.post(f"/api/v1/incidents/{inc}/cancel", headers=op,
                    json={"reason": "误报，电梯正常", "outcome": "false_alarm"})
    push(api)
    assert receiver.events(inc)[-2:] == ["incident.false_alarm", "province.status"]
    assert receiver.received[-1].body["data"]["status_code"] == "05"


def test_pull_feed_never_skips_or_repeats(api: Api, net, op, admin) -> None:
    p = add_partner(api, admin, name="市应急指挥中心", kind="city_command")  # no URL: pull only
    inc = new_incident(api, op, net)
    assert api.client.get("/api/v1/partner/events?since=0", headers=key(p)).json()["events"] == []
    api.clock.advance(seconds=3)
    page = api.client.get("/api/v1/partner/events?since=0&limit=1", headers=key(p)).json()
    assert [e["type"] for e in page["events"]] == ["incident.received"]
    rescue(api, op, net, inc)
    api.clock.advance(seconds=3)
    seen = [e["type"] for e in page["events"]]
    cursor = page["next"]
    while True:
        page = api.client.get(f"/api/v1/partner/events?since={cursor}&limit=3",
                              headers=key(p)).json()
        if not page["events"]:
            break
        seen += [e["type"] for e in page["events"]]
        cursor = page["next"]
    assert seen == ["incident.received", "incident.confirmed", "incident.dispatched",
                    "incident.accepted", "incident.arrived", "incident.released",
                    "incident.closed"]
    with api.db() as s:
        assert set(s.scalars(select(PartnerDelivery.status))) == {"feed"}


def _fire(api: Api, admin, receiver: Receiver) -> dict[str, Any]:
    p = add_partner(api, admin, name="119指挥中心", kind="fire_119", url=receiver.url,
                    duty_phone="0351-1190119")
    receiver.secret = p["secret"]
    return p


def _escalate(api: Api, op, net) -> int:
    inc = new_incident(api, op, net, caller_phone="13812345678", injured=True)
    api.client.post(f"/api/v1/incidents/{inc}/confirm", headers=op)
    r = api.client.post(f"/api/v1/incidents/{inc}/escalate", headers=op,
                        json={"reason": "轿厢冒烟"})
    assert r.status_code == 200, r.text
    return inc


def test_level3_handover_acknowledged_by_119(api: Api, net, op, admin,
                                             receiver: Receiver) -> None:
    p = _fire(api, admin, receiver)
    inc = _escalate(api, op, net)
    push(api)
    esc = [x for x in receiver.received if x.event == "incident.escalated"]
    assert len(esc) == 1
    h = esc[0].body["data"]["handover"]
    assert h["caller_phone"] == "13812345678" and h["injured"] is True
    assert h["address"] and h["building"] and h["use_unit_phone"]
    assert esc[0].body["incident"]["level"] == 3
    with api.db() as s:
        sms = s.scalars(select(Notification).where(Notification.template == "fire_handover")).all()
        assert [n.to for n in sms] == [to_e164("0351-1190119")]
        assert "13812345678" in str(sms[0].data)
    api.run_jobs()  # arms the deadline
    api.clock.advance(seconds=30)
    r = api.client.post(f"/api/v1/partner/incidents/{inc}/status", headers=key(p),
                        json={"status": "accepted", "note": "小店中队出动"})
    assert r.status_code == 200 and r.json()["recorded"] == "fire_brigade_accepted"
    api.clock.advance(seconds=100)
    api.run_jobs()
    assert "handover_unacknowledged" not in timeline(api, inc)
    r = api.client.post(f"/api/v1/partner/incidents/{inc}/status", headers=key(p),
                        json={"status": "arrived"})
    assert r.status_code == 200 and r.json()["state"] == "arrived"
    with api.db() as s:
        incident = s.get(Incident, inc)
        assert incident is not None and incident.arrived_at == api.clock.now
        pending = s.scalars(select(ScheduledTask.kind).where(
            ScheduledTask.incident_id == inc, ScheduledTask.status == "pending")).all()
        assert "sla_overdue" not in pending and "sla_warning" not in pending
    ev = timeline(api, inc)
    assert ev[-1] == "arrived"


def test_level3_handover_not_acknowledged_alerts_the_operator(
        api: Api, net, op, admin, receiver: Receiver) -> None:
    _fire(api, admin, receiver)
    inc = _escalate(api, op, net)
    api.run_jobs()
    api.clock.advance(seconds=119)
    api.run_jobs()
    assert "handover_unacknowledged" not in timeline(api, inc)
    api.clock.advance(seconds=2)
    api.run_jobs()
    assert timeline(api, inc).count("handover_unacknowledged") == 1


def test_only_fire_partners_report_fire_steps(api: Api, net, op, admin) -> None:
    p = add_partner(api, admin, name="12345", kind="hotline_12345")
    r = hand_over(api, p, external_id="C1", rescue_code=net.rescue_code)
    assert r.status_code == 201
    s = api.client.post("/api/v1/partner/incidents/C1/status", headers=key(p),
                        json={"status": "arrived"})
    assert s.status_code == 403 and s.json()["field"] == "status"
    assert api.client.get("/api/v1/partner/incidents/nope", headers=key(p)).status_code == 404


def test_rotate_secret_and_keys_shown_once(api: Api, admin) -> None:
    p = add_partner(api, admin, name="other", kind="other")
    assert p["api_key"].startswith("pk_") and p["secret"]
    listed = api.client.get("/api/v1/partners", headers=admin).json()
    assert "api_key" not in listed[0] and "secret" not in listed[0]
    r = api.client.post(f"/api/v1/partners/{p['id']}/rotate-secret", headers=admin)
    assert r.status_code == 200 and r.json()["secret"] != p["secret"]


def test_operator_resolves_an_unresolved_transfer(api: Api, net, op, admin) -> None:
    p = add_partner(api, admin, name="110", kind="police_110")
    r = hand_over(api, p, external_id="U1", rescue_code="999998")
    assert r.status_code == 422
    report = api.client.get("/api/v1/partner-reports?unresolved=true", headers=op).json()[0]
    inc = new_incident(api, op, net)
    done = api.client.post(f"/api/v1/partner-reports/{report['id']}/resolve", headers=op,
                           json={"incident_id": inc, "note": "电话核实为250001"})
    assert done.status_code == 200 and done.json()["resolved"] is True
    assert api.client.get("/api/v1/partner-reports?unresolved=true", headers=op).json() == []
    view = api.client.get("/api/v1/partner/incidents/U1", headers=key(p)).json()
    assert view["incident_id"] == inc and view["state"] == "received"
    again = api.client.post(f"/api/v1/partner-reports/{report['id']}/resolve", headers=op,
                            json={"note": "again"})
    assert again.status_code == 409


def test_feed_rows_do_not_block_pushes_once_a_url_is_set(
        api: Api, net, op, admin, receiver: Receiver) -> None:
    p = add_partner(api, admin, name="市指挥", kind="city_command")  # pull-only first
    receiver.secret = p["secret"]
    inc = new_incident(api, op, net)
    api.client.patch(f"/api/v1/partners/{p['id']}", headers=admin, json={"url": receiver.url})
    api.client.post(f"/api/v1/incidents/{inc}/confirm", headers=op)
    push(api)
    assert "incident.confirmed" in receiver.events(inc)


def test_same_transfer_twice_at_once_opens_one_incident(api: Api, net, admin) -> None:
    import threading

    from dispatch.partners import service as partner_service
    from dispatch.partners.models import Partner
    from dispatch.partners.schemas import TransferIn
    from dispatch.uow import unit_of_work

    if api.settings.is_sqlite:
        pytest.skip("row locks: PostgreSQL (SQLite serialises writers anyway)")
    p = add_partner(api, admin, name="119", kind="fire_119")
    body = TransferIn(external_id="T-1", rescue_code=net.rescue_code)
    answers: list[tuple[int, dict[str, Any]]] = []
    start = threading.Barrier(2)

    def send() -> None:
        start.wait()
        with unit_of_work(api.db) as s:
            partner = s.get(Partner, p["id"])
            assert partner is not None
            answers.append(partner_service.receive_transfer(
                s, partner, body, now=api.clock.now, settings=api.settings))

    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(answers) == 2
    assert {a[1]["incident_id"] for a in answers} == {answers[0][1]["incident_id"]}
    with api.db() as s:
        assert len(s.scalars(select(Incident)).all()) == 1
