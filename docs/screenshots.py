"""Screenshots of the main screen for the README, taken with headless Chromium (Debian chromium + chromedriver).

Starts the dashboard on the demo (fresh temporary cache, 127.0.0.1), opens a deep link at the default sight
sensitivity and at a low one, waits for the circles, and writes ``docs/dashboard-default.png`` and
``docs/dashboard-low-threshold.png`` (1600 x 1250 px window).

Usage: .venv/bin/python docs/screenshots.py [--study CXR90011] [--low 0.3]
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", default="CXR90011")
    parser.add_argument("--default", type=float, default=0.7, dest="default_tau")
    parser.add_argument("--low", type=float, default=0.3)
    arguments = parser.parse_args()
    port = _free_port()
    with tempfile.TemporaryDirectory() as cache:
        server = subprocess.Popen([sys.executable, "app.py", "--port", str(port), "--cache-dir", cache], cwd=ROOT,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        options = Options()
        options.binary_location = "/usr/bin/chromium"
        for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1600,1250",
                         "--hide-scrollbars"):
            options.add_argument(argument)
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        try:
            url = f"http://127.0.0.1:{port}"
            for _ in range(120):
                try:
                    urllib.request.urlopen(url, timeout=1)
                    break
                except OSError:
                    time.sleep(0.5)
            for tau, name in ((arguments.default_tau, "dashboard-default.png"), (arguments.low, "dashboard-low-threshold.png")):
                driver.get(f"{url}/?study={arguments.study}&threshold={tau}")
                WebDriverWait(driver, 180).until(lambda d: f"τ = {tau:.2f}" in d.execute_script(
                    "const s = document.getElementById('circle-summary'); return s ? s.innerText : ''"))
                time.sleep(1.5)  # let the heatmap and the fonts settle
                driver.save_screenshot(str(ROOT / "docs" / name))
                print(f"wrote docs/{name}")
        finally:
            driver.quit()
            server.terminate()
            server.wait(timeout=20)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
