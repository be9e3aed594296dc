"""Concurrent sessions opening cached demo studies: latency and throughput of the study callback under load.

    .venv/bin/python benchmarks/load_benchmark.py [--sessions 20] [--studies 8] [--gunicorn-workers 2]
        [--rounds 1] [--baseline] [--cache-dir DIR] [--no-details] [--max-seconds 240]

Issue #26's targets: 20 concurrent sessions x 8 cached studies under ``gunicorn --workers 2`` on 127.0.0.1, on the
2 cores: p95 <= 1 s and >= 40 opens/s, every open drawn (checked here on every response) and correct (the same
circles and words as a direct computation: tests/load/test_cached_opens_gunicorn.py).

The first ``--studies`` demo studies are explained first, in this process, into one explanation cache
(``--cache-dir`` keeps it for the next run; benchmarks/cached_open_browser_benchmark.py fills the same layout).
Then, per path, one server on that cache (``gunicorn --workers N app:server``, configured through CXR_MODEL,
CXR_STUDIES and CXR_CACHE_DIR; or ``python app.py`` with ``--gunicorn-workers 0``):

* candidate — the dashboard as it is (``CXR_STORED_VIEWS`` unset: stored study views);
* baseline (``--baseline``, same run, same cache) — ``CXR_STORED_VIEWS=0``: every open rendered from the cached
  explanation, today's path. The two are run one after the other, never at once.

On each: one session alone opens every study twice (the first pass meets each worker cold; reported, not in the
load figures); then ``--sessions`` sessions (threads, each its own page load: tests.load.dash_client.DashPage), all
loaded before the clock starts, pick every study ``--rounds`` times (once by default), each starting at a
different one, at once:

* "opens": the study callback alone — exactly the request the browser sends when a study is picked in the list
  (every Input and State of the callback's current spec, the page's own values: tests.load.study_picks), timed
  from request to parsed response (the whole figure payload, the client's JSON parsing included);
* "study + details" (unless ``--no-details``; a second round of the same sessions): the study callback, then the
  details callback the browser sends on the ``shown-study`` it set (words, strongest words, sweep chart), timed
  together.

Every response is checked: circle-sweep data present, the figure's ``layout.uirevision``, ``shown-study`` and the
study tags naming the study picked; anything else, and any failed request, counts as an error. Bounded: each round
stops starting opens after ``--max-seconds`` (those left count as not run), each request times out after 60 s.
Prints per path and round: opens, p50, p95, throughput, wall, errors, the targets met or not, and the ratios
baseline / candidate. Exits 1 when any open failed or was not its study drawn.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.demo_cache import explain_demo_studies  # noqa: E402
from tests.load import study_picks  # noqa: E402
from tests.load.dash_client import DashPage  # noqa: E402
from tests.serving import free_port, gunicorn_command, serving  # noqa: E402

TARGET_P95_MS = 1000.0
TARGET_OPENS_PER_SECOND = 40.0
STORED_VIEWS_ENV = "CXR_STORED_VIEWS"
REQUEST_TIMEOUT_S = 60.0


@dataclass
class Round:
    """One round of concurrent picks on one server."""

    times_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    not_run: int = 0
    wall_s: float = 0.0

    @property
    def throughput(self) -> float:
        return len(self.times_ms) / self.wall_s if self.wall_s else 0.0


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (the value below which ``fraction`` of them lie)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))] if ordered else float("nan")


def checked_pick(page: DashPage, study_id: str, details: bool, result: Round, lock: threading.Lock) -> None:
    """Pick ``study_id``; its time into ``result`` when it is that study drawn, else an error."""
    try:
        pick = study_picks.open_study(page, study_id, details=details)
    except Exception as error:  # noqa: BLE001 - any failure is counted and shown, the others go on
        with lock:
            result.errors.append(f"{study_id}: {type(error).__name__}: {error}"[:300])
        return
    problem = study_picks.drawn_problem(pick)
    with lock:
        if problem is None:
            result.times_ms.append(pick.study_ms + pick.details_ms)
        else:
            result.errors.append(f"{study_id}: {problem}"[:300])


def concurrent_round(pages: list[DashPage], study_ids: list[str], details: bool, max_seconds: float,
                     rounds: int = 1) -> Round:
    """Every page picks every study ``rounds`` times, all pages at once; the clock runs from the first pick to the
    last."""
    result, lock = Round(), threading.Lock()
    start = threading.Barrier(len(pages) + 1)
    deadline = [0.0]

    def session(index: int) -> None:
        turn = index % len(study_ids)
        picks = (study_ids[turn:] + study_ids[:turn]) * rounds
        start.wait()
        for position, study_id in enumerate(picks):
            if time.monotonic() > deadline[0]:
                with lock:
                    result.not_run += len(picks) - position
                return
            checked_pick(pages[index], study_id, details, result, lock)

    with ThreadPoolExecutor(max_workers=len(pages)) as pool:
        running = [pool.submit(session, index) for index in range(len(pages))]
        deadline[0] = time.monotonic() + max_seconds
        started = time.perf_counter()
        start.wait()
        for future in running:
            future.result()
        result.wall_s = time.perf_counter() - started
    return result


def measure(url: str, study_ids: list[str], sessions: int, details: bool, max_seconds: float,
            rounds: int = 1) -> dict:
    """The alone passes and the concurrent round(s) on one served dashboard."""
    lock = threading.Lock()
    alone = DashPage(url, timeout=REQUEST_TIMEOUT_S)
    cold, warm = Round(), Round()
    for passed in (cold, warm):
        started = time.perf_counter()
        for study_id in study_ids:
            checked_pick(alone, study_id, False, passed, lock)
        passed.wall_s = time.perf_counter() - started
    with ThreadPoolExecutor(max_workers=sessions) as pool:  # page loads, before the clock
        pages = list(pool.map(lambda _: DashPage(url, timeout=REQUEST_TIMEOUT_S), range(sessions)))
    results = {"alone, first pass": cold, "alone, second pass": warm,
               "opens": concurrent_round(pages, study_ids, False, max_seconds, rounds)}
    if details:
        results["study + details"] = concurrent_round(pages, study_ids, True, max_seconds, rounds)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--studies", type=int, default=8, help="how many cached demo studies each session opens")
    parser.add_argument("--gunicorn-workers", type=int, default=2,
                        help="serve with `gunicorn --workers N app:server` (default 2); 0 = `python app.py`")
    parser.add_argument("--rounds", type=int, default=1, help="passes over the studies per session and round")
    parser.add_argument("--baseline", action="store_true",
                        help=f"also run the baseline, {STORED_VIEWS_ENV}=0 (today's path), in the same run")
    parser.add_argument("--no-details", action="store_true", help="skip the study + details round")
    parser.add_argument("--max-seconds", type=float, default=240.0, help="per round: no new open after this")
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "demo")
    parser.add_argument("--studies-dir", type=Path, default=ROOT / "studies" / "demo")
    parser.add_argument("--cache-dir", type=Path, default=None, help="explanation cache to (re)use")
    arguments = parser.parse_args()
    if (arguments.sessions < 1 or not 1 <= arguments.studies <= 32 or arguments.gunicorn_workers < 0
            or arguments.rounds < 1):
        parser.error("--sessions >= 1, --studies in 1..32, --gunicorn-workers >= 0, --rounds >= 1")
    os.environ.pop(STORED_VIEWS_ENV, None)  # the candidate gets the default, whatever this shell has set
    paths = [("candidate", {})] + ([("baseline", {STORED_VIEWS_ENV: "0"})] if arguments.baseline else [])
    started_at = datetime.datetime.now(datetime.UTC)
    with tempfile.TemporaryDirectory() as temporary:
        cache = arguments.cache_dir or Path(temporary) / "cache"
        study_ids, explain_seconds = explain_demo_studies(arguments.model, arguments.studies_dir, cache,
                                                             arguments.studies)
        print(f"# {len(study_ids)} studies in the cache ({explain_seconds:.0f} s to explain the missing)", flush=True)
        results = {}
        for name, environment in paths:
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            if arguments.gunicorn_workers:
                command = gunicorn_command(arguments.gunicorn_workers, port, timeout_seconds=300)
            else:
                command = [sys.executable, "app.py", "--no-warm-up", "--port", str(port), "--cache-dir", str(cache),
                           "--model", str(arguments.model), "--studies", str(arguments.studies_dir)]
            server_environment = {**environment, "CXR_MODEL": str(arguments.model),
                                  "CXR_STUDIES": str(arguments.studies_dir), "CXR_CACHE_DIR": str(cache)}
            log = Path(temporary) / f"{name}.log"
            with serving(command, url, environment=server_environment, log_path=log, startup_seconds=180):
                results[name] = measure(url, study_ids, arguments.sessions, not arguments.no_details,
                                        arguments.max_seconds, arguments.rounds)
            tracebacks = log.read_text().count("Traceback")
            if tracebacks:
                print(f"# {name}: {tracebacks} traceback(s) in the server log:\n{log.read_text()[-3000:]}")
    served_by = (f"gunicorn --workers {arguments.gunicorn_workers} (sync)" if arguments.gunicorn_workers
                 else "python app.py (1 process, 1 thread)")
    print(f"# load benchmark, {started_at:%Y-%m-%d %H:%M} UTC, {served_by}, 127.0.0.1, {os.cpu_count()} CPU cores, "
          f"load average {os.getloadavg()[0]:.2f} (at the end), {arguments.sessions} concurrent sessions x "
          f"{len(study_ids)} cached demo studies ({study_ids[0]}..{study_ids[-1]}) x {arguments.rounds} round(s); "
          f"the client's threads share the cores")
    labels = {"candidate": "candidate (stored views, default)", "baseline": f"baseline ({STORED_VIEWS_ENV}=0)"}
    print("| path | round | opens | p50 ms | p95 ms | max ms | opens/s | wall s | errors | not run |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, rounds in results.items():
        for label, result in rounds.items():
            times = result.times_ms
            print(f"| {labels[name]} | {label} | {len(times)} | {percentile(times, 0.5):.0f} | "
                  f"{percentile(times, 0.95):.0f} | {max(times, default=float('nan')):.0f} | "
                  f"{result.throughput:.1f} | {result.wall_s:.1f} | {len(result.errors)} | {result.not_run} |")
    failed = False
    for name, rounds in results.items():
        for label, result in rounds.items():
            for error in result.errors[:5]:
                print(f"# {name}, {label}: error: {error}")
            failed = failed or bool(result.errors) or bool(result.not_run)
    for name, rounds in results.items():
        opens = rounds["opens"]
        p95, throughput = percentile(opens.times_ms, 0.95), opens.throughput
        print(f"targets, {labels[name]}, {arguments.sessions} sessions: p95 <= {TARGET_P95_MS:.0f} ms: "
              f"{'met' if p95 <= TARGET_P95_MS else 'NOT met'} ({p95:.0f} ms); >= {TARGET_OPENS_PER_SECOND:.0f} "
              f"opens/s: {'met' if throughput >= TARGET_OPENS_PER_SECOND else 'NOT met'} ({throughput:.1f}); "
              f"every open its study drawn: {'yes' if not opens.errors and not opens.not_run else 'NO'}")
    if "baseline" in results:
        for label in results["candidate"]:
            candidate, baseline = results["candidate"][label], results["baseline"][label]
            if not candidate.times_ms or not baseline.times_ms:
                continue
            print(f"ratio baseline / candidate, {label}: p50 "
                  f"{percentile(baseline.times_ms, 0.5) / percentile(candidate.times_ms, 0.5):.2f}x, p95 "
                  f"{percentile(baseline.times_ms, 0.95) / percentile(candidate.times_ms, 0.95):.2f}x, "
                  f"throughput (candidate / baseline) {candidate.throughput / max(baseline.throughput, 1e-9):.2f}x")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
