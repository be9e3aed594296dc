"""Answer first, in a real headless Chromium: the circles of a new study are on screen while its deletion evidence
is still being computed, and the evidence fills in when it lands, without the film being drawn again.

The dashboard holds every evidence computation back by a few seconds (tests/browser/slow_evidence_dashboard.py),
so the page's state between the phases lasts long enough to be seen. Screenshots: ``/tmp/phases-circles.png``
(circles drawn, evidence computing) and ``/tmp/phases-evidence.png`` (the evidence in).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.serving import free_port, serving

selenium = pytest.importorskip("selenium")
from selenium.common.exceptions import TimeoutException  # noqa: E402

from components import evidence_view, threshold_control, verdict_view  # noqa: E402
from tests.browser.conftest import CHROMEDRIVER, CHROMIUM  # noqa: E402
from tests.browser.waiting import PageWait  # noqa: E402

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="Debian chromium + chromium-driver are not installed (.ci/run installs them)",
)

STUDY = "CXR90015"
EVIDENCE_DELAY_SECONDS = 8.0
CIRCLES_SCREENSHOT = Path("/tmp/phases-circles.png")
EVIDENCE_SCREENSHOT = Path("/tmp/phases-evidence.png")


@pytest.fixture(scope="module")
def dashboard_url(tmp_path_factory):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "tests.browser.slow_evidence_dashboard", "--evidence-delay-s",
               str(EVIDENCE_DELAY_SECONDS), "--no-model-worker", "--no-warm-up", "--port", str(port), "--cache-dir",
               str(tmp_path_factory.mktemp("cache"))]
    with serving(command, url, log_path=tmp_path_factory.mktemp("server") / "server.log"):
        yield url


def _page_state(driver) -> dict:
    return driver.execute_script(
        "const graph = document.querySelector('#xray-graph .js-plotly-plot');"
        "const text = (id) => { const e = document.getElementById(id); return e ? e.textContent : ''; };"
        "return {shapes: graph && graph.layout && graph.layout.shapes ? graph.layout.shapes.length : 0,"
        f" evidence: text('{evidence_view.REGION_EVIDENCE_ID}'), verdict: text('{verdict_view.VERDICT_ID}'),"
        f" summary: text('{threshold_control.CIRCLE_SUMMARY_ID}'),"
        " radiograph: graph && graph.layout && graph.layout.images ? graph.layout.images.find("
        "   (image) => image.name === 'radiograph') : null};")


def _evidence_rows(driver) -> tuple[int, int]:
    """(rows, rows still missing) of the deletion evidence the page holds for the circle sweep."""
    return tuple(driver.execute_script(
        "const data = window.dash_component_api.getLayout(arguments[0]).props.data;"
        "const rows = data && data.evidence ? data.evidence.regions : [];"
        "return [rows.length, rows.filter((row) => row === null).length];", threshold_control.CIRCLE_SWEEP_ID))


def test_the_circles_are_drawn_while_the_evidence_is_still_computing(dashboard_url, browser):
    browser.get(f"{dashboard_url}/?study={STUDY}&threshold=0.7")
    try:
        PageWait(browser, 240).until(lambda driver: _page_state(driver)["shapes"] > 0)
    except TimeoutException as timed_out:
        browser.save_screenshot(str(CIRCLES_SCREENSHOT))
        raise AssertionError(f"no circles drawn: {_page_state(browser)}") from timed_out
    drawn = _page_state(browser)
    browser.save_screenshot(str(CIRCLES_SCREENSHOT))
    assert "τ = 0.70" in drawn["summary"]
    assert drawn["evidence"] == evidence_view.COMPUTING_TEXT, drawn
    assert verdict_view.EVIDENCE_PENDING_WORDS.strip() in drawn["verdict"], drawn

    # The evidence at tau lands: the line says what removing the circles does, the verdict is given.
    PageWait(browser, 6 * EVIDENCE_DELAY_SECONDS).until(
        lambda driver: _page_state(driver)["evidence"] not in (evidence_view.COMPUTING_TEXT, ""))
    landed = _page_state(browser)
    assert "circled region" in landed["evidence"] and "log-odds" in landed["evidence"], landed
    assert "being checked" not in landed["verdict"] and landed["verdict"], landed
    # Filled in, not redrawn: the film is the very same image object's source and the circles are unchanged.
    assert landed["radiograph"]["source"] == drawn["radiograph"]["source"]
    assert landed["shapes"] == drawn["shapes"]
    browser.execute_script(f"document.querySelector('#{verdict_view.NUMBERS_ID} summary').click()")
    browser.save_screenshot(str(EVIDENCE_SCREENSHOT))

    # The last phase: every slider threshold's row, while the reader stays on the study.
    PageWait(browser, 12 * EVIDENCE_DELAY_SECONDS).until(lambda driver: _evidence_rows(driver)[1] == 0)
    assert _evidence_rows(browser)[0] == 51
