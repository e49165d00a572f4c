"""``xasflow serve`` in a real browser: headless Debian Chromium driven by Playwright, network off.

Needs the ``chromium`` executable (``apt-get install chromium``; ``.ci/run`` installs it): skipped
locally without it, a failure under ``CI=true``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import urlparse

import pytest

from web_server import CIF, REFERENCE, live_server, web_modules
from xasflow.cli.main import main

pytestmark = pytest.mark.browser
web_modules()

REPO = Path(__file__).resolve().parents[1]
SCREENSHOT = REPO / "docs" / "img" / "web.png"
CANDIDATE = REFERENCE / "CuO_tenorite.cif"
OUT_OF_DOMAIN = REFERENCE / "Cr_metal.cif"  # its Cr site is outside the Cr model's training domain


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    problem = None if path else "chromium not on PATH (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problem = "playwright missing (pip install playwright)"
    if problem:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"browser test cannot run under CI: {problem}")
        pytest.skip(problem)
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with live_server({"tmp_dir": tmp_path_factory.mktemp("server-tmp")}) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    executable = _chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture()
def page(browser, server):
    """A page of the server; every request elsewhere is aborted and recorded."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    outside: list[str] = []

    def guard(route) -> None:
        if urlparse(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", guard)
    page.outside_requests = outside
    page.goto(server)
    page.wait_for_selector("#status.ok", timeout=30_000)
    yield page
    context.close()
    assert outside == [], f"the page tried to reach the network: {outside}"


def _payload(path: Path) -> dict:
    return {"name": path.name, "mimeType": "chemical/x-cif", "buffer": path.read_bytes()}


def _cli_csv(tmp_path: Path, files: list[Path]) -> bytes:
    for file in files:
        shutil.copy(file, tmp_path / file.name)
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        main(["predict", *(f.name for f in files), "--out", "cli.csv"])
    finally:
        os.chdir(old)
    return (tmp_path / "cli.csv").read_bytes()


def test_predict_plot_table_errors_and_csv_download(page, tmp_path):
    garbage = {"name": "notes.cif", "mimeType": "text/plain", "buffer": b"this is not a crystal structure\n"}
    page.set_input_files("#files", [_payload(CIF), _payload(CANDIDATE), garbage, _payload(OUT_OF_DOMAIN)])
    page.click("#predict-button")
    page.wait_for_selector("#progress-text:has-text('4 of 4 files done')", timeout=180_000)
    page.wait_for_selector("#charts .js-plotly-plot .main-svg", timeout=30_000)
    assert page.locator("#chart-Cu .scatterlayer .trace").count() >= 2 * 3  # two bands and two means
    rows = page.locator("#sites-table tbody tr")
    assert rows.count() >= 2
    table = page.inner_text("#sites-table")
    assert "Cu2O_cuprite.cif" in table and "CuO_tenorite.cif" in table
    errors = page.inner_text("#predict-errors")
    assert "notes.cif: cannot read structure" in errors
    # Out of domain: dashed in its chart, flagged in the table and warned about, as the CLI does.
    page.wait_for_selector("#chart-Cr .js-plotly-plot .main-svg, #chart-Cr.js-plotly-plot .main-svg")
    assert "out of domain" in page.inner_text("#chart-Cr")
    assert page.locator("#chart-Cr .scatterlayer path.js-line[style*='stroke-dasharray']").count() == 1
    assert page.locator("#chart-Cu .scatterlayer path.js-line[style*='stroke-dasharray']").count() == 0
    assert page.locator("#sites-table tbody tr.ood").count() == 1
    assert "Cr_metal.cif: Cr site(s) 0" in page.inner_text("#predict-warnings")

    with page.expect_download() as download:
        page.click("#download-csv")
    downloaded = tmp_path / "page.csv"
    download.value.save_as(downloaded)
    (tmp_path / "cli").mkdir()
    assert downloaded.read_bytes() == _cli_csv(tmp_path / "cli", [CIF, CANDIDATE, OUT_OF_DOMAIN])


def test_match_ranking_overlay_and_screenshot(page, experiment_root):
    measured = experiment_root / "Cu" / "Cu2S_13K_01.xdi"
    page.set_input_files("#files", [str(CIF), str(CANDIDATE)])
    page.click("#predict-button")
    page.wait_for_selector("#progress-text:has-text('2 of 2 files done')", timeout=180_000)
    page.set_input_files("#measured", str(measured))
    page.set_input_files("#candidates", [str(CIF)])
    page.select_option("#match-element", "Cu")
    page.check("#reference")
    page.check("#mix")
    page.click("#match-button")
    page.wait_for_selector("#ranking-table tbody tr", timeout=300_000)
    ranking = page.locator("#ranking-table tbody tr")
    assert ranking.count() >= 5  # the upload and the embedded Cu references
    assert ranking.first.locator("td").nth(0).inner_text() == "1"
    assert "Cu2S" in page.inner_text("#ranking-table")
    confidences = [float(t) for t in ranking.locator("td:nth-child(5)").all_inner_texts()]
    assert all(0 <= c <= 1 for c in confidences) and confidences == sorted(confidences, reverse=True)
    assert "lower is better" in page.inner_text("#ranking-note")
    assert "Mixture:" in page.inner_text("#mixture")
    page.wait_for_selector("#overlay.js-plotly-plot .main-svg")
    assert page.locator("#overlay .scatterlayer .trace").count() >= 4
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert SCREENSHOT.stat().st_size > 20_000
