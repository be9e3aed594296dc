"""Benchmark: ``steps="auto"`` integrated gradients vs a naive batched 64-step midpoint Riemann sum.

``auto`` is the default: adaptive interval refinement of the trapezoid rule (cxrmodel.explain.integrated_gradients); the
previous default, the Gauss–Legendre step ladder (14, 32, 64, 128 nodes), is timed as a second variant.

Paper configuration (the default): DenseNet-121 image encoder at 224², ImageNet preprocessing, Kim CNN over
140 × 300 word embeddings, vocabulary 2000 — with random weights (no weights can be downloaded here). A
random-weight network scores every input near 0.5, so F(x) − F(x′) would be ~0.01 and the completeness error
meaningless; the output unit is therefore rescaled once (a calibration, step 2 below) so that the baseline
pair scores about 0.22 and the study about 0.78. Everything before the sigmoid is untouched, so the gradients'
shape along the path is the random network's own.

All variants run on the same model, study and explainer (batch 16, one compiled function), warm-up first,
then ``--repeats`` timed runs each; the table gives medians, the gradient batches each variant paid for (the
load-independent cost: the 2 cores are shared) and, besides the completeness error, how far each variant's
pixel map and token attributions are (relative L2) from a ``--reference-steps`` midpoint reference — a small
completeness error at few steps can be a lucky cancellation on a ReLU network's piecewise-smooth path.

``--demo`` runs the three variants instead on every bundled demo study with the demo bundle (trained compact
CNN + Kim CNN, mean-image baseline, as the dashboard explains them) and reports totals. Run::

    .venv/bin/python benchmarks/integrated_gradients_benchmark.py            # the acceptance run (minutes)
    .venv/bin/python benchmarks/integrated_gradients_benchmark.py --demo     # 32 demo studies (about 2 min)
    .venv/bin/python benchmarks/integrated_gradients_benchmark.py --image-size 64 --repeats 1   # smoke run

``--demo --model DIR --studies DIR`` runs the same on any bundle and OpenI folder (e.g. a DenseNet-121 bundle
trained by ``python -m cxrmodel train``); ``--variants`` limits it to some variants (the ladder is slow).

``--convergence`` adds a table of the completeness error of every rule at fixed step counts.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

logger = logging.getLogger("integrated_gradients_benchmark")

LOGIT_GAP = 2.5
"""logit F(x) − logit F(x′) after calibration: F(x′) ≈ 0.22, F(x) ≈ 0.78."""


def build_study(image_size: int, seed: int):
    """The paper's multimodal (random weights, calibrated output) and one random study.

    Returns:
        ``(model, image (S, S, 3), token_ids (140,))``.
    """
    import keras  # noqa: PLC0415

    from cxrmodel.modeling import ModelConfig  # noqa: PLC0415
    from cxrmodel.modeling.builders import build_model

    # 1. The paper's configuration with random weights.
    keras.utils.set_random_seed(seed)
    config = ModelConfig(image_size=image_size, backbone="densenet121", preprocessing="imagenet", vocabulary_size=2000)
    model = build_model("multimodal", config)
    random = np.random.default_rng(seed)
    image = random.random((image_size, image_size, 3), dtype=np.float32)
    token_ids = random.integers(2, config.vocabulary_size, config.max_tokens).astype(np.int32)  # 140 words, no padding

    # 2. Calibrate the output unit: logit(x) − logit(x′) = LOGIT_GAP, centred on 0.
    inputs = {
        "image": np.stack([np.zeros_like(image), image]),
        "report_tokens": np.stack([np.zeros_like(token_ids), token_ids]),
    }
    output = model.get_layer("decision_head").get_layer("abnormal_probability")
    kernel, bias = output.get_weights()
    probabilities = np.asarray(model(inputs, training=False), np.float64).reshape(-1)
    logits = np.log(probabilities / (1.0 - probabilities)) - bias[0]
    scale = LOGIT_GAP / (logits[1] - logits[0])
    output.set_weights([kernel * scale, np.array([-scale * (logits[0] + logits[1]) / 2.0], np.float32)])
    calibrated = np.asarray(model(inputs, training=False)).reshape(-1)
    logger.info("calibrated output: scale %.3g, F(x') = %.3f, F(x) = %.3f", scale, calibrated[0], calibrated[1])
    return model, image, token_ids


NAIVE = "naive riemann_midpoint, 64 steps"
AUTO = "auto: adaptive trapezoid (default, target 1 %)"
VARIANTS = {
    NAIVE: {"steps": 64, "method": "riemann_midpoint"},
    AUTO: {"steps": "auto", "method": "riemann_trapezoid", "target_error": 0.01},
    "auto: Gauss–Legendre ladder (previous default)": {
        "steps": "auto", "method": "gausslegendre", "target_error": 0.01,
    },
}
"""The timed variants; the first is the baseline every ratio refers to."""


def demo_studies(bundle, studies_directory: Path):
    """(study id, model image, token ids) of every study in an OpenI-layout demo folder."""
    from cxrmodel.data import StudyCollection  # noqa: PLC0415
    from cxrmodel.imaging import decode_image_file  # noqa: PLC0415

    collection = StudyCollection.from_folder(studies_directory)
    for study_id, study in collection.studies.items():
        prepared = bundle.prepare(decode_image_file(study.image_paths[0]).pixels, study.report_text)
        yield study_id, prepared.model_image, prepared.report.token_ids


def demo_benchmark(arguments) -> str:
    """The three variants on every demo study: batches, seconds, worst error and studies over 1 %."""
    from cxrmodel.explain.integrated_gradients import IntegratedGradientsExplainer  # noqa: PLC0415
    from cxrmodel.modeling import load_bundle  # noqa: PLC0415

    bundle = load_bundle(arguments.model)
    explainer = IntegratedGradientsExplainer(bundle.model, batch_size=arguments.batch_size,
                                             mean_image=bundle.image_baseline)
    variants = {name: VARIANTS[name] for name in VARIANTS if name in (arguments.variants or VARIANTS)}
    totals = {name: {"seconds": 0.0, "batches": 0, "errors": [], "per_study": []} for name in variants}
    studies = list(demo_studies(bundle, arguments.studies))
    explainer.explain(studies[0][1], studies[0][2], steps=4)  # trace once outside the timings
    for study_id, image, token_ids in studies:
        for name, settings in variants.items():
            start = time.perf_counter()
            attribution = explainer.explain(image, token_ids, image_baseline="mean", **settings)
            totals[name]["seconds"] += time.perf_counter() - start
            totals[name]["batches"] += attribution.completeness.batches
            totals[name]["per_study"].append(attribution.completeness.batches)
            totals[name]["errors"].append(attribution.completeness.relative_error)
        logger.info("%s: %s", study_id, ", ".join(f"{totals[name]['errors'][-1]:.2e}" for name in variants))
    baseline = totals[NAIVE]
    lines = [
        f"bundle {bundle.name} ({bundle.config.backbone}, {bundle.config.image_size}² grid), {len(studies)} studies "
        f"of {arguments.studies.name}, mean-image baseline, batch "
        f"{arguments.batch_size}, {os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f} at the end",
        "",
        "| variant | gradient batches (all studies) | wall s (all studies) | speed-up (wall) | speed-up (batches) "
        "| worst completeness error | studies over 1 % |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, total in totals.items():
        lines.append(
            f"| {name} | {total['batches']} | {total['seconds']:.1f} | {baseline['seconds'] / total['seconds']:.2f}× "
            f"| {baseline['batches'] / total['batches']:.2f}× | {max(total['errors']):.2e} "
            f"| {sum(error > 0.01 for error in total['errors'])} |"
        )
    lines.append("")
    for name, total in totals.items():
        counts = {batches: total["per_study"].count(batches) for batches in sorted(set(total["per_study"]))}
        lines.append(f"{name}: studies by gradient batches paid: "
                     + ", ".join(f"{batches} batches: {count}" for batches, count in counts.items()))
    return "\n".join(lines) + "\n"


def time_explanations(explainer, image, token_ids, repeats: int, **settings):
    """Warm-up once, then ``repeats`` timed runs; returns (median seconds, all seconds, last attribution)."""
    explainer.explain(image, token_ids, **settings)
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        attribution = explainer.explain(image, token_ids, **settings)
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), seconds, attribution


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reference-steps", type=int, default=256,
                        help="midpoint steps of the reference attribution the maps are compared with (0: none)")
    parser.add_argument("--convergence", action="store_true", help="also tabulate error vs steps per rule")
    parser.add_argument("--demo", action="store_true", help="time the variants on every demo study instead")
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "demo", help="bundle for --demo")
    parser.add_argument("--studies", type=Path, default=ROOT / "studies" / "demo", help="studies for --demo")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), metavar="VARIANT",
                        help="with --demo: time only these variants (the naive baseline is always included)")
    arguments = parser.parse_args(argv)
    if arguments.variants and NAIVE not in arguments.variants:
        arguments.variants = [NAIVE, *arguments.variants]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if arguments.demo:
        sys.stdout.write(demo_benchmark(arguments))
        return 0

    from cxrmodel.explain.integrated_gradients import IntegratedGradientsExplainer  # noqa: PLC0415

    model, image, token_ids = build_study(arguments.image_size, arguments.seed)
    explainer = IntegratedGradientsExplainer(model, batch_size=arguments.batch_size)

    rows = {}
    for name, settings in VARIANTS.items():
        median, seconds, attribution = time_explanations(explainer, image, token_ids, arguments.repeats, **settings)
        rows[name] = (median, seconds, attribution)
        logger.info("%s: %s s", name, ", ".join(f"{value:.2f}" for value in seconds))

    reference = None
    if arguments.reference_steps:
        reference = explainer.explain(image, token_ids, steps=arguments.reference_steps, method="riemann_midpoint")

    def map_error(attribution, name: str) -> str:
        if reference is None:
            return "-"
        expected = getattr(reference, name).astype(np.float64)
        return f"{np.linalg.norm(getattr(attribution, name) - expected) / np.linalg.norm(expected):.3f}"

    baseline_seconds = rows[NAIVE][0]
    lines = [
        f"DenseNet-121 multimodal, {arguments.image_size}² image, 140-token report, batch {arguments.batch_size}, "
        f"{os.cpu_count()} CPU cores; F(x′) = {attribution.baseline_probability:.4f}, "
        f"F(x) = {attribution.probability:.4f}",
        "",
        "| variant | steps | gradient batches | wall s (median of "
        f"{arguments.repeats}) | completeness rel. error | converged | speed-up | image map error | token error "
        "| image share |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, (median, _, attribution) in rows.items():
        completeness = attribution.completeness
        lines.append(
            f"| {name} | {completeness.steps} | {completeness.batches} | {median:.2f} | "
            f"{completeness.relative_error:.2e} | {completeness.converged} | {baseline_seconds / median:.2f}× | "
            f"{map_error(attribution, 'image_attribution')} | {map_error(attribution, 'token_attribution')} | "
            f"{attribution.modality_share['image']:.3f} |"
        )
    if reference is not None:
        lines += ["", f"map errors: relative L2 distance to a {arguments.reference_steps}-step midpoint reference "
                  f"(its own completeness error {reference.completeness.relative_error:.2e}, image share "
                  f"{reference.modality_share['image']:.3f})"]
    lines.append("")
    lines.append(f"trace counts: {explainer.trace_counts}")
    auto_error = rows[AUTO][2].completeness.relative_error
    naive_error = rows[NAIVE][2].completeness.relative_error
    if auto_error > naive_error:
        lines.append(f"note: auto's error ({auto_error:.2e}) is worse than the naive baseline's ({naive_error:.2e})")

    if arguments.convergence:
        from cxrmodel.explain import METHODS  # noqa: PLC0415

        step_counts = (8, 14, 16, 32, 64)
        lines += ["", "| rule | " + " | ".join(f"{steps} steps" for steps in step_counts) + " |",
                  "|---|" + "---|" * len(step_counts)]
        for method in METHODS:
            errors = [
                explainer.explain(image, token_ids, steps=steps, method=method).completeness.relative_error
                for steps in step_counts
            ]
            lines.append(f"| {method} | " + " | ".join(f"{error:.2e}" for error in errors) + " |")
        lines.append(f"trace counts after the convergence table: {explainer.trace_counts}")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
