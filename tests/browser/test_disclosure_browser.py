"""A real NIH film uploaded to the demo model, in a real headless Chromium: the model cannot judge it, so no output
of the page carries its numbers until Show anyway, and then every one carries them stamped.

* Before Show anyway: the notice says the numbers "are hidden"; the page's text — visible or not, the DOM's whole
  ``textContent`` — holds the model's P nowhere (it is read off the page after Show anyway), no circle is drawn,
  the what-if is off; the findings JSON has ``"judged": false``, a ``"not_judged_reason"``, ``"probability":
  null`` and no circles; the annotated PNG is the bare film, pixel for pixel, captioned "not judged: <reason>".
* After Show anyway: the notice says "Shown anyway", no "hidden" anywhere on the page; the JSON has
  ``"shown_anyway": true`` and the numbers; the PNG has the circles and a caption starting "shown anyway".

Screenshots of both states and both PNG exports are written to ``/tmp`` (``disclosure-*.png``) for a person to look
at. The NIH films are read in place (tests/nih_films.py); without them the test is skipped.
"""

from __future__ import annotations

import base64
import io
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.serving import free_port, serving

selenium = pytest.importorskip("selenium")
from selenium.webdriver.common.by import By  # noqa: E402

from components import export_tools  # noqa: E402
from cxrmodel.imaging import decode_image  # noqa: E402
from cxrmodel.rendering import annotated_png  # noqa: E402
from tests.browser.conftest import CHROMEDRIVER, CHROMIUM  # noqa: E402
from tests.browser.test_dashboard_browser import _dash_props, _drawn_boxes, _severe_console_entries  # noqa: E402
from tests.browser.waiting import PageWait  # noqa: E402
from tests.nih_films import nih_film_paths  # noqa: E402

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="Debian chromium + chromium-driver are not installed (.ci/run installs them)",
)

EXPLAIN_SECONDS = 300  # the first explanation of the session loads the model (busy 2-core machines)
REPORT = "Heart size normal. Lungs are clear. No pneumothorax or pleural effusion."
SCREENSHOTS = Path("/tmp")
P_PHRASE = re.compile(r"\bP(?:\(abnormal\))?\s*(?:=|:|->|→)?\s*\d\.\d{2}")


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "app.py", "--no-warm-up", "--port", str(port), "--cache-dir", str(cache)]
    with serving(command, url, log_path=tmp_path_factory.mktemp("server") / "server.log"):
        yield url


def _prediction_text(driver) -> str:
    return driver.find_element(By.ID, "prediction").text


def _page_text(driver) -> str:
    """Every text node of the page, shown or not (the whole DOM's textContent, not only what is visible), but the
    "How to read this" legend, whose worked examples quote made-up probabilities ("a study at P 0.06"), and the
    scripts (Dash's start-up configuration repeats that legend)."""
    return driver.execute_script(
        "const page = document.body.cloneNode(true);"
        "page.querySelectorAll('#reading-guide, script').forEach(node => node.remove());"
        "return page.textContent;")


def _visible_text(driver) -> str:
    return driver.execute_script("return document.body.innerText;")


def _p_phrases(text: str) -> list[str]:
    """Each probability phrase in ``text``, with some words around it (to say where it was)."""
    return [text[max(0, match.start() - 80): match.end() + 20] for match in P_PHRASE.finditer(text)]


def _upload(driver, film: Path, report: str) -> None:
    driver.execute_script("document.querySelector('.upload-panel summary').click()")
    driver.find_element(By.CSS_SELECTOR, "#upload-image input[type=file]").send_keys(str(film))
    PageWait(driver, 30).until(lambda d: f"Chosen: {film.name}" in d.find_element(By.ID, "upload-image-name").text)
    box = driver.find_element(By.ID, "report-text")
    box.clear()
    box.send_keys(report)
    driver.find_element(By.ID, "analyze").click()


def _export(driver, kind: str, previous: dict | None) -> dict:
    """Press the export button the page shows and wait for a new download (the dcc.Download's data)."""
    driver.execute_script(f"document.getElementById('export-{kind}').click()")
    PageWait(driver, 60).until(lambda d: (_dash_props(d, f"download-{kind}").get("data") or None) not in (
        None, previous))
    return _dash_props(driver, f"download-{kind}")["data"]


def _png_bytes(download: dict) -> bytes:
    assert download.get("base64") is True, download.keys()
    return base64.b64decode(download["content"])


def _screenshot(driver, name: str) -> None:
    driver.execute_script("document.getElementById('prediction').scrollIntoView({block: 'center'})")
    driver.save_screenshot(str(SCREENSHOTS / name))


def test_a_gated_real_film_shows_and_exports_no_p_until_show_anyway(dashboard, browser, tmp_path):
    film = next(path for path in nih_film_paths() if "/test/1_abnormal/" in path.as_posix())
    upload = tmp_path / f"nih-{film.name}"
    upload.write_bytes(film.read_bytes())
    pixels = decode_image(upload.read_bytes()).pixels
    browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "deny"})
    browser.get(dashboard)
    PageWait(browser, 60).until(lambda d: d.find_element(By.ID, "study-picker"))
    _upload(browser, upload, REPORT)
    PageWait(browser, EXPLAIN_SECONDS).until(lambda d: "cannot judge this image" in _prediction_text(d))

    # Withheld: the notice, and none of the model's numbers anywhere in the page.
    notice = _prediction_text(browser)
    assert "are hidden" in notice and "Show anyway" in notice and "never seen a real radiograph" in notice
    assert "model: abnormal" not in notice and "model: normal" not in notice
    PageWait(browser, 30).until(lambda d: "What-if off" in d.find_element(By.ID, "what-if-probability").text)
    PageWait(browser, 30).until(lambda d: "Word deletion: not shown" in d.find_element(
        By.ID, "strongest-words").text)
    withheld_text, withheld_visible = _page_text(browser), _visible_text(browser)
    assert _p_phrases(withheld_text) == []
    assert _drawn_boxes(browser) == [] and _dash_props(browser, "circle-sweep").get("data") is None
    assert "P(abnormal)" not in browser.find_element(By.ID, "study-picker").text
    _screenshot(browser, "disclosure-withheld.png")

    first_json = _export(browser, "json", None)
    exported = json.loads(first_json["content"])
    assert exported["judged"] is False and exported["shown_anyway"] is False and exported["not_judged_reason"]
    assert exported["probability"] is None and exported["calibrated_probability"] is None
    assert exported["label"] is None and exported["circles"] == [] and exported["evidence"] is None
    first_png = _export(browser, "png", None)
    png = _png_bytes(first_png)
    (SCREENSHOTS / "disclosure-export-withheld.png").write_bytes(png)
    caption = export_tools.caption_text(upload.name, exported)
    assert f"not judged: {exported['not_judged_reason']}" in caption and "P(abnormal)" not in caption
    assert png == annotated_png(pixels, [], caption)  # the bare film, that caption: no circle, no P
    radiograph = np.asarray(Image.open(io.BytesIO(png)).convert("L"))[: pixels.shape[0]]
    assert np.array_equal(radiograph, np.round(pixels * 255).astype(np.uint8))

    # Show anyway: the numbers, stamped, and no "hidden" wording any more.
    browser.find_element(By.CSS_SELECTOR, ".distribution-withheld button").click()
    PageWait(browser, 60).until(lambda d: "Shown anyway" in _prediction_text(d))
    PageWait(browser, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#prediction .display-6"))
    probability = browser.find_element(By.CSS_SELECTOR, "#prediction .display-6").text
    assert re.fullmatch(r"\d\.\d{3}", probability), probability
    # The number the page shows now was in no text of the page before (visible or not).
    assert probability not in withheld_text and probability not in withheld_visible
    PageWait(browser, 30).until(lambda d: (_dash_props(d, "circle-sweep").get("data") or {}).get("thresholds"))
    PageWait(browser, 30).until(lambda d: "Shown anyway" in d.find_element(By.ID, "strongest-words").text)
    PageWait(browser, 30).until(lambda d: "Shown anyway" in d.find_element(By.ID, "what-if-probability").text)
    visible = _visible_text(browser)
    assert "hidden" not in visible.lower(), [line for line in visible.splitlines() if "hidden" in line.lower()]
    assert "model: " in _prediction_text(browser) and "not a judgement" in _prediction_text(browser)
    _screenshot(browser, "disclosure-shown-anyway.png")

    shown = json.loads(_export(browser, "json", first_json)["content"])
    assert shown["shown_anyway"] is True and shown["judged"] is False and shown["probability"] is not None
    assert shown["circles"], "the demo model circles something on this film at the default tau"
    shown_png = _png_bytes(_export(browser, "png", first_png))
    (SCREENSHOTS / "disclosure-export-shown-anyway.png").write_bytes(shown_png)
    shown_caption = export_tools.caption_text(upload.name, shown)
    assert shown_caption.startswith(f"{upload.name} · shown anyway — not judged: ") and "P(abnormal)" in shown_caption
    assert shown_png == annotated_png(pixels, shown["circles"], shown_caption)
    assert shown_png != annotated_png(pixels, [], shown_caption)  # the circles are drawn
    assert _severe_console_entries(browser) == []
