"""The dashboard in a real headless Chromium (Debian chromium + chromium-driver, installed by .ci/run).

Opens a deep link to a demo study, checks the circles are drawn, moves the sight-sensitivity slider with the
keyboard and checks the circles follow without a single request to the server, and that the console is clean.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

selenium = pytest.importorskip("selenium")
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER), reason="Debian chromium + chromium-driver are not installed (.ci/run installs them)"
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def dashboard_url(tmp_path_factory):
    port = _free_port()
    log = (tmp_path_factory.mktemp("server") / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "app.py", "--port", str(port), "--cache-dir", str(tmp_path_factory.mktemp("cache"))],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(url, timeout=1)
                break
            except OSError:
                if server.poll() is not None:
                    pytest.fail("dashboard exited during start-up")
                time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()


@pytest.fixture(scope="module")
def browser():
    options = Options()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--window-size=1400,1000"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def _summary(driver) -> str:
    return driver.find_element(By.ID, "circle-summary").text


def _server_requests(driver) -> int:
    return driver.execute_script(
        "return performance.getEntriesByType('resource')"
        ".filter(entry => entry.name.includes('_dash-update-component')).length"
    )


def test_deep_link_draws_circles_and_the_slider_moves_them_in_the_browser(dashboard_url, browser):
    browser.get(f"{dashboard_url}/?study=CXR90011&threshold=0.3")
    WebDriverWait(browser, 90).until(lambda driver: "τ = 0.30" in _summary(driver))
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
    severe = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert severe == []
