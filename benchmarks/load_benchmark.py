"""Concurrent sessions against one dashboard server: latency of opening a cached study under load.

Starts ``app.py`` on the demo (127.0.0.1, a fresh cache), explains the demo studies once (through the real
background-job path), then measures the study callback's HTTP latency (``POST /_dash-update-component``, the
whole figure payload) for one session alone (baseline) and for N sessions at once, each opening every cached
study in turn. Prints p50/p95 for both, the ratio p95(load) / p50(alone), and sessions held.

Usage: .venv/bin/python benchmarks/load_benchmark.py [--sessions 20] [--studies 8] [--gunicorn-workers N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.load.dash_client import DashPage  # noqa: E402
from tests.serving import free_port, gunicorn_command, serving  # noqa: E402


def _open(page: DashPage, study_id: str) -> float:
    started = time.perf_counter()
    response = page.call("xray-graph.figure", {
        "study-picker.value": study_id, "explanation-ready.data": None, "link-distance.value": None,
        "min-points.value": None}, {"session-id.data": page.session_id, "study-picker.options": [],
                                    "sight-sensitivity.value": 0.7})
    elapsed = (time.perf_counter() - started) * 1000.0
    if not response.get("circle-sweep", {}).get("data"):
        raise RuntimeError(f"{study_id} was not drawn from the cache")
    return elapsed


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--studies", type=int, default=8)
    parser.add_argument("--gunicorn-workers", type=int, default=0,
                        help="serve with `gunicorn --workers N app:server` instead of `python app.py`")
    arguments = parser.parse_args()
    if arguments.sessions < 1 or not 1 <= arguments.studies <= 32:
        parser.error("--sessions >= 1 and --studies in 1..32")
    study_ids = [f"CXR{90001 + index}" for index in range(arguments.studies)]
    port = free_port()
    with tempfile.TemporaryDirectory() as cache:
        url = f"http://127.0.0.1:{port}"
        if arguments.gunicorn_workers:
            command = gunicorn_command(arguments.gunicorn_workers, port, timeout_seconds=300)
        else:
            command = [sys.executable, "app.py", "--no-warm-up", "--port", str(port), "--cache-dir", cache]
        with serving(command, url, environment={"CXR_CACHE_DIR": cache}):
            warm = DashPage(url, timeout=300)
            for study_id in study_ids:  # explain each once, through the background job
                warm.call("explanation-ready.data", {"study-picker.value": study_id},
                          {"session-id.data": warm.session_id})
            alone = [_open(warm, study_id) for study_id in study_ids for _ in range(2)]

            def session(_index: int) -> list[float]:
                page = DashPage(url, timeout=300)
                return [_open(page, study_id) for study_id in study_ids]

            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=arguments.sessions) as pool:
                under_load = [value for values in pool.map(session, range(arguments.sessions)) for value in values]
            wall = time.perf_counter() - started
    served_by = (f"gunicorn, {arguments.gunicorn_workers} sync workers" if arguments.gunicorn_workers
                 else "python app.py (Werkzeug dev server, 1 process, 1 thread)")
    print(f"# load benchmark, {time.strftime('%Y-%m-%d')}, {served_by}, 2 CPU cores, "
          f"{arguments.sessions} concurrent sessions x {len(study_ids)} cached demo studies")
    print("| | opens | p50 ms | p95 ms |")
    print("|---|---|---|---|")
    print(f"| one session alone (baseline) | {len(alone)} | {statistics.median(alone):.0f} | "
          f"{_percentile(alone, 0.95):.0f} |")
    print(f"| {arguments.sessions} sessions at once | {len(under_load)} | {statistics.median(under_load):.0f} | "
          f"{_percentile(under_load, 0.95):.0f} |")
    print(f"ratio p95 under load / p50 alone: {_percentile(under_load, 0.95) / statistics.median(alone):.1f}x; "
          f"throughput {len(under_load) / wall:.1f} opens/s; all {arguments.sessions} sessions served")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
