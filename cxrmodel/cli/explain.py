"""The ``predict`` and ``explain`` commands: a bundle's probabilities for a folder, or one study explained.

    python -m cxrmodel predict --model BUNDLE --studies DIR
    python -m cxrmodel explain --model BUNDLE --image FILE (--report FILE | --report-text TEXT) [--threshold TAU]
        [--distance PX] [--min-points N] [--steps auto|N] [--method RULE] [--baseline black|blur|mean]
        [--smoothing SIGMA] [--cache-dir DIR] [--save-attributions OUT.npz] [--json]

``predict`` prints one JSON line per study; ``explain`` prints the explanation as readable lines, or with
``--json`` as one JSON document: that output is the commands' product. Inputs are checked before the model is
loaded. :func:`cxrmodel.cli.main.build_parser` registers both with :func:`add_parsers`; the model, explainer and
decoder are imported when a command runs, so ``--help`` loads no TensorFlow.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cxrmodel.cli._common import (
    SMOOTHING_HELP,
    CommandError,
    attribution_smoothing,
    existing_directory,
    integration_steps,
    positive_float,
    positive_int,
    sight_sensitivity,
)


def _command_predict(arguments: argparse.Namespace) -> int:
    from cxrmodel.data import StudyCollection  # noqa: PLC0415 - TensorFlow only when the command runs
    from cxrmodel.imaging import decode_image_file  # noqa: PLC0415
    from cxrmodel.modeling import load_bundle  # noqa: PLC0415

    # The folder is read as the dashboard reads it: OpenI XML layout or its Kaggle CSV variant.
    try:
        studies = list(StudyCollection.from_folder(arguments.studies).studies.values())
    except ValueError as error:
        raise CommandError(f"no studies with images found in {arguments.studies}: {error}") from None
    bundle = load_bundle(arguments.model)
    prepared = [bundle.prepare(decode_image_file(study.image_paths[0]).pixels, study.report_text) for study in studies]
    probabilities = bundle.predict_studies(prepared)
    for study, probability in zip(studies, probabilities, strict=True):
        print(json.dumps({"study": study.study_id, "label": study.label, "probability": round(float(probability), 4)}))
    return 0


def read_report_file(path: Path) -> str:
    """A report from a plain-text file (UTF-8/16, Windows-1252) or an OpenI XML (FINDINGS + IMPRESSION).

    Read and checked exactly as a dashboard upload is (:func:`cxrmodel.inputs.report_from_file`).
    """
    from cxrmodel.inputs import report_from_file  # noqa: PLC0415 - the report readers only when the command runs

    if not path.is_file():
        raise CommandError(f"report file {path} does not exist")
    return report_from_file(str(path), path.read_bytes())


def _command_explain(arguments: argparse.Namespace) -> int:
    import numpy as np  # noqa: PLC0415 - TensorFlow only when the command runs

    from cxrmodel.explain import ExplanationSettings, StudyExplainer, attribution_arrays, explanation_document  # noqa: PLC0415
    from cxrmodel.imaging import decode_image  # noqa: PLC0415
    from cxrmodel.inputs import clean_report_text  # noqa: PLC0415
    from cxrmodel.modeling import load_bundle  # noqa: PLC0415

    if not arguments.image.is_file():
        raise CommandError(f"image file {arguments.image} does not exist")
    if arguments.save_attributions:  # checked before the gradients are computed, not after
        target = Path(arguments.save_attributions)
        if target.is_dir() or not target.absolute().parent.is_dir():
            raise CommandError(f"--save-attributions {target}: expected a file in an existing folder")
    image_bytes = arguments.image.read_bytes()
    # Inputs are checked (as a dashboard upload is) before the model is loaded: a bad file fails in milliseconds.
    decode_image(image_bytes)
    report = clean_report_text(read_report_file(arguments.report) if arguments.report else arguments.report_text)
    bundle = load_bundle(arguments.model)
    settings = ExplanationSettings(
        sight_sensitivity=arguments.threshold,
        link_distance=arguments.distance,
        min_points=arguments.min_points,
        steps=arguments.steps,
        method=arguments.method,
        image_baseline=arguments.baseline,
        attribution_smoothing=arguments.smoothing,
    )
    cache = None
    if arguments.cache_dir:
        from cxrmodel.explain import ExplanationCache  # noqa: PLC0415

        cache = ExplanationCache(arguments.cache_dir)
    explanation = StudyExplainer(bundle, cache).explain(image_bytes, report, settings)
    document = explanation_document(bundle, explanation, settings)
    if arguments.save_attributions:
        np.savez_compressed(arguments.save_attributions, **attribution_arrays(explanation))
    if arguments.json:
        print(json.dumps(document))
    else:
        print(f"P(abnormal) = {document['probability']:.3f} ({document['label']})")
        share = document["modality_share"]
        print(f"image share {share['image']}, report share {share['text']}; "
              f"completeness error {document['completeness']['relative_error']:.2%}")
        for circle in document["circles"]:
            print(f"circle at ({circle['x']:.0f}, {circle['y']:.0f}) r={circle['r']:.0f} mass={circle['mass']:.2f}")
    return 0


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    """Register ``predict`` and ``explain``, in that order.

    Args:
        subparsers: The CLI's sub-command set (``ArgumentParser.add_subparsers()``).
    """
    predict = subparsers.add_parser("predict", help="P(abnormal) for every study of an OpenI folder, as JSON lines")
    predict.add_argument("--model", type=existing_directory, required=True, help="model bundle directory")
    predict.add_argument("--studies", type=existing_directory, required=True,
                         help="OpenI folder (ecgen-radiology/ + NLMCXR_png/, or the Kaggle indiana_*.csv layout)")
    predict.set_defaults(handler=_command_predict)

    from cxrmodel.explain import METHODS  # noqa: PLC0415 - with the parser, not with cxrmodel.cli

    explain = subparsers.add_parser("explain", help="explain one study: probability, circles, word attributions")
    explain.add_argument("--model", type=existing_directory, required=True, help="model bundle directory")
    explain.add_argument("--image", type=Path, required=True, help="PNG, JPEG or DICOM radiograph")
    report = explain.add_mutually_exclusive_group(required=True)
    report.add_argument("--report", type=Path, help="report as a text file or an OpenI XML")
    report.add_argument("--report-text", help="report text")
    explain.add_argument("--threshold", type=sight_sensitivity, default=None,
                         help="sight sensitivity in [0, 1] (default: the bundle's, 0.70)")
    explain.add_argument("--distance", type=positive_float, default=None,
                         help="link distance in model-grid pixels (default: 10 x grid/224)")
    explain.add_argument("--min-points", type=positive_int, default=2)
    explain.add_argument("--steps", type=integration_steps, default="auto",
                         help="'auto' or a number of integration steps")
    explain.add_argument("--method", choices=METHODS, default="riemann_trapezoid",
                         help="integration rule (default riemann_trapezoid; with --steps auto it refines the intervals "
                         "whose own completeness check fails)")
    explain.add_argument("--baseline", choices=("black", "blur", "mean"), default=None,
                         help="image baseline (default: the bundle's; 'mean' = its mean normal training image)")
    explain.add_argument("--smoothing", type=attribution_smoothing, default=None, metavar="SIGMA", help=SMOOTHING_HELP)
    explain.add_argument("--cache-dir", type=Path, default=None, help="reuse attributions from this cache")
    explain.add_argument("--save-attributions", type=Path, default=None, help="write the maps to this .npz")
    explain.add_argument("--json", action="store_true", help="print the JSON document")
    explain.set_defaults(handler=_command_explain)
