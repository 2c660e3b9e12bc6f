"""An unresolved partner transfer reaches the operator's console live (issue 14), in real
Chromium: a 110 centre hands over a report for a rescue code we do not know; the console shows
it at once in the alarm banner (zh-CN), and the report waits in the operators' list."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session

from dispatch.db import make_engine
from dispatch.partners.models import Partner
from dispatch.partners.service import hash_key
from dispatch.telemetry.signing import new_secret, seal
from tests.web.live_site import Site, chromium, running_site, shot
from tests.web.test_live_pages import login

pytestmark = pytest.mark.browser
KEY = "pk_web_test_partner_key_0123456789"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    work = tmp_path_factory.mktemp("partner-web")
    with running_site(work) as s:
        engine = make_engine(f"sqlite:///{work / 'web.db'}")
        with Session(engine) as db:
            db.add(Partner(name="太原110指挥中心", kind="police_110", events=[],
                           api_key_hash=hash_key(KEY), secret_sealed=seal(new_secret(), "x" * 40),
                           enabled=True, paused=False, failures=0))
            db.commit()
        engine.dispose()
        yield s


@pytest.fixture(scope="module")
def pw() -> Iterator[Any]:
    with chromium() as (playwright, browser):
        yield playwright, browser


def test_unresolved_transfer_is_announced_live(site: Site, pw: Any) -> None:
    _, browser = pw
    desk = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN",
                               timezone_id="Asia/Shanghai")
    op = desk.new_page()
    errors: list[str] = []
    op.on("pageerror", lambda e: errors.append(str(e)))
    login(op, site.base, site.operator, "/console")
    r = httpx.post(f"{site.base}/api/v1/partner/incidents",
                   headers={"Authorization": f"Bearer {KEY}"}, timeout=10,
                   json={"external_id": "110-WEB-1", "rescue_code": "999997",
                         "address": "太原市小店区某小区5号楼", "lon": 112.56, "lat": 37.83})
    assert r.status_code == 422 and r.json()["field"] == "rescue_code"
    banner = op.wait_for_selector("#alarm-banner:not([hidden])", timeout=10_000)
    text = banner.inner_text()
    assert "转警未能定位电梯" in text and "110-WEB-1" in text and "太原110指挥中心" in text
    shot(op, "console-partner-unresolved")
    assert errors == []
    desk.close()
