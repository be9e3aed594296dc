"""The first screen of a 1366 x 768 laptop, in a real headless Chromium: the whole radiograph is in view beside the
verdict on first load, opening the model card does not move it, and the exports are under the prediction card.

Screenshots: ``/tmp/first-screen.png`` and ``/tmp/first-screen-model-card.png``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

selenium = pytest.importorskip("selenium")
from selenium.webdriver.common.by import By  # noqa: E402

from components import export_tools, model_card, study_view, verdict_view  # noqa: E402
from tests.browser.conftest import CHROMEDRIVER, CHROMIUM  # noqa: E402
from tests.browser.waiting import PageWait  # noqa: E402

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="Debian chromium + chromium-driver are not installed (.ci/run installs them)",
)

STUDY = "CXR90015"
SCREENSHOT = Path("/tmp/first-screen.png")
MODEL_CARD_SCREENSHOT = Path("/tmp/first-screen-model-card.png")


@pytest.fixture(scope="module")
def laptop():
    """Chromium in a 1366 x 768 window (its page viewport is 1366 x 625: the window keeps room for its own bars)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = shutil.which("chromium")
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                     "--disable-background-networking", "--window-size=1366,768"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def _rect(driver, selector: str) -> dict:
    return driver.execute_script(
        "const r = document.querySelector(arguments[0]).getBoundingClientRect();"
        "return {top: r.top, bottom: r.bottom, left: r.left, right: r.right};", selector)


def test_the_whole_film_is_on_the_first_screen_and_the_model_card_does_not_move_it(dashboard_url, laptop):
    laptop.get(f"{dashboard_url}/?study={STUDY}&threshold=0.7")
    PageWait(laptop, 240).until(lambda driver: driver.execute_script(
        "const g = document.querySelector('#xray-graph .js-plotly-plot');"
        "return !!(g && g.layout && g.layout.uirevision === arguments[0] && g.layout.shapes"
        " && g.layout.shapes.length > 0);", STUDY))
    PageWait(laptop, 60).until(lambda driver: driver.execute_script(
        "const verdict = document.getElementById(arguments[0]); return verdict ? verdict.textContent : '';",
        verdict_view.VERDICT_ID))
    viewport = laptop.execute_script("return [window.innerWidth, window.innerHeight, window.scrollY];")
    assert viewport[0] == 1366 and viewport[1] <= 768 and viewport[2] == 0, viewport
    film = _rect(laptop, "#xray-graph .js-plotly-plot")
    laptop.save_screenshot(str(SCREENSHOT))
    assert film["top"] >= 0 and film["bottom"] <= viewport[1], (film, viewport)
    assert film["bottom"] - film["top"] >= 320  # the viewer's smallest height, not a thumbnail
    # The radiograph image itself (Plotly's layout image) lies inside the graph's box.
    image = _rect(laptop, "#xray-graph .imagelayer image")
    assert film["top"] <= image["top"] and image["bottom"] <= film["bottom"], (image, film)
    # Beside it, the verdict is on the same screen.
    verdict = _rect(laptop, f"#{verdict_view.VERDICT_ID}")
    assert 0 <= verdict["top"] and verdict["bottom"] <= viewport[1] and verdict["left"] > film["right"] - 1

    # Opening the model card floats it over the page: the film does not move.
    laptop.execute_script(f"document.querySelector('#{model_card.MODEL_CARD_ID} summary').click()")
    PageWait(laptop, 10).until(lambda driver: driver.find_element(
        By.CSS_SELECTOR, f".{model_card.MODEL_CARD_BODY_CLASS}").is_displayed())
    laptop.save_screenshot(str(MODEL_CARD_SCREENSHOT))
    assert _rect(laptop, "#xray-graph .js-plotly-plot") == film
    laptop.execute_script(f"document.querySelector('#{model_card.MODEL_CARD_ID} summary').click()")

    # The exports are under the prediction card, in its column (not only in the researcher tools).
    # (One script, so that no element reference goes stale while the page redraws as the evidence lands.)
    placed = laptop.execute_script(
        "const column = document.getElementById(arguments[0]);"
        "const card = document.getElementById('prediction').getBoundingClientRect();"
        "return Array.prototype.slice.call(arguments, 1).map((id) => { const button = document.getElementById(id);"
        "  const box = button.getBoundingClientRect();"
        "  return column.contains(button) && box.height > 0 && box.top > card.bottom; });",
        study_view.DETAILS_COLUMN_ID, export_tools.EXPORT_PNG_ID, export_tools.EXPORT_JSON_ID)
    assert placed == [True, True]
