"""The coverage page in real Chromium: map drawn, figures equal to the API, what-if click,
suggestions, a saved plan, a replay; the page is served at /office/coverage (not shadowed by
the office page's /office/{name})."""

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
from dispatch.db import LonLat, make_engine
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
    tmp = tmp_path_factory.mktemp("coverage")
    url = f"sqlite:///{tmp / 'coverage.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with Session(engine) as s:
        hs = handset.build(s)
        x = s.get(factories.Organization, hs.company_x)
        factories.make_team(s, organization=x, base_location=factories.XIAODIAN)
        for f in (0.6, 0.9, 1.0):  # farther elevators, the last beyond the limit
            factories.make_elevator(s, zone_name="小店区", maintenance_company_id=hs.company_x,
                                    location=LonLat(112.605 - f * 0.115, 37.785 + f * 0.11))
        factories.make_user(s, "supervisor", username="sup")
        s.commit()
    settings = Settings(database_url=url, secret_key="browser-test-secret-0123456789abcdef",
                        var_dir=Path(tmp / "var"), geo_cache_dir=tmp / "geo", run_jobs=False,
                        turnout_s=600.0)
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port,
                                        log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
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


def test_coverage_page_what_if_suggest_save_and_replay(server: str, browser) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: errors.append("external " + r.url)
            if not r.url.startswith(server) else None)
    page.goto(f"{server}/office/coverage?from=2026-11-01&to=2026-12-01")
    page.fill("input[name=username]", "sup")
    page.fill("input[name=password]", factories.PASSWORD)
    page.click("#login-form button")
    page.wait_for_selector("body[data-ready='1']", timeout=60_000)
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert "覆盖" in page.locator("h1").inner_text()
    token = page.context.cookies()
    api = httpx.Client(base_url=server, cookies={c["name"]: c["value"] for c in token})
    body = api.get("/api/v1/planning/coverage", params={"points": "false"}).json()
    within = float(page.locator("#plan-tiles").get_attribute("data-within") or "nan")
    assert within == body["today"]["within_share"] < 1.0
    assert page.locator("#unc-n").inner_text() == str(body["uncovered_n"])
    assert page.locator("#t-zones tbody tr").count() == len(body["today"]["zones"])
    # Leaflet drew one circle per elevator and one per base into its canvas renderer
    n_layers = page.evaluate("Object.keys(pointLayer._layers).length")
    assert n_layers == body["today"]["elevators"]
    # what-if: type the far elevator's coordinates in, the plan column appears and improves
    page.fill("#add-form input[name=lon]", str(112.605 - 0.115))
    page.fill("#add-form input[name=lat]", str(37.785 + 0.11))
    page.evaluate("document.body.dataset.ready = '0'")
    page.click("#add-form button")
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)
    assert page.locator("#plan-tiles thead th").count() == 3
    assert float(page.locator("#plan-tiles").get_attribute("data-within") or 0) > within
    # a click on the map adds another station
    page.evaluate("document.body.dataset.ready = '0'")
    page.locator("#map").click(position={"x": 200, "y": 200})
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)
    assert page.evaluate("layout.added.length") == 2
    page.fill("#save-form input[name=name]", "方案一")
    page.click("#save-form button")
    page.wait_for_function("document.querySelector('select[name=plan]').options.length === 2")
    saved = api.get("/api/v1/planning/plans").json()
    assert [p["name"] for p in saved] == ["方案一"] and len(saved[0]["added"]) == 2
    # suggestions on today's layout
    page.click("#reset")
    page.wait_for_selector("body[data-ready='1']")
    page.click("#suggest-form button")
    page.wait_for_selector("body[data-suggested='1']", timeout=30_000)
    assert page.locator("#suggestions li").count() >= 1
    # replay of the hand-built month, with the saved plan
    page.select_option("select[name=plan]", "方案一")
    page.click("#replay-form button")
    page.wait_for_selector("body[data-replayed='1']", timeout=60_000)
    assert page.locator("#t-replay thead th").count() == 4  # label, actual, today, plan
    assert page.locator("#t-replay tbody tr").count() == 5
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "coverage.png"), full_page=True)
    page.goto(f"{server}/office/coverage?lang=en")
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)
    assert page.locator("h1").inner_text().startswith("Rescue coverage")
    assert errors == []
    page.close()
