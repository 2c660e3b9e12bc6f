"""The notification outbox, delivery through the fake Twilio, and the Twilio webhooks, on both
backends. The real ``twilio`` client sends to :class:`notify.fake_twilio.FakeTwilio`; its signed
status callbacks and inbound webhooks are posted to the app through the test client."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from sqlalchemy import func, select

from dispatch.auth.links import issue_link_token, read_link_token
from dispatch.events import Actor, append_event
from dispatch.models import Assignment, Elevator, Incident, IncidentEvent, Organization
from dispatch.notifications.channels import channels_for
from dispatch.notifications.delivery import OutboxReport, run_outbox
from dispatch.notifications.models import Notification
from dispatch.settings import Settings
from notify.channel import Outbound, SendResult
from notify.fake_twilio import FakeTwilio
from notify.signatures import HEADER, sign
from tests import factories
from tests.conftest import Api
from tests.dispatch import scenario

BASE = "https://rescue.example"
TEAM_PHONE = "+8613900000000"  # factories give every team 13900000000
OPERATOR_DESK = "+863517000000"


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio(callbacks="manual") as f:
        yield f


@pytest.fixture
def settings(settings: Settings, fake: FakeTwilio) -> Settings:
    settings.twilio_account_sid = fake.account_sid
    settings.twilio_auth_token = fake.auth_token
    settings.twilio_api_base_url = fake.base_url
    settings.twilio_from_number = "+8635196333"
    settings.public_base_url = BASE
    settings.hotline_operator_number = OPERATOR_DESK
    settings.notify_timeout_s = 0.3
    settings.notify_max_tries = 4
    return settings


def deliver(api: Api) -> OutboxReport:
    return run_outbox(api.db, settings=api.settings, now=api.clock.now)


def post_signed(api: Api, fake: FakeTwilio, path: str, params: dict[str, str],
                token: str | None = None) -> httpx.Response:
    """What Twilio does: POST the form to our public URL, signed over URL + fields."""
    headers = {HEADER: sign(token or fake.auth_token, BASE + path, params)}
    return api.client.post(path, data=params, headers=headers)


def flush_callbacks(api: Api, fake: FakeTwilio) -> list[int]:
    codes: list[int] = []

    def post(url: str, params: dict[str, str], headers: dict[str, str]) -> int:
        r = api.client.post(url.removeprefix(BASE), data=params, headers=headers)
        codes.append(r.status_code)
        return r.status_code

    fake.send_callbacks(post)
    return codes


def open_offer(api: Api, op: dict[str, str], net: scenario.Scenario,
               **kw: Any) -> tuple[int, int]:
    body = {"rescue_code": net.rescue_code, "channel": "call", "trapped_count": 2, **kw}
    r = api.client.post("/api/v1/incidents", headers=op, json=body)
    assert r.status_code == 201, r.text
    inc = r.json()["id"]
    r = api.client.post(f"/api/v1/incidents/{inc}/confirm", headers=op)
    assert r.status_code == 200, r.text
    return inc, r.json()["assignments"][-1]["id"]


def rows(api: Api, incident_id: int) -> list[Notification]:
    with api.db() as s:
        return list(s.scalars(select(Notification).where(Notification.incident_id == incident_id)
                              .order_by(Notification.id)))


def assignment_state(api: Api, assignment_id: int) -> str:
    with api.db() as s:
        a = s.get(Assignment, assignment_id)
        assert a is not None
        return a.state


def events(api: Api, incident_id: int, type_: str) -> int:
    with api.db() as s:
        return s.scalar(select(func.count()).where(IncidentEvent.incident_id == incident_id,
                                                   IncidentEvent.type == type_)) or 0


# --- the outbox is written with the event -------------------------------------------------
def test_an_offer_writes_its_sms_row_with_the_event(api: Api, net, op) -> None:
    inc, aid = open_offer(api, op, net)
    detail = api.client.get(f"/api/v1/incidents/{inc}", headers=op).json()
    got = [(n["channel"], n["recipient_kind"], n["template"], n["status"])
           for n in detail["notifications"]]
    assert got == [("sms", "team", "offer_sms", "pending")]
    n = detail["notifications"][0]
    assert n["to_masked"] is None  # the team's number is looked up when it is sent
    assert n["sent_at"] is None and n["error"] is None
    with api.db() as s:
        offered = s.scalar(select(IncidentEvent).where(IncidentEvent.incident_id == inc,
                                                       IncidentEvent.type == "offered"))
        [row] = rows(api, inc)
        assert (row.event_id, row.assignment_id, row.recipient_id) == (offered.id, aid,
                                                                      net.a_near)
    deliver(api)
    sms, voice = rows(api, inc)
    assert sms.to == TEAM_PHONE and sms.status == "queued"
    assert (voice.channel, voice.template, voice.status, voice.to) == (
        "voice", "offer_call", "pending", TEAM_PHONE)
    assert voice.next_try_at == sms.created_at + timedelta(seconds=60)
    detail = api.client.get(f"/api/v1/incidents/{inc}", headers=op).json()
    assert detail["notifications"][0]["to_masked"] == "+86139****0000"


def test_a_rolled_back_event_leaves_no_notification(api: Api, net) -> None:
    with api.db() as s:
        unit = factories.make_org(s, "use_unit", phone="13700000000")
        insurer = factories.make_org(s, "insurer", phone="13600000000")
        e = factories.make_elevator(s, use_unit_id=unit.id, insurer_id=insurer.id,
                                    policy_no="PA-1")
        inc = Incident(elevator_id=e.id, zone_id=e.zone_id, channel="call", state="received",
                       sla_minutes=30, sla_deadline=api.clock.now, received_at=api.clock.now,
                       last_event_seq=0, injured=True)
        s.add(inc)
        append_event(s, inc, type="received", actor=Actor("t"), at=api.clock.now,
                     payload={"injured": True})
        s.flush()
        assert s.scalar(select(func.count()).select_from(Notification)) == 1  # insurer
        s.rollback()
    with api.db() as s:
        assert s.scalar(select(func.count()).select_from(Notification)) == 0


# --- delivery -----------------------------------------------------------------------------
def test_offer_sms_goes_out_with_the_code_and_a_crew_link_that_logs_in(api: Api, fake, net,
                                                                        op) -> None:
    inc, aid = open_offer(api, op, net)
    report = deliver(api)
    assert report.sent == 1 and fake.calls() == []  # the call waits 60 s
    [m] = fake.messages()
    assert m.to == TEAM_PHONE and m.from_ == "+8635196333"
    assert f"回复“1 {aid}”接单" in m.body and "被困2人" in m.body
    assert m.status_callback == f"{BASE}/twilio/status?n={rows(api, inc)[0].id}"
    sms = rows(api, inc)[0]
    assert (sms.status, sms.provider, sms.provider_id) == ("queued", "twilio", m.sid)
    assert sms.sent_at == api.clock.now and sms.attempts == 1 and sms.body == m.body

    link = m.body.split("详情：")[1]
    assert link.startswith(f"{BASE}/crew?t=")
    token = parse_qs(urlparse(link).query)["t"][0]
    claims = read_link_token(token, secret=api.settings.secret_key or "")
    assert claims is not None and (claims.team_id, claims.assignment_id) == (net.a_near, aid)
    api.client.cookies.clear()
    r = api.client.post("/api/v1/auth/link", json={"token": token})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["role"] == "crew" and body["username"].startswith("crew-")
    assert "rescue_token" in r.cookies
    mine = api.client.get("/api/v1/assignments/mine",
                          headers={"Authorization": f"Bearer {body['access_token']}"})
    assert [a["id"] for a in mine.json()] == [aid]
    again = api.client.post("/api/v1/auth/link", json={"token": token})
    assert again.status_code == 401 and again.json()["title"] == "Link already used"  # issue 12
    second = issue_link_token(secret=api.settings.secret_key or "", team_id=net.a_near,
                              assignment_id=aid, now=datetime.now(UTC), ttl_min=30)
    again = api.client.post("/api/v1/auth/link", json={"token": second})
    assert again.json()["username"] == body["username"]  # one account per team

    bad = api.client.post("/api/v1/auth/link", json={"token": token[:-3] + "abc"})
    assert bad.status_code == 401 and bad.json()["field"] == "token"
    session_token = api.client.post("/api/v1/auth/link", json={"token": body["access_token"]})
    assert session_token.status_code == 401  # a session token is not a link


def test_status_callbacks_move_the_row_and_replays_change_nothing(api: Api, fake, net,
                                                                   op) -> None:
    inc, _ = open_offer(api, op, net)
    deliver(api)
    posted: list[tuple[dict[str, str], dict[str, str]]] = []
    assert fake.send_callbacks(lambda u, p, h: posted.append((p, h)) or 0) == 2
    for params, headers in posted:
        r = api.client.post(f"/twilio/status?n={rows(api, inc)[0].id}", data=params,
                            headers=headers)
        assert r.status_code == 204
    sms = rows(api, inc)[0]
    assert sms.status == "delivered" and sms.delivered_at == api.clock.now
    api.clock.advance(seconds=5)
    for params, headers in posted:  # Twilio retries a callback it thinks was lost
        r = api.client.post(f"/twilio/status?n={sms.id}", data=params, headers=headers)
        assert r.status_code == 204
    late = {**posted[0][0], "MessageStatus": "queued"}
    assert post_signed(api, fake, f"/twilio/status?n={sms.id}", late).status_code == 204
    after = rows(api, inc)[0]
    assert after.status == "delivered" and after.delivered_at == sms.delivered_at
    with api.db() as s:
        from dispatch.models import InboundMessage
        keys = s.scalars(select(InboundMessage.external_id)
                         .where(InboundMessage.source == "twilio:status")).all()
    assert sorted(keys) == sorted(f"{sms.provider_id}:{st}" for st in
                                  ("sent", "delivered", "queued"))


def test_undelivered_and_call_outcomes_are_recorded(api: Api, fake, net, op) -> None:
    fake.set_outcome(TEAM_PHONE, "undelivered")
    inc, _ = open_offer(api, op, net)
    deliver(api)
    flush_callbacks(api, fake)
    sms = rows(api, inc)[0]
    assert sms.status == "undelivered" and sms.error == "undelivered (error 30003)"
    assert sms.delivered_at is None
    fake.set_outcome(TEAM_PHONE, "no-answer")
    api.clock.advance(seconds=60)
    deliver(api)
    flush_callbacks(api, fake)
    voice = rows(api, inc)[1]
    assert voice.status == "no-answer" and voice.channel == "voice"


def test_callback_arriving_before_the_send_returns_is_kept(api: Api, fake, net, op) -> None:
    """A fast provider reports delivery before our send call has stored the SID."""
    inc, _ = open_offer(api, op, net)
    channels = channels_for(api.settings)

    class Eager:
        name, kind = "twilio", "sms"

        def send(self, message: Outbound) -> SendResult:
            result = channels.sms.send(message)
            flush_callbacks(api, fake)
            return result

    from dataclasses import replace
    run_outbox(api.db, settings=api.settings, now=api.clock.now,
               channels=replace(channels, sms=Eager()))
    sms = rows(api, inc)[0]
    assert sms.status == "delivered" and sms.provider_id == fake.messages()[0].sid


def test_retries_after_500s_and_a_timeout_then_success(api: Api, fake, net, op) -> None:
    inc, _ = open_offer(api, op, net)
    fake.fail_next(2)
    fake.delay_next(1, seconds=1.0)  # longer than the 0.3 s client timeout; dropped
    t0 = api.clock.now
    errors = []
    for attempt in (1, 2, 3):
        assert deliver(api).retried == 1
        sms = rows(api, inc)[0]
        assert sms.status == "pending" and sms.attempts == attempt and sms.provider_id is None
        delay = (sms.next_try_at - api.clock.now).total_seconds()
        full = 5 * 2 ** (attempt - 1)
        assert full / 2 <= delay <= full  # exponential, jittered
        assert deliver(api).handled == 0  # nothing is due again before next_try_at
        errors.append(sms.error)
        api.clock.now = sms.next_try_at
    assert errors[:2] == ["20500: HTTP 500: Unable to create record: Internal Server Error"] * 2
    assert errors[2] == "timeout: timeout after 0.3 s"
    report = deliver(api)
    assert report.sent == 1
    sms = rows(api, inc)[0]
    assert sms.status == "queued" and sms.attempts == 4 and sms.error is None
    assert [m.sid for m in fake.messages()] == [sms.provider_id]  # sent exactly once
    assert sms.sent_at > t0


def test_nothing_is_claimed_before_its_retry_time(api: Api, fake, net, op) -> None:
    inc, _ = open_offer(api, op, net)
    fake.fail_next(1)
    deliver(api)
    sms = rows(api, inc)[0]
    api.clock.now = sms.next_try_at - timedelta(milliseconds=1)
    assert deliver(api).sent == 0 and fake.messages() == []


def test_final_failed_after_max_tries_keeps_the_error(api: Api, fake, net, op) -> None:
    inc, _ = open_offer(api, op, net)
    fake.fail_next(10, status=503)
    for _ in range(4):
        deliver(api)
        api.clock.advance(minutes=10)
    sms = rows(api, inc)[0]
    assert sms.status == "failed" and sms.attempts == 4 and "HTTP 503" in sms.error
    assert deliver(api).handled in (0, 1)  # only the voice row can still be due
    assert rows(api, inc)[0].attempts == 4
    detail = api.client.get(f"/api/v1/incidents/{inc}", headers=op).json()
    assert detail["notifications"][0]["status"] == "failed"
    assert "HTTP 503" in detail["notifications"][0]["error"]


def test_a_permanent_error_fails_at_once(api: Api, fake, net, op) -> None:
    inc, _ = open_offer(api, op, net)
    fake.fail_next(1, status=400)
    assert deliver(api).failed == 1
    sms = rows(api, inc)[0]
    assert sms.status == "failed" and sms.attempts == 1


# --- the voice call when the offer is not answered ----------------------------------------
def test_unanswered_offer_is_called_after_60_s_and_keypad_1_accepts(api: Api, fake, net,
                                                                     op) -> None:
    inc, aid = open_offer(api, op, net)
    deliver(api)
    api.clock.advance(seconds=59)
    deliver(api)
    assert fake.calls() == []
    api.clock.advance(seconds=1)
    assert deliver(api).sent == 1
    [call] = fake.calls()
    assert call.to == TEAM_PHONE
    doc = ET.fromstring(call.twiml or "")
    g = doc.find("Gather")
    assert g is not None and g.get("numDigits") == "1"
    assert g.get("action") == f"{BASE}/twilio/voice/gather?step=offer&a={aid}"
    assert "接单请按1，拒绝请按2" in (g.find("Say").text or "")
    assert g.find("Say").get("language") == "zh-CN"

    flush_callbacks(api, fake)
    voice = rows(api, inc)[1]
    assert voice.status == "completed" and voice.provider_id == call.sid

    params = {"CallSid": call.sid, "Digits": "1", "From": "+8635196333", "To": TEAM_PHONE,
              "AccountSid": fake.account_sid}
    path = f"/twilio/voice/gather?step=offer&a={aid}"
    r = post_signed(api, fake, path, params)
    assert r.status_code == 200 and "已确认接单" in r.text
    assert assignment_state(api, aid) == "accepted"
    again = post_signed(api, fake, path, params)  # Twilio retried the webhook
    assert again.text == r.text and events(api, inc, "accepted") == 1


def test_no_call_once_the_offer_was_answered(api: Api, fake, net, op) -> None:
    inc, aid = open_offer(api, op, net)
    deliver(api)
    crew = api.user("crew", team_id=net.a_near)
    assert api.client.post(f"/api/v1/assignments/{aid}/accept", headers=crew).status_code == 200
    api.clock.advance(seconds=61)
    deliver(api)
    assert fake.calls() == []
    voice = next(n for n in rows(api, inc) if n.channel == "voice")
    assert voice.status == "cancelled" and "accepted" in voice.error


def test_keypad_2_declines_and_the_next_team_is_offered(api: Api, fake, net, op) -> None:
    inc, aid = open_offer(api, op, net)
    params = {"CallSid": "CA" + "1" * 32, "Digits": "2", "To": TEAM_PHONE}
    r = post_signed(api, fake, f"/twilio/voice/gather?step=offer&a={aid}", params)
    assert "已记录拒绝" in r.text
    assert assignment_state(api, aid) == "declined"
    detail = api.client.get(f"/api/v1/incidents/{inc}", headers=op).json()
    assert detail["assignments"][-1]["team_id"] == net.a_far
    assert [n["template"] for n in detail["notifications"]].count("offer_sms") == 2


# --- SMS replies --------------------------------------------------------------------------
def sms_in(api: Api, fake: FakeTwilio, body: str, sid: str,
           sender: str = TEAM_PHONE) -> str:
    r = post_signed(api, fake, "/twilio/sms", {"MessageSid": sid, "From": sender,
                                                "To": "+8635196333", "Body": body})
    assert r.status_code == 200, r.text
    return ET.fromstring(r.text).find("Message").text or ""


def test_sms_1_code_accepts_and_a_replay_changes_nothing(api: Api, fake, net, op) -> None:
    inc, aid = open_offer(api, op, net)
    reply = sms_in(api, fake, f"1 {aid}", "SM" + "a" * 32)
    assert reply.startswith("【96333】已确认接单") and str(aid) in reply
    assert assignment_state(api, aid) == "accepted"
    with api.db() as s:
        ev = s.scalar(select(IncidentEvent).where(IncidentEvent.incident_id == inc,
                                                  IncidentEvent.type == "accepted"))
        assert ev.actor == "并州一组" and ev.payload["via"] == "sms"
    assert sms_in(api, fake, f"1 {aid}", "SM" + "a" * 32) == reply
    assert events(api, inc, "accepted") == 1
    late = sms_in(api, fake, f"2 {aid}", "SM" + "b" * 32)
    assert "已不能拒绝" in late and assignment_state(api, aid) == "accepted"


def test_sms_bad_code_gets_a_clear_reply_and_changes_nothing(api: Api, fake, net, op) -> None:
    _, aid = open_offer(api, op, net)
    reply = sms_in(api, fake, "1 999999", "SM" + "c" * 32)
    assert "未找到编号为999999的待接派单" in reply
    other_phone = sms_in(api, fake, f"1 {aid}", "SM" + "d" * 32, sender="+8613811112222")
    assert f"未找到编号为{aid}" in other_phone  # a code only works from the team's phone
    assert "无法识别" in sms_in(api, fake, "ok", "SM" + "e" * 32)
    assert assignment_state(api, aid) == "offered"


def test_sms_2_code_declines(api: Api, fake, net, op) -> None:
    _, aid = open_offer(api, op, net)
    assert "已记录拒绝" in sms_in(api, fake, f"２ {aid}", "SM" + "f" * 32)
    assert assignment_state(api, aid) == "declined"


# --- who is told what ---------------------------------------------------------------------
def test_use_unit_gets_the_chinese_notice_and_the_caller_a_status_sms(api: Api, fake, net,
                                                                      op) -> None:
    with api.db() as s:
        e = s.get(Elevator, net.elevator_id)
        unit = s.get(Organization, e.use_unit_id)
        unit.phone = "13700000001"
        s.commit()
    inc, aid = open_offer(api, op, net, caller_phone="13812345678")
    sms_in(api, fake, f"1 {aid}", "SM" + "9" * 32)
    deliver(api)
    with api.db() as s:
        eta_min = -(-int(s.get(Assignment, aid).eta_s) // 60)
        address = s.get(Elevator, net.elevator_id).address
    by_to = {m.to: m.body for m in fake.messages()}
    notice = by_to["+8613700000001"]
    assert notice.startswith("【96333】电梯困人") and address in notice
    assert f"救援队伍已出发，预计{eta_min}分钟到达" in notice
    assert f"预计{eta_min}分钟到达" in by_to["+8613812345678"]
    kinds = {n["recipient_kind"]: n["status"] for n in
             api.client.get(f"/api/v1/incidents/{inc}", headers=op).json()["notifications"]}
    assert kinds["use_unit"] == "queued" and kinds["caller"] == "queued"
    assert kinds["team"] == "cancelled"  # the offer call was never needed


def test_level1_company_and_insurer_are_told(api: Api, fake, net, op) -> None:
    with api.db() as s:
        insurer = factories.make_org(s, "insurer", phone="13600000002", lang="en")
        e = s.get(Elevator, net.elevator_id)
        e.insurer_id, e.policy_no = insurer.id, "PICC-2026-001"
        s.commit()
    r = api.client.post("/api/v1/incidents", headers=op, json={
        "rescue_code": net.rescue_code, "channel": "call", "injured": True})
    inc = r.json()["id"]
    second = api.client.post("/api/v1/incidents", headers=op, json={
        "rescue_code": net.rescue_code, "channel": "call", "injured": True})
    assert second.json()["duplicate"] is True
    with api.db() as s:
        incident = s.get(Incident, inc)
        append_event(s, incident, type="level1_informed", actor=Actor("system"),
                     at=api.clock.now, payload={"organization_id": net.company_id,
                                                "taken_over_by": "龙城一组"})
        s.commit()
    deliver(api)
    kinds = [n.recipient_kind for n in rows(api, inc)]
    assert kinds.count("insurer") == 1 and kinds.count("company") == 1
    bodies = [m.body for m in fake.messages()]
    assert any("Injury" in b and "PICC-2026-001" in b for b in bodies)  # English insurer
    assert any("已由龙城一组进行二级救援" in b for b in bodies)


# --- signatures ---------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/twilio/voice", "/twilio/voice/gather?step=code",
                                  "/twilio/sms", "/twilio/status"])
def test_unsigned_or_tampered_webhooks_are_refused(api: Api, fake, net, op, path) -> None:
    _, aid = open_offer(api, op, net)
    params = {"CallSid": "CA" + "2" * 32, "MessageSid": "SM" + "2" * 32, "From": TEAM_PHONE,
              "Body": f"1 {aid}", "Digits": "250001", "MessageStatus": "delivered"}
    r = api.client.post(path, data=params)
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["field"] == HEADER
    good = sign(fake.auth_token, BASE + path, params)
    tampered = api.client.post(path, data={**params, "Body": f"2 {aid}"},
                               headers={HEADER: good})
    assert tampered.status_code == 403
    wrong_key = post_signed(api, fake, path, params, token="not-the-auth-token")
    assert wrong_key.status_code == 403
    other_host = api.client.post(path, data=params, headers={
        HEADER: sign(fake.auth_token, "https://evil.example" + path, params)})
    assert other_host.status_code == 403
    assert assignment_state(api, aid) == "offered"
    with api.db() as s:
        assert s.scalar(select(func.count()).select_from(Incident)) == 1


# --- the hotline IVR ----------------------------------------------------------------------
def test_ivr_creates_an_incident_from_the_digits(api: Api, fake, net, op) -> None:
    call = {"CallSid": "CA" + "3" * 32, "From": "+8613812345678", "To": "+8635196333"}
    r = post_signed(api, fake, "/twilio/voice", call)
    g = ET.fromstring(r.text).find("Gather")
    assert g.get("finishOnKey") == "#"
    assert g.get("action") == f"{BASE}/twilio/voice/gather?step=code"
    assert "救援识别码" in g.find("Say").text

    r = post_signed(api, fake, "/twilio/voice/gather?step=code", {**call, "Digits": "250001"})
    g = ET.fromstring(r.text).find("Gather")
    with api.db() as s:
        address = s.get(Elevator, net.elevator_id).address
    assert address in g.find("Say").text
    assert g.get("action") == f"{BASE}/twilio/voice/gather?step=confirm&code=250001"

    confirm = "/twilio/voice/gather?step=confirm&code=250001"
    r = post_signed(api, fake, confirm, {**call, "Digits": "1"})
    assert "已收到您的求助" in r.text
    assert post_signed(api, fake, confirm, {**call, "Digits": "1"}).text == r.text  # replay
    with api.db() as s:
        [incident] = s.scalars(select(Incident)).all()
        assert (incident.channel, incident.caller_phone, incident.state) == (
            "ivr", "+8613812345678", "received")
        assert incident.elevator_id == net.elevator_id
    # a second caller from the same car is merged, as through the API
    other = {**call, "CallSid": "CA" + "4" * 32, "From": "+8613900009999", "Digits": "1"}
    post_signed(api, fake, confirm, other)
    with api.db() as s:
        merged = s.scalars(select(Incident).where(Incident.state == "merged")).all()
        assert [m.merged_into_id for m in merged] == [incident.id]
    board = api.client.get("/api/v1/incidents", headers=op).json()
    assert [i["channel"] for i in board["items"]] == ["ivr"]


@pytest.mark.parametrize("digits", ["0", "999999"])
def test_ivr_connects_an_operator_for_0_or_an_unknown_code(api: Api, fake, net, digits) -> None:
    call = {"CallSid": "CA" + "5" * 32, "From": "+8613812345678", "Digits": digits}
    r = post_signed(api, fake, "/twilio/voice/gather?step=code", call)
    doc = ET.fromstring(r.text)
    assert doc.find("Enqueue").text == "hotline"  # the phone desk's queue (issue 15)
    api.settings.call_queue = False  # without it: the fixed operator desk
    r = post_signed(api, fake, "/twilio/voice/gather?step=code",
                    {**call, "CallSid": "CA" + "7" * 32})
    doc = ET.fromstring(r.text)
    assert doc.find("Dial").text == OPERATOR_DESK
    if digits != "0":
        assert "未找到救援识别码" in doc.find("Say").text
    with api.db() as s:
        assert s.scalar(select(func.count()).select_from(Incident)) == 0


def test_webhooks_are_refused_when_twilio_is_not_configured(api: Api, fake) -> None:
    api.settings.twilio_auth_token = None
    api.settings.twilio_account_sid = None
    r = post_signed(api, fake, "/twilio/voice", {"CallSid": "CA" + "6" * 32})
    assert r.status_code == 403


def test_demo_mode_runs_the_fake_inside_the_server(settings: Settings, db, net,
                                                    clock) -> None:
    """``RESCUE_FAKE_TWILIO``: the server starts the fake, sends through it, and its page
    lists the messages."""
    import socket

    from fastapi.testclient import TestClient

    from dispatch.app import create_app
    from dispatch.deps import get_now

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    demo = settings.model_copy(update={
        "fake_twilio": True, "fake_twilio_port": port, "twilio_account_sid": None,
        "twilio_auth_token": None, "twilio_api_base_url": None})
    app = create_app(demo)
    app.dependency_overrides[get_now] = clock
    with TestClient(app) as client:
        op = Api(client, db, clock, demo).user("operator")
        _, aid = open_offer(Api(client, db, clock, demo), op, net)
        report = run_outbox(db, settings=demo, now=clock.now)
        assert report.sent == 1
        page = httpx.get(f"http://127.0.0.1:{port}/").text
        assert f"回复“1 {aid}”接单" in page
    with pytest.raises(httpx.ConnectError):  # stopped with the server
        httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
