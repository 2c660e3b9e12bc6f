"""The crew phone page in Chromium (issue 16 items 7–9): location denied is said and told to
the console; the badge follows the network; a service worker reloads the last job offline and
taps made offline are sent when back; the English switch keeps the team name."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.web.live_site import Site, chromium, running_site, shot
from tests.web.test_live_pages import login

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with running_site(tmp_path_factory.mktemp("crew-web")) as s:
        yield s


@pytest.fixture(scope="module")
def pw() -> Iterator[Any]:
    with chromium() as (playwright, browser):
        yield playwright, browser


def operator(browser: Any, site: Site) -> tuple[Any, Any]:
    desk = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    op = desk.new_page()
    login(op, site.base, site.operator, "/console")
    return desk, op


def offer_job(op: Any, site: Site, code: str) -> int:
    r = op.request.post(f"{site.base}/api/v1/incidents", data={"rescue_code": code, "channel": "call"})
    assert r.ok, r.text()
    incident = r.json()["id"]
    assert op.request.post(f"{site.base}/api/v1/incidents/{incident}/confirm").ok
    return int(incident)


def team_row(op: Any, site: Site) -> dict[str, Any]:
    rows = op.request.get(f"{site.base}/api/v1/teams").json()
    return next(r for r in rows if r["id"] == site.net.a_near)


def test_location_denied_is_said_and_told_to_the_console(site: Site, pw: Any) -> None:
    playwright, browser = pw
    desk, op = operator(browser, site)
    phone = browser.new_context(**playwright.devices["Pixel 5"], locale="zh-CN",
                                permissions=[])  # no geolocation permission
    crew = phone.new_page()
    errors: list[str] = []
    crew.on("pageerror", lambda e: errors.append(str(e)))
    login(crew, site.base, site.crew, "/crew")
    assert crew.inner_text("#team-name") == "并州一组"
    incident = offer_job(op, site, site.net.rescue_code)
    crew.click(".job.offer button[data-step='accept']")
    crew.wait_for_selector("#gps[data-state='denied']", timeout=10_000)
    text = crew.inner_text("#gps")
    assert "无法获取位置" in text and "允许" in text and "正在共享位置" not in text
    shot(crew, "crew-gps-denied")
    for _ in range(50):
        if team_row(op, site)["gps_status"] == "denied":
            break
        crew.wait_for_timeout(100)
    assert team_row(op, site)["gps_status"] == "denied"
    # the operator's team panel says so next to the GPS age, live (no reload)
    op.wait_for_selector(f"#tp-table tr[data-team='{site.net.a_near}'] td.gps .flag.gps-denied",
                         timeout=10_000)
    assert "定位权限被拒绝" in op.inner_text(f"#tp-table tr[data-team='{site.net.a_near}'] td.gps")
    # item 9: English keeps the team's name in the header
    crew.click("#btn-lang")
    assert crew.inner_text("#team-name") == "并州一组"
    assert "location permission was denied" in crew.inner_text("#gps")
    crew.click("#btn-lang")
    assert crew.inner_text("#team-name") == "并州一组"
    assert errors == []
    assert op.request.post(f"{site.base}/api/v1/incidents/{incident}/cancel",
                           data={"reason": "测试结束"}).ok  # the team is free for the next test
    phone.close()
    desk.close()


def test_offline_badge_reload_shows_last_job_and_queues_taps(site: Site, pw: Any) -> None:
    playwright, browser = pw
    desk, op = operator(browser, site)
    phone = browser.new_context(**playwright.devices["Pixel 5"], locale="zh-CN",
                                service_workers="allow", permissions=["geolocation"],
                                geolocation={"longitude": 112.55, "latitude": 37.85})
    crew = phone.new_page()
    login(crew, site.base, site.crew, "/crew")
    offer_job(op, site, site.extra_codes[0])
    crew.wait_for_selector(".job.offer button[data-step='accept']")
    address = crew.inner_text(".job.offer .addr")
    assert crew.evaluate("navigator.serviceWorker.ready.then(() => true)") is True
    crew.wait_for_selector("#conn.live")

    phone.set_offline(True)
    crew.wait_for_selector("#conn.offline")
    assert crew.inner_text("#conn") == "离线"
    crew.reload()
    crew.wait_for_selector("body[data-ready='cached']")
    assert crew.inner_text(".job.offer .addr") == address
    assert crew.is_visible(".job.offer button[data-step='accept']")
    assert crew.is_visible(".job.offer .big-clock")
    assert crew.inner_text("#conn") == "离线"
    assert crew.is_visible("#offline-note")
    shot(crew, "crew-offline")
    crew.click(".job.offer button[data-step='accept']")
    crew.wait_for_selector("#queue:not([hidden])")
    assert crew.inner_text("#queue-n") == "1"

    phone.set_offline(False)
    crew.wait_for_selector("#queue[hidden]", state="attached", timeout=15_000)
    crew.wait_for_selector("button[data-step='arrive']", timeout=15_000)
    crew.wait_for_selector("#conn.live", timeout=15_000)
    phone.close()
    desk.close()
