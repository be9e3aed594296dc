"""What the dashboard's web process costs to build: the current tree against a baseline commit, in the same run.

Each measurement is a fresh Python process (the venv's interpreter, cwd = the tree, the tree first on sys.path,
PYTHONPATH cleared) that does ``import app; app.create_app(app.AppConfig())`` and reports the seconds that took,
its VmRSS afterwards and which heavy modules (TensorFlow, Keras, matplotlib, gensim, the phantom/synthetic-study
generator) it loaded. The baseline (default 50d7272, the layout before the web process stopped loading TensorFlow)
is checked out into a temporary ``git worktree``, removed at the end; the two trees alternate per repeat so
machine noise falls on both. Prints per-tree medians and the ratios current / baseline.

Usage: .venv/bin/python benchmarks/web_process_benchmark.py [--baseline 50d7272] [--repeats 5] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

BUILD_APP = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
started = time.perf_counter()
import app
app.create_app(app.AppConfig())
seconds = time.perf_counter() - started
with open("/proc/self/status") as status:
    rss_kb = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
heavy = [name for name in ("tensorflow", "keras", "matplotlib", "gensim") if name in sys.modules]
generator_prefixes = ("cxrmodel.data.phantom", "cxrmodel.data.synthetic.phantom",
                      "cxrmodel.data.synthetic.studies", "cxrmodel.data.synthetic.reports")
synthetic = sys.modules.get("cxrmodel.data.synthetic")
if any(name.startswith(generator_prefixes) for name in sys.modules) or hasattr(synthetic, "render_study"):
    heavy.append("generator")
print(json.dumps({"seconds": seconds, "rss_mb": rss_kb / 1024, "heavy": heavy,
                  "app_file": app.__file__, "cxrmodel_file": sys.modules["cxrmodel"].__file__}))
"""


def measure(tree: Path) -> dict:
    """Build the dashboard once in a fresh process run in ``tree``.

    Args:
        tree: root of a checkout holding ``app.py`` and ``cxrmodel/``.

    Returns:
        The child's report: ``seconds``, ``rss_mb``, ``heavy`` (heavy modules loaded) and the imported files.

    Raises:
        RuntimeError: the child failed, or imported ``app``/``cxrmodel`` from outside ``tree``.
    """
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    environment["TF_CPP_MIN_LOG_LEVEL"] = "2"
    completed = subprocess.run([sys.executable, "-c", BUILD_APP, str(tree)], cwd=tree, env=environment,
                               capture_output=True, text=True)
    if completed.returncode != 0:
        raise RuntimeError(f"building the app in {tree} failed:\n{completed.stderr[-3000:]}")
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    for key in ("app_file", "cxrmodel_file"):
        if not Path(report[key]).resolve().is_relative_to(tree.resolve()):
            raise RuntimeError(f"{key} {report[key]} is not under {tree}")
    return report


def git(*arguments: str) -> str:
    """Run a git command in the repository root and return its stripped output."""
    return subprocess.run(["git", *arguments], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()


def summarize(reports: list[dict]) -> dict:
    """Median and min build seconds, median RSS and the union of heavy modules over one tree's runs."""
    seconds = [report["seconds"] for report in reports]
    heavy = sorted({name for report in reports for name in report["heavy"]})
    return {"median_seconds": statistics.median(seconds), "min_seconds": min(seconds),
            "median_rss_mb": statistics.median(report["rss_mb"] for report in reports),
            "heavy_modules": heavy, "runs": reports}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="50d7272", help="commit to compare against (default 50d7272)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the numbers to this file")
    arguments = parser.parse_args()
    if arguments.repeats < 1:
        parser.error("--repeats must be >= 1")

    baseline_short = git("rev-parse", "--short", arguments.baseline)
    head_short = git("rev-parse", "--short", "HEAD")
    reports: dict[str, list[dict]] = {"baseline": [], "current": []}
    with tempfile.TemporaryDirectory(prefix="web-process-benchmark-") as temporary_directory:
        worktree = Path(temporary_directory) / "baseline"
        git("worktree", "add", "--detach", str(worktree), arguments.baseline)
        try:
            trees = {"baseline": worktree, "current": ROOT}
            for repeat in range(arguments.repeats):
                order = ["baseline", "current"] if repeat % 2 == 0 else ["current", "baseline"]
                for name in order:
                    reports[name].append(measure(trees[name]))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=ROOT, capture_output=True)
            subprocess.run(["git", "worktree", "prune"], cwd=ROOT, capture_output=True)

    summaries = {name: summarize(runs) for name, runs in reports.items()}
    baseline, current = summaries["baseline"], summaries["current"]
    rss_ratio = current["median_rss_mb"] / baseline["median_rss_mb"]
    time_ratio = current["median_seconds"] / baseline["median_seconds"]
    print(f"# web process benchmark, {time.strftime('%Y-%m-%d')}, HEAD {head_short} (+ working tree) vs "
          f"baseline {baseline_short}, import app + create_app(AppConfig()), fresh process, {arguments.repeats} "
          f"repeats alternated")
    print("| tree | median build s | min build s | median RSS MB | heavy modules loaded |")
    print("|---|---|---|---|---|")
    for label, name in ((f"baseline {baseline_short}", "baseline"), ("current working tree", "current")):
        summary = summaries[name]
        print(f"| {label} | {summary['median_seconds']:.2f} | {summary['min_seconds']:.2f} | "
              f"{summary['median_rss_mb']:.0f} | {', '.join(summary['heavy_modules']) or 'none'} |")
    print(f"RSS ratio (current / baseline): {rss_ratio:.2f}")
    print(f"build-time ratio: {time_ratio:.2f}")
    if arguments.json:
        arguments.json.write_text(json.dumps({
            "date": time.strftime("%Y-%m-%d"), "head": head_short, "baseline": baseline_short,
            "repeats": arguments.repeats, "rss_ratio": rss_ratio, "build_time_ratio": time_ratio,
            **summaries}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
