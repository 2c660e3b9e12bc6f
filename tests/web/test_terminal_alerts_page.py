"""The console's terminal alerts in real Chromium (issue 19): a terminal that goes silent shows
up live in the console's terminal alert list; an operator recording a call about that lift sees
"终端离线" on the chosen elevator and on the incident; the terminal's next heartbeat clears the
list and the flag live, without a reload.

A real server with a compressed liveness interval (1 s × 2, swept every second by its job loop),
so the terminal really goes silent in wall-clock time."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session

from dispatch.db import make_engine
from dispatch.telemetry.models import Device
from dispatch.telemetry.signing import new_secret, seal, sign
from tests.web.live_site import Site, chromium, running_site, shot
from tests.web.test_live_pages import login

pytestmark = pytest.mark.browser
SECRET_KEY = "web-test-" + "k" * 40
DEVICE = "dev_web_offline_01"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Site, str]]:
    work = tmp_path_factory.mktemp("terminal-web")
    env = {"RESCUE_HEARTBEAT_INTERVAL_S": "1", "RESCUE_OFFLINE_FACTOR": "2",
           "RESCUE_OFFLINE_SWEEP_S": "1"}
    secret = new_secret()
    with running_site(work, env) as s:
        engine = make_engine(f"sqlite:///{work / 'web.db'}")
        with Session(engine) as db:
            db.add(Device(id=DEVICE, elevator_id=s.net.elevator_id,
                          secret_sealed=seal(secret, SECRET_KEY)))
            db.commit()
        engine.dispose()
        yield s, secret


@pytest.fixture(scope="module")
def pw() -> Iterator[Any]:
    with chromium() as (playwright, browser):
        yield playwright, browser


def heartbeat(base: str, secret: str, seq: int) -> dict[str, Any]:
    raw = json.dumps({"seq": seq, "at": int(time.time()), "mode": "normal"}).encode()
    stamp = str(int(time.time()))
    r = httpx.post(f"{base}/api/v1/telemetry/heartbeat", content=raw, headers={
        "Content-Type": "application/json", "X-Device-Id": DEVICE, "X-Timestamp": stamp,
        "X-Signature": sign(secret, stamp, raw)}, timeout=10)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_offline_terminal_listed_and_flagged_on_a_call_then_cleared_live(
        site: tuple[Site, str], pw: Any) -> None:
    s, secret = site
    _, browser = pw
    desk = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN",
                               timezone_id="Asia/Shanghai")
    op = desk.new_page()
    errors: list[str] = []
    op.on("pageerror", lambda e: errors.append(str(e)))
    login(op, s.base, s.operator, "/console")
    op.evaluate("window.__sameDocument = true")
    op.click("#terminal-alerts summary")
    assert op.inner_text("#ta-list") == "没有终端告警"

    assert heartbeat(s.base, secret, 1)["was_offline"] is False
    # silent > 1 s × 2: the job loop's sweep raises the alert; it arrives over the stream
    item = op.wait_for_selector(f"#ta-list li[data-elevator='{s.net.elevator_id}']",
                                timeout=15_000)
    text = item.inner_text()
    assert "终端离线" in text and s.net.rescue_code in text and DEVICE in text
    assert op.inner_text("#ta-count") == "(1)"

    # a call about that lift: the chosen elevator is flagged before anything is recorded
    op.keyboard.press("Alt+n")
    op.keyboard.type(s.net.rescue_code)
    op.wait_for_selector("#f-results li[data-i]")
    op.keyboard.press("Enter")
    flag = op.wait_for_selector("#f-terminal .flag.terminal_offline", timeout=5000)
    assert flag.inner_text() == "终端离线"
    assert "困人时可能不会自动报警" in op.inner_text("#f-terminal")
    op.click("#f-record")
    op.wait_for_selector("#board tbody tr.selected")
    op.wait_for_selector("#detail .flag.terminal_offline", timeout=5000)
    shot(op, "console-terminal-offline")

    # English too
    op.click("#btn-lang")
    assert "terminal offline" in op.inner_text("#ta-list")
    op.click("#btn-lang")

    # its next heartbeat clears it (and it keeps beating): list and detail update live
    assert heartbeat(s.base, secret, 2)["was_offline"] is True
    done = threading.Event()

    def keep_beating() -> None:
        seq = 3
        while not done.wait(0.4):
            heartbeat(s.base, secret, seq)
            seq += 1

    beating = threading.Thread(target=keep_beating, daemon=True)
    beating.start()
    try:
        op.wait_for_selector("#ta-list li.muted:text('没有终端告警')", timeout=5000)
        op.wait_for_selector("#detail .flag.terminal_offline", state="detached", timeout=5000)
        assert op.inner_text("#ta-count") == ""
        assert op.evaluate("window.__sameDocument") is True
    finally:
        done.set()
        beating.join(timeout=5)
    assert errors == []
    desk.close()


def test_office_page_lists_the_silent_terminal_and_the_online_rates(
        site: tuple[Site, str], pw: Any) -> None:
    """The office review's terminal tables (a supervisor here; offices see their region only):
    the silent terminal is listed as offline with its lift, and its zone's online rate counts
    it as offline."""
    s, secret = site
    _, browser = pw
    heartbeat(s.base, secret, 1000)
    time.sleep(3.5)  # silent > 1 s × 2 and swept: offline again
    ctx = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN",
                              timezone_id="Asia/Shanghai")
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    signed_in = ctx.request.post(f"{s.base}/api/v1/auth/token",
                                 form={"username": s.supervisor, "password": "test-password-1"})
    assert signed_in.ok, signed_in.text()
    page.goto(s.base + "/office")
    page.wait_for_selector("#terminals[data-ready='1']", timeout=15_000)
    row = page.inner_text("#t-offline tbody")
    assert DEVICE in row and s.net.rescue_code in row
    zone_rows = page.query_selector_all("#t-online-zone tbody tr")
    cells = [[c.inner_text() for c in r.query_selector_all("td")] for r in zone_rows]
    # key, terminals, online, offline, never seen, rate: the only terminal is offline
    assert [c[1:] for c in cells] == [["1", "0", "1", "0", "0.0%"]]
    assert "离线最久的终端" in page.inner_text("#terminals")
    page.goto(s.base + "/office?lang=en")
    page.wait_for_selector("#terminals[data-ready='1']", timeout=15_000)
    assert "Terminals offline longest" in page.inner_text("#terminals")
    shot(page, "office-terminals")
    assert errors == []
    ctx.close()
