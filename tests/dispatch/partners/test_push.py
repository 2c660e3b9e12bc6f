"""Signed pushes to a real local receiver: order per incident, outages, errors, pauses, regions."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from dispatch.models import Zone
from dispatch.partners.delivery import claim
from dispatch.partners.models import Partner, PartnerDelivery
from dispatch.uow import unit_of_work
from tests.conftest import Api
from tests.dispatch import scenario
from tests.dispatch.partners.conftest import add_partner, push
from tests.dispatch.partners.receiver import Receiver

FULL = ["incident.received", "province.status", "incident.confirmed", "incident.dispatched",
        "incident.accepted", "province.status", "incident.arrived", "province.status",
        "incident.released", "incident.closed", "province.status"]


def new_incident(api: Api, op: dict[str, str], sc: scenario.Scenario, **kw: Any) -> int:
    r = api.client.post("/api/v1/incidents", headers=op,
                        json={"rescue_code": sc.rescue_code, "channel": "call",
                              "trapped_count": 2, **kw})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def rescue(api: Api, op: dict[str, str], sc: scenario.Scenario, inc: int) -> None:
    """Confirm (auto-dispatch), accept, arrive, release, close."""
    detail = api.client.post(f"/api/v1/incidents/{inc}/confirm", headers=op).json()
    a = detail["assignments"][-1]["id"]
    for step, body in (("accept", None), ("arrive", None), ("release", {"released_count": 2})):
        api.clock.advance(seconds=60)
        r = api.client.post(f"/api/v1/assignments/{a}/{step}", headers=op, json=body)
        assert r.status_code == 200, r.text
    r = api.client.post(f"/api/v1/incidents/{inc}/close", headers=op)
    assert r.status_code == 200, r.text


def rows(api: Api, partner_id: int) -> list[PartnerDelivery]:
    with api.db() as s:
        return list(s.scalars(select(PartnerDelivery).where(
            PartnerDelivery.partner_id == partner_id).order_by(PartnerDelivery.id)))


def province(api: Api, admin: dict[str, str], receiver: Receiver, **kw: Any) -> dict[str, Any]:
    p = add_partner(api, admin, name=kw.pop("name", "山西省电梯应急处置平台"),
                    kind="province_platform", url=receiver.url, **kw)
    receiver.secret = p["secret"]
    return p


def test_a_rescue_reaches_the_platform_signed_in_order_with_both_datums(
        api: Api, net, op, admin, receiver: Receiver) -> None:
    province(api, admin, receiver)
    inc = new_incident(api, op, net)
    rescue(api, op, net, inc)
    report = push(api)
    assert receiver.bad_signatures == 0
    assert receiver.events(inc) == FULL
    assert report.delivered == len(FULL)
    codes = [r.body["data"]["status_code"] for r in receiver.received
             if r.event == "province.status"]
    assert codes == ["01", "02", "04", "00"]
    accepted = next(r.body for r in receiver.received if r.event == "incident.accepted")
    body = accepted["incident"]
    assert accepted["version"] == 1 and accepted["occurred_at"].endswith("+08:00")
    assert body["id"] == inc and body["rescue_code"] == net.rescue_code
    assert body["register_code"] and body["zone"]["name"] == "小店区"
    assert body["team"]["name"] == "并州一组" and body["company"]["name"] == "并州电梯维保有限公司"
    wgs, gcj = body["location"]["wgs84"], body["location"]["gcj02"]
    assert 0.001 < abs(gcj["lon"] - wgs["lon"]) < 0.01  # GCJ-02 is offset by a few hundred m
    assert body["received_at"].endswith("+08:00")
    ids = [r.delivery_id for r in receiver.received]
    assert len(set(ids)) == len(ids)
    assert {r.status for r in rows(api, _pid(api))} == {"delivered"}
    again = push(api)
    assert again.handled == 0  # nothing is sent twice


def _pid(api: Api) -> int:
    with api.db() as s:
        return int(s.scalar(select(Partner.id).limit(1)) or 0)


def test_receiver_down_then_back_nothing_lost_order_kept(
        api: Api, net, op, admin, receiver: Receiver) -> None:
    p = province(api, admin, receiver)
    receiver.stop()
    inc = new_incident(api, op, net)
    rescue(api, op, net, inc)
    other = new_incident(api, op, net)  # a second entrapment after the first was closed
    first = push(api)
    assert first.delivered == 0 and first.retried >= 1
    # only the head of each (incident, partner) queue was tried: later rows wait
    tried = [r for r in rows(api, p["id"]) if r.attempts]
    assert {r.seq for r in tried} == {1}
    for _ in range(6):  # back-off grows; the receiver comes back meanwhile
        api.clock.advance(minutes=30)
        push(api)
    receiver.start()
    api.clock.advance(hours=1)
    push(api)
    assert receiver.events(inc) == FULL
    assert receiver.events(other) == ["incident.received", "province.status"]
    got = receiver.received
    # a replay sends the same delivery id again: the only kind of duplicate there is
    with api.db() as s:
        row_id = s.scalar(select(PartnerDelivery.id).where(
            PartnerDelivery.incident_id == inc).order_by(PartnerDelivery.id).limit(1))
    r = api.client.post(f"/api/v1/partner-deliveries/{row_id}/replay", headers=admin)
    assert r.status_code == 200 and r.json() == {"replayed": 1}
    push(api)
    assert len(got) == len(FULL) + 3
    assert len(receiver.unique()) == len(FULL) + 2


def test_lease_of_a_killed_sender_runs_out_and_the_row_goes_again(
        api: Api, net, op, admin, receiver: Receiver) -> None:
    """A process killed after claiming (kill -9 mid-send) leaves rows ``sending``: they are not
    sent by another loop until the lease ends, then they are, in order."""
    province(api, admin, receiver)
    inc = new_incident(api, op, net)
    with unit_of_work(api.db) as s:
        assert claim(s, now=api.clock.now, settings=api.settings, batch=50)
    assert push(api).handled == 0
    api.clock.advance(seconds=2 * api.settings.partner_timeout_s + 31)
    push(api)
    assert receiver.events(inc) == ["incident.received", "province.status"]


@pytest.mark.parametrize("mode", ["500", "hang"])
def test_error_or_timeout_is_retried_with_the_error_kept(
        api: Api, net, op, admin, receiver: Receiver, mode: str) -> None:
    p = province(api, admin, receiver)
    receiver.mode, receiver.delay_s = mode, 1.0
    inc = new_incident(api, op, net)
    with __import__("httpx").Client(timeout=0.3) as client:
        from dispatch.partners.delivery import run_partner_outbox
        report = run_partner_outbox(api.db, settings=api.settings, now=api.clock.now,
                                    client=client)
    assert report.retried == 1
    head = rows(api, p["id"])[0]
    assert head.status == "pending" and head.attempts == 1
    assert head.next_at > api.clock.now
    if mode == "500":
        assert head.response_code == 500 and "500" in (head.last_error or "")
    else:
        assert head.response_code is None and "Timeout" in (head.last_error or "")
    listed = api.client.get(f"/api/v1/partners/{p['id']}/deliveries?status=pending",
                            headers=admin).json()
    assert listed[-1]["last_error"] == head.last_error and listed[-1]["attempts"] == 1
    receiver.mode = "ok"
    api.clock.advance(minutes=5)
    push(api)
    assert receiver.events(inc) == ["incident.received", "province.status"]


def test_slow_receiver_within_the_timeout_is_delivered(
        api: Api, net, op, admin, receiver: Receiver) -> None:
    province(api, admin, receiver)
    receiver.mode, receiver.delay_s = "slow", 0.3
    inc = new_incident(api, op, net)
    assert push(api, timeout_s=2.0).delivered == 2
    assert receiver.events(inc) == ["incident.received", "province.status"]


def test_failing_for_a_day_ends_failed_and_visible(
        api: Api, net, op, admin, receiver: Receiver) -> None:
    api.settings.partner_pause_after = 10_000
    p = province(api, admin, receiver)
    receiver.mode = "500"
    new_incident(api, op, net)
    for _ in range(40):
        api.clock.advance(hours=1)
        push(api)
    head = rows(api, p["id"])[0]
    assert head.status == "failed" and head.attempts >= 20
    failed = api.client.get(f"/api/v1/partners/{p['id']}/deliveries?status=failed",
                            headers=admin).json()
    assert [d["id"] for d in failed] == [head.id] and failed[0]["response_code"] == 500


def test_partner_paused_after_failures_resumes_and_replays_in_order(
        api: Api, net, op, admin, receiver: Receiver) -> None:
    api.settings.partner_pause_after = 3
    p = province(api, admin, receiver)
    receiver.mode = "500"
    inc = new_incident(api, op, net)
    rescue(api, op, net, inc)
    for _ in range(5):
        api.clock.advance(minutes=20)
        push(api)
    listed = {x["id"]: x for x in api.client.get("/api/v1/partners", headers=admin).json()}
    assert listed[p["id"]]["paused"] is True
    tries = receiver.attempts
    assert tries == 3  # nothing more is tried once paused
    receiver.mode = "ok"
    api.clock.advance(hours=2)
    push(api)
    assert receiver.attempts == tries and receiver.received == []
    r = api.client.post(f"/api/v1/partners/{p['id']}/resume", headers=admin)
    assert r.status_code == 200 and r.json()["replayed"] == len(FULL)
    push(api)
    assert receiver.events(inc) == FULL


def test_region_scoping(api: Api, net, op, admin, receiver: Receiver) -> None:
    with api.db() as s:
        codes = {z.name: z.code for z in s.scalars(select(Zone))}
    if "清徐县" not in codes:
        from tests import factories
        with api.db() as s:
            codes["清徐县"] = factories.make_zone(s, "清徐县").code
            s.commit()
    mine = province(api, admin, receiver, name="小店区指挥中心", region=codes["小店区"])
    other = Receiver().start()
    try:
        q = add_partner(api, admin, name="清徐县指挥中心", kind="city_command", url=other.url,
                        region=codes["清徐县"])
        other.secret = q["secret"]
        inc = new_incident(api, op, net)
        push(api)
        assert receiver.events(inc) == ["incident.received", "province.status"]
        assert other.received == [] and rows(api, q["id"]) == []
        assert len(rows(api, mine["id"])) == 2
        view = api.client.get(f"/api/v1/partner/incidents/{inc}",
                              headers={"Authorization": f"Bearer {q['api_key']}"})
        assert view.status_code == 404
    finally:
        other.stop()


def test_events_filter_and_disabled_partner(api: Api, net, op, admin, receiver: Receiver) -> None:
    p = add_partner(api, admin, name="12345热线", kind="hotline_12345", url=receiver.url,
                    events=["incident.closed", "incident.received"])
    receiver.secret = p["secret"]
    inc = new_incident(api, op, net)
    rescue(api, op, net, inc)
    push(api)
    assert receiver.events(inc) == ["incident.received", "incident.closed"]
    r = api.client.patch(f"/api/v1/partners/{p['id']}", headers=admin, json={"enabled": False})
    assert r.json()["enabled"] is False
    new_incident(api, op, net)
    assert len(rows(api, p["id"])) == 2
    bad = api.client.post("/api/v1/partners", headers=admin,
                          json={"name": "x", "kind": "other", "events": ["incident.nope"]})
    assert bad.status_code == 422 and "events" in bad.text
