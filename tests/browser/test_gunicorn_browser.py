"""`gunicorn --workers 2 app:server` serves a full explanation end to end, in a real headless Chromium.

With two worker processes, consecutive requests of one page land on either worker: the background job's result,
the explanation cache and the page's upload must all travel through disk (the cache directory), not through a
worker's memory. The test opens an uncached study (background job, then circles) and uploads a study.
"""

from __future__ import annotations

import pytest

pytest.importorskip("selenium")
pytest.importorskip("gunicorn")
from selenium.webdriver.common.by import By  # noqa: E402

from tests.browser.test_dashboard_browser import (  # noqa: E402
    CHROMEDRIVER,
    CHROMIUM,
    _circle_count,
    _severe_console_entries,
    _summary,
)
from tests.browser.waiting import PageWait  # noqa: E402
from tests.serving import ROOT, free_port, gunicorn_command, serving  # noqa: E402

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="Debian chromium + chromium-driver are not installed (.ci/run installs them)",
)


@pytest.fixture(scope="module")
def gunicorn_url(tmp_path_factory):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    with serving(gunicorn_command(2, port), url, log_path=log_path, startup_seconds=180,
                 environment={"CXR_CACHE_DIR": str(tmp_path_factory.mktemp("cache"))}):
        yield url
    assert "Traceback" not in log_path.read_text()


def test_two_gunicorn_workers_serve_a_full_explanation_and_an_upload(gunicorn_url, browser):
    browser.get(f"{gunicorn_url}/?study=CXR90026&threshold=0.3")
    PageWait(browser, 180).until(lambda driver: "τ = 0.30" in _summary(driver) and _circle_count(driver) > 0)
    assert "P(abnormal)" in browser.find_element(By.ID, "prediction").text

    browser.execute_script("document.querySelector('.upload-panel summary').click()")
    image = ROOT / "studies" / "demo" / "NLMCXR_png" / "CXR90020_IM-90020-1001.png"
    browser.find_element(By.CSS_SELECTOR, "#upload-image input[type=file]").send_keys(str(image))
    browser.find_element(By.ID, "report-text").send_keys("Large left pleural effusion.")
    browser.find_element(By.ID, "analyze").click()
    PageWait(browser, 180).until(
        lambda driver: "Uploaded: CXR90020" in driver.find_element(By.ID, "study-picker").text
        and "report label" not in driver.find_element(By.ID, "prediction").text
        and "P(abnormal)" in driver.find_element(By.ID, "prediction").text)
    assert _severe_console_entries(browser) == []
