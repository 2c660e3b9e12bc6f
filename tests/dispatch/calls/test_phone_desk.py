"""The phone desk (issue 15) on both backends, against the fake Twilio with signed webhooks:
the queue, the screen-pop, one winner among two answering operators, abandoned calls and the
call-back, recordings (callback, playback authorisation, retention)."""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from dispatch.calls import service
from dispatch.calls.models import Call
from dispatch.calls.provider import run_retention
from dispatch.errors import Problem
from dispatch.events import Actor, transition
from dispatch.models import Incident, IncidentEvent, User
from dispatch.settings import Settings
from notify.fake_twilio import FakeTwilio
from notify.signatures import HEADER, sign
from tests import factories
from tests.conftest import Api
from tests.dispatch.stream_helpers import connect, recv_until

BASE = "https://rescue.example"
CALLER = "+8613812345678"
DESK_A, DESK_B = "+863517000001", "+863517000002"


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
    settings.notify_timeout_s = 2.0
    return settings


def post_signed(api: Api, fake: FakeTwilio, path: str, params: dict[str, str],
                token: str | None = None) -> httpx.Response:
    headers = {HEADER: sign(token or fake.auth_token, BASE + path, params)}
    return api.client.post(path, data=params, headers=headers)


def sid(n: int) -> str:
    return "CA" + f"{n:032x}"


def ring(api: Api, fake: FakeTwilio, n: int, *, caller: str = CALLER,
         digits: str = "0") -> ET.Element:
    """A hotline call that asks for an operator; returns the TwiML answer."""
    call = {"CallSid": sid(n), "From": caller, "To": "+8635196333"}
    r = post_signed(api, fake, "/twilio/voice", call)
    assert r.status_code == 200, r.text
    r = post_signed(api, fake, "/twilio/voice/gather?step=code", {**call, "Digits": digits})
    assert r.status_code == 200, r.text
    return ET.fromstring(r.text)


def call_id(api: Api, n: int) -> int:
    with api.db() as s:
        c = service.by_sid(s, sid(n))
        assert c is not None
        return c.id


def seat(api: Api, headers: dict[str, str], phone: str) -> None:
    r = api.client.put("/api/v1/seats/me", headers=headers,
                       json={"phone": phone, "available": True})
    assert r.status_code == 200, r.text
    assert r.json() == {"phone": phone, "available": True}


# --- the queue ----------------------------------------------------------------------------
def test_asking_for_an_operator_queues_the_call_and_it_rings_live(api: Api, fake, net,
                                                                  op) -> None:
    heard: list[dict[str, Any]] = []
    unsubscribe = api.client.app.state.bus.subscribe(heard.append)
    try:
        welcome = post_signed(api, fake, "/twilio/voice",
                              {"CallSid": sid(1), "From": CALLER, "To": "+8635196333"})
        says = [s.text for s in ET.fromstring(welcome.text).iter("Say")]
        assert "本次通话将被录音" in says[0] and "recorded" in says[1]  # recording notice
        doc = ring(api, fake, 1)
    finally:
        unsubscribe()
    enqueue = doc.find("Enqueue")
    assert enqueue is not None and enqueue.text == "hotline"
    cid = call_id(api, 1)
    assert enqueue.get("waitUrl") == f"{BASE}/twilio/queue/wait"
    assert enqueue.get("action") == f"{BASE}/twilio/queue/leave?c={cid}"
    assert "请稍候" in doc.find("Say").text
    [msg] = [m for m in heard if m.get("type") == "call_ringing"]
    assert msg["call"]["id"] == cid and msg["call"]["from"] == CALLER
    ringing = api.client.get("/api/v1/calls", headers=op).json()["items"]
    assert [(c["id"], c["status"], c["from"]) for c in ringing] == [(cid, "queued", CALLER)]
    office = api.user("office")
    [masked] = api.client.get("/api/v1/calls", headers=office).json()["items"]
    assert masked["from"] == "+86138****5678"
    crew = api.user("crew", team_id=net.a_near)
    assert api.client.get("/api/v1/calls", headers=crew).status_code == 403


def test_the_wait_message_announces_the_position(api: Api, fake, net) -> None:
    ring(api, fake, 2)
    r = post_signed(api, fake, "/twilio/queue/wait",
                    {"CallSid": sid(2), "QueuePosition": "3", "QueueTime": "40"})
    zh, en = [s.text for s in ET.fromstring(r.text).iter("Say")]
    assert "第3位" in zh and "number 3" in en
    assert post_signed(api, fake, "/twilio/queue/wait", {"CallSid": sid(2)},
                       token="wrong").status_code == 403


def test_ivr_timeout_and_unknown_code_join_the_queue(api: Api, fake, net) -> None:
    welcome = post_signed(api, fake, "/twilio/voice",
                          {"CallSid": sid(3), "From": CALLER, "To": "+8635196333"})
    redirect = ET.fromstring(welcome.text).find("Redirect")
    assert redirect is not None and redirect.text == f"{BASE}/twilio/voice/gather?step=code"
    doc = ring(api, fake, 4, digits="999999")
    assert doc.find("Enqueue") is not None
    assert "未找到救援识别码" in doc.find("Say").text
    r = post_signed(api, fake, "/twilio/voice/gather?step=code",
                    {"CallSid": sid(3), "From": CALLER})  # the redirect: no Digits
    assert ET.fromstring(r.text).find("Enqueue") is not None
    with api.db() as s:
        assert {c.call_sid: c.status for c in s.scalars(select(Call))} == {
            sid(3): "queued", sid(4): "queued"}
        assert service.by_sid(s, sid(4)).rescue_code == "999999"


# --- screen-pop ---------------------------------------------------------------------------
def test_screen_pop_shows_history_open_incident_and_the_ivr_incident(api: Api, fake, net,
                                                                      op) -> None:
    r = api.client.post("/api/v1/incidents", headers=op, json={
        "rescue_code": net.rescue_code, "channel": "call", "caller_phone": "13812345678"})
    assert r.status_code == 201, r.text
    earlier = r.json()["id"]
    # the caller keys the code, confirms (incident by IVR) … then another call asks for help
    call = {"CallSid": sid(5), "From": "+8613900001111", "To": "+8635196333"}
    post_signed(api, fake, "/twilio/voice", call)
    post_signed(api, fake, "/twilio/voice/gather?step=code", {**call, "Digits": "250001"})
    post_signed(api, fake, "/twilio/voice/gather?step=confirm&code=250001",
                {**call, "Digits": "1"})
    ring(api, fake, 6)  # CALLER, who reported ``earlier``
    pop = api.client.get(f"/api/v1/calls/{call_id(api, 6)}", headers=op).json()
    assert pop["from"] == CALLER
    sp = pop["screen_pop"]
    assert [i["id"] for i in sp["past_incidents"]] == [earlier]
    assert [e["id"] for e in sp["elevators"]] == [net.elevator_id]
    assert earlier in [i["id"] for i in sp["open_incidents"]]
    assert sp["ivr_incident"] is None
    # the IVR caller: its call is linked to the incident the IVR recorded (timeline row)
    with api.db() as s:
        ivr_call = service.by_sid(s, sid(5))
        assert ivr_call.incident_id is not None and ivr_call.rescue_code == "250001"
        ev = s.scalar(select(IncidentEvent).where(IncidentEvent.incident_id ==
                                                  ivr_call.incident_id,
                                                  IncidentEvent.type == "call_linked"))
        assert ev.payload["call_id"] == ivr_call.id and "from" not in ev.payload
        ivr_incident = ivr_call.incident_id
    # … who then presses 0 from a later prompt: the pop shows what the IVR recorded
    post_signed(api, fake, "/twilio/queue/wait", {"CallSid": sid(5)})
    with api.db() as s:
        c = service.by_sid(s, sid(5), lock=True)
        service.enqueue(s, {"CallSid": sid(5)}, now=api.clock.now)
        s.commit()
        cid5 = c.id
    sp5 = api.client.get(f"/api/v1/calls/{cid5}", headers=op).json()["screen_pop"]
    assert sp5["ivr_incident"]["id"] == ivr_incident
    assert sp5["keyed_elevator"]["rescue_code"] == "250001"


# --- answering ----------------------------------------------------------------------------
def test_two_operators_answer_one_wins_the_other_gets_409(api: Api, fake, net, op) -> None:
    other = api.user("operator")
    seat(api, op, DESK_A)
    seat(api, other, DESK_B)
    ring(api, fake, 7)
    cid = call_id(api, 7)
    heard: list[dict[str, Any]] = []
    unsubscribe = api.client.app.state.bus.subscribe(heard.append)
    try:
        first = api.client.post(f"/api/v1/calls/{cid}/answer", headers=op)
        second = api.client.post(f"/api/v1/calls/{cid}/answer", headers=other)
    finally:
        unsubscribe()
    assert first.status_code == 200, first.text
    assert second.status_code == 409 and second.json()["field"] == "call_id"
    assert first.json()["status"] == "answered" and first.json()["operator"].startswith("op")
    [(updated, fields)] = fake.updates  # the caller is redirected to the winner's desk
    assert updated == sid(7)
    dial = ET.fromstring(fields["Twiml"]).find("Dial")
    assert dial.text == DESK_A and dial.get("record") == "record-from-answer-dual"
    assert dial.get("recordingStatusCallback") == f"{BASE}/twilio/recording?c={cid}"
    assert [m["type"] for m in heard] == ["call_answered"]
    assert api.client.get("/api/v1/calls", headers=op).json()["items"] == []


def test_answer_oldest_needs_a_seat_and_a_call(api: Api, fake, net, op) -> None:
    r = api.client.post("/api/v1/calls/answer", headers=op)
    assert r.status_code == 409 and r.json()["field"] == "seat"
    seat(api, op, DESK_A)
    assert api.client.post("/api/v1/calls/answer", headers=op).status_code == 409
    ring(api, fake, 8)
    api.clock.advance(seconds=5)
    ring(api, fake, 9, caller="+8613700000000")
    r = api.client.post("/api/v1/calls/answer", headers=op)
    assert r.status_code == 200 and r.json()["id"] == call_id(api, 8)
    crew = api.user("crew", team_id=net.a_near)
    assert api.client.post("/api/v1/calls/answer", headers=crew).status_code == 403


def test_concurrent_claims_have_exactly_one_winner(api: Api, fake, net) -> None:
    ring(api, fake, 10)
    cid = call_id(api, 10)
    with api.db() as s:
        a, b = factories.make_user(s, "operator"), factories.make_user(s, "operator")
        s.commit()
        ids = [a.id, b.id]
    results: list[str] = []
    barrier = threading.Barrier(2)

    def attempt(uid: int) -> None:
        with api.db() as s:
            user = s.get(User, uid)
            barrier.wait()
            try:
                service.claim(s, cid, user, now=api.clock.now)
                s.commit()
                results.append("won")
            except Problem as exc:
                s.rollback()
                results.append(str(exc.status))

    threads = [threading.Thread(target=attempt, args=(u,)) for u in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(results) == ["409", "won"]


# --- abandoned and call-back --------------------------------------------------------------
def test_caller_hanging_up_while_queued_is_abandoned_and_called_back(api: Api, fake, net,
                                                                     op) -> None:
    ring(api, fake, 11)
    cid = call_id(api, 11)
    api.clock.advance(seconds=30)
    heard: list[dict[str, Any]] = []
    unsubscribe = api.client.app.state.bus.subscribe(heard.append)
    try:
        r = post_signed(api, fake, f"/twilio/queue/leave?c={cid}",
                        {"CallSid": sid(11), "QueueResult": "hangup", "QueueTime": "30"})
        assert r.status_code == 200
        again = post_signed(api, fake, "/twilio/calls/status",
                            {"CallSid": sid(11), "CallStatus": "completed"})
        assert again.status_code == 204
    finally:
        unsubscribe()
    assert [m["type"] for m in heard] == ["call_abandoned"]
    [row] = api.client.get("/api/v1/calls?status=abandoned", headers=op).json()["items"]
    assert row["id"] == cid and row["status"] == "abandoned" and row["ended_at"]
    assert api.client.post(f"/api/v1/calls/{cid}/answer", headers=op).status_code == 409

    seat(api, op, DESK_A)
    r = api.client.post(f"/api/v1/calls/{cid}/callback", headers=op)
    assert r.status_code == 201, r.text
    back = r.json()
    [placed] = fake.calls()
    assert placed.to == DESK_A and placed.from_ == "+8635196333"  # the desk first …
    assert ET.fromstring(placed.twiml).find("Dial").text == CALLER  # … then the caller
    with api.db() as s:
        assert s.get(Call, cid).called_back_at is None  # not when the button is pressed
    api.clock.advance(seconds=90)
    codes = []
    for params, headers_url in ((cb.params, cb.url) for cb in _drain(fake)):
        codes.append(post_signed(api, fake, headers_url.removeprefix(BASE), params).status_code)
    assert codes and set(codes) == {204}
    with api.db() as s:
        original, outbound = s.get(Call, cid), s.get(Call, back["id"])
        assert outbound.status == "completed" and outbound.call_sid == placed.sid
        assert original.called_back_at == api.clock.now
    assert api.client.get("/api/v1/calls?status=abandoned", headers=op).json()["items"] == []


def test_a_completed_call_back_after_the_release_is_the_incidents_follow_up(
        api: Api, fake, net, op) -> None:
    """Issue 15 item 4: the incident's call-back (回访) is stamped when the call-back call
    completes, through the write path, not when the button is pressed; a call-back made
    during the rescue is not the follow-up."""
    seat(api, op, DESK_A)
    ring(api, fake, 31)
    cid = call_id(api, 31)
    assert api.client.post(f"/api/v1/calls/{cid}/answer", headers=op).status_code == 200
    inc = api.client.post("/api/v1/incidents", headers=op, json={
        "rescue_code": net.rescue_code, "channel": "call"}).json()["id"]
    assert api.client.post(f"/api/v1/calls/{cid}/link", headers=op,
                           json={"incident_id": inc}).status_code == 200

    def call_back_and_complete() -> None:
        r = api.client.post(f"/api/v1/calls/{cid}/callback", headers=op)
        assert r.status_code == 201, r.text
        api.clock.advance(seconds=60)
        for cb in _drain(fake):
            assert post_signed(api, fake, cb.url.removeprefix(BASE), cb.params).status_code \
                == 204

    call_back_and_complete()  # during the rescue: no follow-up step
    with api.db() as s:
        incident = s.get(Incident, inc)
        assert incident.state == "received" and incident.callback_done_at is None
        for state in ("confirmed", "dispatched", "arrived", "released"):
            transition(s, incident, state, actor=Actor("test", "operator"),
                       at=api.clock.now)
        s.commit()
    api.clock.advance(minutes=10)
    r = api.client.post(f"/api/v1/calls/{cid}/callback", headers=op)
    assert r.status_code == 201, r.text
    pressed = api.clock.now
    with api.db() as s:
        assert s.get(Incident, inc).callback_done_at is None  # not at the click
    api.clock.advance(seconds=75)
    for cb in _drain(fake):
        assert post_signed(api, fake, cb.url.removeprefix(BASE), cb.params).status_code == 204
    with api.db() as s:
        incident = s.get(Incident, inc)
        assert incident.state == "callback_done"
        assert incident.callback_done_at == api.clock.now != pressed
        step = s.scalars(select(IncidentEvent).where(
            IncidentEvent.incident_id == inc, IncidentEvent.type == "callback_done")).one()
        back = s.scalars(select(Call).where(Call.callback_of_id == cid)
                         .order_by(Call.id.desc())).first()
        assert back is not None and back.status == "completed"
        assert step.payload["call_id"] == back.id and step.payload["via"] == "twilio"


def _drain(fake: FakeTwilio) -> list[Any]:
    got: list[Any] = []

    def keep(url: str, params: dict[str, str], headers: dict[str, str]) -> int:
        got.append(type("CB", (), {"url": url, "params": params})())
        return 204

    fake.send_callbacks(keep)
    return got


# --- recordings ---------------------------------------------------------------------------
def answered_and_recorded(api: Api, fake: FakeTwilio, op: dict[str, str], n: int) -> int:
    seat(api, op, DESK_A)
    ring(api, fake, n)
    cid = call_id(api, n)
    assert api.client.post(f"/api/v1/calls/{cid}/answer", headers=op).status_code == 200
    rec = fake.add_recording(sid(n), duration_s=75)
    r = post_signed(api, fake, f"/twilio/recording?c={cid}", {
        "CallSid": sid(n), "RecordingSid": rec, "RecordingStatus": "completed",
        "RecordingDuration": "75", "RecordingUrl": f"{fake.base_url}/Recordings/{rec}"})
    assert r.status_code == 204
    return cid


def test_recording_callback_and_playback_for_staff_only(api: Api, fake, net, op) -> None:
    cid = answered_and_recorded(api, fake, op, 12)
    with api.db() as s:
        call = s.get(Call, cid)
        assert call.recording_sid in fake.recordings and call.recording_duration_s == 75
    r = api.client.get(f"/api/v1/calls/{cid}/recording", headers=op)
    assert r.status_code == 200 and r.headers["content-type"] == "audio/mpeg"
    assert r.content.startswith(b"ID3fake-recording:" + sid(12).encode())
    assert fake.base_url not in r.text and "Recordings" not in r.text
    for role, kw in (("crew", {"team_id": net.a_near}), ("office", {})):
        r = api.client.get(f"/api/v1/calls/{cid}/recording", headers=api.user(role, **kw))
        assert r.status_code in (403, 404), role
        assert b"fake-recording" not in r.content
    assert api.client.get(f"/api/v1/calls/{cid}/recording").status_code == 401
    # link the call to an incident: its timeline shows the call
    inc = api.client.post("/api/v1/incidents", headers=op, json={
        "rescue_code": net.rescue_code, "channel": "call"}).json()["id"]
    r = api.client.post(f"/api/v1/calls/{cid}/link", headers=op, json={"incident_id": inc})
    assert r.status_code == 200 and r.json()["incident_id"] == inc
    calls = api.client.get(f"/api/v1/incidents/{inc}/calls", headers=op).json()["items"]
    assert [(c["id"], c["recording"], c["recording_duration_s"]) for c in calls] == [
        (cid, True, 75)]
    with api.db() as s:
        types = s.scalars(select(IncidentEvent.type).where(IncidentEvent.incident_id == inc))
        assert "call_linked" in list(types)
    assert api.client.post(f"/api/v1/calls/{cid}/link", headers=op,
                           json={"incident_id": 999999}).status_code == 404


def test_retention_job_deletes_old_recordings_at_the_provider(api: Api, fake, net, op) -> None:
    cid = answered_and_recorded(api, fake, op, 13)
    with api.db() as s:
        rec = s.get(Call, cid).recording_sid
    assert run_retention(api.db, settings=api.settings, now=api.clock.now) == 0
    later = api.clock.advance(days=api.settings.call_recording_retention_days + 1)
    assert run_retention(api.db, settings=api.settings, now=later) == 1
    assert fake.deleted_recordings == [rec] and rec not in fake.recordings
    with api.db() as s:
        call = s.get(Call, cid)
        assert call.recording_deleted_at == later and call.recording_sid == rec
    r = api.client.get(f"/api/v1/calls/{cid}/recording", headers=op)
    assert r.status_code == 404
    assert run_retention(api.db, settings=api.settings, now=later + timedelta(days=1)) == 0


# --- consoles -----------------------------------------------------------------------------
def test_consoles_get_ringing_calls_crews_do_not(api: Api, fake, net, op) -> None:
    crew = api.user("crew", team_id=net.a_near)
    office = api.user("office")
    with connect(api.client, op) as ws_op, connect(api.client, office) as ws_office, \
            connect(api.client, crew) as ws_crew:
        for ws in (ws_op, ws_office, ws_crew):
            recv_until(ws, "ready")
        ring(api, fake, 14)
        [msg] = [m for m in recv_until(ws_op, "call_ringing")]
        assert msg["call"]["from"] == CALLER
        masked = recv_until(ws_office, "call_ringing")[-1]
        assert masked["call"]["from"] == "+86138****5678"
        ws_crew.send_text("ping")
        frames = recv_until(ws_crew, "pong")
        assert all(not str(f.get("type", "")).startswith("call_") for f in frames)


def test_seat_phone_is_validated(api: Api, op) -> None:
    r = api.client.put("/api/v1/seats/me", headers=op, json={"phone": "not a phone"})
    assert r.status_code == 422 and "phone" in r.json()["field"]
    assert api.client.get("/api/v1/seats/me", headers=op).json() == {"phone": None,
                                                                     "available": False}
    r = api.client.put("/api/v1/seats/me", headers=op, json={"phone": "13812345678",
                                                             "available": False})
    assert r.json() == {"phone": "+8613812345678", "available": False}



# --- three-way call -----------------------------------------------------------------------
def test_three_way_call_with_the_crew_legs_live_and_ending_all(api: Api, fake, net,
                                                                op) -> None:
    seat(api, op, DESK_A)
    r = api.client.post("/api/v1/incidents", headers=op, json={
        "rescue_code": net.rescue_code, "channel": "call", "caller_phone": "13812345678"})
    inc = r.json()["id"]
    aid = api.client.post(f"/api/v1/incidents/{inc}/confirm",
                          headers=op).json()["assignments"][-1]["id"]
    early = api.client.post(f"/api/v1/incidents/{inc}/conference", headers=op, json={})
    assert early.status_code == 409  # no team has accepted yet
    crew = api.user("crew", team_id=net.a_near)
    assert api.client.post(f"/api/v1/assignments/{aid}/accept",
                           headers=crew).status_code == 200
    assert api.client.post(f"/api/v1/incidents/{inc}/conference", headers=crew,
                           json={}).status_code == 403
    fake.set_outcome("+8613900000000", "no-answer")  # the crew's phone will not answer
    r = api.client.post(f"/api/v1/incidents/{inc}/conference", headers=op, json={})
    assert r.status_code == 201, r.text
    legs = {leg["leg"]: leg for leg in r.json()["legs"]}
    assert set(legs) == {"operator", "caller", "team"}
    placed = {c.to: c for c in fake.calls()}
    assert set(placed) == {DESK_A, CALLER, "+8613900000000"}
    name = r.json()["conference"]
    assert ET.fromstring(placed[DESK_A].twiml).find("Dial/Conference").text == name
    assert api.client.post(f"/api/v1/incidents/{inc}/conference", headers=op,
                           json={}).status_code == 409  # one at a time
    # the fake reports each leg: ringing, in progress, completed (team: no answer)
    for cb in _drain(fake):
        assert post_signed(api, fake, cb.url.removeprefix(BASE), cb.params).status_code == 204
    with api.db() as s:
        types = [(e.payload.get("leg"), e.payload.get("status")) for e in s.scalars(
            select(IncidentEvent).where(IncidentEvent.incident_id == inc,
                                        IncidentEvent.type == "conference_leg")
            .order_by(IncidentEvent.seq))]
    assert ("team", "ringing") in types and ("team", "no_answer") in types
    assert ("caller", "in_progress") in types and ("operator", "completed") in types
    # every leg is over now: nothing left to end
    r = api.client.post(f"/api/v1/incidents/{inc}/conference/end", headers=op)
    assert r.status_code == 409
    calls = api.client.get(f"/api/v1/incidents/{inc}/calls", headers=op).json()["items"]
    assert {c["leg"]: c["status"] for c in calls} == {
        "operator": "completed", "caller": "completed", "team": "no_answer"}


def test_ending_the_three_way_call_hangs_up_every_leg(api: Api, fake, net, op) -> None:
    seat(api, op, DESK_A)
    inc = api.client.post("/api/v1/incidents", headers=op, json={
        "rescue_code": net.rescue_code, "channel": "call"}).json()["id"]
    aid = api.client.post(f"/api/v1/incidents/{inc}/confirm",
                          headers=op).json()["assignments"][-1]["id"]
    crew = api.user("crew", team_id=net.a_near)
    api.client.post(f"/api/v1/assignments/{aid}/accept", headers=crew)
    r = api.client.post(f"/api/v1/incidents/{inc}/conference", headers=op, json={})
    assert r.status_code == 201, r.text
    assert {leg["leg"] for leg in r.json()["legs"]} == {"operator", "team"}  # no caller number
    r = api.client.post(f"/api/v1/incidents/{inc}/conference/end", headers=op)
    assert r.status_code == 200 and len(r.json()["ended"]) == 2
    hung = {sid for sid, fields in fake.updates if fields.get("Status") == "completed"}
    assert hung == {c.sid for c in fake.calls()}
