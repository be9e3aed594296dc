"""Server time of opening a cached study: stored study views against drawing every open, same run, same cache.

    .venv/bin/python benchmarks/study_open_benchmark.py [--limit 32] [--repeats 3] [--cache-dir DIR]

Every demo study is explained first, in this process, into one explanation cache (``--cache-dir`` keeps it for the
next run). Then two dashboards are built in this process on that cache (``app.create_app``), and each study is
opened through its Flask server (the test client: no network, no browser) with exactly the requests a pick sends
(tests.load.study_picks: the study callback with every Input and State of its spec, then the details callback on
the ``shown-study`` it set), the responses compressed as a browser asks (``Accept-Encoding: gzip, br``):

* candidate — the dashboard as it is: each view drawn once and stored (components.study_views). Its first open of
  each study draws and stores the view (reported as "first open"); the measured opens read it back;
* baseline (same run) — ``CXR_STORED_VIEWS=0``: every open reads the attribution, sweeps 51 thresholds and builds
  the figures (the path before stored views).

Times are per request, from the request to the parsed response (Dash's dispatch, the callback, JSON serialization,
compression, and this client's decompression and parsing): the server's time, slightly over. Prints per path the
median and max over the studies (each study's median of ``--repeats`` opens) of the study callback, the details
callback and both, the ratios baseline / candidate, and issue #26's target (a cached open, both requests, median
<= 30 ms and max <= 60 ms). Exits 1 when an open is not its study drawn.
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import os
import statistics
import sys
import tempfile
from pathlib import Path

import brotli

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.demo_cache import explain_demo_studies  # noqa: E402
from components.study_views import STORED_VIEWS_ENV  # noqa: E402
from tests.load import study_picks  # noqa: E402
from tests.load.dash_client import DashPage  # noqa: E402

TARGET_MEDIAN_MS = 30.0
TARGET_MAX_MS = 60.0


class InProcessPage(DashPage):
    """One page load of a dashboard built in this process, spoken to through Flask's test client."""

    def __init__(self, client) -> None:
        self._client = client
        super().__init__("http://in-process")

    def _request(self, method: str, path: str, body: dict | None = None) -> bytes:
        import json  # noqa: PLC0415

        response = self._client.open(path, method=method, data=None if body is None else json.dumps(body),
                                     headers={"Content-Type": "application/json", "Accept-Encoding": "gzip, br"})
        data = response.get_data()
        encoding = response.headers.get("Content-Encoding")
        if encoding == "br":
            return brotli.decompress(data)
        if encoding == "gzip":
            return gzip.decompress(data)
        return data


def dashboard(cache_directory: Path, stored_views: bool):
    """A dashboard on the demo and ``cache_directory``, with or without stored views."""
    import app  # noqa: PLC0415

    previous = os.environ.get(STORED_VIEWS_ENV)
    os.environ[STORED_VIEWS_ENV] = "1" if stored_views else "0"
    try:
        return app.create_app(app.AppConfig(app.DEFAULT_MODEL, app.DEFAULT_STUDIES, cache_directory))
    finally:
        if previous is None:
            os.environ.pop(STORED_VIEWS_ENV, None)
        else:
            os.environ[STORED_VIEWS_ENV] = previous


def open_all(page: DashPage, study_ids: list[str], repeats: int) -> tuple[list[float], list[float]]:
    """Per study, the median of ``repeats`` opens: (study callback ms, details callback ms)."""
    study_ms, details_ms = [], []
    for study_id in study_ids:
        first, second = [], []
        for _ in range(repeats):
            pick = study_picks.open_study(page, study_id, details=True)
            problem = study_picks.drawn_problem(pick)
            if problem is not None:
                raise RuntimeError(f"{study_id}: {problem}")
            first.append(pick.study_ms)
            second.append(pick.details_ms)
        study_ms.append(statistics.median(first))
        details_ms.append(statistics.median(second))
    return study_ms, details_ms


def row(name: str, study_ms: list[float], details_ms: list[float]) -> tuple[str, float, float]:
    both = [a + b for a, b in zip(study_ms, details_ms, strict=True)]
    line = (f"| {name} | {statistics.median(study_ms):.1f} | {max(study_ms):.1f} | "
            f"{statistics.median(details_ms):.1f} | {max(details_ms):.1f} | "
            f"{statistics.median(both):.1f} | {max(both):.1f} |")
    return line, statistics.median(both), max(both)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=32, help="how many demo studies (default all 32)")
    parser.add_argument("--repeats", type=int, default=3, help="opens of each study per path (default 3)")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="keep the explanation cache here for the next run (default: a temporary folder)")
    arguments = parser.parse_args()
    if arguments.repeats < 1 or not 1 <= arguments.limit <= 32:
        parser.error("--repeats >= 1 and --limit in 1..32")
    logging_quiet()
    import app  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as temporary:
        cache_directory = arguments.cache_dir or Path(temporary)
        study_ids, explained_s = explain_demo_studies(app.DEFAULT_MODEL, app.DEFAULT_STUDIES, cache_directory,
                                                      arguments.limit)
        candidate_app = dashboard(cache_directory, stored_views=True)
        baseline_app = dashboard(cache_directory, stored_views=False)
        candidate = InProcessPage(candidate_app.server.test_client())
        baseline = InProcessPage(baseline_app.server.test_client())
        first = open_all(candidate, study_ids, 1)  # draws and stores each view (unless a kept cache has it)
        open_all(baseline, study_ids, 1)  # the same first pass on the baseline (imports, caches warm)
        measured = {}
        for name, page in (("candidate", candidate), ("baseline", baseline)):
            measured[name] = open_all(page, study_ids, arguments.repeats)
    load = os.getloadavg()[0]
    print(f"# cached open, server time, {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, "
          f"{len(study_ids)} demo studies x {arguments.repeats} opens, load average {load:.1f}, "
          f"{os.cpu_count()} CPU cores ({explained_s:.0f} s to explain the missing)")
    print("| path | study median ms | study max ms | details median ms | details max ms | open median ms "
          "| open max ms |")
    print("|---|---|---|---|---|---|---|")
    candidate_line, candidate_median, candidate_max = row("candidate: stored views", *measured["candidate"])
    baseline_line, baseline_median, baseline_max = row("baseline: drawn every open (CXR_STORED_VIEWS=0)",
                                                       *measured["baseline"])
    first_line, _median, _max = row("candidate's first open (draws and stores the view)", *first)
    print(candidate_line)
    print(baseline_line)
    print(first_line)
    print(f"ratio baseline / candidate: median {baseline_median / candidate_median:.1f}x, "
          f"max {baseline_max / candidate_max:.1f}x")
    met = candidate_median <= TARGET_MEDIAN_MS and candidate_max <= TARGET_MAX_MS
    print(f"target (cached open, both requests: median <= {TARGET_MEDIAN_MS:.0f} ms, max <= {TARGET_MAX_MS:.0f} ms): "
          f"{'met' if met else 'NOT met'}")
    return 0


def logging_quiet() -> None:
    """Only warnings from the dashboard's loggers (its INFO lines would interleave with the table)."""
    import logging  # noqa: PLC0415

    logging.basicConfig(level=logging.WARNING)


if __name__ == "__main__":
    raise SystemExit(main())
