"""The operator console's rough edges (issue 16, items 2–6), in real Chromium.

Each test drives the console as an operator taking a call would and asserts what is on screen
and what reached the server.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.web.live_site import Site, chromium, running_site, shot

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with running_site(tmp_path_factory.mktemp("console-web")) as s:
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
