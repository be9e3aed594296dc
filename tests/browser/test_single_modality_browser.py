"""The dashboard opens the demo's text-only and image-only comparison bundles (issue #20) in headless Chromium.

A text-only bundle shows the report's word heatmap and, where the radiograph would be, says the film is not part
of its decision (no film is sent, no circle drawn); an image-only bundle shows the radiograph with its circles and
says, where the words would be, that the report is not read. The model card's badge names the model.
"""

from __future__ import annotations

import sys

import pytest

from tests.browser.conftest import dash_idle as _idle
from tests.serving import ROOT, free_port, serving

selenium = pytest.importorskip("selenium")

from selenium.webdriver.common.by import By  # noqa: E402

from tests.browser.conftest import CHROMEDRIVER, CHROMIUM  # noqa: E402
from tests.browser.waiting import PageWait  # noqa: E402

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="Debian chromium + chromium-driver are not installed (.ci/run installs them)",
)

STUDY = "CXR90011"  # a demo study with findings in both halves


@pytest.fixture(scope="module", params=["text-only", "image-only"])
def dashboard(request, tmp_path_factory):
    bundle = ROOT / "models" / "demo" / request.param
    if not (bundle / "model.keras").is_file():
        pytest.fail(f"{bundle} is missing: run 'python -m cxrmodel demo build-single-modality'")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "app.py", "--no-warm-up", "--port", str(port), "--model", str(bundle),
               "--cache-dir", str(tmp_path_factory.mktemp("cache"))]
    with serving(command, url, log_path=tmp_path_factory.mktemp("server") / "server.log"):
        yield request.param, url


def _graph(driver, graph_id: str) -> dict:
    return driver.execute_script(
        "const g = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');"
        "if (!g || !g.layout) { return null; }"
        "return {traces: (g.data || []).length, images: (g.layout.images || []).length,"
        " shapes: (g.layout.shapes || []).length,"
        " notes: (g.layout.annotations || []).map(a => a.text)};", graph_id)


def _explained(driver) -> bool:
    """The study's report is on the page and its prediction card is filled."""
    report = driver.find_element(By.ID, "study-report").get_attribute("textContent")
    return "P(abnormal)" in driver.find_element(By.ID, "prediction").text and "Explaining" not in report


def test_the_dashboard_opens_a_single_modality_bundle_and_says_what_it_reads(dashboard, browser):
    folder, url = dashboard
    browser.get(f"{url}/?study={STUDY}&threshold=0.3")
    PageWait(browser, 180).until(_explained)
    PageWait(browser, 30).until(_idle)
    badge = browser.find_element(By.ID, "model-modality").get_attribute("textContent")
    verdict = browser.find_element(By.ID, "explanation-verdict").text
    browser.execute_script("document.querySelector('#prediction-numbers summary').click()")  # the shares
    card = browser.find_element(By.ID, "prediction").text
    xray, words = _graph(browser, "xray-graph"), _graph(browser, "words-graph")
    if folder == "text-only":
        assert badge == "Report only"
        assert "reads the report only" in card and "Report " in card and "Image " not in card
        assert "circle" not in verdict and "film" not in verdict  # judged by its report alone
        assert xray["images"] == 0 and xray["shapes"] == 0  # no film sent, no circle drawn
        assert any("reads the report only" in note for note in xray["notes"])
        assert words["traces"] >= 1 and not any("reads the radiograph only" in note for note in words["notes"])
        assert browser.find_element(By.ID, "check-stability").value_of_css_property("display") == "none"
        assert not browser.find_element(By.ID, "sight-sensitivity").is_displayed()  # no circles, so no slider
    else:
        assert badge == "Image only"
        assert "reads the radiograph only" in card and "Image " in card and "Report " not in card
        assert "report" not in verdict  # judged by its film and circles alone
        assert xray["images"] >= 1 and xray["shapes"] >= 1  # the radiograph and its circles at tau 0.30
        assert any("reads the radiograph only" in note for note in words["notes"])
        assert browser.find_element(By.ID, "sight-sensitivity").is_displayed()
    # The report as written is shown either way: it is the study's, whichever half the model reads.
    assert browser.find_element(By.ID, "study-report").get_attribute("textContent").strip()
    assert [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"] == []


@pytest.fixture(scope="module")
def comparison_dashboard(tmp_path_factory):
    demo = ROOT / "models" / "demo"
    for folder in ("text-only", "image-only"):
        if not (demo / folder / "model.keras").is_file():
            pytest.fail(f"{demo / folder} is missing: run 'python -m cxrmodel demo build-single-modality'")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "app.py", "--port", str(port), "--no-model-worker", "--compare", str(demo / "text-only"),
               str(demo / "image-only"), "--cache-dir", str(tmp_path_factory.mktemp("cache"))]
    with serving(command, url, log_path=tmp_path_factory.mktemp("server") / "server.log"):
        yield url


def _comparison_rows(driver) -> list[list[str]]:
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#comparison-table tbody tr'))"
        ".map(row => Array.from(row.cells).map(cell => cell.textContent));")


def test_compare_models_explains_the_study_with_each_model_and_names_it(comparison_dashboard, browser):
    browser.get(f"{comparison_dashboard}/?study={STUDY}")
    PageWait(browser, 180).until(_explained)
    PageWait(browser, 30).until(_idle)
    button = browser.find_element(By.ID, "compare-models")
    PageWait(browser, 10).until(lambda driver: button.is_displayed())
    assert _comparison_rows(browser) == []  # the parents have not explained this study yet
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].click();", button)
    PageWait(browser, 240).until(lambda driver: len(_comparison_rows(driver)) == 6)
    rows = _comparison_rows(browser)
    assert [row[0] for row in rows[:3]] == ["Multimodal", "Report only", "Image only"]
    multimodal_probability = float(rows[0][1])
    shown = browser.find_element(By.ID, "prediction").get_attribute("textContent")
    assert f"model output {multimodal_probability:.3f}" in shown  # the same P the card shows for this study
    pairs = {row[0]: row for row in rows[3:]}
    with_report, with_image = pairs["Multimodal vs Report only"], pairs["Multimodal vs Image only"]
    assert "ρ" in with_report[2] and "reads no radiograph" in with_report[3]
    assert "circle overlap" in with_image[3] and "reads no report" in with_image[2]
    assert STUDY in browser.find_element(By.ID, "comparison-progress").get_attribute("textContent")
    assert not button.is_displayed()
