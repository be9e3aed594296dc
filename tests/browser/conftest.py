"""The headless Chromium shared by the browser tests (Debian chromium + chromium-driver)."""

from __future__ import annotations

import shutil
import sys

import pytest

from tests.serving import free_port, serving

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.options import Options  # noqa: PLC0415
    from selenium.webdriver.chrome.service import Service  # noqa: PLC0415

    options = Options()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--window-size=1400,1000"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def dashboard_url(tmp_path_factory):
    """``python app.py`` on the demo (no background warm-up: the tests open uncached studies), a fresh cache per
    test module, on a free 127.0.0.1 port; a module may override it with its own server."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "app.py", "--no-warm-up", "--port", str(port), "--cache-dir",
               str(tmp_path_factory.mktemp("cache"))]
    with serving(command, url, log_path=tmp_path_factory.mktemp("server") / "server.log"):
        yield url


def dash_idle(driver) -> bool:
    """No Dash callback requested, waiting or running (the renderer's store). A study's words and sweep chart
    arrive in a second request after its circles (components.study_opening), so request counts wait for this."""
    return driver.execute_script(
        "const c = window.store && window.store.getState().callbacks; if (!c) { return false; }"
        "return ['requested', 'prioritized', 'blocked', 'executing', 'watched', 'executed']"
        ".every(k => !c[k] || c[k].length === 0);")
