"""Screenshots of the main screen for the README, taken with headless Chromium (Debian chromium + chromedriver).

Starts the dashboard on the demo (fresh temporary cache, 127.0.0.1), opens a link to the study at the default sight
sensitivity and at a low one, waits for the circles, and writes ``docs/dashboard-default.png`` and
``docs/dashboard-low-threshold.png``; then opens the "How to read this" legend at the default and writes
``docs/dashboard-reading-guide.png`` (1600 x 1250 px window); then the evidence of ``--evidence-study`` after its
stability check (``docs/dashboard-evidence.png``) and the model card's calibration diagram
(``docs/dashboard-calibration.png``). With ``--real-film PNG`` (a real radiograph, e.g. one
of the NIH ChestX-ray14 films in ``../shared/data/nih-chestxray14-64px``; never copied into the repository) it also
uploads that film with a short report and writes ``docs/dashboard-flagged-upload.png``: the out-of-distribution
notice with P(abnormal), the verdict and the circles held back behind "Show anyway".

Usage: .venv/bin/python docs/screenshots.py [--study CXR90015] [--low 0.3] [--real-film PNG]

(CXR90015 is the study the README's pictures show: a synthetic nodule in the right lower lobe.)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.serving import ROOT, free_port, serving  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", default="CXR90015")
    parser.add_argument("--default", type=float, default=0.7, dest="default_tau")
    parser.add_argument("--low", type=float, default=0.3)
    parser.add_argument("--real-film", type=Path, help="a real radiograph to upload for the flagged-upload picture")
    parser.add_argument("--evidence-study", default="CXR90015",
                        help="the study of the evidence picture (its stability check is run first)")
    arguments = parser.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as cache, serving([sys.executable, "app.py", "--no-warm-up", "--port", str(port),
                                                          "--cache-dir", cache], url):
        options = Options()
        options.binary_location = "/usr/bin/chromium"
        for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1600,1250",
                         "--hide-scrollbars"):
            options.add_argument(argument)
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        try:
            for tau, name, guide in ((arguments.default_tau, "dashboard-default.png", False),
                                     (arguments.low, "dashboard-low-threshold.png", False),
                                     (arguments.default_tau, "dashboard-reading-guide.png", True)):
                driver.get(f"{url}/?study={arguments.study}&tau={tau:.2f}")
                WebDriverWait(driver, 180).until(lambda d, tau=tau: f"τ = {tau:.2f}" in d.execute_script(
                    "const s = document.getElementById('circle-summary'); return s ? s.innerText : ''"))
                if guide:
                    driver.execute_script("document.querySelector('#reading-guide summary').click()")
                    WebDriverWait(driver, 10).until(lambda d: d.execute_script(
                        "return document.getElementById('reading-guide').open"))
                time.sleep(1.5)  # let the heatmap and the fonts settle
                driver.save_screenshot(str(ROOT / "docs" / name))
                print(f"wrote docs/{name}")
            _evidence_and_calibration(driver, url, arguments.evidence_study)
            if arguments.real_film:
                _flagged_upload(driver, url, arguments.real_film.resolve())
        finally:
            driver.quit()
    return 0


def _evidence_and_calibration(driver, url: str, study: str) -> None:
    """docs/dashboard-evidence.png (the study's evidence, after Check stability) and docs/dashboard-calibration.png
    (the model card open at its reliability diagram)."""
    driver.get(f"{url}/?study={study}&tau=0.70")
    WebDriverWait(driver, 180).until(lambda d: "τ = 0.70" in d.execute_script(
        "const s = document.getElementById('circle-summary'); return s ? s.innerText : ''"))
    WebDriverWait(driver, 30).until(lambda d: d.execute_script(
        "const b = document.getElementById('check-stability'); const s = document.getElementById('stability-badge');"
        "return (b && b.style.display !== 'none') || (s && s.innerText !== '')"))
    driver.execute_script("const b = document.getElementById('check-stability');"
                          "if (b && b.style.display !== 'none') { b.click(); }")
    WebDriverWait(driver, 240).until(lambda d: d.execute_script(
        "const s = document.getElementById('stability-badge'); return s ? s.innerText : ''"))
    driver.execute_script("document.getElementById('region-evidence').scrollIntoView({block: 'start'});"
                          "window.scrollBy(0, -260);")
    time.sleep(1.5)
    driver.save_screenshot(str(ROOT / "docs" / "dashboard-evidence.png"))
    print("wrote docs/dashboard-evidence.png")
    driver.execute_script("window.scrollTo(0, 0); document.querySelector('#model-card summary').click();"
                          "window.dispatchEvent(new Event('resize'));")
    WebDriverWait(driver, 20).until(lambda d: d.execute_script(
        "const g = document.querySelector('#calibration-diagram .js-plotly-plot'); return !!g"))
    time.sleep(2)
    driver.save_screenshot(str(ROOT / "docs" / "dashboard-calibration.png"))
    print("wrote docs/dashboard-calibration.png")


def _flagged_upload(driver, url: str, film: Path) -> None:
    """Upload ``film`` with a report, wait for the withheld result and write docs/dashboard-flagged-upload.png."""
    driver.get(url)
    WebDriverWait(driver, 180).until(lambda d: d.execute_script(
        "return !!document.querySelector('.upload-panel summary')"))
    driver.execute_script("document.querySelector('.upload-panel summary').click()")
    driver.find_element(By.CSS_SELECTOR, "#upload-image input[type=file]").send_keys(str(film))
    WebDriverWait(driver, 30).until(lambda d: f"Chosen: {film.name}" in d.find_element(By.ID, "upload-image-name").text)
    driver.find_element(By.ID, "report-text").send_keys(
        "FINDINGS: The heart is normal in size. The lungs are clear. IMPRESSION: No acute cardiopulmonary disease.")
    driver.find_element(By.ID, "analyze").click()
    WebDriverWait(driver, 180).until(lambda d: d.execute_script(
        "return !!document.querySelector('.distribution-withheld button')"))
    driver.execute_script("window.scrollTo(0, 0)")
    time.sleep(1.5)
    driver.save_screenshot(str(ROOT / "docs" / "dashboard-flagged-upload.png"))
    print("wrote docs/dashboard-flagged-upload.png")


if __name__ == "__main__":
    raise SystemExit(main())
