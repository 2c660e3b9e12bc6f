"""The operator console and the crew page in real Chromium, end to end.

An operator signs in, records a call from the keyboard and sees it dispatched; a crew member on
an emulated phone accepts and reports arrival; the operator's board shows it within a second,
without a reload. Screenshots of both pages go to ``test-artifacts/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.web.live_site import Site, chromium, running_site, shot

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with running_site(tmp_path_factory.mktemp("live-web")) as s:
        yield s


@pytest.fixture(scope="module")
def pw() -> Iterator[Any]:
    with chromium() as (playwright, browser):
        yield playwright, browser


def login(page: Any, base: str, username: str, path: str) -> None:
    page.goto(f"{base}{path}")
    page.wait_for_url("**/login**")
    page.fill("#username", username)
    page.fill("#password", "test-password-1")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**{path}")
    page.wait_for_selector("body[data-ready='1']", timeout=10_000)


def test_record_dispatch_accept_arrive_live(site: Site, pw: Any) -> None:
    playwright, browser = pw
    desk = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN",
                               timezone_id="Asia/Shanghai")
    op = desk.new_page()
    errors: list[str] = []
    op.on("pageerror", lambda e: errors.append(str(e)))
    login(op, site.base, site.operator, "/console")
    assert op.inner_text("h1") == "电梯困人应急救援调度台"
    assert op.inner_text("#conn") == "实时"
    op.evaluate("window.__sameDocument = true")

    # a call, recorded from the keyboard only
    op.keyboard.press("Alt+n")
    op.keyboard.type(site.net.rescue_code)
    op.wait_for_selector("#f-results li[data-i]")
    op.keyboard.press("Enter")
    assert op.evaluate("document.activeElement.id") == "f-phone"
    op.keyboard.type("13812345678")
    op.keyboard.press("Tab")
    op.keyboard.press("Control+a")
    op.keyboard.type("2")
    op.keyboard.press("Control+Enter")
    row = op.wait_for_selector("#board tbody tr.selected")
    incident = int(row.get_attribute("data-id"))
    op.wait_for_selector(f"#board tr[data-id='{incident}'] td.st:text('已派单')")
    board_row = op.inner_text(f"#board tr[data-id='{incident}']")
    assert "并州一组" in board_row and "待接单" in board_row and "小店区" in board_row
    # the countdown runs and the ranking says why this team
    op.wait_for_selector("#detail h3:text('派单依据（为什么是这支队伍）')")
    ranking = op.inner_text("#detail")
    assert "龙城一组" in ranking and "并州一组" in ranking
    clock = op.inner_text(f"#board tr[data-id='{incident}'] .cd")
    assert clock.count(":") == 1 and clock.startswith(("29:", "30:"))

    # a second call lights up as a new alarm
    extra = site.extra_codes[0]
    op.keyboard.press("Alt+n")
    op.keyboard.type(extra)
    op.wait_for_selector("#f-results li[data-i]")
    op.keyboard.press("Enter")
    op.click("#f-record")
    op.wait_for_selector("#board tbody tr >> nth=1")

    # the crew, on a phone
    phone = browser.new_context(**playwright.devices["Pixel 5"], locale="zh-CN",
                                timezone_id="Asia/Shanghai",
                                geolocation={"longitude": 112.5736, "latitude": 37.8408},
                                permissions=["geolocation"])
    crew = phone.new_page()
    crew.on("pageerror", lambda e: errors.append(str(e)))
    login(crew, site.base, site.crew, "/crew")
    crew.wait_for_selector(".job.offer button[data-step='accept']")
    assert "新任务" in crew.inner_text(".job.offer")
    assert site.net.rescue_code in crew.inner_text(".job.offer")
    shot(crew, "crew-offer")
    crew.click("button[data-step='accept']")
    crew.wait_for_selector("button[data-step='arrive']")
    nav = crew.get_attribute(".nav a[href^='https://uri.amap.com']", "href")
    assert "coordinate=gaode" in nav
    op.wait_for_selector(f"#board tr[data-id='{incident}'] td.st:text('已接单')", timeout=2000)

    crew.click("button[data-step='arrive']")
    op.wait_for_selector(f"#board tr[data-id='{incident}'] td.st:text('已到场')", timeout=5000)
    assert op.evaluate("window.__sameDocument") is True  # no reload happened
    crew.wait_for_selector("button[data-step='release']")
    assert crew.inner_text("#synced") != "—"
    shot(crew, "crew-on-scene")
    op.click(f"#board tr[data-id='{incident}']")
    op.wait_for_selector("#detail .actions-bar")
    shot(op, "console")
    assert errors == []
    desk.close()
    phone.close()


def test_english_switch_and_login_redirect(site: Site, pw: Any) -> None:
    _, browser = pw
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    page = ctx.new_page()
    page.goto(site.base + "/")
    page.wait_for_url("**/login?next=%2Fconsole")
    page.click("#lang")
    assert page.inner_text("button[type=submit]") == "Sign in"
    page.fill("#username", site.operator)
    page.fill("#password", "wrong")
    page.keyboard.press("Enter")
    page.wait_for_selector("#error:text('Wrong user name or password')")
    page.fill("#password", "test-password-1")
    page.keyboard.press("Enter")
    page.wait_for_selector("body[data-ready='1']")
    assert page.inner_text("h1") == "Elevator rescue dispatch"
    assert "Arrival clock" in page.inner_text("#board thead")
    ctx.close()


def test_crew_link_with_a_bad_token_asks_to_sign_in(site: Site, pw: Any) -> None:
    playwright, browser = pw
    ctx = browser.new_context(**playwright.devices["Pixel 5"], locale="zh-CN")
    page = ctx.new_page()
    page.goto(site.base + "/crew?t=not-a-valid-link-token")
    page.wait_for_selector("#link-error:not([hidden])")
    assert "链接已失效" in page.inner_text("#link-error")
    assert page.url.endswith("/crew")  # the token does not stay in the address bar
    ctx.close()
