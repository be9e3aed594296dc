"""Issue #17, reproduced in a real headless Chromium: each test failed on the code before its fix.

* Switching studies never shows the old study under the new name: from the pick on, the previous study is
  dimmed and labelled "Loading <new>…" in every animation frame until the new one is drawn; a background job for
  an older pick is never drawn.
* An over-size X-ray file clears the previous choice and says why; Analyze never explains an older file, and
  the form is cleared after Analyze.
* A sight sensitivity typed in the slider's box is clamped and snapped, and the circles, the summary, the
  sweep chart's line, the slider and both exports agree on it.
* Cancel, then Restart, explains the study (the job is held in its queue by taking the only job slot here).
* A cached study opens without any background-callback request (no polling).
* An out-of-distribution upload shows no P(abnormal), verdict or circles (none of them is even in the page) until
  "Show anyway"; an upload to the synthetic demo model says the model has never seen a real radiograph; a lateral
  view is refused on Analyze.
* A ``.txt`` report with section headers (FINDINGS:, IMPRESSION:) loaded through the report upload: the headers
  are drawn as words the model did not see, carry no score or share, and are not among the strongest words.

The server runs with ``--max-jobs 1`` so that a test can hold the only job slot (components.server.job_slots)
and keep a job waiting for as long as it needs to press Cancel.
"""

from __future__ import annotations

import json
import re
import sys
import time

import numpy as np
import pytest
from PIL import Image

from components.server.job_slots import JobSlots
from components.worklist import MINE_MARK, NOT_REVIEWED_MARK, OTHERS_MARK
from tests.serving import ROOT, free_port, serving

selenium = pytest.importorskip("selenium")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402

from tests.browser.conftest import CHROMEDRIVER, CHROMIUM  # noqa: E402
from tests.browser.test_dashboard_browser import (  # noqa: E402
    _boxes,
    _dash_props,
    _drawn_boxes,
    _nearest,
    _progress_visible,
    _same_boxes,
    _severe_console_entries,
    _summary,
)
from tests.browser.waiting import PageWait  # noqa: E402

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="Debian chromium + chromium-driver are not installed (.ci/run installs them)",
)

REVIEW_MARK = re.compile("^(" + "|".join(re.escape(mark) for mark in (NOT_REVIEWED_MARK, MINE_MARK, OTHERS_MARK))
                         + r")\d*!? ")
"""The worklist's review mark in front of each study's label in the picker (components.worklist)."""
EXPLAIN_SECONDS = 240  # a first explanation loads the model in the job's process (busy 2-core machines)


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "app.py", "--no-warm-up", "--port", str(port), "--cache-dir", str(cache),
               "--max-jobs", "1"]
    with serving(command, url, log_path=tmp_path_factory.mktemp("server") / "server.log"):
        yield url, JobSlots(cache / "job-slots", 1)


def _drawn_study(driver) -> str | None:
    """The study whose radiograph the viewer shows (its figure's uirevision), or None for a placeholder."""
    revision = driver.execute_script(
        "const g = document.querySelector('#xray-graph .js-plotly-plot');"
        "return g && g.layout ? g.layout.uirevision : null;")
    return None if revision in (None, "empty") else revision


def _picker_text(driver) -> str:
    """The picker's shown label without the worklist's review mark in front of it (components.worklist)."""
    text = driver.execute_script("const v = document.getElementById('study-picker-value'); return v ? v.innerText : ''")
    return REVIEW_MARK.sub("", text)


def _open(driver, url: str, study_id: str) -> None:
    """Load the page on ``study_id`` and wait until it is drawn with its circles (explaining it if needed)."""
    driver.get(f"{url}/?study={study_id}")
    PageWait(driver, EXPLAIN_SECONDS).until(
        lambda d: _drawn_study(d) == study_id and "τ =" in _summary(d) and not _progress_visible(d))


def _pick(driver, study_id: str) -> None:
    """Pick a study in the dropdown as a user does: open it, search, click the option."""
    driver.find_element(By.ID, "study-picker").click()
    search = PageWait(driver, 10).until(
        lambda d: d.find_element(By.CSS_SELECTOR, ".dash-dropdown-content input.dash-dropdown-search"))
    search.send_keys(study_id)
    selector = f".dash-dropdown-content input.dash-options-list-option-checkbox[value='{study_id}']"
    option = PageWait(driver, 10).until(lambda d: d.find_element(By.CSS_SELECTOR, selector))
    option.find_element(By.XPATH, "./ancestor::label").click()


def _prediction_text(driver) -> str:
    return driver.find_element(By.ID, "prediction").text  # visible text only (hidden parts are not included)


# Every animation frame: what the picker says, which study the viewer holds, and whether it is hidden/labelled.
RECORD_FRAMES = """
window.__frames = [];
window.__recording = true;
(function tick() {
  if (!window.__recording) { return; }
  const value = document.getElementById('study-picker-value');
  const graph = document.querySelector('#xray-graph .js-plotly-plot');
  const svg = graph ? graph.querySelector('.main-svg') : null;
  const label = document.getElementById('study-loading');
  window.__frames.push({
    picked: value ? value.innerText : '',
    drawn: graph && graph.layout ? graph.layout.uirevision : null,
    hidden: !svg || !svg.checkVisibility({visibilityProperty: true, opacityProperty: true}),
    label: label && label.offsetParent !== null ? label.innerText : '',
    t: performance.now(),
  });
  requestAnimationFrame(tick);
})();
"""


def test_switching_studies_never_shows_the_old_study_under_the_new_name(dashboard, browser):
    url, _slots = dashboard
    _open(browser, url, "CXR90014")  # explained once: both studies are cached from here on
    _open(browser, url, "CXR90011")
    browser.execute_script(RECORD_FRAMES)
    _pick(browser, "CXR90014")
    PageWait(browser, 60).until(lambda d: _drawn_study(d) == "CXR90014" and "τ =" in _summary(d))
    time.sleep(0.3)  # a few more frames after the new study is drawn
    frames = browser.execute_script("window.__recording = false; return window.__frames;")
    for frame in frames:
        frame["picked"] = REVIEW_MARK.sub("", frame["picked"])
    switched = [frame for frame in frames if frame["picked"].startswith("CXR90014")]
    assert switched, "the picker never showed the new study"
    stale = [frame for frame in switched if frame["drawn"] == "CXR90011"]
    assert stale, "the new study was drawn in the very frame it was picked: nothing to check"
    for frame in stale:  # the old radiograph under the new name: never on screen, and the page says it is loading
        assert frame["hidden"] and "Loading CXR90014" in frame["label"], frame
    assert not switched[-1]["hidden"] and switched[-1]["drawn"] == "CXR90014"
    # The label goes once every panel (words, what-if, stability… a response or two after the film) is the new one's.
    PageWait(browser, 30).until(lambda d: not d.find_element(By.ID, "study-loading").is_displayed())
    assert "cxr-study-stale" not in browser.find_element(By.TAG_NAME, "body").get_attribute("class")
    assert _severe_console_entries(browser) == []


def test_cancel_then_restart_explains_the_study(dashboard, browser):
    url, slots = dashboard
    with slots.slot():  # the job waits in its queue (visible progress) until the slot is free
        browser.get(f"{url}/?study=CXR90020")
        PageWait(browser, 120).until(lambda d: _progress_visible(d) and "free slot" in d.find_element(
            By.ID, "progress").text)
        browser.find_element(By.ID, "cancel-explanation").click()
        PageWait(browser, 30).until(lambda d: not _progress_visible(d))
        # The viewer no longer claims to be explaining it (it stayed on "Explaining…" with no progress bar).
        PageWait(browser, 10).until(lambda d: "cancelled" in d.execute_script(
            "const g = document.querySelector('#xray-graph .js-plotly-plot');"
            "return g && g.layout && g.layout.annotations && g.layout.annotations.length ? "
            "g.layout.annotations[0].text : '';"))
        PageWait(browser, 30).until(lambda d: d.find_element(By.ID, "explanation-cancelled").is_displayed())
        assert "cancelled" in browser.find_element(By.ID, "explanation-cancelled").text
        browser.find_element(By.ID, "restart-explanation").click()
        PageWait(browser, 60).until(lambda d: _progress_visible(d))
        assert not browser.find_element(By.ID, "explanation-cancelled").is_displayed()
    PageWait(browser, EXPLAIN_SECONDS).until(
        lambda d: _drawn_study(d) == "CXR90020" and "τ =" in _summary(d) and not _progress_visible(d))
    assert "P(abnormal)" in _prediction_text(browser)
    assert _severe_console_entries(browser) == []


def test_a_job_for_an_older_pick_is_never_drawn(dashboard, browser):
    url, slots = dashboard
    _open(browser, url, "CXR90011")  # cached
    with slots.slot():
        _pick(browser, "CXR90021")  # not cached: its job waits for the slot
        PageWait(browser, 120).until(lambda d: _progress_visible(d))
        _pick(browser, "CXR90011")
        PageWait(browser, 60).until(lambda d: _drawn_study(d) == "CXR90011" and "τ =" in _summary(d))
        PageWait(browser, 30).until(lambda d: not _progress_visible(d))  # picking another cancels the job
    deadline = time.monotonic() + 8  # long enough for the cancelled job to have drawn CXR90021, had it run
    while time.monotonic() < deadline:
        assert _drawn_study(browser) == "CXR90011" and _picker_text(browser).startswith("CXR90011")
        time.sleep(0.25)
    assert _severe_console_entries(browser) == []


def test_a_cached_study_opens_without_any_background_job(dashboard, browser):
    url, _slots = dashboard
    _open(browser, url, "CXR90014")
    _open(browser, url, "CXR90011")  # both cached now
    browser.execute_script("performance.setResourceTimingBufferSize(10000); performance.clearResourceTimings();")
    _pick(browser, "CXR90014")
    PageWait(browser, 60).until(lambda d: _drawn_study(d) == "CXR90014" and "τ =" in _summary(d))
    time.sleep(1.2)  # a background callback would poll within its 500 ms interval
    polls = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
        ".filter(name => name.includes('_dash-update-component') && name.includes('cacheKey='));")
    assert polls == []
    assert not _progress_visible(browser)
    assert _severe_console_entries(browser) == []


def _type_threshold(driver, text: str, commit: str) -> None:
    box = driver.find_element(By.CSS_SELECTOR, "#sight-sensitivity input[type=number]")
    box.click()
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.BACK_SPACE)
    box.send_keys(text)
    box.send_keys(commit)


def _tau_line(driver) -> float | None:
    return driver.execute_script(
        "const g = document.querySelector('#sweep-chart .js-plotly-plot');"
        "const s = g && g.layout && g.layout.shapes ? g.layout.shapes.find(x => x.name === 'sight sensitivity') : null;"
        "return s ? s.x0 : null;")


def test_a_typed_threshold_is_clamped_and_snapped_and_every_view_agrees(dashboard, browser):
    url, _slots = dashboard
    _open(browser, url, "CXR90011")
    browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "deny"})
    browser.execute_script("document.getElementById('sweep-chart').closest('details').open = true;")
    sweep = _dash_props(browser, "circle-sweep")["data"]
    thresholds = sweep["thresholds"]
    for typed, commit, expected in (("0.45", Keys.ENTER, 0.46), ("2", Keys.TAB, 1.0), ("-1", Keys.ENTER, 0.0),
                                    ("0.33", Keys.TAB, 0.34)):
        _type_threshold(browser, typed, commit)
        label = f"τ = {expected:.2f}"
        PageWait(browser, 10).until(lambda d, label=label: _summary(d).endswith(label))
        PageWait(browser, 10).until(
            lambda d, expected=expected: _dash_props(d, "sight-sensitivity")["value"] == expected)
        box = browser.find_element(By.CSS_SELECTOR, "#sight-sensitivity input[type=number]")
        PageWait(browser, 5).until(lambda d, box=box, expected=expected: float(box.get_attribute("value"))
                                        == expected)
        handle = browser.find_element(By.CSS_SELECTOR, "#sight-sensitivity [role=slider]")
        assert float(handle.get_attribute("aria-valuenow")) == expected
        circles = sweep["circles"][_nearest(thresholds, expected)]
        PageWait(browser, 5).until(lambda d, circles=circles: _same_boxes(_drawn_boxes(d), _boxes(circles)))
        PageWait(browser, 5).until(lambda d, expected=expected: _tau_line(d) == expected)
        for kind in ("json", "png"):
            browser.execute_script(f"document.getElementById('export-{kind}').click()")
            PageWait(browser, 30).until(lambda d, kind=kind, expected=expected: (
                (_dash_props(d, f"download-{kind}").get("data") or {}).get("filename", "")
                .endswith(f"_tau{expected:.2f}.{kind}")))
        exported = json.loads(_dash_props(browser, "download-json")["data"]["content"])
        assert exported["settings"]["sight_sensitivity"] == expected
        assert _same_boxes(_boxes(exported["circles"]), _boxes(circles), tolerance=0.02)
    assert _severe_console_entries(browser) == []


def _png_file(path, pixels: np.ndarray):
    Image.fromarray(pixels).save(path, "PNG")
    return path


def _upload(driver, path, report: str) -> None:
    driver.find_element(By.CSS_SELECTOR, "#upload-image input[type=file]").send_keys(str(path))
    PageWait(driver, 30).until(lambda d: f"Chosen: {path.name}" in d.find_element(By.ID, "upload-image-name").text)
    box = driver.find_element(By.ID, "report-text")
    box.clear()
    box.send_keys(report)
    driver.find_element(By.ID, "analyze").click()


def test_an_oversize_file_clears_the_previous_choice_and_says_why(dashboard, browser, tmp_path):
    url, _slots = dashboard
    _open(browser, url, "CXR90011")
    browser.execute_script("document.querySelector('.upload-panel summary').click()")
    file_input = browser.find_element(By.CSS_SELECTOR, "#upload-image input[type=file]")
    valid = ROOT / "studies" / "demo" / "NLMCXR_png" / "CXR90003_IM-90003-1001.png"
    file_input.send_keys(str(valid))
    PageWait(browser, 30).until(lambda d: "Chosen: CXR90003" in d.find_element(By.ID, "upload-image-name").text)

    big = tmp_path / "big-film.png"
    with big.open("wb") as handle:  # 25 MB, over the 20 MB cap
        handle.write(b"\x89PNG\r\n\x1a\n")
        handle.truncate(25 * 2**20)
    file_input.send_keys(str(big))
    PageWait(browser, 10).until(lambda d: "big-film.png" in d.find_element(By.ID, "upload-status").text)
    status = browser.find_element(By.ID, "upload-status").text
    assert "25.0 MB" in status and "20 MB limit" in status and "smaller file" in status
    assert "CXR90003" not in browser.find_element(By.ID, "upload-image-name").text
    assert _dash_props(browser, "upload-image").get("contents") is None

    browser.find_element(By.ID, "report-text").send_keys("Large right pleural effusion.")
    browser.find_element(By.ID, "analyze").click()
    PageWait(browser, 20).until(lambda d: "choose an X-ray file" in d.find_element(By.ID, "upload-status").text)
    assert "Uploaded" not in _picker_text(browser)  # the earlier file was not analyzed instead

    # A valid file again: analyzed, and the form is cleared for the next study (no old report left behind).
    _upload(browser, valid, "Large right pleural effusion.")
    PageWait(browser, 30).until(lambda d: "Uploaded: CXR90003" in _picker_text(d))
    assert browser.find_element(By.ID, "report-text").get_attribute("value") == ""
    assert browser.find_element(By.ID, "upload-image-name").text.startswith("Analyzed CXR90003")
    assert _dash_props(browser, "upload-image").get("contents") is None
    assert _severe_console_entries(browser) == []


def test_an_out_of_distribution_upload_hides_its_numbers_until_show_anyway(dashboard, browser, tmp_path):
    url, _slots = dashboard
    _open(browser, url, "CXR90011")
    browser.execute_script("document.querySelector('.upload-panel summary').click()")
    rng = np.random.default_rng(17)
    noise = _png_file(tmp_path / "noise.png", rng.integers(0, 256, (480, 400), dtype=np.uint8))
    _upload(browser, noise, "No acute cardiopulmonary disease.")
    PageWait(browser, 30).until(lambda d: "Uploaded: noise.png" in _picker_text(d))
    PageWait(browser, EXPLAIN_SECONDS).until(
        lambda d: _drawn_study(d) is not None and _drawn_study(d).startswith("upload-") and _prediction_text(d))
    text = _prediction_text(browser)
    assert "cannot judge this image" in text and "Show anyway" in text, text
    assert "never seen a real radiograph" in text
    assert not browser.find_elements(By.CSS_SELECTOR, "#prediction .display-6")  # P(abnormal): not even in the DOM
    assert "model: abnormal" not in text and "model: normal" not in text  # no red/green verdict
    assert "Why the model calls" not in text
    assert _dash_props(browser, "circle-sweep").get("data") is None
    assert _drawn_boxes(browser) == []
    assert "P(abnormal)" not in _picker_text(browser)
    # Nor does the what-if card give the withheld probability away (issue #19).
    PageWait(browser, 30).until(lambda d: "What-if off" in d.find_element(By.ID, "what-if-probability").text)
    assert not re.search(r"\d\.\d{3}", browser.find_element(By.ID, "what-if-probability").text)

    show_anyway = browser.find_element(By.CSS_SELECTOR, ".distribution-withheld button")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center', behavior: 'instant'});", show_anyway)
    show_anyway.click()
    PageWait(browser, 30).until(lambda d: d.find_element(By.CSS_SELECTOR, "#prediction .display-6").is_displayed())
    assert "model: " in _prediction_text(browser)
    PageWait(browser, 10).until(lambda d: (_dash_props(d, "circle-sweep").get("data") or {}).get("thresholds"))
    PageWait(browser, 10).until(lambda d: "τ = 0.70" in _summary(d))
    sweep = _dash_props(browser, "circle-sweep")["data"]
    expected = _boxes(sweep["circles"][_nearest(sweep["thresholds"], 0.7)])
    PageWait(browser, 10).until(lambda d: _same_boxes(_drawn_boxes(d), expected))
    assert "never seen a real radiograph" in _prediction_text(browser)
    # The banner says which studies are synthetic: it does not call this uploaded film a phantom.
    banner = browser.find_element(By.ID, "synthetic-banner").text
    assert "bundled studies" in banner and "never seen a real radiograph" in banner
    assert _severe_console_entries(browser) == []


def test_a_lateral_view_is_refused_before_it_is_explained(dashboard, browser, tmp_path):
    try:  # the lateral-film model of the view check (moved once already)
        from cxrmodel.data.synthetic.lateral import lateral_chest
    except ImportError:
        lateral_chest = pytest.importorskip("cxrmodel.imaging.lateral_model").lateral_chest

    url, _slots = dashboard
    _open(browser, url, "CXR90011")
    browser.execute_script("document.querySelector('.upload-panel summary').click()")
    lateral = _png_file(tmp_path / "lateral.png", (lateral_chest(480, 512, seed=0) * 255).round().astype(np.uint8))
    _upload(browser, lateral, "Lateral view. No acute disease.")
    PageWait(browser, 30).until(lambda d: "lateral view" in d.find_element(By.ID, "upload-status").text)
    assert "Upload the frontal film" in browser.find_element(By.ID, "upload-status").text
    assert "Uploaded" not in _picker_text(browser) and _drawn_study(browser) == "CXR90011"
    assert not _progress_visible(browser)
    assert _severe_console_entries(browser) == []



def _word_cells(driver) -> list[dict]:
    """Every drawn word cell of the report heatmap: its label, whether the model saw it, its z and hover text."""
    figure = _dash_props(driver, "words-graph")["figure"]
    cells = []
    for trace in figure["data"]:
        seen_trace = "(not seen)" not in trace.get("name", "")
        for label, value, hover in zip(trace["text"][0], trace["z"][0], trace["hovertext"][0], strict=True):
            if label:
                cells.append({"text": label, "seen": seen_trace, "z": value, "hover": hover})
    return cells


def test_report_section_headers_are_shown_but_not_fed_to_the_model(dashboard, browser, tmp_path):
    url, _slots = dashboard
    _open(browser, url, "CXR90011")
    browser.execute_script("document.querySelector('.upload-panel summary').click()")
    report = tmp_path / "report.txt"
    report.write_text("FINDINGS: Large right pleural effusion. The heart is normal in size.\n"
                      "IMPRESSION: Right pleural effusion.\n", encoding="utf-8")
    browser.find_element(By.CSS_SELECTOR, "#upload-report input[type=file]").send_keys(str(report))
    PageWait(browser, 30).until(
        lambda d: "IMPRESSION:" in d.find_element(By.ID, "report-text").get_attribute("value"))
    image = ROOT / "studies" / "demo" / "NLMCXR_png" / "CXR90003_IM-90003-1001.png"
    browser.find_element(By.CSS_SELECTOR, "#upload-image input[type=file]").send_keys(str(image))
    PageWait(browser, 30).until(lambda d: "Chosen: CXR90003" in d.find_element(By.ID, "upload-image-name").text)
    browser.find_element(By.ID, "analyze").click()
    PageWait(browser, EXPLAIN_SECONDS).until(
        lambda d: (_drawn_study(d) or "").startswith("upload-") and "τ =" in _summary(d) and not _progress_visible(d))
    PageWait(browser, 30).until(lambda d: any(cell["text"] == "FINDINGS" for cell in _word_cells(d)))

    cells = _word_cells(browser)
    headers = [cell for cell in cells if cell["text"] in ("FINDINGS", "IMPRESSION")]
    assert [cell["text"] for cell in headers] == ["FINDINGS", "IMPRESSION"]
    for cell in headers:  # drawn grey, "not seen by the model", no score
        assert not cell["seen"] and "not seen by the model" in cell["hover"] and "share" not in cell["hover"], cell
    effusion = [cell for cell in cells if cell["text"] == "effusion"]
    assert effusion and all(cell["seen"] and cell["z"] is not None for cell in effusion)
    strongest = browser.find_element(By.ID, "strongest-words").text
    assert "effusion" in strongest or "pleural" in strongest or "Large" in strongest, strongest
    assert "FINDINGS" not in strongest and "IMPRESSION" not in strongest
    assert _severe_console_entries(browser) == []
