"""What the demo model relies on (issue #18): deletion evidence on the demo's abnormal studies, with and without
the report.

For every abnormal demo study, at the default sight sensitivity: P(abnormal) intact, with the image replaced by its
reference, with the report replaced by padding; and the circles' deletion against the same-size random control
twice — with the study's own report (what the page shows) and with an empty report (the image half on its own,
where P is not saturated by the report). Also the top-3 words against 3 random words. Prints one row per study and
the shares "circles lower P more than the random regions" in both settings. This is the probability view;
benchmarks/evidence_removal.py gives the same comparisons on the log-odds scale, for each region removal.

Usage: .venv/bin/python benchmarks/evidence_demo_reliance.py [--tau 0.7] [--cache-dir DIR]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tau", type=float, default=0.7)
    parser.add_argument("--cache-dir", type=Path, default=None)
    arguments = parser.parse_args()

    from cxrmodel.data import StudyCollection
    from cxrmodel.detection import smooth_attribution_map
    from cxrmodel.explain import ExplanationCache, ExplanationSettings, StudyExplainer, make_image_baseline
    from cxrmodel.explain.evidence import compute_evidence
    from cxrmodel.modeling import load_bundle
    from cxrmodel.text import PADDING_ID

    bundle = load_bundle(ROOT / "models" / "demo")
    cache = ExplanationCache(arguments.cache_dir) if arguments.cache_dir else None
    explainer = StudyExplainer(bundle, cache)
    settings = ExplanationSettings()
    config = bundle.config
    collection = StudyCollection.from_folder(ROOT / "studies" / "demo")
    print(f"# demo reliance, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, tau {arguments.tau:.2f}")
    print("| study | P | image removed | report removed | circles: P removed / random | empty report: P / removed "
          "/ random | top-3 words / 3 random |")
    print("|---|---|---|---|---|---|---|")
    with_report, without_report, words = [], [], []
    for study in collection.studies.values():
        if study.label != 1:
            continue
        explanation = explainer.explain(study.image_paths[0].read_bytes(), study.report_text, settings)
        prepared, attribution = explanation.prepared, explanation.attribution
        evidence = explainer.evidence(prepared, attribution, settings, thresholds=(arguments.tau,))
        region, three = evidence.regions[0], next((w for w in evidence.words if w.k == 3), None)
        reference = make_image_baseline(prepared.model_image, explainer.image_baseline(settings), bundle.image_baseline)
        raw = attribution.raw_image_attribution
        raw = attribution.image_attribution if raw is None else raw
        alone = compute_evidence(
            explainer.integrated_gradients.predict_log_odds, prepared.model_image,
            np.full_like(prepared.report.token_ids, PADDING_ID), reference,
            smooth_attribution_map(raw, config.default_attribution_smoothing), attribution.token_attribution,
            reference=explainer.image_baseline(settings), link_distance=config.default_link_distance, min_points=2,
            smoothing=config.default_attribution_smoothing, thresholds=(arguments.tau,))
        lone = alone.regions[0]
        if region.circles:
            with_report.append(region.probability < region.random_probability)
            without_report.append(lone.probability < lone.random_probability)
        if three is not None:
            words.append(three.probability < three.random_probability)
        print(f"| {study.study_id} | {evidence.probability:.3f} | {evidence.modality.image_removed:.3f} | "
              f"{evidence.modality.report_removed:.3f} | {region.probability:.3f} / {region.random_probability:.3f} | "
              f"{alone.probability:.3f} / {lone.probability:.3f} / {lone.random_probability:.3f} | "
              + ("n/a" if three is None else f"{three.probability:.3f} / {three.random_probability:.3f}") + " |")
    print(f"circles beat the random regions: {sum(with_report)}/{len(with_report)} with the report, "
          f"{sum(without_report)}/{len(without_report)} with an empty report; top-3 words beat 3 random words: "
          f"{sum(words)}/{len(words)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
