"""One study on screen, in a real headless Chromium with every server response 300 ms late.

* 20 switches between three cached studies (half of them made while the previous switch is still loading), with
  the DOM sampled every 20 ms: no sample in which a visible panel (film: its figure, and the radiograph file its
  image has drawn; circle summary, prediction card, stability, word heatmap, strongest words, report, what-if,
  model comparison, sweep chart, the review panel's circle choices) names or shows another study than the one the
  picker shows. "Shows" is judged against each study's settled panels, recorded first.
* A reload after an upload opens no other study, and says the upload is gone.
* A τ clamped or snapped from a link is said once, with the slider's range, and the address bar names the τ shown.

The server is ``app.py`` behind tests.browser.delayed_dashboard (a test-only ``before_request`` delay); it serves
one request at a time, so a switch's callbacks answer one after another, each at least 300 ms later.
Screenshots taken mid-switch are kept in ``/tmp/one-study-*.png``.
"""

from __future__ import annotations

import re
import sys
import time
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from tests.browser.conftest import dash_idle
from tests.serving import ROOT, free_port, serving

selenium = pytest.importorskip("selenium")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402

from tests.browser.conftest import CHROMEDRIVER, CHROMIUM  # noqa: E402
from tests.browser.waiting import PageWait  # noqa: E402

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="Debian chromium + chromium-driver are not installed (.ci/run installs them)",
)

STUDIES = ("CXR90005", "CXR90026", "CXR90015")
DELAY_MS = 300
SWITCHES = 20
SAMPLE_MS = 20
QUICK_SWITCH_SECONDS = 0.6
"""Every second switch comes this soon after the previous one, while its responses are still arriving."""
EXPLAIN_SECONDS = 300  # first explanations and checks load the model in a job's process (busy 2-core machines)
SETTLE_SECONDS = 90
SCREENSHOTS = Path("/tmp")
STUDY_ID = re.compile(r"CXR\d{5}")

PANELS = {
    "film": ("#xray-graph", "film"),
    "circles": ("#circle-summary", "text"),
    "prediction": ("#prediction", "text"),
    "stability": (".stability-check", "text"),
    "words": ("#words-graph", "graph"),
    "strongest words": ("#strongest-words", "text"),
    "report": ("#study-report", "text"),
    "what-if": (".what-if", "text"),
    "comparison": (".model-comparison", "text"),
    "sweep chart": ("#sweep-chart", "graph"),
    "review circles": ("#review-circles", "text"),
}
"""What the sampler reads: each panel's CSS selector and whether it is text, the radiograph or another plotly graph."""

SAMPLER = r"""
const panels = arguments[0], everyMs = arguments[1];
if (window.__studySampler) { return; }
const options = {visibilityProperty: true, opacityProperty: true};
// The file each figure image last finished loading: what it draws (an SVG <image> keeps drawing it until its new
// file has loaded).
document.addEventListener('load', function (event) {
  if (event.target && event.target.localName === 'image') {
    event.target.__drawnSource = event.target.getAttributeNS('http://www.w3.org/1999/xlink', 'href')
      || event.target.getAttribute('href');
  }
}, true);
// A plotly graph as the reader sees it: the radiograph's study (its uirevision) and messages; another graph's
// messages, words and curves.
function graph(element, film) {
  const plot = element.querySelector('.js-plotly-plot');
  const svg = plot ? plot.querySelector('.main-svg') : null;
  if (!plot || !svg || !svg.checkVisibility(options) || !plot.layout) { return ''; }
  const parts = [];
  if (film && plot.layout.uirevision) { parts.push('figure of ' + plot.layout.uirevision); }
  if (film) {
    // The film as drawn: the study whose radiograph file the visible image last loaded.
    plot.querySelectorAll('image').forEach(function (image) {
      const drawn = image.__drawnSource ? image.__drawnSource.match(/study-image\/([^?\/]+)/) : null;
      if (drawn && image.checkVisibility(options)) { parts.push('film image of ' + decodeURIComponent(drawn[1])); }
    });
  }
  (plot.layout.annotations || []).forEach(function (note) { if (note.text) { parts.push(note.text); } });
  if (!film) {
    (plot.data || []).forEach(function (trace) {
      if (trace.visible === false) { return; }
      if (Array.isArray(trace.text)) { parts.push(JSON.stringify(trace.text)); }
      if (Array.isArray(trace.y) && trace.type !== 'heatmap') { parts.push(JSON.stringify(trace.y)); }
    });
  }
  return parts.join(' | ');
}
// Text as the reader sees it: innerText leaves out what is not rendered (visibility, display), not what is dimmed.
function text(element) {
  const values = Array.from(element.querySelectorAll('textarea')).filter(function (box) {
    return box.checkVisibility(options);
  }).map(function (box) { return box.value; });
  return [element.innerText.trim()].concat(values).join(' | ').trim();
}
function take() {
  const picker = document.getElementById('study-picker');
  const named = picker ? picker.innerText.match(/CXR\d{5}/) : null;
  const loading = Array.from(document.querySelectorAll('[data-cxr-loading]')).filter(function (panel) {
    return panel.checkVisibility();  // on the page (the hidden side-by-side column is not)
  });
  const sample = {t: performance.now(), picked: named ? named[0] : null, panels: {}, loading: loading.length};
  Object.keys(panels).forEach(function (name) {
    const element = document.querySelector(panels[name][0]);
    if (element) {
      const kind = panels[name][1];
      sample.panels[name] = kind === 'text' ? text(element) : graph(element, kind === 'film');
    }
  });
  return sample;
}
const sampler = {samples: [], timer: null, take: take};
sampler.start = function () { sampler.timer = setInterval(function () { sampler.samples.push(take()); }, everyMs); };
sampler.drain = function () { const taken = sampler.samples; sampler.samples = []; return taken; };
window.__studySampler = sampler;
"""


@pytest.fixture(scope="module")
def dashboard_url(tmp_path_factory):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "tests.browser.delayed_dashboard", "--no-warm-up", "--delay-ms", str(DELAY_MS),
               "--port", str(port), "--cache-dir", str(tmp_path_factory.mktemp("cache")), "--no-model-worker",
               "--compare", "models/demo/text-only", "models/demo/image-only"]
    with serving(command, url, log_path=tmp_path_factory.mktemp("server") / "server.log", startup_seconds=180):
        yield url


def _pick(driver, study_id: str) -> None:
    driver.execute_script("window.dash_clientside.set_props('study-picker', {value: arguments[0]})", study_id)


def _install_sampler(driver) -> None:
    driver.execute_script(SAMPLER, {name: list(spec) for name, spec in PANELS.items()}, SAMPLE_MS)


def _sample(driver) -> dict:
    return driver.execute_script("return window.__studySampler.take()")


def _visible(driver, element_id: str) -> bool:
    return driver.execute_script("const e = document.getElementById(arguments[0]);"
                                 "return !!e && e.checkVisibility({visibilityProperty: true});", element_id)


def _text(driver, element_id: str) -> str:
    return driver.execute_script("const e = document.getElementById(arguments[0]); return e ? e.innerText : ''",
                                 element_id)


def _open_details(driver) -> None:
    """Open "Report as written" and the researcher tools, so that the report and the sweep chart are on screen."""
    driver.execute_script("['study-report', 'sweep-chart'].forEach(function (id) {"
                          "  const details = document.getElementById(id).closest('details');"
                          "  if (details) { details.open = true; } });")


def _drawn(driver, study_id: str) -> bool:
    return driver.execute_script("const g = document.querySelector('#xray-graph .js-plotly-plot');"
                                 "return !!(g && g.layout && g.layout.uirevision === arguments[0]);", study_id)


def _quiet(driver, seconds: float = 1.5) -> None:
    """Wait until no callback has been pending for ``seconds`` (a switch's responses come one after another)."""
    calm_since = None
    deadline = time.monotonic() + SETTLE_SECONDS
    while time.monotonic() < deadline:
        if dash_idle(driver):
            calm_since = calm_since or time.monotonic()
            if time.monotonic() - calm_since >= seconds:
                return
        else:
            calm_since = None
        time.sleep(0.1)
    raise AssertionError("the page did not settle")


def _warm(driver, study_id: str) -> None:
    """Explain ``study_id`` and run its stability check and model comparison, so that every panel has it cached."""
    _pick(driver, study_id)
    PageWait(driver, EXPLAIN_SECONDS).until(lambda d: _drawn(d, study_id))
    _quiet(driver)
    for button, done in (("check-stability", "stability-badge"), ("compare-models", "comparison-table")):
        if _visible(driver, button):
            driver.execute_script("document.getElementById(arguments[0]).click()", button)
            PageWait(driver, EXPLAIN_SECONDS).until(lambda d, done=done: _text(d, done).strip() != "")
            _quiet(driver)


@pytest.fixture(scope="module")
def settled(dashboard_url, browser) -> dict[str, dict[str, str]]:
    """Each study's panels once it is fully drawn (every check cached), as the sampler reads them."""
    browser.get(f"{dashboard_url}/?study={STUDIES[0]}")
    PageWait(browser, EXPLAIN_SECONDS).until(lambda d: _drawn(d, STUDIES[0]))
    for study_id in STUDIES:
        _warm(browser, study_id)
    browser.get(f"{dashboard_url}/?study={STUDIES[-1]}")  # a fresh page: every panel from the cache
    PageWait(browser, EXPLAIN_SECONDS).until(lambda d: _drawn(d, STUDIES[-1]))
    _open_details(browser)
    _install_sampler(browser)
    panels = {}
    for study_id in STUDIES:
        _pick(browser, study_id)
        PageWait(browser, SETTLE_SECONDS).until(lambda d, study_id=study_id: _drawn(d, study_id))
        _quiet(browser)
        panels[study_id] = _sample(browser)["panels"]
        assert panels[study_id]["film"] == f"figure of {study_id} | film image of {study_id}"
        assert panels[study_id]["stability"] not in ("", "Check stability"), panels[study_id]["stability"]  # checked
        assert f"Study {study_id}" in panels[study_id]["comparison"], panels[study_id]["comparison"]
        assert f"for {study_id}" in panels[study_id]["what-if"], panels[study_id]["what-if"]
    for name in ("prediction", "words", "strongest words", "report", "sweep chart"):
        assert len({panels[study_id][name] for study_id in STUDIES}) == len(STUDIES), (name, panels)  # told apart
    return panels


def offending(sample: dict, settled: dict[str, dict[str, str]]) -> list[str]:
    """The panels of one sample that name or show another study than the one the picker shows.

    A panel names another study when its visible text has another study's id; it shows another study when its
    content is that study's settled content and not the picked study's.
    """
    picked = sample["picked"]
    wrong = []
    for name, content in sample["panels"].items():
        if not content:
            continue
        named = set(STUDY_ID.findall(content)) - {picked}
        shown = {study_id for study_id, panels in settled.items()
                 if study_id != picked and content == panels.get(name) and content != settled.get(picked, {}).get(name)}
        if named or shown:
            wrong.append(f"{name}: {', '.join(sorted(named | shown))}")
    return wrong


def _wait_settled(driver, study_id: str, settled: dict) -> None:
    PageWait(driver, SETTLE_SECONDS).until(
        lambda d: all(_sample(d)["panels"].get(name) == content for name, content in settled[study_id].items()))


def _screenshot(driver, name: str) -> None:
    """The study's panels (viewer and details column) in view, saved as /tmp/one-study-<name>.png."""
    driver.execute_script("document.getElementById('viewer-column').scrollIntoView({block: 'start'})")
    driver.save_screenshot(str(SCREENSHOTS / f"one-study-{name}.png"))


def test_twenty_switches_with_slow_responses_never_show_another_study(dashboard_url, browser, settled):
    samples = []
    browser.execute_script("window.__studySampler.drain(); window.__studySampler.start();")
    shown = STUDIES[-1]
    for switch in range(SWITCHES):
        target = STUDIES[(STUDIES.index(shown) + 1) % len(STUDIES)]
        _pick(browser, target)
        if switch < 2:  # what a reader sees mid-switch: 0.1 s and 0.9 s after the pick
            time.sleep(0.1)
            _screenshot(browser, f"switch{switch + 1}-early")
            time.sleep(0.8)
            _screenshot(browser, f"switch{switch + 1}-late")
        if switch % 2 == 0:
            _wait_settled(browser, target, settled)
        else:
            time.sleep(QUICK_SWITCH_SECONDS)
        shown = target
        taken = browser.execute_script("return window.__studySampler.drain()")
        samples.extend(taken)
    _wait_settled(browser, shown, settled)
    samples.extend(browser.execute_script("clearInterval(window.__studySampler.timer);"
                                          "return window.__studySampler.drain()"))
    _screenshot(browser, "settled")
    wrong = [(round(sample["t"]), sample["picked"], offending(sample, settled)) for sample in samples]
    wrong = [entry for entry in wrong if entry[2]]
    loading_samples = sum(1 for sample in samples if sample["loading"])
    by_panel = Counter(entry.split(":")[0] for _, _, panels in wrong for entry in panels)
    print(f"\n{len(samples)} samples over {SWITCHES} switches, {len(wrong)} offending "
          f"(by panel: {dict(by_panel)}), {loading_samples} with a loading state")
    assert len(samples) >= SWITCHES * 20  # sampled throughout, every 20 ms
    assert wrong == [], f"{len(wrong)} of {len(samples)} samples show another study, e.g. {wrong[:5]}"
    assert loading_samples > 0  # the panels said they were loading, instead of going blank or stale


def _query(driver) -> dict[str, str]:
    return {key: values[0] for key, values in
            parse_qs(driver.execute_script("return location.search").lstrip("?"), keep_blank_values=True).items()}


def test_a_reload_after_an_upload_opens_no_other_study(dashboard_url, browser, settled, tmp_path):
    from cxrmodel.data import StudyCollection

    collection = StudyCollection.from_folder(ROOT / "studies" / "demo")
    film = tmp_path / "my-film.png"
    film.write_bytes(collection.image_path(STUDIES[0]).read_bytes())
    browser.get(f"{dashboard_url}/?study={STUDIES[2]}")
    PageWait(browser, SETTLE_SECONDS).until(lambda d: _drawn(d, STUDIES[2]))
    browser.execute_script("document.querySelector('.upload-panel summary').click()")
    browser.find_element(By.CSS_SELECTOR, "#upload-image input[type=file]").send_keys(str(film))
    PageWait(browser, 30).until(lambda d: "Chosen: my-film.png" in _text(d, "upload-image-name"))
    browser.execute_script("window.dash_clientside.set_props('report-text', {value: arguments[0]})",
                           collection.get(STUDIES[0]).report_text)
    browser.find_element(By.ID, "analyze").click()
    PageWait(browser, 30).until(lambda d: "Uploaded: my-film.png" in _text(d, "study-picker"))
    PageWait(browser, SETTLE_SECONDS).until(lambda d: "P(abnormal)" in _text(d, "prediction"))
    query = _query(browser)
    assert "study" not in query and "upload" in query, query  # the address names the upload, not a study
    _screenshot(browser, "upload")

    browser.refresh()
    PageWait(browser, SETTLE_SECONDS).until(lambda d: _visible(d, "link-message"))
    _quiet(browser)
    message = _text(browser, "link-message")
    assert "upload" in message and "gone" in message, message
    page = browser.execute_script("return document.body.innerText")
    assert not STUDY_ID.search(page), STUDY_ID.findall(page)  # no study is opened in its place
    assert browser.execute_script("return window.dash_component_api.getLayout('study-picker').props.value") is None
    assert not _drawn(browser, STUDIES[2])
    _screenshot(browser, "upload-reloaded")


@pytest.mark.parametrize(("tau", "shown", "words"), [("5", "1.00", "outside"), ("0.713", "0.72", "between")])
def test_a_clamped_or_snapped_link_tau_is_said_once(dashboard_url, browser, settled, tau, shown, words):
    browser.get(f"{dashboard_url}/?study={STUDIES[0]}&tau={tau}")
    length = browser.execute_script("return history.length")
    PageWait(browser, SETTLE_SECONDS).until(lambda d: f"τ = {shown}" in _text(d, "circle-summary"))
    PageWait(browser, 10).until(lambda d: _visible(d, "link-note"))
    note = _text(browser, "link-note")
    assert f"τ {tau}" in note and words in note and f"τ {shown}" in note and "0–1" in note, note
    assert _query(browser) == {"study": STUDIES[0], "tau": shown}  # the address names the τ shown
    assert browser.execute_script("return history.length") == length  # replaced, not a new entry
    browser.save_screenshot(str(SCREENSHOTS / f"one-study-tau-{tau}.png"))
    # Said once: the next change of the view (here the slider) clears it. The summary is the server's answer, which
    # can come before dcc.Slider (loaded on demand) has drawn its handle: wait for the handle itself.
    handle = PageWait(browser, 30).until(
        lambda d: next(iter(d.find_elements(By.CSS_SELECTOR, "#sight-sensitivity [role=slider]")), False))
    handle.click()
    handle.send_keys(Keys.ARROW_LEFT)
    PageWait(browser, 10).until(lambda d: not _visible(d, "link-note"))
