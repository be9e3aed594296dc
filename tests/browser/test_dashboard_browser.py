"""The dashboard in a real headless Chromium (Debian chromium + chromium-driver, installed by .ci/run).

Opens a deep link to a demo study (uncached: the background job's progress bar shows first), checks the circles
are drawn, moves the sight-sensitivity slider with the keyboard and checks the circles follow without a single
request to the server; compares two thresholds side by side; uploads a PNG with a typed report and sees it
explained; a bad upload is an alert and the page keeps working; the console stays clean throughout.
"""

from __future__ import annotations

import sys

import pytest

from tests.serving import ROOT, free_port, serving

selenium = pytest.importorskip("selenium")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from tests.browser.conftest import CHROMEDRIVER, CHROMIUM  # noqa: E402

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER), reason="Debian chromium + chromium-driver are not installed (.ci/run installs them)"
)


@pytest.fixture(scope="module")
def dashboard_url(tmp_path_factory):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "app.py", "--port", str(port), "--cache-dir", str(tmp_path_factory.mktemp("cache"))]
    with serving(command, url, log_path=tmp_path_factory.mktemp("server") / "server.log"):
        yield url


def _summary(driver) -> str:
    return driver.find_element(By.ID, "circle-summary").text


def _server_requests(driver) -> int:
    return driver.execute_script(
        "return performance.getEntriesByType('resource')"
        ".filter(entry => entry.name.includes('_dash-update-component')).length"
    )


def _progress_visible(driver) -> bool:
    return driver.execute_script(
        "const panel = document.getElementById('progress-panel'); return panel ? panel.style.display : null") == "block"


def _circle_count(driver, graph_id: str = "xray-graph") -> int:
    return driver.execute_script(
        f"const graph = document.querySelector('#{graph_id} .js-plotly-plot');"
        "return graph && graph.layout && graph.layout.shapes ? graph.layout.shapes.length : -1")


def _severe_console_entries(driver) -> list:
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def test_deep_link_draws_circles_and_the_slider_moves_them_in_the_browser(dashboard_url, browser):
    browser.get(f"{dashboard_url}/?study=CXR90011&threshold=0.3")
    # Not in the fresh cache: the background job shows its progress bar, then the circles appear.
    WebDriverWait(browser, 60).until(_progress_visible)
    WebDriverWait(browser, 120).until(lambda driver: "τ = 0.30" in _summary(driver))
    assert not _progress_visible(browser)
    shapes = browser.execute_script(
        "return document.querySelector('#xray-graph .js-plotly-plot').layout.shapes.length")
    assert shapes >= 1
    assert "CXR90011" in browser.find_element(By.ID, "study-picker").text
    before_summary, before_requests = _summary(browser), _server_requests(browser)

    handle = browser.find_element(By.CSS_SELECTOR, "#sight-sensitivity [role=slider]")
    handle.click()
    for _ in range(10):
        handle.send_keys(Keys.ARROW_RIGHT)
    WebDriverWait(browser, 10).until(lambda driver: "τ = 0.30" not in _summary(driver))

    assert _summary(browser) != before_summary
    assert _server_requests(browser) == before_requests  # no round trip per slider move
    assert _severe_console_entries(browser) == []


def test_side_by_side_shows_the_study_at_a_second_threshold(dashboard_url, browser):
    browser.get(f"{dashboard_url}/?study=CXR90011&threshold=0.7")
    WebDriverWait(browser, 60).until(lambda driver: "τ = 0.70" in _summary(driver))
    requests_before = _server_requests(browser)
    browser.execute_script("document.getElementById('compare-mode').click()")
    compare_summary = lambda driver: driver.find_element(By.ID, "circle-summary-compare").text  # noqa: E731
    WebDriverWait(browser, 10).until(lambda driver: "τ = 0.30" in compare_summary(driver))
    assert _circle_count(browser, "xray-graph-compare") >= 1
    image = "return document.querySelector('#{} .js-plotly-plot').layout.images[0].source.length"
    assert browser.execute_script(image.format("xray-graph-compare")) == browser.execute_script(
        image.format("xray-graph"))
    main_before = _summary(browser)
    handle = browser.find_element(By.CSS_SELECTOR, "#sight-sensitivity-compare [role=slider]")
    handle.click()
    for _ in range(5):
        handle.send_keys(Keys.ARROW_LEFT)
    WebDriverWait(browser, 10).until(lambda driver: "τ = 0.30" not in compare_summary(driver))
    assert _summary(browser) == main_before  # the two viewers have their own thresholds
    assert _server_requests(browser) == requests_before  # the radiograph was copied in the browser, not re-sent
    assert _severe_console_entries(browser) == []


def test_upload_a_png_with_a_typed_report_and_see_it_explained(dashboard_url, browser, tmp_path):
    browser.get(dashboard_url)
    WebDriverWait(browser, 60).until(lambda driver: _circle_count(driver) >= 0 and "P(abnormal)" in
                                     driver.find_element(By.ID, "prediction").text)
    browser.execute_script("document.querySelector('.upload-panel summary').click()")

    # A text file posing as an X-ray: an alert saying what to do, nothing else changes.
    fake = tmp_path / "not-an-xray.png"
    fake.write_text("this is not an image")
    browser.find_element(By.CSS_SELECTOR, "#upload-image input[type=file]").send_keys(str(fake))
    browser.find_element(By.ID, "report-text").send_keys("No acute disease.")
    browser.find_element(By.ID, "analyze").click()
    WebDriverWait(browser, 20).until(lambda driver: "cannot be used" in driver.find_element(By.ID, "upload-status").text)

    image = ROOT / "studies" / "demo" / "NLMCXR_png" / "CXR90003_IM-90003-1001.png"
    browser.find_element(By.CSS_SELECTOR, "#upload-image input[type=file]").send_keys(str(image))
    report = browser.find_element(By.ID, "report-text")
    report.clear()
    report.send_keys("Large right pleural effusion. <script>window.injected = 1</script>")
    browser.find_element(By.ID, "analyze").click()
    WebDriverWait(browser, 20).until(lambda driver: "Uploaded: CXR90003" in
                                     driver.find_element(By.ID, "study-picker").text)
    WebDriverWait(browser, 120).until(lambda driver: "P(abnormal)" in driver.find_element(By.ID, "prediction").text
                                      and "report label" not in driver.find_element(By.ID, "prediction").text)
    assert _circle_count(browser) >= 0
    assert browser.find_element(By.ID, "upload-status").text == ""
    assert "<script>" in browser.execute_script("return document.getElementById('study-report').textContent")
    assert browser.execute_script("return window.injected === undefined")
    assert _severe_console_entries(browser) == []
