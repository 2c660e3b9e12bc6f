"""The operator console's rough edges (issue 16, items 2–6), in real Chromium.

Each test drives the console as an operator taking a call would and asserts what is on screen
and what reached the server.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from dispatch.db import make_engine, session_factory
from tests import factories
from tests.dispatch import scenario
from tests.web.live_site import Site, chromium, running_site, shot

pytestmark = pytest.mark.browser


TWIN_CODES = ("731001", "731002")  # two lifts of one building (item 5)


def _add_twin_lifts(work: Path, site: Site) -> None:
    engine = make_engine(f"sqlite:///{work / 'web.db'}")
    with session_factory(engine)() as s:
        for code in TWIN_CODES:
            factories.make_elevator(s, rescue_code=code, maintenance_company_id=site.net.company_id,
                                    building="天和苑5号楼", address="太原市小店区平阳路天和苑5号楼",
                                    location=scenario.AT_3KM)
        s.commit()
    engine.dispose()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    work = tmp_path_factory.mktemp("console-web")
    with running_site(work) as s:
        _add_twin_lifts(work, s)
        yield s


@pytest.fixture(scope="module")
def pw() -> Iterator[Any]:
    with chromium() as (playwright, browser):
        yield playwright, browser


def login(page: Any, base: str, username: str, path: str = "/console") -> None:
    page.goto(f"{base}{path}")
    page.wait_for_url("**/login**")
    page.fill("#username", username)
    page.fill("#password", "test-password-1")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**{path}")
    page.wait_for_selector("body[data-ready='1']", timeout=10_000)


def desk(browser: Any, lang: str = "zh-CN") -> Any:
    ctx = browser.new_context(viewport={"width": 1440, "height": 900}, locale=lang,
                              timezone_id="Asia/Shanghai")
    if lang == "en":
        ctx.add_init_script("localStorage.setItem('rescue_lang', 'en')")
    return ctx


def pick_elevator(page: Any, code: str) -> None:
    page.keyboard.press("Alt+n")
    page.keyboard.type(code)
    page.wait_for_selector("#f-results li[data-i]")
    page.keyboard.press("Enter")


def active_incidents(page: Any) -> list[dict[str, Any]]:
    base = page.url.split("/console")[0]
    r = page.request.get(f"{base}/api/v1/incidents?state=active")
    assert r.ok
    return list(r.json()["items"])


def test_double_click_records_one_incident(site: Site, pw: Any) -> None:
    """Item 3: a double click on 登记并派单 sends one report, with an Idempotency-Key, and the
    board shows one incident with no 重复来电."""
    _, browser = pw
    ctx = desk(browser)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    posts: list[dict[str, str]] = []
    page.on("request", lambda r: posts.append(r.headers)
            if r.method == "POST" and r.url.endswith("/api/v1/incidents") else None)
    login(page, site.base, site.operator)
    before = {i["id"] for i in active_incidents(page)}
    code = site.extra_codes[1]
    pick_elevator(page, code)
    page.dblclick("#f-dispatch")
    page.wait_for_selector("#board tbody tr.selected")
    page.wait_for_timeout(300)
    new = [i for i in active_incidents(page) if i["id"] not in before]
    assert len(new) == 1, new
    assert new[0]["duplicate_reports"] == 0
    assert len(posts) == 1
    assert posts[0].get("idempotency-key", "").startswith("console-")
    row = page.inner_text(f"#board tr[data-id='{new[0]['id']}']")
    assert "重复来电" not in row
    assert errors == []
    ctx.close()


def test_messages_and_timeline_are_readable(site: Site, pw: Any) -> None:
    """Item 4: a bad phone is one zh-CN sentence naming the field once; the timeline reads as
    sentences with times on the centre's clock; the API names the override's field ``reason``."""
    _, browser = pw
    ctx = desk(browser)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    login(page, site.base, site.operator)
    pick_elevator(page, site.extra_codes[0])
    page.fill("#f-phone", "12345")
    page.click("#f-record")
    page.wait_for_selector("#f-error:not(:empty)")
    msg = page.inner_text("#f-error")
    assert msg.startswith("来电号码：不是有效的电话号码"), msg
    assert "Value error" not in msg and "caller_phone" not in msg
    page.fill("#f-phone", "13812345678")
    page.click("#f-dispatch")
    row = page.wait_for_selector("#board tbody tr.selected")
    incident = int(row.get_attribute("data-id"))
    page.wait_for_selector("#detail tr[data-type='offered']")
    timeline = page.inner_text("#detail")
    assert "派单给" in timeline and "须在" in timeline
    for raw in ("accept_by", "assignment_id", "from:", "+00:00", "offer_sms"):
        assert raw not in timeline, raw
    assert "派单短信" in timeline and "救援队" in timeline
    ev = page.evaluate("""() => {
        const c = document.querySelector("#detail tr[data-type='offered'] td.ev");
        const r = document.createRange(); r.selectNodeContents(c);
        return [c.textContent, r.getClientRects().length]; }""")
    assert ev == ["派单", 1]  # one line, not one character per line
    # the accept-by time is on the centre's clock (UTC+8), whatever the PC's zone
    detail = page.request.get(f"{site.base}/api/v1/incidents/{incident}").json()
    offered = next(e for e in detail["timeline"] if e["type"] == "offered")
    local = datetime.fromisoformat(offered["payload"]["accept_by"]).astimezone(
        timezone(timedelta(hours=8))).strftime("%H:%M:%S")
    assert local in timeline
    team = detail["assignments"][0]["team_id"]
    r = page.request.post(f"{site.base}/api/v1/incidents/{incident}/dispatch",
                          data={"team_id": team})
    assert r.status == 422 and r.json()["field"] == "reason"
    assert r.json()["code"] == "invalid_request"
    assert "Value error" not in r.json()["errors"][0]["message"]
    shot(page, "console-timeline")
    assert errors == []
    ctx.close()


def test_english_messages(site: Site, pw: Any) -> None:
    _, browser = pw
    ctx = desk(browser, "en")
    page = ctx.new_page()
    login(page, site.base, site.operator)
    pick_elevator(page, site.extra_codes[0])
    page.fill("#f-phone", "12345")
    page.click("#f-record")
    page.wait_for_selector("#f-error:not(:empty)")
    assert page.inner_text("#f-error").startswith("Caller phone: not a phone number")
    ctx.close()


def test_unknown_code_offers_near_codes_and_twin_lifts_differ(site: Site, pw: Any) -> None:
    """Item 5: a code that matches nothing lists the codes one typo away, clickable; two lifts
    of one building show their rescue code and lift number, so the rows differ."""
    _, browser = pw
    ctx = desk(browser)
    page = ctx.new_page()
    login(page, site.base, site.operator)
    page.keyboard.press("Alt+n")
    page.keyboard.type("731003")
    page.wait_for_selector("#f-results li.near")
    box = page.inner_text("#f-results")
    assert "没有匹配的电梯" in box and "是不是" in box
    rows = page.eval_on_selector_all("#f-results li.near", "els => els.map(e => e.innerText)")
    assert len(rows) == 2 and rows[0] != rows[1]
    assert "731001" in rows[0] and "1号梯（共2部）" in rows[0]
    assert "731002" in rows[1] and "2号梯（共2部）" in rows[1]
    page.click("#f-results li.near >> nth=1")
    assert page.inner_text("#f-chosen").startswith("✔ 731002")
    assert "2号梯（共2部）" in page.inner_text("#f-chosen")
    assert page.evaluate("document.activeElement.id") == "f-phone"
    # an exact code shows the lift number too
    page.fill("#f-lookup", "731001")
    page.wait_for_selector("#f-results li[data-i] small.lift")
    assert "1号梯（共2部）" in page.inner_text("#f-results li[data-i]")
    ctx.close()


def test_choose_team_lists_candidates_then_searchable_free_teams(site: Site, pw: Any) -> None:
    """Item 2: 指定队伍 shows the rule's candidates first (ETA, level, in time), then every free
    team with its company and ETA, searchable; choosing one offers it."""
    _, browser = pw
    ctx = desk(browser)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    login(page, site.base, site.operator)
    pick_elevator(page, site.net.rescue_code)
    page.keyboard.press("Control+Enter")
    row = page.wait_for_selector("#board tbody tr.selected")
    incident = int(row.get_attribute("data-id"))
    page.wait_for_selector("#detail button[data-action='override']")
    page.click("#detail button[data-action='override']")
    page.wait_for_selector("#action-form .ct-row[data-section='all']")
    sections = page.eval_on_selector_all(".ct-row", "els => els.map(e => e.dataset.section)")
    assert sections[0] == "ranked" and sections[-1] == "all"
    assert sections.index("all") > sections.count("ranked") - 1  # candidates first
    heads = page.eval_on_selector_all(".ct-head", "els => els.map(e => e.innerText)")
    assert heads[0] == "派单规则候选" and heads[1].startswith("全部空闲队伍")
    listed = page.eval_on_selector_all(".ct-row[data-section='all']",
                                       "els => els.map(e => e.innerText)")
    api = page.request.get(f"{site.base}/api/v1/incidents/{incident}/teams").json()
    assert len(listed) == api["total"] and api["total"] >= 2
    for text, team in zip(listed, api["teams"], strict=True):
        assert team["team_name"] in text and team["company"] in text
        assert "分钟" in text and ("能按时" in text or "可能超时" in text) and "级" in text

    # search by company: only that company's free teams remain, no candidates block
    target = api["teams"][-1]
    page.fill("#action-form input[name=q]", target["company"][:4])
    page.wait_for_function("""(n) => [...document.querySelectorAll('.ct-row')]
        .every(r => r.innerText.includes(n))""", arg=target["company"][:4])
    assert page.eval_on_selector_all(".ct-row[data-section='ranked']", "els => els.length") == 0
    page.click(f".ct-row[data-team='{target['team_id']}']")
    page.fill("#action-form input[name=reason]", "离现场更近的队伍")
    page.click("#action-form button[type=submit]")
    page.wait_for_selector(f"#board tr[data-id='{incident}'] td:has-text('{target['team_name']}')")
    assert errors == []
    ctx.close()


AUDIO_STUB = """
window.__oscillators = 0;
window.AudioContext = class {
  constructor() { this.currentTime = 0; this.destination = {}; }
  createOscillator() { window.__oscillators++;
    return { frequency: {}, connect() {}, start() {}, stop() {} }; }
  createGain() { return { gain: { setValueAtTime() {}, exponentialRampToValueAtTime() {} },
                          connect() {} }; }
};
"""


def test_own_call_is_quiet_other_alarms_ring_route_goes_on_arrival(site: Site, pw: Any) -> None:
    """Item 6: no banner or beep for the call this console just recorded, but one for a call
    from elsewhere, in the page language; a legend; the route line goes when the team arrives."""
    _, browser = pw
    ctx = desk(browser)
    ctx.add_init_script(AUDIO_STUB)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    login(page, site.base, site.operator)
    legend = page.inner_text(".map-legend")
    assert "已超时" in legend and "空闲" in legend and "派出队伍的路线" in legend

    pick_elevator(page, TWIN_CODES[0])
    page.keyboard.press("Control+Enter")
    row = page.wait_for_selector("#board tbody tr.selected")
    mine = int(row.get_attribute("data-id"))
    page.wait_for_selector(f"#board tr[data-id='{mine}'] td.st:text('已派单')")
    page.wait_for_timeout(1000)
    assert page.is_hidden("#alarm-banner")
    assert page.evaluate("window.__oscillators") == 0

    # the route line is drawn for the team sent, and goes when it arrives
    page.wait_for_function("ConsoleMap.hasRoute()", timeout=10_000)
    detail = page.request.get(f"{site.base}/api/v1/incidents/{mine}").json()
    assignment = detail["assignments"][-1]["id"]
    for step in ("accept", "arrive"):
        r = page.request.post(f"{site.base}/api/v1/assignments/{assignment}/{step}", data={})
        assert r.ok, r.text()
    page.wait_for_selector(f"#board tr[data-id='{mine}'] td.st:text('已到场')")
    page.wait_for_function("!ConsoleMap.hasRoute()", timeout=5_000)
    page.wait_for_timeout(1500)  # and no late route answer brings it back
    assert page.evaluate("ConsoleMap.hasRoute()") is False

    # an IoT alarm from elsewhere rings
    r = page.request.post(f"{site.base}/api/v1/incidents",
                          data={"rescue_code": TWIN_CODES[1], "channel": "alarm"})
    assert r.status == 201, r.text()
    other = r.json()["id"]
    page.wait_for_selector("#alarm-banner:not([hidden])")
    assert page.inner_text("#alarm-banner").startswith(f"新警情！ #{other}")
    assert page.evaluate("window.__oscillators") == 2  # one double beep
    page.click("#btn-lang")
    assert page.inner_text("#alarm-banner").startswith(f"New alarm! #{other}")
    assert "route of the team sent" in page.inner_text(".map-legend")
    shot(page, "console-alarm-legend")
    assert errors == []
    ctx.close()
