"""A clerk of 市场监督管理局 in a real browser (Playwright driving Debian's Chromium) against the
portal on a real uvicorn: signs in, downloads the template, uploads the sample licences, waits
while the pipeline answers (run here as the watcher would), downloads the answer workbook, and
cannot see 农业农村局's drop. Screenshots of each step are kept (the test's temporary folder,
`screenshots/`), as the report's browser test keeps its own."""

from __future__ import annotations

import threading
from pathlib import Path

import openpyxl
import pytest
from playwright.sync_api import Browser, Page

from pipelines.config import settings
from pipelines.landing.drops import detect_drops, drop_file
from pipelines.portal.app import build_app
from pipelines.runner import ingest, warehouse
from tests.integration.portal_helpers import PASSWORD, add_accounts, served


def _shot(page: Page, folder: Path, name: str) -> None:
    path = folder / f"{name}.png"
    page.screenshot(path=path, full_page=True)
    assert path.stat().st_size > 5000, f"{name}: a blank screenshot"


def test_a_clerk_delivers_and_reads_the_answer(browser: Browser, yitu_env: Path,
                                                 sample_dir: Path, tmp_path: Path,
                                                 tmp_path_factory: pytest.TempPathFactory) -> None:
    s = settings()
    wh = warehouse(s)
    add_accounts(wh)
    # 农业农村局 delivered through its landing folder: a drop the clerk must never see
    drop_file(s, sample_dir / "farmland_hsf.gpkg", "farmland_hsf")
    [theirs] = detect_drops(s, wh)
    shots = tmp_path_factory.mktemp("screenshots")
    errors: list[str] = []
    with served(build_app(s, wh)) as base:
        context = browser.new_context(accept_downloads=True, locale="zh-CN",
                                      viewport={"width": 1280, "height": 900})
        page = context.new_page()
        # a 404 is an answer here (the favicon, the other department's drop); anything else
        # the console reports, a refused inline script or style above all, is a failure
        page.on("console", lambda m: errors.append(m.text) if m.type == "error"
                and not m.text.startswith("Failed to load resource: the server responded with "
                                          "a status of 404") else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(base + "/")
        assert page.url == base + "/login"
        page.fill("input[name=login]", "amr")
        page.fill("input[name=password]", PASSWORD)
        _shot(page, shots, "1-login")
        page.click("button[type=submit]")
        assert page.locator("h1").inner_text() == "本部门数据集"
        assert page.locator("table.datasets tbody tr").count() == 1  # 证照 only
        _shot(page, shots, "2-datasets")

        page.click("text=证照")
        with page.expect_download() as template:
            page.click("#template")
        got = tmp_path / "template.xlsx"
        template.value.save_as(got)
        assert openpyxl.load_workbook(got, read_only=True).sheetnames[0] == "证照"

        page.set_input_files("input[type=file]", sample_dir / "licenses.xlsx")
        page.click("form.upload button[type=submit]")
        assert page.locator("#state").inner_text() == "已收到"
        _shot(page, shots, "3-received")

        # the watcher's work, while the page refreshes itself
        worker = threading.Thread(target=ingest, args=(s, "licenses"))
        worker.start()
        page.wait_for_selector("#state.state-loaded", timeout=120_000)
        worker.join()
        assert page.locator("#state").inner_text() == "已入库"
        assert page.locator("#counts td").all_inner_texts() == ["800", "776", "24", "16"]
        assert page.locator("#by-rule tbody tr").count() >= 2
        _shot(page, shots, "4-answer")
        with page.expect_download() as workbook:
            page.click("#files a[href$='answer.xlsx']")
        answer = tmp_path / "answer.xlsx"
        workbook.value.save_as(answer)
        assert len(openpyxl.load_workbook(answer, read_only=True).sheetnames) >= 2

        page.goto(base + "/")
        assert page.locator("table.drops tbody tr").count() == 1
        assert theirs.drop_id not in page.content()
        _shot(page, shots, "5-history")
        response = page.goto(f"{base}/drops/{theirs.drop_id}")
        assert response is not None and response.status == 404
        assert page.locator("h1").inner_text() == "页面不存在"
        _shot(page, shots, "6-not-yours")
        context.close()
    assert not errors, errors  # a CSP violation (inline script or style) would show here
    assert len(list(shots.glob("*.png"))) == 6
