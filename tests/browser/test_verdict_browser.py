"""The prediction card's verdict in a real headless Chromium: one plain line at the top, one P in sight.

Opens a demo study from a fresh cache and checks the card: ``#explanation-verdict`` holds one sentence of the
verdict's vocabulary, and the text a reader sees without opening "Numbers behind the verdict" names exactly one
P(abnormal), the calibrated one; opening the numbers shows the model output and the region deletion line.
The card is kept in ``/tmp/verdict-card.png``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.browser.conftest import dash_idle

selenium = pytest.importorskip("selenium")
from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

from components import evidence_view, verdict_view  # noqa: E402
from cxrmodel.explain.verdict import VOCABULARY  # noqa: E402
from tests.browser.conftest import CHROMEDRIVER, CHROMIUM  # noqa: E402
from tests.browser.waiting import PageWait  # noqa: E402

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="Debian chromium + chromium-driver are not installed (.ci/run installs them)",
)

STUDY = "CXR90015"
SCREENSHOT = Path("/tmp/verdict-card.png")
PROBABILITY = re.compile(r"\b[01]\.\d{2,3}\b")
TAU_SAID = re.compile(r"sight sensitivity [01]\.\d{2}")


def _verdict(driver) -> str:
    found = driver.find_elements(By.ID, verdict_view.VERDICT_ID)
    return found[0].text if found and found[0].is_displayed() else ""


def test_the_card_opens_with_one_verdict_and_one_visible_p(dashboard_url, browser):
    browser.get(f"{dashboard_url}/?study={STUDY}&threshold=0.7")
    try:
        PageWait(browser, 240).until(lambda driver: any(_verdict(driver).startswith(sentence)
                                                             for sentence in VOCABULARY))
    except TimeoutException as timed_out:
        browser.save_screenshot(str(SCREENSHOT))
        card = browser.execute_script("const e = document.getElementById('prediction');"
                                      "return e ? e.outerHTML.slice(0, 3000) : 'no card'")
        raise AssertionError(f"no verdict drawn; the card holds: {card}") from timed_out
    PageWait(browser, 60).until(dash_idle)
    verdict = browser.find_element(By.ID, verdict_view.VERDICT_ID)
    assert verdict.get_attribute("title")  # the numbers behind it, on hover
    card = browser.find_element(By.ID, "prediction")
    browser.execute_script("arguments[0].scrollIntoView({block: 'start'});", card)
    browser.save_screenshot(str(SCREENSHOT))
    seen = card.text  # rendered text only: nothing of the closed "Numbers behind the verdict"
    assert seen.index(verdict.text) < seen.index("P(abnormal)")
    assert seen.count("P(abnormal)") == 1 and "P(abnormal), calibrated" in seen, seen
    assert len(PROBABILITY.findall(TAU_SAID.sub("", seen))) == 1, seen
    assert "model output" not in seen and not browser.find_element(By.ID, evidence_view.REGION_EVIDENCE_ID) \
        .is_displayed()
    browser.execute_script(f"document.querySelector('#{verdict_view.NUMBERS_ID} summary').click()")
    PageWait(browser, 5).until(lambda driver: driver.find_element(By.ID, evidence_view.REGION_EVIDENCE_ID)
                                    .is_displayed())
    assert "model output" in card.text
