"""Click to circles for a cached study, in headless Chromium: the plain study callback against the background job.

    .venv/bin/python benchmarks/cached_open_browser_benchmark.py [--limit 32] [--rounds 1] [--cache-dir DIR]
        [--gunicorn-workers N] [--baseline job|stored-views-off] [--open-first]

Needs Debian ``chromium`` and ``chromedriver`` on PATH (as the browser tests do). Everything listens on 127.0.0.1
only; every process started here is stopped here.

Every demo study is explained first, in this process, into one explanation cache (``--cache-dir`` keeps it for
the next run). Then two dashboards share that cache, one after the other (``python app.py`` subprocesses, or with
``--gunicorn-workers N`` ``gunicorn --workers N app:server`` configured through CXR_MODEL, CXR_STUDIES and
CXR_CACHE_DIR):

* candidate — the dashboard as it is: a cached study is drawn by the study callback, a plain server callback (with
  ``CXR_STORED_VIEWS`` unset: the stored study views, issue #26);
* baseline (same run), ``--baseline job`` (the default) — the same dashboard with ``CXR_CACHED_OPEN_VIA_JOB=1``,
  which opens a cached study through the Dash background job as before issue #17 (a job process, then the job's
  result polled every 500 ms, then the study callback draws it); ``--baseline stored-views-off`` — the same
  dashboard with ``CXR_STORED_VIEWS=0``: every open rendered from the cached explanation (issue #26's baseline).

On each, the page opens on the first study; then each study is picked in turn in the study dropdown as a user does
(open it, type the id, click the option; the next study is always a different one). Per pick: the time from the
option's click (a capture listener, ``performance.now()``) until the first animation frame in which the viewer
shows the picked study (its figure's ``uirevision``) with all its circles drawn as paths in the DOM
(``#xray-graph .shapelayer path``, as many as the figure's ``layout.shapes``), plus one task (``setTimeout(0)``
after that frame: painted). Prints per-path median, p90 and max, the ratio baseline median / candidate median,
and whether the target is met: candidate median <= 300 ms (issue #17) under ``python app.py``, <= 150 ms under
gunicorn (issue #26). Exits 1 if a pick does not land.

With ``--open-first``, every study is opened once over HTTP on each server before the browser measures (4 sessions
at once, the study callback as the browser sends it: tests.load.study_picks), so the candidate's stored views are
on disk and both servers' workers have served a study (the job baseline is not opened first: its study callback
draws nothing): the picks measure a study opened before, not its first
open since the start (what a single round measures on the candidate without it).
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.demo_cache import explain_demo_studies  # noqa: E402
from tests.serving import free_port, gunicorn_command, serving  # noqa: E402

TARGET_MEDIAN_MS = 300.0
"""Issue #17's target, under ``python app.py``."""
GUNICORN_TARGET_MEDIAN_MS = 150.0
"""Issue #26's target, under ``gunicorn --workers N``."""
STORED_VIEWS_ENV = "CXR_STORED_VIEWS"
BASELINES = {
    "job": ({"CXR_CACHED_OPEN_VIA_JOB": "1"}, "baseline: through the background job"),
    "stored-views-off": ({STORED_VIEWS_ENV: "0"}, f"baseline: {STORED_VIEWS_ENV}=0 (rendered on every open)"),
}
"""``--baseline``: (the baseline server's environment, its label)."""
PICK_TIMEOUT_S = 60.0

# Installed once per page load: the click stamp and the per-pick watcher.
PAGE_HELPERS = r"""
if (!window.__openBench) {
  const bench = {t0: null, target: null, result: null};
  document.addEventListener('click', function (event) {
    const option = event.target.closest ? event.target.closest('.dash-dropdown-option') : null;
    if (option && bench.target !== null && bench.t0 === null) { bench.t0 = performance.now(); }
  }, true);
  bench.arm = function (target) {
    bench.t0 = null; bench.result = null; bench.target = target;
    const tick = function () {
      if (bench.result !== null) { return; }
      const gd = document.querySelector('#xray-graph .js-plotly-plot');
      const paths = document.querySelectorAll('#xray-graph .shapelayer path').length;
      const shapes = gd && gd.layout && Array.isArray(gd.layout.shapes) ? gd.layout.shapes.length : 0;
      if (bench.t0 !== null && gd && gd.layout && gd.layout.uirevision === bench.target && paths === shapes) {
        const frame = performance.now();
        bench.result = {pending: true};
        setTimeout(function () {
          bench.result = {ms: performance.now() - bench.t0, frame_ms: frame - bench.t0, circles: shapes};
        }, 0);
        return;
      }
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  };
  window.__openBench = bench;
}
"""


def make_driver():
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = shutil.which("chromium")
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--window-size=1400,1000"):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)


def pick(driver, study_id: str, attempts: int = 3) -> None:
    """Open the dropdown, type the id, click its option (again, up to ``attempts`` times, if the dropdown
    re-rendered under the pointer: a busy machine)."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    selector = f".dash-dropdown-content input.dash-options-list-option-checkbox[value='{study_id}']"
    for attempt in range(attempts):
        try:
            driver.find_element(By.ID, "study-picker").click()
            search = WebDriverWait(driver, 10).until(
                lambda d: d.find_element(By.CSS_SELECTOR, ".dash-dropdown-content input.dash-dropdown-search"))
            search.send_keys(study_id)
            option = WebDriverWait(driver, 10).until(lambda d: d.find_element(By.CSS_SELECTOR, selector))
            option.find_element(By.XPATH, "./ancestor::label").click()
            return
        except WebDriverException:
            if attempt == attempts - 1:
                raise
            driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)  # close the dropdown, try again


def drawn(driver, study_id: str) -> bool:
    return driver.execute_script(
        "const g = document.querySelector('#xray-graph .js-plotly-plot');"
        "return !!(g && g.layout && g.layout.uirevision === arguments[0]);", study_id)


DASH_IDLE = (
    "const c = window.store && window.store.getState().callbacks; if (!c) { return false; }"
    "return ['requested', 'prioritized', 'blocked', 'executing', 'watched', 'executed']"
    ".every(k => !c[k] || c[k].length === 0);")
"""True when no Dash callback of the page is requested, waiting or running (the renderer's store)."""


def settle(driver, seconds: float) -> None:
    """Wait until the page's callbacks are done (the previous study's words, checks, review panel), then
    ``seconds`` more: a reader who looks at a study before picking the next."""
    deadline = time.monotonic() + PICK_TIMEOUT_S
    while not driver.execute_script(DASH_IDLE) and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(seconds)


def measure(driver, url: str, study_ids: list[str], rounds: int, settle_seconds: float | None = None) -> list[float]:
    """Click-to-circles milliseconds of every pick (``rounds`` passes over the studies); with ``settle_seconds``,
    each pick waits for the page to finish with the previous study first (:func:`settle`), else they follow each
    other as soon as the circles are drawn."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{url}/?study={study_ids[-1]}")
    WebDriverWait(driver, PICK_TIMEOUT_S).until(lambda d: drawn(d, study_ids[-1]))
    driver.execute_script(PAGE_HELPERS)
    times = []
    for _ in range(rounds):
        for study_id in study_ids:
            if settle_seconds is not None:
                settle(driver, settle_seconds)
            driver.execute_script("window.__openBench.arm(arguments[0]);", study_id)
            pick(driver, study_id)
            deadline = time.monotonic() + PICK_TIMEOUT_S
            result = None
            while time.monotonic() < deadline:
                result = driver.execute_script("return window.__openBench.result;")
                if result and "ms" in result:
                    break
                time.sleep(0.02)
            if not result or "ms" not in result:
                raise RuntimeError(f"picking {study_id} did not draw it within {PICK_TIMEOUT_S:.0f} s")
            times.append(float(result["ms"]))
    return times


def open_first(url: str, study_ids: list[str], sessions: int = 4) -> None:
    """Open every study once per session over HTTP, ``sessions`` at once (not timed); raises if one is not drawn."""
    from concurrent.futures import ThreadPoolExecutor

    from tests.load import study_picks
    from tests.load.dash_client import DashPage

    def session(_index: int) -> None:
        page = DashPage(url, timeout=120)
        for study_id in study_ids:
            problem = study_picks.drawn_problem(study_picks.open_study(page, study_id))
            if problem is not None:
                raise RuntimeError(f"opening {study_id} first: {problem}")

    with ThreadPoolExecutor(max_workers=sessions) as pool:
        list(pool.map(session, range(sessions)))


def summary(times: list[float]) -> tuple[float, float, float]:
    ordered = sorted(times)
    p90 = ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]
    return statistics.median(ordered), p90, ordered[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "demo")
    parser.add_argument("--studies", type=Path, default=ROOT / "studies" / "demo")
    parser.add_argument("--limit", type=int, default=32, help="how many demo studies (default all 32)")
    parser.add_argument("--rounds", type=int, default=1, help="passes over the studies per path")
    parser.add_argument("--cache-dir", type=Path, default=None, help="explanation cache to (re)use")
    parser.add_argument("--gunicorn-workers", type=int, default=0,
                        help="serve both with `gunicorn --workers N app:server` (default 0: `python app.py`)")
    parser.add_argument("--open-first", action="store_true",
                        help="open every study once over HTTP on each server before the browser measures")
    parser.add_argument("--settle", type=float, default=None, metavar="SECONDS",
                        help="before each pick, wait until the page has finished with the previous study, then "
                             "SECONDS more (default: pick again as soon as the circles are drawn)")
    parser.add_argument("--baseline", choices=sorted(BASELINES), default="job",
                        help="job: CXR_CACHED_OPEN_VIA_JOB=1 (default); stored-views-off: CXR_STORED_VIEWS=0")
    arguments = parser.parse_args()
    if arguments.limit < 2 or arguments.rounds < 1 or arguments.gunicorn_workers < 0:
        parser.error("--limit must be >= 2, --rounds >= 1 and --gunicorn-workers >= 0")
    os.environ.pop(STORED_VIEWS_ENV, None)  # the candidate gets the default, whatever this shell has set
    baseline_environment, baseline_label = BASELINES[arguments.baseline]
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        print("error: chromium and chromedriver must be on PATH", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as temporary:
        cache = arguments.cache_dir or Path(temporary) / "cache"
        study_ids, explained_s = explain_demo_studies(arguments.model, arguments.studies, cache, arguments.limit)
        print(f"# {len(study_ids)} studies in the cache ({explained_s:.0f} s to explain the missing)", flush=True)
        results = {}
        driver = make_driver()
        try:
            for name, environment in (("candidate", {}), ("baseline", baseline_environment)):
                port = free_port()
                url = f"http://127.0.0.1:{port}"
                if arguments.gunicorn_workers:
                    command = gunicorn_command(arguments.gunicorn_workers, port, timeout_seconds=300)
                    environment = {**environment, "CXR_MODEL": str(arguments.model),
                                   "CXR_STUDIES": str(arguments.studies), "CXR_CACHE_DIR": str(cache)}
                else:
                    command = [sys.executable, "app.py", "--no-warm-up", "--port", str(port), "--cache-dir",
                               str(cache), "--model", str(arguments.model), "--studies", str(arguments.studies)]
                log = Path(temporary) / f"{name}.log"
                with serving(command, url, environment={**os.environ, **environment}, log_path=log,
                             startup_seconds=180):
                    if arguments.open_first and not (name == "baseline" and arguments.baseline == "job"):
                        open_first(url, study_ids)  # (the job baseline draws nothing in the study callback)
                    results[name] = measure(driver, url, study_ids, arguments.rounds, arguments.settle)
        finally:
            driver.quit()

    load = os.getloadavg()[0]
    served_by = (f"gunicorn --workers {arguments.gunicorn_workers} (sync)" if arguments.gunicorn_workers
                 else "python app.py")
    print(f"# cached open in the browser, {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, {served_by}, "
          f"{len(study_ids)} demo studies x {arguments.rounds} round(s)"
          f"{', each opened once over HTTP first' if arguments.open_first else ''}"
          f"{'' if arguments.settle is None else f', each pick after the page settled + {arguments.settle:g} s'}"
          f", load average {load:.1f}, "
          f"{os.cpu_count()} CPU cores")
    print("| path | picks | median ms | p90 ms | max ms |")
    print("|---|---|---|---|---|")
    labels = {"candidate": ("candidate: stored study views (default)" if arguments.baseline == "stored-views-off"
                            else "candidate: plain study callback"), "baseline": baseline_label}
    for name in ("candidate", "baseline"):
        median, p90, worst = summary(results[name])
        print(f"| {labels[name]} | {len(results[name])} | {median:.1f} | {p90:.1f} | {worst:.1f} |")
    candidate, baseline = summary(results["candidate"])[0], summary(results["baseline"])[0]
    print(f"ratio baseline / candidate (medians): {baseline / candidate:.2f}x")
    target = GUNICORN_TARGET_MEDIAN_MS if arguments.gunicorn_workers else TARGET_MEDIAN_MS
    met = candidate <= target
    print(f"target (candidate median <= {target:.0f} ms click to circles): {'met' if met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
