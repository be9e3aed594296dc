"""Server time to open a study in the dashboard: cached (drawn from the on-disk cache) vs explained from scratch.

Runs the dashboard's study callback body (``components.presenter.drawn_study``, everything the server
does when a study is picked: read the image, decode, look the attribution up, sweep 51 thresholds, build the
figures and the sweep chart) for every demo study, in this process, with the web process's lazy model. The
baseline, measured in the same run, is what a first-time open costs: the background job's work for the same
study (``StudyExplainer.attribute`` into an empty cache, model already loaded, i.e. excluding the job's model
load). Prints per-study medians, the ratio baseline / cached, and whether the target (cached <= 300 ms) is met.

Usage: .venv/bin/python benchmarks/study_open_benchmark.py [--model models/demo] [--studies studies/demo]
       [--repeats 3] [--limit 32]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from components import presenter  # noqa: E402
from cxrmodel.data import StudyCollection  # noqa: E402
from cxrmodel.explain import ExplanationCache, ExplanationSettings, StudyExplainer  # noqa: E402
from cxrmodel.modeling import load_bundle  # noqa: E402

TARGET_MS = 300.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "demo")
    parser.add_argument("--studies", type=Path, default=ROOT / "studies" / "demo")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--limit", type=int, default=32, help="how many studies (default all 32 demo studies)")
    arguments = parser.parse_args()
    if arguments.repeats < 1 or arguments.limit < 1:
        parser.error("--repeats and --limit must be >= 1")

    collection = StudyCollection.from_folder(arguments.studies)
    study_ids = [summary.study_id for summary in collection.summaries()][: arguments.limit]
    with tempfile.TemporaryDirectory() as cache_directory:
        explainer = StudyExplainer(load_bundle(arguments.model, load_model=False),
                                   ExplanationCache(Path(cache_directory)))
        resolver = presenter.StudyResolver(collection)
        settings = ExplanationSettings()
        explainer.integrated_gradients  # noqa: B018 - load and compile once, outside the timings

        explain_ms, open_ms = [], []
        for study_id in study_ids:
            image_bytes, report = resolver(study_id, None)
            started = time.perf_counter()
            explainer.attribute(image_bytes, report, settings)
            explain_ms.append((time.perf_counter() - started) * 1000.0)
            repeats = []
            for _ in range(arguments.repeats):
                started = time.perf_counter()
                panel = presenter.drawn_study(study_id, None, False, settings, None, explainer, resolver).panel
                repeats.append((time.perf_counter() - started) * 1000.0)
                if panel.circle_sweep is None:
                    print(f"error: {study_id} was not drawn from the cache", file=sys.stderr)
                    return 1
            open_ms.append(statistics.median(repeats))

    cached, baseline = statistics.median(open_ms), statistics.median(explain_ms)
    print(f"# study open benchmark, {time.strftime('%Y-%m-%d')}, {len(study_ids)} demo studies, "
          f"{arguments.repeats} repeats each")
    print("| path | median ms | max ms |")
    print("|---|---|---|")
    print(f"| open a cached study (server callback) | {cached:.1f} | {max(open_ms):.1f} |")
    print(f"| baseline: explain it first (background job, model loaded) | {baseline:.1f} | {max(explain_ms):.1f} |")
    print(f"ratio baseline / cached: {baseline / cached:.1f}x")
    met = max(open_ms) <= TARGET_MS
    print(f"target (cached open <= {TARGET_MS:.0f} ms server time, every study): {'met' if met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
