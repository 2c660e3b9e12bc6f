"""The phone desk in real Chromium (issue 15): a hotline caller asks for an operator; the call
rings on two consoles at once (caller number, waiting time, screen-pop); the first operator
clicks 接听 and the call disappears from the second console without a reload, while the fake
Twilio got the call update connecting the caller to the first operator's desk phone."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from notify.fake_twilio import FakeTwilio
from notify.signatures import HEADER, sign
from tests.web.live_site import Site, chromium, running_site, shot
from tests.web.test_live_pages import login

pytestmark = pytest.mark.browser
PUBLIC = "https://rescue.example"
CALLER = "+8613812345678"
DESK = "+863517000001"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio(callbacks="manual") as f:
        yield f


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, fake: FakeTwilio) -> Iterator[Site]:
    env = {"RESCUE_TWILIO_ACCOUNT_SID": fake.account_sid,
           "RESCUE_TWILIO_AUTH_TOKEN": fake.auth_token,
           "RESCUE_TWILIO_API_BASE_URL": fake.base_url,
           "RESCUE_TWILIO_FROM_NUMBER": "+8635196333", "RESCUE_PUBLIC_BASE_URL": PUBLIC}
    with running_site(tmp_path_factory.mktemp("phone-web"), env) as s:
        yield s


@pytest.fixture(scope="module")
def pw() -> Iterator[Any]:
    with chromium() as (playwright, browser):
        yield playwright, browser


def twilio_post(site: Site, fake: FakeTwilio, path: str, params: dict[str, str]) -> str:
    headers = {HEADER: sign(fake.auth_token, PUBLIC + path, params)}
    r = httpx.post(site.base + path, data=params, headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    return r.text


def test_a_ringing_call_on_two_consoles_leaves_the_second_when_the_first_answers(
        site: Site, fake: FakeTwilio, pw: Any) -> None:
    _, browser = pw
    pages = []
    errors: list[str] = []
    for user in (site.operator, site.supervisor):
        ctx = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN",
                                  timezone_id="Asia/Shanghai")
        page = ctx.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        login(page, site.base, user, "/console")
        pages.append(page)
    first, second = pages
    assert "暂无来电" in first.inner_text("#pd-ringing")
    first.fill("#pd-phone", "0351-7000001")
    first.click("#pd-seat button[type=submit]")
    first.wait_for_function("document.querySelector('#pd-phone').value === '+863517000001'")
    second.evaluate("""() => fetch('/api/v1/seats/me', {method: 'PUT', credentials:
        'same-origin', headers: {'Content-Type': 'application/json'},
        body: JSON.stringify({phone: '+863517000002', available: true})})""")

    call = {"CallSid": "CA" + "e" * 32, "From": CALLER, "To": "+8635196333"}
    twilio_post(site, fake, "/twilio/voice", call)
    started = time.monotonic()
    doc = ET.fromstring(twilio_post(site, fake, "/twilio/voice/gather?step=code",
                                    {**call, "Digits": "0"}))
    assert doc.find("Enqueue") is not None
    for page in pages:
        page.wait_for_selector("#pd-ringing li[data-call]", timeout=10_000)
        assert CALLER in page.inner_text("#pd-ringing")
    live_ms = (time.monotonic() - started) * 1000
    second.wait_for_function(  # the waiting time ticks
        "!['', '0:00'].includes(document.querySelector('#pd-ringing .pd-wait').textContent)",
        timeout=5_000)
    shot(second, "phone-desk-ringing")

    first.click("#pd-ringing button[data-answer]")
    second.wait_for_selector("#pd-ringing li[data-call]", state="detached", timeout=10_000)
    first.wait_for_selector("#pd-ringing li[data-call]", state="detached", timeout=10_000)
    assert "暂无来电" in second.inner_text("#pd-ringing")
    [(sid, fields)] = fake.updates
    assert sid == call["CallSid"]
    assert ET.fromstring(fields["Twiml"]).find("Dial").text == DESK
    # the second operator clicking late (stale page) is told it was taken
    r = second.evaluate("""() => fetch('/api/v1/calls/answer', {method: 'POST',
        credentials: 'same-origin'}).then((r) => r.status)""")
    assert r == 409
    shot(second, "phone-desk-answered-elsewhere")
    assert errors == []
    assert live_ms < 10_000
