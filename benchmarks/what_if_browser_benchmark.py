"""What-if latency in headless Chromium (issue #19), against the same-run cost of today's path for a model answer.

Candidate: ``python app.py`` with its long-lived model worker (components.server.model_worker). Timed in the page:

* **report edit** — the edited report reaches Dash (``set_props`` on ``what-if-report``, i.e. after the 300 ms
  typing debounce) → the new P shown in ``what-if-probability`` (a MutationObserver's timestamp);
* **word strike** — a click on a word of the heatmap → the new P shown (two callbacks: the edit, the answer);
* **region removal** — a click on a circle → the new P shown (the film masked in the web process, then asked);
* **first-time explanation of an uploaded demo study** — Analyze → circles drawn, with the worker and with
  ``--no-model-worker`` (today's path: a fresh background job that loads TensorFlow and the bundle first), same
  run, alternating, each upload with a fresh report so nothing is cached.

Baseline for the what-if answers: today's only way to get a model answer for an edited study, a fresh process
(``python -m cxrmodel predict --image FILE --report-text TEXT --json``), timed in the same run.

Usage: .venv/bin/python benchmarks/what_if_browser_benchmark.py [--edits 15] [--uploads 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.serving import free_port, serving  # noqa: E402

STUDY = "CXR90015"
IMAGE = ROOT / "studies" / "demo" / "NLMCXR_png" / "CXR90015_IM-90015-1001.png"
UPLOAD = ROOT / "studies" / "demo" / "NLMCXR_png" / "CXR90003_IM-90003-1001.png"

WATCH = """
window.__answers = [];
new MutationObserver(() => window.__answers.push([performance.now(),
    document.getElementById('what-if-probability').innerText]))
  .observe(document.getElementById('what-if-probability'), {childList: true, subtree: true, characterData: true});
"""

TIME_ACTION = """
const done = arguments[arguments.length - 1];
const before = window.__answers.length;
const started = performance.now();
(new Function(arguments[0]))();
const poll = () => {
  const fresh = window.__answers.slice(before).filter(a => /^\\d\\.\\d{3}/.test(a[1]));
  if (fresh.length) { done(fresh[fresh.length - 1][0] - started); } else if (performance.now() - started > 20000) {
    done(null); } else { setTimeout(poll, 2); }
};
poll();
"""

EDIT = "window.dash_clientside.set_props('what-if-report', {value: %r});"
STRIKE = """
const g = document.querySelector('#words-graph .js-plotly-plot');
for (const [ti, t] of g.data.entries()) { if (!t.customdata) continue;
  for (let c = 0; c < t.text[0].length; c++) { if ((t.text[0][c] || '').replace(/<\\/?s>/g, '') === 'right') {
    g.emit('plotly_click', {points: [{customdata: t.customdata[0][c], curveNumber: ti, pointNumber: [0, c]}]});
    return; } } }
"""
REMOVE = """
const g = document.querySelector('#xray-graph .js-plotly-plot');
const ti = g.data.findIndex(t => t.name === 'circle centres'); const t = g.data[ti];
g.emit('plotly_click', {points: [{curveNumber: ti, pointNumber: 0, pointIndex: 0, x: t.x[0], y: t.y[0]}]});
"""


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1600,1400"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_script_timeout(60)
    return driver


def summary_text(driver) -> str:
    return driver.execute_script("const s = document.getElementById('circle-summary'); return s ? s.innerText : ''")


def what_if_times(url: str, edits: int) -> dict[str, list[float]]:
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser()
    try:
        driver.get(f"{url}/?study={STUDY}&tau=0.70")
        WebDriverWait(driver, 240).until(lambda d: "τ = 0.70" in summary_text(d))
        WebDriverWait(driver, 60).until(lambda d: "nothing changed" in d.find_element("id", "what-if-probability").text)
        driver.execute_script(WATCH)
        report = driver.execute_script("return document.getElementById('what-if-report').value")
        times: dict[str, list[float]] = {"report edit": [], "word strike": [], "region removal": []}
        for index in range(edits + 2):  # 2 warm-up rounds
            edit = driver.execute_async_script(TIME_ACTION, EDIT % f"{report} Follow-up {index}.")
            strike = driver.execute_async_script(TIME_ACTION, STRIKE)
            driver.execute_async_script(TIME_ACTION, "document.getElementById('what-if-reset').click();")
            remove = driver.execute_async_script(TIME_ACTION, REMOVE)
            driver.execute_async_script(TIME_ACTION, "document.getElementById('what-if-reset').click();")
            if index >= 2:
                for name, value in (("report edit", edit), ("word strike", strike), ("region removal", remove)):
                    if value is not None:
                        times[name].append(value)
        return times
    finally:
        driver.quit()


def upload_times(url: str, count: int, tag: str) -> list[float]:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser()
    times = []
    try:
        driver.get(url)
        WebDriverWait(driver, 240).until(lambda d: "τ =" in summary_text(d))
        driver.execute_script("document.querySelector('.upload-panel summary').click()")
        for index in range(count):
            driver.find_element(By.CSS_SELECTOR, "#upload-image input[type=file]").send_keys(str(UPLOAD))
            WebDriverWait(driver, 30).until(lambda d: "Chosen:" in d.find_element(By.ID, "upload-image-name").text)
            box = driver.find_element(By.ID, "report-text")
            box.send_keys(f"Large right pleural effusion. Benchmark {tag} {index} {time.time():.6f}.")
            before = summary_text(driver)
            driver.execute_script("window.__summaries = [];"
                                  "new MutationObserver(() => window.__summaries.push([performance.now(), "
                                  "document.getElementById('circle-summary').innerText]))"
                                  ".observe(document.getElementById('circle-summary'), "
                                  "{childList: true, subtree: true, characterData: true});")
            started = driver.execute_script("return performance.now()")
            driver.find_element(By.ID, "analyze").click()
            WebDriverWait(driver, 240).until(lambda d, before=before: d.execute_script(
                "const g = document.querySelector('#xray-graph .js-plotly-plot');"
                "return !!(g && g.layout && String(g.layout.uirevision).startsWith('upload-'))")
                and summary_text(d) and summary_text(d) != before)
            drawn = driver.execute_script("const s = window.__summaries; return s.length ? s[s.length - 1][0] : null")
            times.append((drawn or driver.execute_script("return performance.now()")) - started)
        return times
    finally:
        driver.quit()


def fresh_predict_ms(repeats: int) -> list[float]:
    times = []
    for index in range(repeats):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "cxrmodel", "predict", "--model", str(ROOT / "models" / "demo"),
                        "--image", str(IMAGE), "--report-text", f"Right lower lobe nodule {index}.", "--json"],
                       check=True, capture_output=True, cwd=ROOT)
        times.append((time.perf_counter() - started) * 1000.0)
    return times


def line(name: str, values: list[float]) -> str:
    if not values:
        return f"| {name} | 0 | n/a | n/a |"
    ordered = sorted(values)
    return (f"| {name} | {len(values)} | {statistics.median(values):.1f} | "
            f"{ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]:.1f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=15)
    parser.add_argument("--uploads", type=int, default=3)
    arguments = parser.parse_args()
    print(f"# what-if benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPU cores, "
          f"load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as worker_cache, tempfile.TemporaryDirectory() as job_cache:
        worker_port, job_port = free_port(), free_port()
        worker_url, job_url = f"http://127.0.0.1:{worker_port}", f"http://127.0.0.1:{job_port}"
        with serving([sys.executable, "app.py", "--no-warm-up", "--port", str(worker_port), "--cache-dir",
                      worker_cache], worker_url), \
                serving([sys.executable, "app.py", "--no-warm-up", "--port", str(job_port), "--cache-dir", job_cache,
                         "--no-model-worker"], job_url):
            times = what_if_times(worker_url, arguments.edits)
            baseline = fresh_predict_ms(3)
            with_worker, without = [], []
            for index in range(arguments.uploads):
                with_worker += upload_times(worker_url, 1, f"worker{index}")
                without += upload_times(job_url, 1, f"job{index}")
    print("| path | n | median ms | p90 ms |")
    print("|---|---|---|---|")
    for name, values in times.items():
        print(line(f"candidate: {name} → new P shown (model worker)", values))
    print(line("baseline: a fresh `cxrmodel predict` process for the edited study", baseline))
    print(line("first-time explanation of an upload, Analyze → circles, with the model worker", with_worker))
    print(line("first-time explanation of an upload, Analyze → circles, fresh job (--no-model-worker)", without))
    base = statistics.median(baseline)
    for name, target in (("report edit", 150.0), ("region removal", 300.0)):
        if times[name]:
            median = statistics.median(times[name])
            print(f"{name}: median {median:.1f} ms ({base / median:.0f}x faster than the fresh process); "
                  f"target <= {target:.0f} ms: {'met' if median <= target else 'not met'}")
    if with_worker and without:
        share = statistics.median(with_worker) / statistics.median(without)
        print(f"first-time explanation: {100 * share:.0f} % of the fresh-job path; target <= 60 %: "
              f"{'met' if share <= 0.6 else 'not met'}")
    print(f"# load average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
