"""For the live-page tests: a real server (uvicorn subprocess, SQLite file) with a small rescue
network, and Chromium.

Chromium is the system one (``/usr/bin/chromium``, or ``RESCUE_TEST_CHROMIUM``); nothing is
downloaded. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench._server import free_port
from dispatch.db import make_engine
from dispatch.migrate import upgrade
from dispatch.settings import ROOT
from tests import factories
from tests.dispatch import scenario
from tests.dispatch.live_servers import start_server, stop

CHROMIUM = os.environ.get("RESCUE_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
ARTIFACTS = ROOT / "test-artifacts"


@dataclass
class Site:
    base: str
    net: scenario.Scenario
    operator: str
    crew: str
    extra_codes: list[str]
    supervisor: str = "sup-web"


@contextmanager
def running_site(work: Path, extra_env: dict[str, str] | None = None) -> Iterator[Site]:
    url = f"sqlite:///{work / 'web.db'}"
    engine = make_engine(url)
    upgrade(engine)
    from dispatch.db import session_factory

    with session_factory(engine)() as s:
        net = scenario.build(s)
        extra = [factories.make_elevator(s, maintenance_company_id=net.company_id,
                                         location=loc, building=name, address=addr).rescue_code
                 for loc, name, addr in (
                     (scenario.AT_3KM, "滨河东路锦绣苑3号楼",
                      "太原市小店区滨河东路锦绣苑3号楼2单元"),
                     (scenario.AT_4KM, "长风街万达广场B座", "太原市万柏林区长风街万达广场B座"))]
        factories.make_user(s, "operator", username="op-web", display_name="调度员王")
        factories.make_user(s, "crew", username="crew-web", team_id=net.a_near)
        factories.make_user(s, "supervisor", username="sup-web", display_name="值班主管赵")
        s.commit()
    engine.dispose()
    port = free_port()
    env = {
        "RESCUE_DATABASE_URL": url,
        "RESCUE_SECRET_KEY": "web-test-" + "k" * 40,
        "RESCUE_VAR_DIR": str(work / "var"),
        "RESCUE_GEO_CACHE_DIR": str(ROOT / "var" / "geo-cache"),
        "RESCUE_REDIS_URL": "",
        **(extra_env or {}),
    }
    proc = start_server(env, port)
    try:
        yield Site(f"http://127.0.0.1:{port}", net, "op-web", "crew-web", extra)
    finally:
        stop(proc)


@contextmanager
def chromium() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield p, b
        finally:
            b.close()


def shot(page: object, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)  # type: ignore[attr-defined]
    return path
