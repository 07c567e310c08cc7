"""The report as a monitor uses it, in a real headless browser (Playwright driving Debian's
Chromium) with the network cut off: every page opens complete from the folder alone, the
charts carry legends and the maps county outlines, rules read in Chinese with failing rows and
the answer workbook, profiles flag a sudden change, and no personal value appears in clear."""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import openpyxl
import pandas as pd
import pytest
from playwright.sync_api import Browser, Page, Route

from pipelines.config import settings
from pipelines.contracts import load_contract
from pipelines.landing.drops import drop_file
from pipelines.runner import run_all

LOADED, QUARANTINED, RATE = "59a14f", "e15759", "1f77b4"  # charts' series colours
SECOND_DELIVERY_ROWS = 300  # licences resent: fewer rows, 登记机关 left empty


@dataclass
class Site:
    folder: Path
    pages: list[Path]
    samples: Path
    shots: Path
    first_profiles: dict[Path, int]  # profile file -> mtime (ns) after the first run


class _Dom(HTMLParser):
    """Tags with their attributes, and the text of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def attr(self, name: str) -> list[str]:
        return [v for _, a in self.tags if (v := a.get(name))]


def _dom(text: str) -> _Dom:
    dom = _Dom()
    dom.feed(text)
    return dom


def png_colours(data: bytes) -> set[bytes]:
    """Distinct RGB colours of an 8-bit RGB(A) PNG, decoded with zlib alone (no Pillow)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, bytearray(), b""
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        if kind == b"IHDR":
            header = data[pos + 8:pos + 18]
        elif kind == b"IDAT":
            idat += data[pos + 8:pos + 8 + length]
        pos += 12 + length
    width, height, depth, colour_type = struct.unpack(">IIBB", header)
    assert depth == 8 and colour_type in (2, 6), (depth, colour_type)
    bpp = 3 if colour_type == 2 else 4
    raw, stride = zlib.decompress(bytes(idat)), width * bpp
    prev, colours = bytearray(stride), set[bytes]()
    for y in range(height):
        start = y * (stride + 1)
        kind, row = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):  # undo the PNG row filter (RFC 2083, section 6)
            a = row[i - bpp] if i >= bpp else 0
            b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
            if kind == 1:
                row[i] = (row[i] + a) & 255
            elif kind == 2:
                row[i] = (row[i] + b) & 255
            elif kind == 3:
                row[i] = (row[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                row[i] = (row[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        colours.update(bytes(row[i:i + 3]) for i in range(0, stride, bpp))
        prev = row
    return colours


def _resend_licences(samples: Path, out: Path) -> None:
    """A second licences delivery: the first SECOND_DELIVERY_ROWS rows, 登记机关 emptied."""
    book = openpyxl.load_workbook(samples / "licenses.xlsx")
    sheet = book.worksheets[0]
    header = [c.value for c in sheet[2]]
    column = header.index("登记机关") + 1
    sheet.delete_rows(3 + SECOND_DELIVERY_ROWS, sheet.max_row)
    for row in range(3, sheet.max_row + 1):
        sheet.cell(row, column).value = None
    book.save(out)


@pytest.fixture(scope="module")
def site(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Site:
    """The sample drops run once, then a second licences delivery; the report written by the
    second run is what the browser opens."""
    with pytest.MonkeyPatch.context() as mp:
        from tests.conftest import set_yitu_env

        home = tmp_path_factory.mktemp("home")
        set_yitu_env(mp, home, None)
        manifest = json.loads((sample_dir / "manifest.json").read_text("utf-8"))
        for f in manifest["files"]:
            drop_file(settings(), sample_dir / f["file"], f["dataset"])
        assert run_all(settings()).report is not None
        profiles = {p: p.stat().st_mtime_ns
                    for p in (settings().reports / "profiles").rglob("*.json")}
        resend = home / "licenses-resend.xlsx"
        _resend_licences(sample_dir, resend)
        drop_file(settings(), resend, "licenses")
        summary = run_all(settings(), dataset="licenses")
        assert summary.report is not None
        shots = tmp_path_factory.mktemp("screenshots")
        return Site(summary.report.index.parent, summary.report.pages, sample_dir, shots,
                    profiles)


@dataclass
class Visit:
    page: Page
    blocked: list[str]
    failed: list[str]
    errors: list[str]


def _offline(browser: Browser) -> Visit:
    """A page whose every request off the local disk is aborted and recorded."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    visit = Visit(page, [], [], [])

    def only_files(route: Route) -> None:
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            visit.blocked.append(route.request.url)
            route.abort()

    context.route("**/*", only_files)
    page.on("requestfailed", lambda r: visit.failed.append(r.url))
    page.on("console", lambda m: visit.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: visit.errors.append(str(exc)))
    return visit


def test_every_page_opens_offline_and_complete(site: Site, browser: Browser) -> None:
    on_disk = sorted(site.folder.glob("*.html"))
    assert sorted(site.pages) == on_disk
    names = {p.name for p in on_disk}
    assert {"index.html", "maps.html", "assessment.html", "dataset-licenses.html"} <= names
    assert any(n.startswith("assessment-20") for n in names), "no page per quarter"
    visit = _offline(browser)
    for path in on_disk:
        visit.page.goto(path.as_uri(), wait_until="load")
        assert visit.page.locator("h1").count() == 1, path.name
        assert visit.page.locator("nav.site a").count() == 3, path.name
        assert visit.page.evaluate("document.styleSheets.length") == 1, "report.css not loaded"
        visit.page.screenshot(path=site.shots / f"{path.stem}.png", full_page=True)
    assert not visit.blocked, f"pages asked the network for {visit.blocked}"
    assert not visit.failed, f"requests failed: {visit.failed}"
    assert not visit.errors, visit.errors
    assert len(list(site.shots.glob("*.png"))) == len(on_disk)


def test_charts_have_legends_and_maps_county_outlines(site: Site, browser: Browser) -> None:
    visit = _offline(browser)
    page = visit.page
    page.goto((site.folder / "dataset-licenses.html").as_uri())
    charts = page.locator("svg.chart")
    assert charts.count() == 2
    labels = page.locator("svg.chart g.legend text").all_text_contents()
    assert labels == ["入库", "隔离", "合格率"]
    assert page.locator("svg.chart rect.bar").count() == 4  # two deliveries, two stacks each
    shot = charts.first.screenshot()
    colours = png_colours(shot)
    assert bytes.fromhex(LOADED) in colours and bytes.fromhex(QUARANTINED) in colours
    assert bytes.fromhex(RATE) in png_colours(charts.nth(1).screenshot())

    page.goto((site.folder / "maps.html").as_uri())
    figures = page.locator("figure.layer")
    assert figures.count() == 7, "one preview per published layer"
    for i in range(figures.count()):
        figure = figures.nth(i)
        name = figure.get_attribute("id")
        assert figure.locator("path.county").count() >= 20, f"{name}: no county outlines"
        box = figure.locator("path.county").first.bounding_box()
        assert box and box["width"] > 5, f"{name}: outlines not drawn"
        legend = figure.locator("ul.legend li").all_inner_texts()
        assert legend, f"{name}: no legend"
    base = page.locator("#layer-farmland_base_map ul.legend li").all_inner_texts()
    assert "仅高标准农田（不在永久基本农田内）" in base and "hsf_only" not in " ".join(base)
    profile = page.locator("#layer-enterprise_profile ul.legend li").all_inner_texts()
    assert profile == ["是", "否"]
    assert not visit.blocked and not visit.failed


def test_rules_read_in_chinese_with_failing_rows_and_the_workbook(site: Site) -> None:
    page = (site.folder / "dataset-licenses.html").read_text("utf-8")
    first = page.index("id='drop-", page.index("id='drop-") + 1)  # the first delivery
    earlier = page[first:]
    assert "统一社会信用代码校验位错误" in earlier and "不在代码表中" in earlier
    assert "允许的值：460105（秀英区）" in earlier  # the requirement, from the contract
    assert "请从代码表中选择" in earlier  # the fix, as the answer workbook says it
    assert earlier.count("第 ") >= 3, "no failing rows shown"
    assert "Data asset" not in page and "value_set" not in page and "kwargs" not in page
    dom = _dom(earlier)
    workbooks = [h for h in dom.attr("href") if h.endswith("answer.xlsx")]
    assert workbooks, "no link to the answer workbook"
    assert (site.folder / unquote(workbooks[0])).resolve().is_file()


def test_the_profile_flags_the_sudden_change_of_the_second_delivery(site: Site) -> None:
    page = (site.folder / "dataset-licenses.html").read_text("utf-8")
    latest = page[page.index("id='drop-"):page.index("id='drop-", page.index("id='drop-") + 1)]
    moved = latest[latest.index("与上一期入库报送相比"):]
    row = moved[moved.index("<td>djjg</td>"):].split("</tr>")[0]
    assert "空值率" in row and "100.0%" in row and "突变" in row
    assert "处突变" in latest  # the delivery's summary line says so without opening it


def test_a_delivery_is_profiled_once(site: Site) -> None:
    """The report runs after every run: the deliveries profiled before are not read again."""
    assert len(site.first_profiles) == 5  # the five sample files, each loaded
    for path, mtime in site.first_profiles.items():
        assert path.stat().st_mtime_ns == mtime, f"{path.name} profiled again"
    licences = sorted((site.folder / "profiles" / "licenses").glob("*.json"))
    assert len(licences) == 2


def _clear_personal_values(samples: Path) -> set[str]:
    """The callers' names, phones and ID numbers as the department sent them."""
    contract = load_contract("complaints")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            frame = pd.read_csv(samples / "complaints.csv", dtype=str, encoding=encoding)
            break
        except UnicodeDecodeError:
            continue
    values: set[str] = set()
    for f in contract.fields:
        if f.pii:
            names = [n for n in (f.code, f.label, *f.aliases) if n in frame.columns]
            assert names, f"{f.code} not in the sample file"
            values |= {v for v in frame[names[0]].dropna() if len(v) >= 2}
    assert len(values) > 100
    return values


def test_no_personal_value_in_clear_anywhere_in_the_report(site: Site) -> None:
    clear = _clear_personal_values(site.samples)
    text = "".join(p.read_text("utf-8") for p in site.pages)
    text += (site.folder / "quality.json").read_text("utf-8")
    text += "".join(p.read_text("utf-8") for p in (site.folder / "profiles").rglob("*.json"))
    leaked = [v for v in clear if v in text]
    assert not leaked, f"personal values in the report: {leaked[:5]}"


def test_quarters_are_chosen_by_links_and_rank_counties_and_targets(site: Site) -> None:
    quarters = sorted(site.folder.glob("assessment-20*.html"))
    latest = (site.folder / "assessment.html").read_text("utf-8")
    assert latest == quarters[-1].read_text("utf-8")
    dom = _dom(latest)
    selector = [h for h in dom.attr("href") if h.startswith("assessment-")]
    assert sorted(selector) == [q.name for q in quarters]
    assert "县区排名" in latest and "名次变化" in latest
    assert "未达到满意率目标" in latest or "所有县区的满意率均达到目标" in latest
    rows = latest[latest.index("class='ranking counties'"):].split("</table>")[0]
    assert rows.count("<tr>") == 1 + 24  # header + one per county of the region


def test_pages_are_csp_friendly_and_every_link_resolves(site: Site) -> None:
    for path in site.pages:
        text = path.read_text("utf-8")
        dom = _dom(text)
        tags = {t for t, _ in dom.tags}
        assert "script" not in tags and "style" not in tags, path.name
        inline: list[Any] = [(t, k) for t, a in dom.tags for k in a
                             if k.startswith("on") or k == "style"]
        assert not inline, f"{path.name}: inline handlers or styles {inline[:3]}"
        ids = set(dom.attr("id"))
        for href in dom.attr("href"):
            url = urlsplit(href)
            assert not url.scheme, f"{path.name}: absolute link {href!r}"
            if not url.path:
                assert url.fragment in ids, f"{path.name}: no anchor for {href!r}"
                continue
            target = (path.parent / unquote(url.path)).resolve()
            assert target.is_file(), f"{path.name}: {href!r} -> {target} does not exist"
        assert not dom.attr("src"), f"{path.name} loads something at view time"
