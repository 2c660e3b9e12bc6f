"""The office page in real Chromium: login, tiles equal to the API, charts drawn, exports.

Runs against a real uvicorn server on a SQLite file with the hand-computed data set, so the
tiles can be checked against the figures worked out by hand in tests/dispatch/reports.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy.orm import Session

from bench._server import free_port
from dispatch.app import create_app
from dispatch.db import make_engine
from dispatch.migrate import upgrade
from dispatch.settings import ROOT, Settings
from tests import factories
from tests.dispatch.reports import handset

pytestmark = pytest.mark.browser
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("office")
    url = f"sqlite:///{tmp / 'office.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with Session(engine) as s:
        handset.build(s)
        factories.make_user(s, "office", username="office_city")
        factories.make_user(s, "office", username="office_qx", region="清徐县")
        factories.make_user(s, "operator", username="op_desk", display_name="调度员钱")
        s.commit()
    settings = Settings(database_url=url, secret_key="browser-test-secret-0123456789abcdef",
                        var_dir=Path(tmp / "var"), run_jobs=False)
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port,
                                        log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            if httpx.get(base + "/healthz").status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    yield base
    srv.should_exit = True
    thread.join(10)
    engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def login(page, base: str, username: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/office?from=2026-11-01&to=2026-12-01")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", factories.PASSWORD)
    page.click("#login-form button")
    page.wait_for_selector("body[data-ready='1']", timeout=20_000)


def test_office_page_shows_the_hand_computed_figures(server: str, browser) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1500})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: errors.append("external " + r.url)
            if not r.url.startswith(server) else None)
    login(page, server, "office_city")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert "响应时效考核" in page.locator("h1").inner_text()
    tile = lambda k: page.locator(f".tile[data-kpi='{k}'] .v").inner_text()  # noqa: E731
    assert tile("entrapments") == "8"
    assert tile("r3") == "66.7%"          # 6 of 9 level-1 offers within 180 s
    assert tile("arr") == "71.4%"         # 5 of 7
    assert tile("arr_p50") == "26.7 分"   # 1600 s
    assert tile("l1") == "87.5%"
    assert page.locator(".tile[data-kpi='arr'] .n").inner_text() == "n = 7"
    # the charts were drawn by the vendored Chart.js
    for cid in ("c-hist", "c-trend", "c-district", "c-hour"):
        assert page.evaluate(f"!!Chart.getChart(document.getElementById('{cid}'))"), cid
    assert page.evaluate("Chart.getChart(document.getElementById('c-hist'))"
                         ".data.datasets[0].data.reduce((a, b) => a + b, 0)") == 8
    rows = page.locator("#t-elevators tbody tr")
    assert rows.count() == 1 and "三无" in rows.first.inner_text()
    assert page.locator("#t-companies tbody tr").first.inner_text().startswith("乙维保公司")
    href = page.locator(".exports[data-table='companies'] a").first.get_attribute("href")
    assert href.startswith("/api/v1/reports/export/companies.csv?")
    with page.expect_download() as dl:
        page.locator(".exports[data-table='summary'] a", has_text="XLSX").click()
    assert dl.value.suggested_filename.endswith(".xlsx")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "office.png"), full_page=True)
    assert errors == []
    page.close()


def test_a_district_office_sees_only_its_district(server: str, browser) -> None:
    page = browser.new_page()
    login(page, server, "office_qx")
    assert page.locator("select[name=district] option").all_inner_texts() == ["清徐县"]
    assert page.locator(".tile[data-kpi='entrapments'] .v").inner_text() == "2"
    assert page.locator("#t-summary tbody tr").count() == 1
    page.goto(f"{server}/office?lang=en&from=2026-11-01&to=2026-12-01")
    page.wait_for_selector("body[data-ready='1']")
    assert page.locator("h1").inner_text().startswith("Elevator entrapment")
    page.close()


def test_a_wrong_role_is_told_who_may_see_the_page_and_can_sign_out(server: str,
                                                                    browser) -> None:
    page = browser.new_page()
    page.goto(f"{server}/office")
    page.fill("input[name=username]", "op_desk")
    page.fill("input[name=password]", "wrong-password")
    page.click("#login-form button")
    page.wait_for_selector("#login-error:text('用户名或密码错误')")
    page.fill("input[name=password]", factories.PASSWORD)
    page.click("#login-form button")
    page.wait_for_selector("body[data-ready='denied']", timeout=20_000)
    text = page.locator("#denied").inner_text()
    assert "无权查看" in text and "监管部门" in text and "调度员" in text and "调度员钱" in text
    assert page.locator("#app").is_hidden()
    assert page.locator("#logout").inner_text() == "退出"
    page.click("#denied-logout")
    page.wait_for_selector("#login:not([hidden])")
    page.goto(f"{server}/office?lang=en")
    page.fill("input[name=username]", "op_desk")
    page.fill("input[name=password]", "wrong-password")
    page.click("#login-form button")
    page.wait_for_selector("#login-error:text('Wrong user name or password')")
    page.close()


def test_an_office_signs_out_from_the_header(server: str, browser) -> None:
    page = browser.new_page()
    login(page, server, "office_city")
    page.click("#logout")
    page.wait_for_selector("#login:not([hidden])")
    assert page.locator("#app").is_hidden()
    page.close()


def test_trend_marks_small_n_and_a_failed_query_greys_out_the_old_figures(server: str,
                                                                          browser) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1500})
    login(page, server, "office_city")
    trend = "Chart.getChart(document.getElementById('c-trend'))"
    # the hand-computed set has n = 7 in its month: a small-n point, with n in the tooltip
    assert page.locator("#c-trend").get_attribute("data-small-n") == "2026-11"
    assert page.evaluate(f"{trend}.data.datasets[0].ns") == [7]
    assert page.evaluate(f"{trend}.data.datasets[0].pointBackgroundColor") == ["#fff"]
    label = page.evaluate(f"{trend}.options.plugins.tooltip.callbacks.label("
                          f"{{dataset: {trend}.data.datasets[0], dataIndex: 0, raw: 0.714}})")
    assert "n = 7" in label and "样本少" in label
    before = page.locator(".tile[data-kpi='entrapments'] .v").inner_text()
    page.route("**/api/v1/reports/summary**", lambda route: route.fulfill(
        status=503, content_type="application/problem+json",
        body='{"title": "Database unavailable", "status": 503}'))
    page.click("#filters button[type=submit]")
    page.wait_for_selector("body[data-ready='error']")
    assert "加载失败" in page.locator("#status").inner_text()
    assert "Database unavailable" in page.locator("#status").inner_text()
    assert "main.stale" == page.evaluate("document.querySelector('main.stale') ? 'main.stale' : ''")
    assert page.locator(".tile[data-kpi='entrapments'] .v").inner_text() == before
    assert float(page.evaluate("getComputedStyle(document.querySelector('.tiles')).opacity")) < 0.5
    page.unroute("**/api/v1/reports/summary**")
    page.click("#filters button[type=submit]")
    page.wait_for_selector("body[data-ready='1']")
    assert page.evaluate("document.querySelector('main.stale')") is None
    page.close()
