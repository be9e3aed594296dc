"""Added cost of the deletion evidence (issue #18) against the attribution it accompanies, same run, same process.

For each study: the integrated-gradients attribution (the default ``steps="auto"``, compiled function already
traced by a warm-up study) and then the deletion evidence of :mod:`cxrmodel.explain.evidence` — at the current
tau only (``explain --evidence current``, the default) and at every slider threshold (``--evidence all``, what
the page's sweep carries): the circles and their random control, removed by the default removal (noisy linear
imputation), the top-k words and their control, the modality ledger, batched forward passes through one compiled
forward function. Prints the medians and the ratios evidence / attribution.

Two configurations:

* ``demo`` — the committed demo bundle (compact CNN at 160², Kim CNN over 140 tokens) on its demo studies;
* ``densenet`` — the paper's DenseNet-121 at 224² with a 140-token report (random weights with a calibrated
  output, as in benchmarks/integrated_gradients_benchmark.py; one random study), reference "blur".

Usage: .venv/bin/python benchmarks/evidence_benchmark.py [--studies 10] [--skip-densenet]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

logger = logging.getLogger("evidence_benchmark")


def demo_rows(count: int) -> list[tuple[str, float, float, int, float, int]]:
    from cxrmodel.data import StudyCollection
    from cxrmodel.explain import ExplanationSettings, StudyExplainer
    from cxrmodel.explain.evidence import scope_thresholds
    from cxrmodel.modeling import load_bundle

    bundle = load_bundle(ROOT / "models" / "demo")
    collection = StudyCollection.from_folder(ROOT / "studies" / "demo")
    explainer = StudyExplainer(bundle, with_evidence=False)
    settings = ExplanationSettings()
    studies = list(collection.studies.values())
    rows = []
    for position, study in enumerate(studies[: count + 1]):
        image_bytes = study.image_paths[0].read_bytes()
        started = time.perf_counter()
        prepared, attribution, _cached, _timing = explainer.attribute(image_bytes, study.report_text, settings)
        attribution_ms = (time.perf_counter() - started) * 1000.0
        started = time.perf_counter()
        current = explainer.evidence(prepared, attribution, settings,
                                     scope_thresholds("current", bundle.config.default_sight_sensitivity))
        current_ms = (time.perf_counter() - started) * 1000.0
        started = time.perf_counter()
        evidence = explainer.evidence(prepared, attribution, settings)
        evidence_ms = (time.perf_counter() - started) * 1000.0
        if position == 0:  # warm-up: traces the gradient and the forward functions
            print(f"# warm-up {study.study_id}: attribution {attribution_ms:.0f} ms (with tracing), "
                  f"evidence {evidence_ms:.0f} ms (with tracing)")
            continue
        rows.append((study.study_id, attribution_ms, evidence_ms, evidence.forward_passes, current_ms,
                     current.forward_passes))
    return rows


def densenet_row(seed: int = 0) -> tuple[float, float, int]:
    from benchmarks.integrated_gradients_benchmark import build_study
    from cxrmodel.detection import smooth_attribution_map
    from cxrmodel.explain import make_image_baseline
    from cxrmodel.explain.evidence import compute_evidence
    from cxrmodel.explain.integrated_gradients import IntegratedGradientsExplainer
    from cxrmodel.modeling import ModelConfig

    model, image, token_ids = build_study(224, seed)
    explainer = IntegratedGradientsExplainer(model, batch_size=16)
    config = ModelConfig(image_size=224)

    def once() -> tuple[float, float, int]:
        started = time.perf_counter()
        attribution = explainer.explain(image, token_ids, image_baseline="blur")
        attribution_ms = (time.perf_counter() - started) * 1000.0
        started = time.perf_counter()
        evidence = compute_evidence(
            explainer.predict_log_odds, image, token_ids, make_image_baseline(image, "blur"),
            smooth_attribution_map(attribution.image_attribution, config.default_attribution_smoothing),
            attribution.token_attribution, reference="blur", link_distance=config.default_link_distance,
            min_points=2, smoothing=config.default_attribution_smoothing)
        return attribution_ms, (time.perf_counter() - started) * 1000.0, evidence.forward_passes

    warm = once()
    print(f"# DenseNet warm-up: attribution {warm[0]:.0f} ms, evidence {warm[1]:.0f} ms (both with tracing)")
    return once()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=10)
    parser.add_argument("--skip-densenet", action="store_true")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(f"# evidence cost, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPU cores, "
          f"load average {os.getloadavg()[0]:.1f}")
    rows = demo_rows(arguments.studies)
    print("| study | attribution ms | evidence at tau ms (passes) | evidence, all thresholds ms | forward passes | "
          "all / attribution |")
    print("|---|---|---|---|---|---|")
    for study_id, attribution_ms, evidence_ms, passes, current_ms, current_passes in rows:
        ratio = evidence_ms / attribution_ms
        print(f"| {study_id} | {attribution_ms:.0f} | {current_ms:.0f} ({current_passes}) | {evidence_ms:.0f} | "
              f"{passes} | {ratio:.2f} |")
    attribution_median = statistics.median(row[1] for row in rows)
    evidence_median = statistics.median(row[2] for row in rows)
    current_median = statistics.median(row[4] for row in rows)
    ratio = float(np.median([row[2] / row[1] for row in rows]))
    print(f"demo bundle, {len(rows)} studies: median attribution {attribution_median:.0f} ms, median evidence at "
          f"tau {current_median:.0f} ms, at every threshold {evidence_median:.0f} ms; median ratio evidence (all) / "
          f"attribution {ratio:.2f} (target <= 1.00: {'met' if ratio <= 1.0 else 'not met'})")
    if not arguments.skip_densenet:
        attribution_ms, evidence_ms, passes = densenet_row()
        print(f"DenseNet-121 224² + 140 tokens: attribution {attribution_ms:.0f} ms, evidence {evidence_ms:.0f} ms "
              f"({passes} forward passes); ratio {evidence_ms / attribution_ms:.2f}")
    print(f"# load average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
