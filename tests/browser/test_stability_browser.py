"""A stability check that did not converge, in a real headless Chromium: the badge says so and gives no verdict.

The dashboard integrates the check's explanations with two fixed steps
(tests/browser/unconverged_stability_dashboard.py: a real computation that misses its completeness target).
Screenshot: ``/tmp/stability-not-converged.png``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.serving import free_port, serving

selenium = pytest.importorskip("selenium")
from selenium.webdriver.common.by import By  # noqa: E402

from components import stability_check  # noqa: E402
from tests.browser.conftest import CHROMEDRIVER, CHROMIUM  # noqa: E402
from tests.browser.waiting import PageWait  # noqa: E402

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="Debian chromium + chromium-driver are not installed (.ci/run installs them)",
)

STUDY = "CXR90015"
SCREENSHOT = Path("/tmp/stability-not-converged.png")


@pytest.fixture(scope="module")
def dashboard_url(tmp_path_factory):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "tests.browser.unconverged_stability_dashboard", "--no-warm-up", "--port",
               str(port), "--cache-dir", str(tmp_path_factory.mktemp("cache"))]
    with serving(command, url, log_path=tmp_path_factory.mktemp("server") / "server.log"):
        yield url


def _badge(driver) -> tuple[str, str]:
    found = driver.find_elements(By.ID, stability_check.STABILITY_BADGE_ID)
    return (found[0].text, found[0].get_attribute("class") or "") if found else ("", "")


def test_a_stability_check_that_did_not_converge_says_so_and_gives_no_verdict(dashboard_url, browser):
    browser.get(f"{dashboard_url}/?study={STUDY}&threshold=0.7")
    button = PageWait(browser, 240).until(
        lambda driver: next((element for element in driver.find_elements(By.ID, stability_check.CHECK_STABILITY_ID)
                             if element.is_displayed() and element.is_enabled()), None))
    PageWait(browser, 240).until(lambda driver: driver.execute_script(
        "const g = document.querySelector('#xray-graph .js-plotly-plot');"
        "return !!(g && g.layout && g.layout.uirevision === arguments[0]);", STUDY))
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].click();", button)
    PageWait(browser, 240).until(lambda driver: "stability-" in _badge(driver)[1])
    text, classes = _badge(browser)
    browser.execute_script(f"document.getElementById('{stability_check.STABILITY_BADGE_ID}')"
                           ".scrollIntoView({block: 'center'})")
    browser.save_screenshot(str(SCREENSHOT))
    assert "stability-not-converged" in classes, (text, classes)
    assert stability_check.NOT_CONVERGED_TEXT in text, text
    for verdict in ("stable", "unstable", "partly"):
        assert f"Circles {verdict}" not in text
    title = browser.find_element(By.ID, stability_check.STABILITY_BADGE_ID).get_attribute("title")
    assert "completeness error" in title and "after 2 steps" in title and "no verdict" in title, title
