"""The report in a real headless browser (Debian's Chromium): the page loads with its sections,
the charts and maps render, and every link resolves to a file beside it."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from pipelines.config import settings
from pipelines.landing.drops import drop_file
from pipelines.runner import run_all

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]
SECTIONS = ["overview", "timeliness", "scorecard", "datasets", "maps"]
CHART_COLOURS = {"入库": "59a14f", "隔离": "e15759", "合格率": "1f77b4"}  # from charts/sections


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("Chromium is not installed; `bash .ci/install` installs Debian's chromium")
    return found


def _browse(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp / "chromium-profile"
    profile.mkdir(exist_ok=True)
    done = subprocess.run([_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


class _Dom(HTMLParser):
    """Tag counts, ids and links of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def count(self, tag: str, cls: str | None = None) -> int:
        return sum(1 for t, a in self.tags if t == tag and (cls is None or a.get("class") == cls))

    def attr(self, name: str) -> list[str]:
        return [v for _, a in self.tags if (v := a.get(name))]


def _dom(text: str) -> _Dom:
    dom = _Dom()
    dom.feed(text)
    return dom


def png_colours(path: Path) -> set[bytes]:
    """Distinct RGB colours of an 8-bit RGB(A) PNG, decoded with zlib alone (no Pillow)."""
    data = path.read_bytes()
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


@pytest.fixture(scope="module")
def report(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample drops run once; the report written by the run is what the browser opens."""
    with pytest.MonkeyPatch.context() as mp:
        from tests.conftest import set_yitu_env

        set_yitu_env(mp, tmp_path_factory.mktemp("home"), None)
        manifest = json.loads((sample_dir / "manifest.json").read_text("utf-8"))
        for f in manifest["files"]:
            drop_file(settings(), sample_dir / f["file"], f["dataset"])
        summary = run_all(settings())
        assert summary.report is not None
        return summary.report.index


def test_the_page_loads_with_its_sections_charts_and_maps(report: Path, tmp_path: Path) -> None:
    dom_text = _browse(tmp_path, "--dump-dom", report.as_uri()).stdout
    dom = _dom(dom_text)
    assert "一图 数据质量报告" in dom_text
    ids = set(dom.attr("id"))
    assert set(SECTIONS) <= ids
    assert "永久基本农田面积减少" in dom_text
    for label in ("按时", "完整性", "有效性", "及时性"):
        assert label in dom_text
    # five datasets, each with a bar chart and a pass-rate chart
    assert dom.count("svg", "chart") == 10
    assert dom.count("rect", "bar") >= 10 and dom.count("circle", "dot") >= 5
    # one map per published layer, with shapes in it
    assert dom.count("figure", "layer") == 6
    assert dom.count("path", "feature") + dom.count("circle", "feature") > 1000


def test_the_screenshot_shows_the_charts(report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    _browse(tmp_path, "--window-size=1280,2400", f"--screenshot={shot}", report.as_uri())
    assert shot.stat().st_size > 20_000
    colours = png_colours(shot)
    assert len(colours) > 50, "the screenshot is (nearly) blank"
    missing = {k: v for k, v in CHART_COLOURS.items() if bytes.fromhex(v) not in colours}
    assert not missing, f"chart colours not on screen: {missing}"


def test_every_link_resolves_and_nothing_is_fetched(report: Path, tmp_path: Path) -> None:
    page = report.read_text("utf-8")
    dom = _dom(page)
    hrefs = dom.attr("href")
    assert any("rejections.csv" in h for h in hrefs)
    assert any("data_docs" in h for h in hrefs)
    ids = set(dom.attr("id"))
    for href in hrefs:
        url = urlsplit(href)
        assert not url.scheme, f"absolute link {href!r} (the folder could not be copied)"
        if not url.path:
            assert url.fragment in ids, f"no anchor for {href!r}"
            continue
        target = (report.parent / unquote(url.path)).resolve()
        assert target.is_file(), f"{href!r} -> {target} does not exist"
    assert not dom.attr("src"), "the page loads something at view time"
    docs = next(h for h in hrefs if "data_docs" in h)
    docs_dom = _browse(tmp_path, "--dump-dom", (report.parent / docs).resolve().as_uri()).stdout
    assert "Great Expectations" in docs_dom
