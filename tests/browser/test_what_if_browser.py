"""Issue #19 in a real headless Chromium: strike a word, edit the report, remove a circle, reset.

``python app.py`` starts its model worker; every what-if answer must be the probability that
``python -m cxrmodel predict --json`` gives for the same film and report (±0.005), and Reset returns to the
explanation's own P. Bad edits (200,000 characters, an empty report) give a message or a valid probability.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.serving import ROOT, free_port, serving

selenium = pytest.importorskip("selenium")
from selenium.webdriver.common.by import By  # noqa: E402

from cxrmodel.explain import ExplanationCache  # noqa: E402
from tests.browser.conftest import CHROMEDRIVER, CHROMIUM  # noqa: E402
from tests.browser.test_dashboard_browser import _dash_props, _nearest, _severe_console_entries, _summary  # noqa: E402
from tests.browser.waiting import PageWait  # noqa: E402

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="Debian chromium + chromium-driver are not installed (.ci/run installs them)",
)

STUDY = "CXR90015"
IMAGE = ROOT / "studies" / "demo" / "NLMCXR_png" / "CXR90015_IM-90015-1001.png"


def _cli_probability(image, report: str) -> float:
    from cxrmodel.cli.main import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["predict", "--model", str(ROOT / "models" / "demo"), "--image", str(image),
                     "--report-text", report, "--json"]) == 0
    return json.loads(out.getvalue())["probability"]


def _answer(driver) -> str:
    return driver.find_element(By.ID, "what-if-probability").text


def _first_number(text: str) -> float:
    return float(re.match(r"\s*(\d\.\d{3})", text).group(1))


TOPMOST = """
const r = arguments[0].getBoundingClientRect();
const e = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
return !!e && (e === arguments[0] || arguments[0].contains(e));
"""


def _click(driver, element) -> None:
    """Scroll ``element`` to the middle of the window, wait until nothing covers it (a passing hover label or
    tooltip), then click it as a user does."""
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    PageWait(driver, 10).until(lambda d: d.execute_script(TOPMOST, element))
    element.click()


def _wait_answer(driver, changed_from: str, seconds: float = 60) -> str:
    PageWait(driver, seconds).until(lambda d: _answer(d) and _answer(d) != changed_from)
    return _answer(driver)


CLICK_WORD = """
const g = document.querySelector('#words-graph .js-plotly-plot');
let seen = 0;
for (const [ti, t] of g.data.entries()) {
  if (!t.customdata) continue;
  for (let c = 0; c < t.text[0].length; c++) {
    const label = (t.text[0][c] || '').replace(/<\\/?s>/g, '');
    if (label === arguments[0] && seen++ === arguments[1]) {
      g.emit('plotly_click', {points: [{customdata: t.customdata[0][c], curveNumber: ti, pointNumber: [0, c]}]});
      return t.customdata[0][c];
    }
  }
}
return null;
"""

CLICK_CIRCLE = """
const g = document.querySelector('#xray-graph .js-plotly-plot');
const ti = g.data.findIndex(t => t.name === 'circle centres');
const t = g.data[ti];
g.emit('plotly_click', {points: [{curveNumber: ti, pointNumber: 0, pointIndex: 0, x: t.x[0], y: t.y[0]}]});
return [t.x[0], t.y[0]];
"""


def test_strike_edit_remove_and_reset_give_what_the_model_gives(dashboard_url, browser, tmp_path):
    from cxrmodel.data import StudyCollection
    from cxrmodel.imaging import decode_image, to_model_grid
    from cxrmodel.imaging.masking import encode_png16, mask_regions
    from cxrmodel.modeling import load_bundle

    report = StudyCollection.from_folder(ROOT / "studies" / "demo").studies[STUDY].report_text
    browser.get(f"{dashboard_url}/?study={STUDY}&tau=0.70")
    PageWait(browser, 240).until(lambda d: "τ = 0.70" in _summary(d))
    PageWait(browser, 60).until(lambda d: "nothing changed" in _answer(d))
    original = _first_number(_answer(browser))
    assert browser.find_element(By.ID, "what-if-report").get_attribute("value") == report
    assert STUDY in browser.find_element(By.ID, "what-if-study").text

    # Strike both "right": the report without them, and the model's P for that report.
    before = _answer(browser)
    assert browser.execute_script(CLICK_WORD, "right", 0) is not None
    before = _wait_answer(browser, before, 90)
    assert browser.execute_script(CLICK_WORD, "right", 1) is not None
    PageWait(browser, 60).until(lambda d: d.find_element(By.ID, "what-if-report").get_attribute("value")
                                     .count("right") == 0)
    answer = _wait_answer(browser, before)
    edited = browser.find_element(By.ID, "what-if-report").get_attribute("value")
    expected_text = re.sub(r"[ \t]{2,}", " ", re.sub(r"\bright\b", "", report))
    assert edited == expected_text
    assert "unavailable" not in answer, answer
    assert _first_number(answer) == pytest.approx(_cli_probability(IMAGE, edited), abs=0.005)
    assert _first_number(answer) < original - 0.3  # the demo model's "right" shortcut
    struck = browser.execute_script(
        "return document.querySelector('#words-graph .js-plotly-plot').data"
        ".flatMap(t => (t.text || [[]])[0]).filter(label => label === '<s>right</s>').length")
    assert struck == 2

    # Free edit of the copy.
    typed = "Heart size is normal. Lungs are clear."
    expected = _cli_probability(IMAGE, typed)
    box = browser.find_element(By.ID, "what-if-report")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].focus();"
                           "arguments[0].select();", box)
    box.send_keys(typed)  # replaces the selection; re-predicted 300 ms after typing stops
    PageWait(browser, 30).until(lambda d: re.match(r"\s*\d\.\d{3}", _answer(d))
                                     and abs(_first_number(_answer(d)) - expected) <= 0.005)
    answer = _answer(browser)

    # Reset: the report and the explanation's own P.
    reset = browser.find_element(By.ID, "what-if-reset")
    _click(browser, reset)
    PageWait(browser, 30).until(lambda d: "nothing changed" in _answer(d))
    assert _first_number(_answer(browser)) == pytest.approx(original, abs=1e-3)
    assert browser.find_element(By.ID, "what-if-report").get_attribute("value") == report

    # Remove the circle: the film with that disk replaced by the reference image, as predict sees it.
    before = _answer(browser)
    x, y = browser.execute_script(CLICK_CIRCLE)
    answer = _wait_answer(browser, before)
    sweep = _dash_props(browser, "circle-sweep")["data"]
    at_tau = sweep["circles"][_nearest(sweep["thresholds"], 0.70)]
    assert len(at_tau) == 1  # so this removes every region at tau 0.70
    circle = at_tau[0]
    assert (circle["x"], circle["y"]) == (x, y)
    bundle = load_bundle(ROOT / "models" / "demo", load_model=False)
    film = decode_image(IMAGE.read_bytes()).pixels
    _grid, mapping = to_model_grid(film, bundle.config.image_size)
    masked = tmp_path / "masked.png"
    masked.write_bytes(encode_png16(mask_regions(film, [circle], np.asarray(bundle.image_baseline), mapping)))
    assert "report is unchanged" in answer
    assert _first_number(answer) == pytest.approx(_cli_probability(masked, report), abs=0.005)
    _click(browser, reset)
    PageWait(browser, 30).until(lambda d: "nothing changed" in _answer(d))

    # Bad edits: a clear message or a valid probability; the page keeps working.
    before = _answer(browser)
    browser.execute_script("""
      const box = document.getElementById('what-if-report');
      window.dash_clientside.set_props('what-if-report', {value: 'x'.repeat(200000)});""")
    answer = _wait_answer(browser, before)
    assert "characters" in answer and "Traceback" not in answer
    box = browser.find_element(By.ID, "what-if-report")
    browser.execute_script("window.dash_clientside.set_props('what-if-report', {value: ''});")
    answer = _wait_answer(browser, answer)
    assert "Traceback" not in answer
    assert re.match(r"\s*\d\.\d{3}", answer) or "cannot read" in answer, answer
    # Text that is not valid Unicode (a lone surrogate, as a broken paste can give): a P or a message.
    browser.execute_script("window.dash_clientside.set_props('what-if-report', {value: 'Effusion \\ud800 right.'});")
    answer = _wait_answer(browser, answer)
    assert "Traceback" not in answer
    assert re.match(r"\s*\d\.\d{3}", answer) or "cannot read" in answer or "unavailable" in answer, answer
    assert _severe_console_entries(browser) == []


def _worker_pid(cache: str) -> int | None:
    """The model worker that ``python app.py --cache-dir cache`` started (its command line names the cache)."""
    import subprocess

    found = subprocess.run(["pgrep", "-f", f"cxrmodel.worker.*{cache}"], capture_output=True, text=True)
    pids = [int(pid) for pid in found.stdout.split()]
    return pids[0] if pids else None


def test_a_killed_model_worker_is_said_restarted_and_the_next_answers_are_right(tmp_path_factory, browser):
    import os
    import signal
    import time

    cache = str(tmp_path_factory.mktemp("killed-cache"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with serving([sys.executable, "app.py", "--no-warm-up", "--port", str(port), "--cache-dir", cache], url,
                 log_path=tmp_path_factory.mktemp("killed-server") / "server.log"):
        browser.get(f"{url}/?study={STUDY}&tau=0.70")
        PageWait(browser, 240).until(lambda d: "τ = 0.70" in _summary(d))
        PageWait(browser, 60).until(lambda d: "nothing changed" in _answer(d))
        with ExplanationCache(Path(cache) / "explanations") as explanations:
            cached_before = len(explanations)
        pid = _worker_pid(cache)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        killed_at = time.monotonic()

        before = _answer(browser)
        browser.execute_script("window.dash_clientside.set_props('what-if-report', {value: 'No acute disease.'})")
        answer = _wait_answer(browser, before, 60)
        assert "Model worker:" in answer and ("restarted" in answer or "not answering" in answer), answer
        assert time.monotonic() - killed_at < 30  # back within seconds
        assert _worker_pid(cache) not in (None, pid)
        expected = _cli_probability(IMAGE, "No acute disease.")
        assert _first_number(answer) == pytest.approx(expected, abs=0.005)

        # The next request is answered by the new worker at once, and nothing cached was lost.
        browser.execute_script("window.dash_clientside.set_props('what-if-report', {value: 'Lungs are clear.'})")
        answer = _wait_answer(browser, answer, 30)
        assert "Model worker:" not in answer
        assert _first_number(answer) == pytest.approx(_cli_probability(IMAGE, "Lungs are clear."), abs=0.005)
        # (Entries are rewritten as the explanation's phases land, so they are counted, not their files listed.)
        with ExplanationCache(Path(cache) / "explanations") as explanations:
            assert len(explanations) >= cached_before >= 1
        assert _severe_console_entries(browser) == []
