"""Answer first, in headless Chromium: a new study's circles against the attribution-only path of the same run, its
evidence line after the circles, and a film the model cannot judge.

    .venv/bin/python benchmarks/phases_browser_benchmark.py [--studies 8]

Needs Debian ``chromium`` and ``chromedriver`` (as the browser tests do). Everything listens on 127.0.0.1 only;
every process started here is stopped here.

Two dashboards run side by side, each with its own model worker and a fresh explanation cache, no warm-up:

* product — ``app.py`` as it is: the explanation job draws the circles as soon as the gradients are cached, then
  the evidence at the reader's tau, then the rest (components.explanation_progress.explain_in_phases);
* attribution-only (the baseline, same run) — ``benchmarks/attribution_only_dashboard.py``: the same dashboard
  with no deletion evidence at all, so its circles are drawn after the gradients and nothing else.

One study opens on each first (excluded: it waits for the model worker to load). Then each of ``--studies`` demo
studies, never explained before on either dashboard, is picked in the study dropdown as a user does, alternately on
the product and on the baseline. Per pick: the time from the option's click (``performance.now()``, a capture
listener) until the first animation frame in which the viewer shows the picked study with all its circles drawn
(``#xray-graph .shapelayer path``, as many as ``layout.shapes``), and, on the product, until the prediction card's
evidence line (``#region-evidence``) says what removing those circles does. Last, an NIH ChestX-ray14 film is
uploaded on the product page with a report, and the time from the click on Analyze until the card says the model
cannot judge it is taken.

Prints every pick, the medians, and the three targets: product circles median <= 1.25 x the baseline's; evidence
line <= 1 s after the circles (median); the gated film's "cannot judge" <= 2 s.
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.cached_open_browser_benchmark import make_driver, pick  # noqa: E402
from components import evidence_view, verdict_view  # noqa: E402
from cxrmodel.explain.disclosure import NOT_JUDGED_HEADING  # noqa: E402
from tests.nih_films import nih_film_paths  # noqa: E402
from tests.serving import free_port, serving  # noqa: E402

CIRCLES_TARGET_RATIO = 1.25
EVIDENCE_TARGET_MS = 1000.0
GATED_TARGET_MS = 2000.0
PICK_TIMEOUT_S = 120.0

# Installed once per page load: the click stamp, and a watcher per pick for the circles and the evidence line.
PAGE_HELPERS = r"""
if (!window.__phaseBench) {
  const bench = {t0: null, target: null, circles: null, evidence: null};
  document.addEventListener('click', function (event) {
    const clicked = event.target.closest ? event.target.closest('.dash-dropdown-option, #analyze') : null;
    if (clicked && bench.target !== null && bench.t0 === null) { bench.t0 = performance.now(); }
  }, true);
  bench.arm = function (target, computing, cannotJudge) {
    bench.t0 = null; bench.target = target; bench.circles = null; bench.evidence = null;
    const tick = function () {
      if (bench.t0 !== null) {
        const gd = document.querySelector('#xray-graph .js-plotly-plot');
        const layout = gd && gd.layout ? gd.layout : null;
        const shapes = layout && Array.isArray(layout.shapes) ? layout.shapes.length : 0;
        const paths = document.querySelectorAll('#xray-graph .shapelayer path').length;
        const verdict = document.getElementById('""" + verdict_view.VERDICT_ID + r"""');
        if (bench.circles === null && cannotJudge && verdict && verdict.textContent.indexOf(cannotJudge) >= 0) {
          bench.circles = performance.now() - bench.t0; bench.evidence = bench.circles;
        }
        if (bench.circles === null && layout && layout.uirevision === target && paths === shapes &&
            (layout.images || []).some(function (image) { return image.name === 'radiograph'; })) {
          bench.circles = performance.now() - bench.t0;
        }
        const line = document.getElementById('""" + evidence_view.REGION_EVIDENCE_ID + r"""');
        const said = line ? line.textContent : '';
        if (bench.circles !== null && bench.evidence === null && said && said !== computing) {
          bench.evidence = performance.now() - bench.t0;
        }
      }
      if (bench.circles === null || bench.evidence === null) { requestAnimationFrame(tick); }
    };
    requestAnimationFrame(tick);
  };
  window.__phaseBench = bench;
}
"""


def _wait(driver, key: str, label: str) -> float:
    deadline = time.monotonic() + PICK_TIMEOUT_S
    while time.monotonic() < deadline:
        value = driver.execute_script(f"return window.__phaseBench.{key};")
        if value is not None:
            return float(value)
        time.sleep(0.02)
    raise RuntimeError(f"{label}: no {key} within {PICK_TIMEOUT_S:.0f} s")


def open_first(driver, url: str, study_id: str) -> None:
    """Load the page on ``study_id`` and wait until it is drawn (the model worker has loaded), then arm."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{url}/?study={study_id}&threshold=0.7")
    WebDriverWait(driver, 240).until(lambda d: d.execute_script(
        "const g = document.querySelector('#xray-graph .js-plotly-plot');"
        "return !!(g && g.layout && g.layout.uirevision === arguments[0]);", study_id))
    driver.execute_script(PAGE_HELPERS)


def measure_pick(driver, study_id: str, with_evidence: bool) -> tuple[float, float | None]:
    """(click -> circles ms, click -> evidence line ms or None) of one pick."""
    driver.execute_script("window.__phaseBench.arm(arguments[0], arguments[1], null);", study_id,
                          evidence_view.COMPUTING_TEXT if with_evidence else "")
    pick(driver, study_id)
    circles = _wait(driver, "circles", study_id)
    evidence = _wait(driver, "evidence", study_id) if with_evidence else None
    return circles, evidence


def measure_gated_upload(driver, film: Path) -> float:
    """Click on Analyze -> "cannot judge" on the card, ms, for an uploaded film the model cannot judge."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.execute_script("document.querySelector('.upload-panel summary').click()")
    driver.find_element(By.CSS_SELECTOR, "#upload-image input[type=file]").send_keys(str(film))
    WebDriverWait(driver, 30).until(lambda d: f"Chosen: {film.name}" in d.find_element(By.ID,
                                                                                       "upload-image-name").text)
    box = driver.find_element(By.ID, "report-text")
    box.clear()
    box.send_keys("FINDINGS: Heart size is normal. The lungs are clear. IMPRESSION: No acute disease.")
    driver.execute_script("window.__phaseBench.arm('', '', arguments[0]);", NOT_JUDGED_HEADING)
    driver.find_element(By.ID, "analyze").click()
    return _wait(driver, "circles", "the gated upload")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=8, help="new demo studies opened on each dashboard")
    arguments = parser.parse_args()
    from cxrmodel.data import StudyCollection

    study_ids = [summary.study_id for summary in StudyCollection.from_folder(ROOT / "studies" / "demo").summaries()]
    first, measured = study_ids[0], study_ids[1: 1 + arguments.studies]
    films = [path for path in nih_film_paths() if "/test/" in path.as_posix()]
    print(f"# answer first, {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPU cores, "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="phases-benchmark-") as scratch:
        scratch_path = Path(scratch)
        dashboards = {}
        ports = {name: free_port() for name in ("product", "baseline")}
        commands = {
            "product": [sys.executable, "app.py"],
            "baseline": [sys.executable, "-m", "benchmarks.attribution_only_dashboard"],
        }
        from contextlib import ExitStack

        with ExitStack() as stack:
            for name, command in commands.items():
                port = ports[name]
                url = f"http://127.0.0.1:{port}"
                stack.enter_context(serving(
                    [*command, "--no-warm-up", "--port", str(port), "--cache-dir", str(scratch_path / name)], url,
                    log_path=scratch_path / f"{name}.log"))
                driver = make_driver()
                stack.callback(driver.quit)
                open_first(driver, url, first)
                dashboards[name] = driver
            rows = []
            for study_id in measured:
                circles, evidence = measure_pick(dashboards["product"], study_id, with_evidence=True)
                baseline, _ = measure_pick(dashboards["baseline"], study_id, with_evidence=False)
                rows.append((study_id, circles, evidence, baseline))
                print(f"{study_id}: product circles {circles:.0f} ms, evidence line {evidence:.0f} ms "
                      f"(+{evidence - circles:.0f} ms); attribution-only circles {baseline:.0f} ms", flush=True)
            gated = None
            if films:
                film = scratch_path / f"nih-{films[0].name}"
                film.write_bytes(films[0].read_bytes())
                gated = measure_gated_upload(dashboards["product"], film)
                print(f"gated NIH film {films[0].name}: Analyze -> 'cannot judge' {gated:.0f} ms", flush=True)
            else:
                print("# no NIH films found (../shared/data/nih-chestxray14-64px): the gated film is not measured")
    product = statistics.median(row[1] for row in rows)
    baseline = statistics.median(row[3] for row in rows)
    after = statistics.median(row[2] - row[1] for row in rows)
    ratio = product / baseline
    print(f"product circles median {product:.0f} ms, attribution-only median {baseline:.0f} ms: ratio {ratio:.2f} "
          f"(target <= {CIRCLES_TARGET_RATIO}: {'met' if ratio <= CIRCLES_TARGET_RATIO else 'NOT met'})")
    print(f"evidence line after the circles: median {after:.0f} ms, max {max(row[2] - row[1] for row in rows):.0f} "
          f"ms (target <= {EVIDENCE_TARGET_MS:.0f} ms: {'met' if after <= EVIDENCE_TARGET_MS else 'NOT met'})")
    if gated is not None:
        print(f"gated film: {gated:.0f} ms (target <= {GATED_TARGET_MS:.0f} ms: "
              f"{'met' if gated <= GATED_TARGET_MS else 'NOT met'})")
    print(f"# load average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
