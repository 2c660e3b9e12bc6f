"""Teams on and off duty in real Chromium: the crew's 上班/下班 switch, the console's team
panel updating live, a supervisor's change with a reason reaching the crew's phone, and the
switch refusing to go off duty while a job is open."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.web.live_site import Site, chromium, running_site, shot
from tests.web.test_live_pages import login

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with running_site(tmp_path_factory.mktemp("duty-web")) as s:
        yield s


@pytest.fixture(scope="module")
def pw() -> Iterator[Any]:
    with chromium() as (playwright, browser):
        yield playwright, browser


def test_crew_switch_and_team_panel_live(site: Site, pw: Any) -> None:
    playwright, browser = pw
    errors: list[str] = []
    desk = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN",
                               timezone_id="Asia/Shanghai")
    op = desk.new_page()
    op.on("pageerror", lambda e: errors.append(str(e)))
    login(op, site.base, site.operator, "/console")
    team = site.net.a_near
    row = f"#tp-table tr[data-team='{team}']"
    op.wait_for_selector(f"{row} td.duty:has-text('上班')")
    assert "并州电梯维保有限公司" in op.inner_text(row) and "维保 1/2级" in op.inner_text(row)
    assert op.query_selector(f"{row} button.tp-act") is None  # operators do not change duty
    op.evaluate("window.__sameDocument = true")

    phone = browser.new_context(**playwright.devices["Pixel 5"], locale="zh-CN",
                                timezone_id="Asia/Shanghai")
    crew = phone.new_page()
    crew.on("pageerror", lambda e: errors.append(str(e)))
    login(crew, site.base, site.crew, "/crew")
    assert crew.get_attribute("#duty-on", "aria-pressed") == "true"
    assert crew.inner_text("#duty-on") == "上班" and crew.inner_text("#duty-off") == "下班"
    crew.click("#duty-off")
    crew.wait_for_selector("#duty-off[aria-pressed='true']")
    assert "已下班" in crew.inner_text("#duty-note")
    shot(crew, "crew-off-duty")

    # the console's panel changes without a reload
    op.wait_for_selector(f"{row} td.duty:has-text('下班')", timeout=2000)
    assert "本队 crew-web" in op.inner_text(f"{row} td.duty")
    assert op.evaluate("window.__sameDocument") is True
    op.select_option("#tp-filter", "off")
    assert op.eval_on_selector_all("#tp-table tr[data-team]", "rs => rs.map(r => r.dataset.team)") \
        == [str(team)]
    op.select_option("#tp-filter", "all")
    op.fill("#tp-search", "龙城")
    assert op.eval_on_selector_all("#tp-table tr[data-team]", "rs => rs.map(r => r.dataset.team)") \
        == [str(site.net.b_near)]
    op.fill("#tp-search", "")

    # a supervisor puts the team back on duty with a reason; the crew's phone follows live
    desk2 = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN",
                                timezone_id="Asia/Shanghai")
    sup = desk2.new_page()
    sup.on("pageerror", lambda e: errors.append(str(e)))
    login(sup, site.base, site.supervisor, "/console")
    sup.click(f"{row} button.tp-act:has-text('设为上班')")
    sup.click("#tp-form button[type='submit']")  # no reason: the browser refuses
    assert sup.query_selector("#tp-form") is not None
    sup.fill("#tp-form input[name='reason']", "夜间加班")
    sup.press("#tp-form input[name='reason']", "Enter")
    sup.wait_for_selector(f"{row} td.duty:has-text('上班')")
    crew.wait_for_selector("#duty-on[aria-pressed='true']", timeout=2000)
    assert "主管 sup-web" in crew.inner_text("#duty-note")
    assert "夜间加班" in crew.inner_text("#duty-note")
    op.wait_for_selector(f"{row} td.duty:has-text('夜间加班')", timeout=2000)
    shot(sup, "console-team-panel")

    # with a job in hand the switch cannot go off duty, and says why
    r = op.request.post(f"{site.base}/api/v1/incidents",
                        data={"rescue_code": site.net.rescue_code, "channel": "call"})
    incident = r.json()["id"]
    op.request.post(f"{site.base}/api/v1/incidents/{incident}/confirm")
    crew.wait_for_selector(".job.offer")
    crew.wait_for_selector("#duty-off:disabled")
    assert f"#{incident}" in crew.inner_text("#duty-note")
    op.wait_for_selector(f"{row} td.job a[data-incident='{incident}']")
    sup.wait_for_selector(f"{row} button.tp-act:disabled")

    crew.click("#btn-lang")  # English labels in English mode
    assert crew.inner_text("#duty-on") == "On duty" and crew.inner_text("#duty-off") == "Off duty"
    assert "Finish the open job" in crew.inner_text("#duty-note")
    assert errors == []
    phone.close()
    desk2.close()
    desk.close()
