"""The report as a reader sees it: a real headless Chromium (Debian's `chromium`, driven by
playwright) opens the HTML file offline and finds no console error, no network request, the
Chinese text drawn with the embedded font and every chart; the PDF is turned into images
(pdftoppm) and every page has ink on it. The page comes from the fixture's rows on DuckDB
(test_report.py proves both engines give the same numbers). A screenshot is kept in
docs/report-screenshot.png when GOVSHARE_UPDATE_SCREENSHOT=1."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from report_support import DAY, publish_fixture, write_reference

from common.reference import load_reference
from reports.build import build_report
from reports.render import CHROMIUM_FLAGS, chromium

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _require(tool: str) -> None:
    if shutil.which(tool) is None:
        message = f"{tool} is not installed (.ci/run installs it: apt-get install chromium " \
                  "poppler-utils fonts-noto-cjk)"
        if os.environ.get("GOVSHARE_REQUIRE_SERVERS") == "1":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    _require("chromium")
    _require("pdftoppm")
    from warehouse.migrate import open_warehouse

    root = tmp_path_factory.mktemp("browser")
    engine = open_warehouse(f"duckdb:///{root / 'w.duckdb'}")
    publish_fixture(engine)
    reference = load_reference(write_reference(root / "reference"))
    result = build_report(engine, reference, DAY, root / "out",
                          freshness_limits={"grid.events": 36})
    engine.dispose()
    return result


def test_browser_renders_offline_with_chinese_and_every_chart(built, tmp_path):
    from playwright.sync_api import sync_playwright

    errors, requests = [], []
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=chromium(), headless=True,
            args=CHROMIUM_FLAGS, viewport={"width": 1100, "height": 1600})
        page = context.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        url = built.html.resolve().as_uri()
        page.goto(url, wait_until="load")
        page.evaluate("document.fonts.ready")
        font = page.evaluate("""() => [...document.fonts]
            .filter(f => f.family.replace(/"/g, '') === 'GovshareCJK').map(f => f.status)""")
        drawn = page.evaluate("document.fonts.check('16px GovshareCJK', '需要关注街道排名')")
        charts = page.locator("svg.chart")
        visible = [charts.nth(i).bounding_box() for i in range(charts.count())]
        text = page.inner_text("body")
        cells = page.locator("#grid .cell").count()
        if os.environ.get("GOVSHARE_UPDATE_SCREENSHOT") == "1":
            page.screenshot(path=str(DOCS / "report-screenshot.png"), full_page=False)
        screenshot = page.screenshot(full_page=True)
        context.close()
    assert errors == []
    # The file itself is the only thing loaded (the font is a data: URL inside it).
    assert [r for r in requests if r != url and not r.startswith("data:")] == []
    assert font == ["loaded"] and drawn is True
    assert len(visible) == 3 and all(box and box["width"] > 200 and box["height"] > 30
                                     for box in visible)
    for words in ("今日要点", "需要关注", "街道排名", "向阳街道近 7 天解决率", "社区一览", "计算口径"):
        assert words in text
    assert cells == 6
    assert len(screenshot) > 50_000


def test_pdf_pages_are_not_blank(built, tmp_path):
    from PIL import Image, ImageStat

    assert built.pdf.read_bytes().startswith(b"%PDF")
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(built.pdf), str(tmp_path / "page")],
                   check=True)
    pages = sorted(tmp_path.glob("page*.png"))
    assert len(pages) >= 2
    for page in pages:
        variance = ImageStat.Stat(Image.open(page).convert("L")).var[0]
        assert variance > 50, (page.name, variance)
    fonts = subprocess.run(["pdffonts", str(built.pdf)], capture_output=True, text=True,
                           check=True).stdout
    # Every font is embedded (Chromium writes the page's web font as Type 3 glyphs) and maps
    # back to Unicode: the PDF needs no font on the reader's machine.
    lines = fonts.splitlines()[2:]
    assert lines and all(line.split()[-5:-2] == ["yes", "no", "yes"] for line in lines), fonts
    text = subprocess.run(["pdftotext", str(built.pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "需要关注" in text and "向阳街道" in text
