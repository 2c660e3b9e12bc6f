"""The fake Twilio, driven by the real ``twilio`` client through the Twilio channels."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

import httpx
import pytest

from notify import twiml
from notify.channel import Outbound, ProviderError
from notify.fake_twilio import FakeTwilio
from notify.signatures import HEADER, is_valid
from notify.twilio_channel import TwilioConfig, TwilioSms, TwilioVoice

TO = "+8613900000001"


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio(callbacks="manual") as f:
        yield f


def config(fake: FakeTwilio, **kw: object) -> TwilioConfig:
    return TwilioConfig(fake.account_sid, fake.auth_token, "+8635196333", fake.base_url,
                        **{"timeout_s": 2.0, **kw})  # type: ignore[arg-type]


def test_sms_is_created_with_what_the_client_sent(fake: FakeTwilio) -> None:
    result = TwilioSms(config(fake)).send(Outbound("sms", TO, "【96333】电梯困人",
                                                   status_callback="https://c.example/s?n=7"))
    assert result.provider == "twilio" and result.provider_id.startswith("SM")
    assert result.status == "queued"
    [m] = fake.messages()
    assert (m.sid, m.to, m.from_, m.body) == (result.provider_id, TO, "+8635196333",
                                              "【96333】电梯困人")
    assert m.status_callback == "https://c.example/s?n=7"


def test_voice_call_carries_the_twiml_and_asks_for_progress_events(fake: FakeTwilio) -> None:
    script = twiml.gather("接单请按1", action="https://c.example/g", lang="zh-CN", num_digits=1)
    result = TwilioVoice(config(fake)).send(Outbound("voice", TO, "接单请按1", twiml=script,
                                                     status_callback="https://c.example/s"))
    [c] = fake.calls()
    assert result.provider_id.startswith("CA") and c.sid == result.provider_id
    assert c.twiml == script and 'language="zh-CN"' in c.twiml
    assert c.params["StatusCallbackEvent"] == "initiated,ringing,answered,completed"


def test_wrong_credentials_are_refused_for_good(fake: FakeTwilio) -> None:
    bad = TwilioConfig(fake.account_sid, "wrong-token", "+8635196333", fake.base_url)
    with pytest.raises(ProviderError) as err:
        TwilioSms(bad).send(Outbound("sms", TO, "x"))
    assert not err.value.retryable and "401" in err.value.message
    assert fake.messages() == []


def test_500_is_retryable_and_creates_nothing(fake: FakeTwilio) -> None:
    fake.fail_next(2)
    sms = TwilioSms(config(fake))
    for _ in range(2):
        with pytest.raises(ProviderError) as err:
            sms.send(Outbound("sms", TO, "x"))
        assert err.value.retryable and "HTTP 500" in err.value.message
    assert fake.messages() == []
    assert sms.send(Outbound("sms", TO, "third time")).provider_id.startswith("SM")
    assert [m.body for m in fake.messages()] == ["third time"]
    assert [s for _, _, s in fake.requests] == [500, 500, 201]


def test_a_stalled_request_times_out_as_a_retryable_error(fake: FakeTwilio) -> None:
    fake.delay_next(1, seconds=0.6)  # dropped: nothing is created
    with pytest.raises(ProviderError) as err:
        TwilioSms(config(fake, timeout_s=0.2)).send(Outbound("sms", TO, "x"))
    assert err.value.retryable and err.value.code == "timeout"
    assert fake.messages() == []


def test_a_slow_create_can_land_after_the_client_gave_up(fake: FakeTwilio) -> None:
    """The ambiguous case real providers have: the client saw a timeout, the message exists."""
    fake.delay_next(1, seconds=0.5, then="create")
    with pytest.raises(ProviderError):
        TwilioSms(config(fake, timeout_s=0.1)).send(Outbound("sms", TO, "late"))
    for _ in range(50):
        if fake.messages():
            break
        threading.Event().wait(0.05)
    assert [m.body for m in fake.messages()] == ["late"]


def test_invalid_number_is_a_permanent_error(fake: FakeTwilio) -> None:
    with pytest.raises(ProviderError) as err:
        TwilioSms(config(fake)).send(Outbound("sms", "13900000001", "x"))
    assert not err.value.retryable and err.value.code == "21211"


def test_fail_ratio_is_seeded_and_close_to_the_share(fake: FakeTwilio) -> None:
    fake.fail_ratio(0.2, seed=3)
    sms = TwilioSms(config(fake))
    failures = 0
    for i in range(100):
        try:
            sms.send(Outbound("sms", TO, f"m{i}"))
        except ProviderError:
            failures += 1
    assert 8 <= failures <= 35
    assert len(fake.messages()) == 100 - failures


class _Receiver:
    """A tiny HTTP server standing in for the app's /twilio/status."""

    def __init__(self) -> None:
        self.got: list[tuple[str, dict[str, str], str | None]] = []
        outer = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a: object) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"])).decode()
                outer.got.append((self.path, dict(parse_qsl(raw)), self.headers.get(HEADER)))
                self.send_response(204)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_status_callbacks_are_posted_signed_in_order() -> None:
    rx = _Receiver()
    try:
        with FakeTwilio(callbacks="thread") as fake:
            fake.set_outcome("+8613900000002", "undelivered")
            cb = f"{rx.url}/twilio/status?n=1"
            sms = TwilioSms(config(fake))
            ok = sms.send(Outbound("sms", TO, "a", status_callback=cb))
            bad = sms.send(Outbound("sms", "+8613900000002", "b", status_callback=cb))
            assert fake.wait_idle()
            token = fake.auth_token
    finally:
        rx.close()
    by_sid: dict[str, list[str]] = {}
    for path, params, signature in rx.got:
        assert path == "/twilio/status?n=1"
        assert is_valid(token, cb, params, signature)
        assert not is_valid(token, cb, {**params, "MessageStatus": "read"}, signature)
        by_sid.setdefault(params["MessageSid"], []).append(params["MessageStatus"])
    assert by_sid == {ok.provider_id: ["sent", "delivered"],
                      bad.provider_id: ["sent", "undelivered"]}
    assert next(p for _, p, _ in rx.got if p["MessageStatus"] == "undelivered")["ErrorCode"]


def test_call_outcomes_and_the_control_endpoint(fake: FakeTwilio) -> None:
    r = httpx.post(f"{fake.base_url}/fake/control",
                   data={"outcome_to": TO, "outcome": "no-answer", "fail_next": "1"})
    assert r.status_code == 200
    voice = TwilioVoice(config(fake))
    msg = Outbound("voice", TO, "x", twiml=twiml.say("你好", lang="zh-CN"),
                   status_callback="https://c.example/s")
    with pytest.raises(ProviderError):
        voice.send(msg)
    sid = voice.send(msg).provider_id
    got: list[dict[str, str]] = []
    assert fake.send_callbacks(lambda url, params, headers: got.append(params) or 204) == 3
    assert [(p["CallSid"], p["CallStatus"]) for p in got] == [
        (sid, "initiated"), (sid, "ringing"), (sid, "no-answer")]
    listed = httpx.get(f"{fake.base_url}/fake/messages").json()
    assert [m["sid"] for m in listed] == [sid]
    page = httpx.get(fake.base_url + "/").text
    assert "你好" in page and "Fake Twilio" in page


def test_call_updates_and_recordings_for_the_phone_desk(fake: FakeTwilio) -> None:
    """Issue 15: the real client updates a live call, and recordings are served and deleted
    with the account's credentials only."""
    from twilio.base.exceptions import TwilioRestException

    from notify.twilio_channel import make_client

    client = make_client(config(fake))
    call = client.calls("CA" + "1" * 32).update(twiml="<Response><Hangup/></Response>")
    assert call.status == "in-progress"
    client.calls("CA" + "1" * 32).update(status="completed")
    assert [f for _, f in fake.updates] == [{"Twiml": "<Response><Hangup/></Response>"},
                                           {"Status": "completed"}]
    rec = fake.add_recording("CA" + "1" * 32, duration_s=9)
    url = f"{fake.base_url}/2010-04-01/Accounts/{fake.account_sid}/Recordings/{rec}.mp3"
    assert httpx.get(url).status_code == 401
    audio = httpx.get(url, auth=(fake.account_sid, fake.auth_token))
    assert audio.status_code == 200 and audio.content.startswith(b"ID3fake-recording:")
    assert client.recordings(rec).delete() is True
    assert fake.deleted_recordings == [rec]
    with pytest.raises(TwilioRestException) as gone:
        client.recordings(rec).delete()
    assert gone.value.status == 404
