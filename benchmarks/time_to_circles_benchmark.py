"""Time to circles with the explanation job's phases, against the attribution alone, same run, same process.

    .venv/bin/python benchmarks/time_to_circles_benchmark.py [--studies 8] [--skip-densenet]

The dashboard's explanation job computes in phases (components.explanation_progress.explain_in_phases): the
integrated gradients, then (the circles can be drawn) the deletion evidence at the reader's tau, then at every
other slider threshold. This measures that order itself, calling ``explain_in_phases`` with the same computations
the job asks for, in one process with the compiled functions already traced (a warm-up study first):

* **attribution** (the baseline) — the integrated-gradients attribution alone;
* **circles** — from the job's start until the circles can be drawn: the first phase (the attribution), plus the
  circle sweep the page draws (single-linkage circles at every slider threshold);
* **evidence at tau** — until the evidence line at the reader's tau (0.7) can be filled in;
* **all** — until the evidence at every slider threshold is in (what the page waited for before its circles
  before the phases: "before" below).

Two configurations: the demo bundle on its studies (through :class:`cxrmodel.explain.StudyExplainer` and a scratch
explanation cache, as the worker computes), and the paper's DenseNet-121 at 224² with a 140-token report (random
weights with a calibrated output, as in benchmarks/integrated_gradients_benchmark.py; reference "blur").
Prints per-study rows, the medians and the ratio circles / attribution (target <= 1.25).
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from components.explanation_progress import PHASE_CIRCLES, PHASE_EVIDENCE, explain_in_phases  # noqa: E402

TARGET_RATIO = 1.25
TAU = 0.7


def phased(attribute, draw_circles) -> dict[str, float]:
    """Run the job's phases with ``attribute(scope)``; seconds from the start until each phase's content can be
    drawn (``draw_circles()`` is timed into the circles)."""
    landed: dict[str, float] = {}
    started = time.perf_counter()

    def phase_done(phase: str) -> None:
        if phase == PHASE_CIRCLES:
            draw_circles()
        landed[phase] = time.perf_counter() - started

    explain_in_phases(lambda scope, _progress: attribute(scope), lambda *_: None, phase_done)
    landed["all"] = time.perf_counter() - started
    return landed


def demo_rows(count: int) -> list[tuple[str, float, dict[str, float]]]:
    from cxrmodel.data import StudyCollection
    from cxrmodel.detection import circle_sweep
    from cxrmodel.explain import ExplanationCache, ExplanationSettings, StudyExplainer
    from cxrmodel.modeling import load_bundle

    bundle = load_bundle(ROOT / "models" / "demo")
    collection = StudyCollection.from_folder(ROOT / "studies" / "demo")
    settings = ExplanationSettings(sight_sensitivity=TAU)
    rows = []
    with tempfile.TemporaryDirectory(prefix="time-to-circles-") as scratch:
        baseline = StudyExplainer(bundle, ExplanationCache(Path(scratch) / "baseline"), with_evidence=False)
        product = StudyExplainer(bundle, ExplanationCache(Path(scratch) / "product"))
        for position, summary in enumerate(collection.summaries()[: count + 1]):
            image_bytes = collection.image_path(summary.study_id).read_bytes()
            report = collection.get(summary.study_id).report_text
            started = time.perf_counter()
            baseline.attribute(image_bytes, report, settings, evidence_scope="none")
            attribution = time.perf_counter() - started

            def attribute(scope: str, image_bytes: bytes = image_bytes, report: str = report) -> None:
                product.attribute(image_bytes, report, settings, evidence_scope=scope)

            def draw_circles(image_bytes: bytes = image_bytes, report: str = report) -> None:
                explanation = product.cached(image_bytes, report, settings)
                circle_sweep(explanation.attribution.image_attribution, explanation.prepared.mapping,
                             explanation.link_distance, settings.min_points)

            landed = phased(attribute, draw_circles)
            if position == 0:
                print(f"# warm-up {summary.study_id} (tracing): attribution {attribution:.2f} s, circles "
                      f"{landed[PHASE_CIRCLES]:.2f} s", flush=True)
                continue
            rows.append((summary.study_id, attribution, landed))
    return rows


def densenet_rows(count: int) -> list[tuple[str, float, dict[str, float]]]:
    from benchmarks.integrated_gradients_benchmark import build_study
    from cxrmodel.detection import SLIDER_THRESHOLDS, smooth_attribution_map, sweep_circles
    from cxrmodel.explain import make_image_baseline
    from cxrmodel.explain.evidence import compute_evidence
    from cxrmodel.explain.integrated_gradients import IntegratedGradientsExplainer
    from cxrmodel.modeling import ModelConfig

    model, image, token_ids = build_study(224, 0)
    explainer = IntegratedGradientsExplainer(model, batch_size=16)
    config = ModelConfig(image_size=224)
    reference = make_image_baseline(image, "blur")
    rows = []
    for position in range(count + 1):
        started = time.perf_counter()
        explainer.explain(image, token_ids, image_baseline="blur")
        attribution_seconds = time.perf_counter() - started
        found: dict = {}

        def attribute(scope: str, found: dict = found) -> None:
            if scope == "none":
                found["attribution"] = explainer.explain(image, token_ids, image_baseline="blur")
                found["map"] = smooth_attribution_map(found["attribution"].image_attribution,
                                                      config.default_attribution_smoothing)
                return
            thresholds = ((TAU,) if scope == "current"
                          else tuple(value for value in SLIDER_THRESHOLDS if abs(value - TAU) > 1e-9))
            compute_evidence(explainer.predict_log_odds, image, token_ids, reference, found["map"],
                             found["attribution"].token_attribution, reference="blur",
                             link_distance=config.default_link_distance, min_points=2,
                             smoothing=config.default_attribution_smoothing, thresholds=thresholds)

        def draw_circles(found: dict = found) -> None:
            sweep_circles(found["map"], SLIDER_THRESHOLDS, config.default_link_distance, 2)

        landed = phased(attribute, draw_circles)
        if position == 0:
            print(f"# DenseNet warm-up (tracing): attribution {attribution_seconds:.2f} s, circles "
                  f"{landed[PHASE_CIRCLES]:.2f} s", flush=True)
            continue
        rows.append((f"random study {position}", attribution_seconds, landed))
    return rows


def report(name: str, rows: list[tuple[str, float, dict[str, float]]]) -> None:
    print(f"\n{name}")
    print("| study | attribution s | circles s | evidence at tau s | all s (before: circles waited for this) | "
          "circles / attribution |")
    print("|---|---|---|---|---|---|")
    for study, attribution, landed in rows:
        print(f"| {study} | {attribution:.2f} | {landed[PHASE_CIRCLES]:.2f} | {landed[PHASE_EVIDENCE]:.2f} | "
              f"{landed['all']:.2f} | {landed[PHASE_CIRCLES] / attribution:.2f} |")
    attribution = statistics.median(row[1] for row in rows)
    circles = statistics.median(row[2][PHASE_CIRCLES] for row in rows)
    before = statistics.median(row[2]["all"] for row in rows)
    ratio = circles / attribution
    print(f"{name}: median attribution {attribution:.2f} s, circles {circles:.2f} s (ratio {ratio:.2f}, target <= "
          f"{TARGET_RATIO}: {'met' if ratio <= TARGET_RATIO else 'NOT met'}); before the phases the circles came "
          f"after all the evidence: {before:.2f} s ({before / attribution:.2f}x)", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=8)
    parser.add_argument("--densenet-runs", type=int, default=2)
    parser.add_argument("--skip-densenet", action="store_true")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(f"# time to circles, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPU cores, "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    report(f"demo bundle ({arguments.studies} studies)", demo_rows(arguments.studies))
    if not arguments.skip_densenet:
        report("DenseNet-121 224² + 140 tokens", densenet_rows(arguments.densenet_runs))
    print(f"# load average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
