"""The review panel in a real headless Chromium, behind basic auth, on the demo.

A reviewer sets a verdict and a reading, agrees with a circle, adds a point on the radiograph and a comment; after
a page reload and after a server restart everything is shown again. A second reviewer sees none of it in their
own panel, but the aggregate line that everyone sees counts the first reviewer's review; their keys set a verdict
and open the next study.
"""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path

import pytest
from werkzeug.security import generate_password_hash

from tests.browser.conftest import CHROMEDRIVER, CHROMIUM, dash_idle
from tests.serving import free_port, serving

selenium = pytest.importorskip("selenium")
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

from tests.browser.waiting import PageWait  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="Debian chromium + chromium-driver are not installed (.ci/run installs them)")]

STUDY = "CXR90014"  # a nodule: circles at tau 0.3
PASSWORD = "reading room"
COMMENT = "Right answer, wrong reason: the second circle sits on the film marker."


@contextlib.contextmanager
def _dashboard(root: Path, port: int):
    """``python app.py`` on the demo with auth, a cache and a review database that outlive a restart."""
    command = [sys.executable, "app.py", "--no-warm-up", "--port", str(port), "--cache-dir", str(root / "cache"),
               "--auth-file", str(root / "users.txt"), "--database-url", f"sqlite:///{root / 'reviews.sqlite3'}"]
    log_path = root / f"server-{time.monotonic_ns()}.log"
    with serving(command, f"http://127.0.0.1:{port}/", log_path=log_path, startup_seconds=180, behind_auth=True):
        yield f"http://127.0.0.1:{port}"
    assert "Traceback" not in log_path.read_text()


@pytest.fixture(scope="module")
def reading_room(tmp_path_factory):
    root = tmp_path_factory.mktemp("reading-room")
    (root / "users.txt").write_text("".join(f"{user}:{generate_password_hash(PASSWORD, 'pbkdf2:sha256:1000')}\n"
                                            for user in ("alice", "bob")))
    return root


def _sign_in(driver, user: str) -> None:
    import base64

    driver.execute_cdp_cmd("Network.enable", {})
    token = base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()
    driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Basic {token}"}})


def _open(driver, url: str) -> None:
    driver.get(f"{url}/?study={STUDY}&tau=0.3")
    PageWait(driver, 240).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#review-circles input[type=radio]")
        and "Pick a study" not in d.find_element(By.ID, "review-status").text)
    PageWait(driver, 60).until(dash_idle)


def _status(driver) -> str:
    return driver.find_element(By.ID, "review-status").text


def _saved_after(driver, action) -> None:
    """Run ``action`` and wait until the panel says it saved a new version."""
    before = _status(driver)
    action()
    PageWait(driver, 30).until(lambda d: _status(d).startswith("saved ") and (_status(d) != before or
                                                                                      dash_idle(d)))
    PageWait(driver, 30).until(dash_idle)


def _checked(driver, group: str) -> list[str]:
    return [e.get_attribute("value") for e in driver.find_elements(By.CSS_SELECTOR, f"#{group} input:checked")]


def _panel(driver) -> dict:
    return {
        "verdict": _checked(driver, "review-verdict"), "label": _checked(driver, "review-label"),
        "circles": _checked(driver, "review-circles"),
        "points": driver.find_element(By.ID, "review-points").text,
        "comment": driver.find_element(By.ID, "review-comment").get_attribute("value"),
        "crosses": driver.execute_script(
            "const gd = document.querySelector('#xray-graph .js-plotly-plot');"
            "return gd.data.filter(t => t.name === 'finding points').map(t => t.x.length);"),
        "status": _status(driver),
        "aggregate": driver.find_element(By.ID, "review-aggregate").text,
        "reviewer": driver.find_element(By.ID, "review-reviewer").text,
    }


def test_a_review_survives_reload_and_restart_and_another_reviewer_sees_only_the_aggregate(reading_room, browser):
    port = free_port()
    with _dashboard(reading_room, port) as url:
        _sign_in(browser, "bob")
        _open(browser, url)
        assert _panel(browser)["aggregate"] == "All reviewers: no review of this study yet."

        _sign_in(browser, "alice")
        _open(browser, url)
        assert _panel(browser)["reviewer"] == "as alice"
        _saved_after(browser, lambda: browser.find_element(By.CSS_SELECTOR,
                                                           "#review-verdict input[value=helpful]").click())
        _saved_after(browser, lambda: browser.find_element(By.CSS_SELECTOR,
                                                           "#review-label input[value=abnormal]").click())
        _saved_after(browser, lambda: browser.find_element(By.CSS_SELECTOR,
                                                           "#review-circles input[value=agree]").click())
        browser.find_element(By.ID, "review-finding-name").send_keys("nodule")

        def add_point():  # inside the first circle, beside its centre marker: a point, not a what-if removal
            browser.find_element(By.ID, "review-add-point").click()
            layer = browser.find_element(By.CSS_SELECTOR, "#xray-graph .nsewdrag")
            x, y, width, height = browser.execute_script(
                "const gd = document.querySelector('#xray-graph .js-plotly-plot');"
                "const s = gd.layout.shapes[0], box = gd.querySelector('.nsewdrag').getBoundingClientRect();"
                "return [gd._fullLayout.xaxis.c2p((s.x0 + s.x1) / 2 + 6),"
                "        gd._fullLayout.yaxis.c2p((s.y0 + s.y1) / 2 + 4), box.width, box.height];")
            ActionChains(browser).move_to_element_with_offset(layer, x - width / 2, y - height / 2).click().perform()

        _saved_after(browser, add_point)

        def comment():
            box = browser.find_element(By.ID, "review-comment")
            box.send_keys(COMMENT)
            box.send_keys("\t")  # the comment is sent when the field is left (debounce)

        _saved_after(browser, comment)
        written = _panel(browser)
        assert written["verdict"] == ["helpful"] and written["label"] == ["abnormal"]
        assert written["circles"] == ["agree"] and "nodule" in written["points"] and written["crosses"] == [1]
        assert written["comment"] == COMMENT and written["status"].startswith("saved ")
        assert "removed" not in browser.find_element(By.ID, "what-if-probability").text  # the point only
        assert written["aggregate"].startswith("All reviewers (1): verdicts 1 helpful; readings 1 abnormal")

        browser.refresh()
        _open(browser, url)
        reloaded = _panel(browser)
        assert {key: reloaded[key] for key in ("verdict", "label", "circles", "points", "comment", "crosses")} == \
            {key: written[key] for key in ("verdict", "label", "circles", "points", "comment", "crosses")}
        assert reloaded["status"] == written["status"]  # the time it was saved, not the time it was opened

    with _dashboard(reading_room, free_port()) as url:  # the same cache and database after a restart
        _open(browser, url)
        restarted = _panel(browser)
        assert {key: restarted[key] for key in ("verdict", "label", "circles", "points", "comment", "crosses")} == \
            {key: written[key] for key in ("verdict", "label", "circles", "points", "comment", "crosses")}

        _sign_in(browser, "bob")
        _open(browser, url)
        theirs = _panel(browser)
        assert theirs["reviewer"] == "as bob"
        assert theirs["verdict"] == [] and theirs["label"] == [] and theirs["circles"] == []
        assert theirs["points"] == "No point yet." and theirs["comment"] == "" and theirs["crosses"] == []
        assert theirs["status"].startswith("Not reviewed yet")
        assert theirs["aggregate"].startswith("All reviewers (1): verdicts 1 helpful")  # alice's, counted
        picker = browser.find_element(By.ID, "study-picker").text
        assert picker.startswith("●1 " + STUDY), picker  # reviewed by one other

        # The keys: 3 sets bob's verdict (and saves it), J opens the next study of the list.
        browser.find_element(By.TAG_NAME, "body").click()
        _saved_after(browser, lambda: browser.switch_to.active_element.send_keys("3"))
        assert _checked(browser, "review-verdict") == ["misleading"]
        assert browser.find_element(By.ID, "review-aggregate").text.startswith("All reviewers (2):")
        browser.switch_to.active_element.send_keys("j")
        PageWait(browser, 60).until(lambda d: "CXR90015" in d.find_element(By.ID, "study-picker").text)
