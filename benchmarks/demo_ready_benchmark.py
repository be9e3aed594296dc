"""A demo that is ready: ``python app.py`` on a fresh cache, from the page answering to the first study's circles,
to every demo study explained by the warm-up, and an interactive open of an uncached study meanwhile.

    .venv/bin/python benchmarks/demo_ready_benchmark.py [--interactive 3]

Needs Debian ``chromium`` and ``chromedriver`` on PATH (as the browser tests do). Everything listens on 127.0.0.1
only; every process started here is stopped here. Steps, in one run:

1. ``python app.py`` (model worker and warm-up on, as ``make run``) on an empty cache directory; the clock starts
   when ``/`` first answers 200 (polled every 0.1 s).
2. Headless Chromium opens ``/?study=<first study>`` at once: the time until the viewer shows that study with all
   its circles drawn as paths in the DOM ("first circles"). Every progress label seen meanwhile is printed (and
   saved as a screenshot with ``--screenshots DIR``); one showing an internal address stops the run.
3. Meanwhile, ``--interactive`` studies from the end of the list (not cached yet: checked before each pick) are
   picked in the study dropdown as a reader does; click to circles as in
   ``benchmarks/cached_open_browser_benchmark.py``.
4. The time until all the studies are in the cache (polled with the Keras-free explainer, every 0.5 s) and the
   worker's "warmed N of M" log lines.
5. Steps 1-3 again on ``python app.py --no-warm-up`` with another empty cache, opening the same studies: what
   the warm-up costs a reader (same run).
6. Baseline, same run: steps 1-3 on ``benchmarks/attribution_only_dashboard.py --no-warm-up`` (the page with no
   deletion evidence at all), the same studies: the attribution-only path of the page. Ratio: interactive
   click-to-circles median during the warm-up / that median. For reference, also the attribution alone in this
   process (``StudyExplainer.attribute(..., evidence_scope="none")``, model loaded, no page, job or worker).

Targets (issue: a demo that is ready): first circles <= 10 s after the page answers; all studies within 600 s;
interactive click to circles median <= 1.25 x the attribution-only median. Prints the load average at start and
end: these are CPU-bound timings on a shared machine.
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from cached_open_browser_benchmark import PAGE_HELPERS, make_driver, pick  # noqa: E402

from tests.serving import answers, free_port  # noqa: E402

FIRST_CIRCLES_TARGET_S = 10.0
ALL_STUDIES_TARGET_S = 600.0
INTERACTIVE_RATIO_TARGET = 1.25
DRAWN_WITH_CIRCLES = (
    "const g = document.querySelector('#xray-graph .js-plotly-plot');"
    "const paths = document.querySelectorAll('#xray-graph .shapelayer path').length;"
    "const shapes = g && g.layout && Array.isArray(g.layout.shapes) ? g.layout.shapes.length : -1;"
    "return !!(g && g.layout && g.layout.uirevision === arguments[0] && shapes >= 0 && paths === shapes);")


PROGRESS_WORDS = (
    "const panel = document.getElementById('progress-panel');"
    "const bar = document.getElementById('progress');"
    "return panel && bar && panel.style.display !== 'none' ? bar.innerText.trim() : '';")


TIMELINE = (("model loaded", "model worker: .* loaded in"), ("worker serving", "model worker: serving on"),
            ("first warm-up study done", "warm-up: warmed 1 of"),
            ("first job done", "explained a study in a background job"))


def timeline(log_text: str, origin_wall: float) -> list[tuple[str, float]]:
    """Seconds from ``origin_wall`` (epoch) to the first log line of each :data:`TIMELINE` event."""
    events = []
    for what, pattern in TIMELINE:
        match = re.search(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) .*" + pattern, log_text, re.MULTILINE)
        if match:
            stamp = datetime.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S").timestamp()
            events.append((what, stamp + int(match.group(2)) / 1000.0 - origin_wall))
    return events


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def wait_until(condition, timeout: float, poll: float, what: str) -> float:
    """Poll ``condition`` until true; the monotonic time it was first seen true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return time.monotonic()
        time.sleep(poll)
    raise RuntimeError(f"{what} did not happen within {timeout:.0f} s")


def click_to_circles(driver, study_id: str, timeout: float = 300.0) -> float:
    """Milliseconds from the option's click until the picked study's circles are drawn (page helper)."""
    driver.execute_script(PAGE_HELPERS)
    driver.execute_script("window.__openBench.arm(arguments[0]);", study_id)
    pick(driver, study_id)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = driver.execute_script("return window.__openBench.result;")
        if result and "ms" in result:
            return float(result["ms"])
        time.sleep(0.05)
    raise RuntimeError(f"picking {study_id} did not draw its circles within {timeout:.0f} s")


def run_dashboard(arguments, study_ids: list[str], sources: dict, settings, *, warm_up: bool,
                  interactive_ids: list[str] | None, attribution_only: bool = False) -> dict:
    """Steps 1-4 on one ``python app.py`` (``--no-warm-up`` when ``warm_up`` is False) with an empty cache.

    Returns:
        ``{"first_seconds", "interactive": {study id: ms}, "all_seconds"}`` (``all_seconds`` None without warm-up).
    """
    from cxrmodel.explain import ExplanationCache, StudyExplainer
    from cxrmodel.modeling import load_bundle

    label = ("attribution only" if attribution_only else "with warm-up" if warm_up else "without warm-up")
    with tempfile.TemporaryDirectory(prefix="demo-ready-") as scratch:
        cache_root = Path(scratch) / "cache"
        log_path = Path(scratch) / "app.log"
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        driver = make_driver()
        log = log_path.open("w")
        process = None
        all_seconds = None
        try:
            program = ["-m", "benchmarks.attribution_only_dashboard"] if attribution_only else ["app.py"]
            command = [sys.executable, *program, "--port", str(port), "--cache-dir", str(cache_root),
                       "--model", str(arguments.model), "--studies", str(arguments.studies)]
            if not warm_up:
                command.append("--no-warm-up")
            launched = time.monotonic()
            process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=log)
            page_answered = wait_until(lambda: answers(url) or process.poll() is not None, 300, 0.1, "the page")
            if process.poll() is not None:
                raise RuntimeError(f"app.py exited:\n{log_path.read_text()[-2000:]}")
            print(f"[{label}] page answers {page_answered - launched:.1f} s after the launch")
            page_answered_wall = time.time() - (time.monotonic() - page_answered)

            # 2. The first study, opened at once.
            driver.get(f"{url}/?study={study_ids[0]}")
            progress_words: list[str] = []

            def first_drawn_noting_the_progress_words() -> bool:
                words = driver.execute_script(PROGRESS_WORDS)
                if words and (not progress_words or progress_words[-1] != words):
                    progress_words.append(words)
                    if arguments.screenshots is not None and len(progress_words) <= 4:
                        arguments.screenshots.mkdir(parents=True, exist_ok=True)
                        driver.save_screenshot(str(arguments.screenshots / f"progress-{'warm' if warm_up else 'cold'}-"
                                                                            f"{len(progress_words)}.png"))
                return driver.execute_script(DRAWN_WITH_CIRCLES, study_ids[0])

            first_drawn = wait_until(first_drawn_noting_the_progress_words, 600, 0.05, "the first study's circles")
            first_seconds = first_drawn - page_answered
            print(f"[{label}] first study's circles {first_seconds:.1f} s after the page answered; progress words "
                  f"seen: {progress_words}")
            if any("http://" in words or "127.0.0.1" in words for words in progress_words):
                raise RuntimeError(f"the progress bar showed an internal address: {progress_words}")

            # Keras-free: the cache is read as the web process reads it.
            with ExplanationCache(cache_root / "explanations") as cache:
                reader = StudyExplainer(load_bundle(arguments.model, load_model=False), cache)

                def cached(study_id: str) -> bool:
                    return reader.is_cached(*sources[study_id], settings)

                # 3. Interactive opens of uncached studies, from the end of the list, while the warm-up runs.
                interactive: dict[str, float] = {}
                candidates = interactive_ids if interactive_ids is not None else list(reversed(study_ids))
                for study_id in candidates:
                    if len(interactive) >= arguments.interactive:
                        break
                    if cached(study_id):
                        continue
                    milliseconds = click_to_circles(driver, study_id)
                    interactive[study_id] = milliseconds
                    done = sum(cached(other) for other in study_ids)
                    print(f"[{label}] open of {study_id} (uncached): {milliseconds / 1000:.1f} s to circles "
                          f"({done} of {len(study_ids)} cached now, load {load_average()})")

                # 4. All studies cached.
                if warm_up:
                    all_cached = wait_until(lambda: all(cached(study_id) for study_id in study_ids), 1800, 0.5,
                                            "every study cached")
                    all_seconds = all_cached - page_answered
                    print(f"[{label}] all {len(study_ids)} studies cached {all_seconds:.0f} s after the page "
                          f"answered (load {load_average()})")
        finally:
            driver.quit()
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(timeout=60)
            log.close()
        text = log_path.read_text()
        print(f"[{label}] timeline after the page answered: " + ", ".join(
            f"{what} {seconds:+.1f} s" for what, seconds in timeline(text, page_answered_wall)))
        warmed = re.findall(r"warm-up: warmed (\d+) of (\d+) \((\S+) ([^)]*)\)", text)
        gave_way = sum(int(times) for times in re.findall(r"gave way to a reader (\d+) times", text))
        outcomes: dict[str, int] = {}
        for _position, _total, _study_id, outcome in warmed:
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        print(f"[{label}] log: {len(warmed)} 'warmed N of M' lines {outcomes}, gave way {gave_way} times; "
              f"{text.count('Traceback')} tracebacks")
    return {"first_seconds": first_seconds, "interactive": interactive, "all_seconds": all_seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "demo")
    parser.add_argument("--studies", type=Path, default=ROOT / "studies" / "demo")
    parser.add_argument("--interactive", type=int, default=3, help="uncached studies opened during the warm-up")
    parser.add_argument("--screenshots", type=Path, default=None,
                        help="save the page at each new progress label while the first study is explained")
    arguments = parser.parse_args()

    from cxrmodel.data import StudyCollection
    from cxrmodel.explain import ExplanationSettings, StudyExplainer
    from cxrmodel.modeling import load_bundle

    collection = StudyCollection.from_folder(arguments.studies)
    study_ids = [summary.study_id for summary in collection.summaries()]
    sources = {study_id: (collection.image_path(study_id).read_bytes(), collection.get(study_id).report_text)
               for study_id in study_ids}
    settings = ExplanationSettings()
    print(f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, "
          f"load average at start {load_average()}")

    warm = run_dashboard(arguments, study_ids, sources, settings, warm_up=True, interactive_ids=None)
    interactive = warm["interactive"]
    # The same opens on a dashboard without the warm-up (fresh cache, same run): what the warm-up costs a reader.
    cold = run_dashboard(arguments, study_ids, sources, settings, warm_up=False, interactive_ids=list(interactive))
    # The attribution-only path of the page (benchmarks/attribution_only_dashboard.py: no evidence at all, no
    # warm-up), the same opens: the baseline of the target.
    bare = run_dashboard(arguments, study_ids, sources, settings, warm_up=False, interactive_ids=list(interactive),
                         attribution_only=True)
    first_seconds, all_seconds = warm["first_seconds"], warm["all_seconds"]

    # 6. Baseline: the attribution-only path of the same studies, same run, the dashboard stopped.
    explainer = StudyExplainer(load_bundle(arguments.model), None)
    explainer.attribute(*sources[study_ids[0]], settings, evidence_scope="none")  # trace the graph once
    attribution_ms = {}
    for study_id in interactive:
        started = time.perf_counter()
        explainer.attribute(*sources[study_id], settings, evidence_scope="none")
        attribution_ms[study_id] = (time.perf_counter() - started) * 1000.0
    interactive_median = statistics.median(interactive.values())
    attribution_median = statistics.median(attribution_ms.values())
    page_median = statistics.median(bare["interactive"].values())
    ratio = interactive_median / page_median
    cold_median = statistics.median(cold["interactive"].values())
    print("study     click->circles: during warm-up  without warm-up  attribution-only page  attribute() alone")
    for study_id in interactive:
        print(f"{study_id}  {interactive[study_id] / 1000:22.1f} s {cold['interactive'][study_id] / 1000:14.1f} s "
              f"{bare['interactive'][study_id] / 1000:20.1f} s {attribution_ms[study_id] / 1000:16.2f} s")
    print(f"interactive median during warm-up {interactive_median / 1000:.1f} s, without warm-up "
          f"{cold_median / 1000:.1f} s (= {interactive_median / cold_median:.2f}x); first circles without warm-up "
          f"{cold['first_seconds']:.1f} s")
    print(f"interactive median during warm-up {interactive_median / 1000:.1f} s / attribution-only page median "
          f"{page_median / 1000:.1f} s = {ratio:.2f}x (target <= {INTERACTIVE_RATIO_TARGET}x); against "
          f"attribute() alone in this process (no page, no job, no worker: "
          f"{attribution_median / 1000:.2f} s) {interactive_median / attribution_median:.1f}x")
    print(f"load average at end {load_average()}")
    met = {"first circles": first_seconds <= FIRST_CIRCLES_TARGET_S,
           "all studies": all_seconds <= ALL_STUDIES_TARGET_S,
           "interactive": ratio <= INTERACTIVE_RATIO_TARGET}
    print("targets: " + ", ".join(f"{name} {'met' if ok else 'NOT met'}" for name, ok in met.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
