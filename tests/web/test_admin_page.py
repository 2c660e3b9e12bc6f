"""The registry admin page (/admin) in real Chromium: an admin searches an elevator, edits its
address and finds the change in the change log; a field the importer refuses is shown on the
field; an uploaded file with a bad row shows that row in the dry-run table; a supervisor reads
without any edit button."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dispatch.db import make_engine, session_factory
from tests import factories
from tests.web.live_site import Site, chromium, running_site, shot
from tests.web.test_live_pages import login

pytestmark = pytest.mark.browser
OLD_ADDRESS = "太原市小店区长治路金色家园8号楼"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    work = tmp_path_factory.mktemp("admin-web")
    with running_site(work) as s:
        engine = make_engine(f"sqlite:///{work / 'web.db'}")
        with session_factory(engine)() as db:
            factories.make_user(db, "admin", username="adm-web")
            factories.make_elevator(db, maintenance_company_id=s.net.company_id,
                                    building="金色家园8号楼", address=OLD_ADDRESS)
            db.commit()
        engine.dispose()
        yield s


@pytest.fixture(scope="module")
def pw() -> Iterator[Any]:
    with chromium() as (playwright, browser):
        yield playwright, browser


def desk(browser: Any) -> Any:
    return browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN",
                               timezone_id="Asia/Shanghai")


def test_admin_edits_an_elevator_and_sees_the_change(site: Site, pw: Any) -> None:
    _, browser = pw
    errors: list[str] = []
    page = desk(browser).new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    login(page, site.base, "adm-web", "/admin")
    assert page.inner_text("h1") == "登记信息管理"
    page.fill("#q", "金色家园")
    page.press("#q", "Enter")
    row = "#list tbody tr[data-key]"
    page.wait_for_function("document.querySelectorAll('#list tbody tr[data-key]').length === 1")
    assert "金色家园8号楼" in page.inner_text(row)
    page.click(row)
    page.wait_for_selector("#edit:not([hidden]) input[name='address']")
    assert page.is_disabled("input[name='register_code']")  # the natural key is not edited

    # a value the importer refuses: shown on its field, with the importer's message
    page.fill("input[name='floors']", "999")
    page.click("#btn-save")
    page.wait_for_selector("label.has-error[data-field='floors']")
    assert "1–300" in page.inner_text(".ferr[data-for='floors']")
    page.fill("input[name='floors']", page.get_attribute("input[name='floors']", "value") or "")

    page.fill("input[name='address']", OLD_ADDRESS + "（东门）")
    page.fill("input[name='floors']", "18")
    page.click("#btn-save")
    page.wait_for_selector("#form-ok:has-text('已保存')")
    page.wait_for_selector("#list tbody tr[data-key]:has-text('（东门）')")  # list reloaded
    shot(page, "admin-elevator-saved")

    page.click("#tabs button[data-tab='changes']")
    page.wait_for_selector("#ch-table tbody tr.change")
    first = page.inner_text("#ch-table tbody tr.change")
    assert "adm-web" in first and "admin" in first and "（东门）" in first
    assert first.count(OLD_ADDRESS) == 2  # old → new
    page.select_option("#ch-form select[name='kind']", "zone")
    page.click("#ch-form button[type='submit']")
    page.wait_for_function("!document.querySelector('#ch-table tbody tr.change')")

    page.click("#btn-lang")
    assert page.inner_text("h1") == "Registry administration"
    page.click("#btn-lang")
    assert errors == []


def test_admin_upload_shows_the_bad_row(site: Site, pw: Any, tmp_path: Path) -> None:
    _, browser = pw
    errors: list[str] = []
    page = desk(browser).new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    login(page, site.base, "adm-web", "/admin")
    page.click("#tabs button[data-tab='import']")
    orgs = tmp_path / "organizations.csv"
    orgs.write_text("code,kind,name,phone,region\n"
                    "91140000MA0NEW1,maintenance_company,新维保公司,0351-1234567,\n"
                    "91140000MA0NEW2,castle,坏单位,0351-7654321,\n", encoding="utf-8")
    page.set_input_files("#imp-files", str(orgs))
    page.click("#imp-check")
    page.wait_for_selector("#imp-issues tbody tr.issue")
    issue = page.inner_text("#imp-issues tbody tr.issue")
    assert "organizations.csv" in issue and "3" in issue and "kind" in issue
    assert "maintenance_company" in issue  # the allowed values
    assert page.inner_text("#imp-counts tr[data-kind='organizations'] td.n-errors") == "1"
    assert page.is_disabled("#imp-apply")
    assert "未写入" in page.inner_text("#imp-status")
    shot(page, "admin-import-dry-run")

    page.check("#imp-skip")
    page.click("#imp-check")
    page.wait_for_selector("#imp-apply:not([disabled])")
    page.click("#imp-apply")
    page.wait_for_selector("#imp-status:has-text('已导入')")
    assert page.inner_text("#imp-counts tr[data-kind='organizations'] td.n-created") == "1"
    page.click("#tabs button[data-tab='organizations']")
    page.fill("#q", "新维保")
    page.press("#q", "Enter")
    page.wait_for_selector("#list tbody tr[data-key='91140000MA0NEW1']")
    # a new organization from the form: a missing kind is named on its field
    page.click("#btn-new")
    page.fill("#fields input[name='code']", "91140000MA0NEW3")
    page.fill("#fields input[name='name']", "表单新建维保公司")
    page.click("#btn-save")
    page.wait_for_selector("label.has-error[data-field='kind']")
    assert "maintenance_company" in page.inner_text(".ferr[data-for='kind']")
    page.select_option("#fields select[name='kind']", "maintenance_company")
    page.click("#btn-save")
    page.wait_for_selector("#form-ok:has-text('已新建')")
    assert page.is_disabled("#fields input[name='code']")  # now an existing row
    assert page.get_attribute("#export-link", "href") == "/api/v1/registry/export"
    assert errors == []


def test_supervisor_reads_without_edit_buttons(site: Site, pw: Any) -> None:
    _, browser = pw
    errors: list[str] = []
    page = desk(browser).new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    login(page, site.base, site.supervisor, "/admin")
    page.wait_for_selector("#list tbody tr[data-key]")
    assert page.is_visible("#ro-note")
    page.click("#list tbody tr[data-key]")
    page.wait_for_selector("#edit:not([hidden]) input[name='address']")
    assert page.query_selector("#btn-save") is None
    assert page.query_selector("#btn-new") is None
    assert page.query_selector("#tabs button[data-tab='import']") is None
    assert page.is_disabled("input[name='address']")
    page.click("#tabs button[data-tab='teams']")
    page.wait_for_selector("#list tbody tr[data-key]")
    page.click("#tabs button[data-tab='changes']")
    page.wait_for_selector("#ch-table thead th")
    assert page.query_selector("#tabs button[data-tab='export']") is not None
    assert errors == []
