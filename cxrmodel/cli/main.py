"""Command-line interface: `python -m cxrmodel --help` lists the commands.

Every command validates its arguments at the boundary; a user error ends with exit status 2 and one clear
line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Callable, Sequence

from cxrmodel.cli._common import (
    attribution_smoothing,
    output_folder,
    positive_float,
    positive_int,
    sight_sensitivity,
)

logger = logging.getLogger("cxrmodel")

SMOOTHING_HELP = ("sigma in model-grid pixels of the sum-preserving blur of the image attribution map before the "
                  "circles (0 = the raw map; default: the bundle's)")

USER_ERROR_STATUS = 2


class CommandError(Exception):
    """A problem the user can fix (bad argument, missing file); printed as one line, exit status 2."""


def _existing_directory(text: str) -> Path:
    path = Path(text)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"directory {text!r} does not exist")
    return path


def _command_demo_build(arguments: argparse.Namespace) -> int:
    from cxrmodel.training.demo import DemoRecipe, build_demo
    from cxrmodel.training.fit import TrainingSchedule

    schedule = TrainingSchedule()
    if arguments.epochs:
        schedule = TrainingSchedule(
            image_epochs=arguments.epochs,
            text_epochs=arguments.epochs,
            head_epochs=max(1, arguments.epochs // 4),
            multimodal_epochs=max(1, arguments.epochs // 3),
        )
    recipe = DemoRecipe(
        seed=arguments.seed,
        training_studies=arguments.training_studies,
        validation_studies=arguments.validation_studies,
        test_studies=arguments.test_studies,
        image_size=arguments.image_size,
        schedule=schedule,
    )
    card = build_demo(Path(arguments.model_output), Path(arguments.studies_output), recipe)
    print(json.dumps({"metrics": card["metrics"], "build_seconds": card["build_seconds"]}))
    return 0


def _command_demo_baseline(arguments: argparse.Namespace) -> int:
    from cxrmodel.training.demo import DemoRecipe, write_mean_normal_baseline

    write_mean_normal_baseline(Path(arguments.model_output), DemoRecipe(seed=arguments.seed))
    print(json.dumps({"image_baseline": str(Path(arguments.model_output) / "image_baseline.png")}))
    return 0


def _command_demo_selection(arguments: argparse.Namespace) -> int:
    from cxrmodel.data.synthetic.studies import write_openi_dataset
    from cxrmodel.training.demo import DemoRecipe, selection_study_specs

    recipe = DemoRecipe(seed=arguments.seed)
    written = write_openi_dataset(arguments.output, selection_study_specs(recipe), recipe.seed,
                                  recipe.image_width, recipe.image_height)
    print(json.dumps({"studies": len(written), "output": str(arguments.output)}))
    return 0


def _command_synthetic(arguments: argparse.Namespace) -> int:
    from cxrmodel.data.synthetic.studies import sample_study_spec, write_openi_dataset

    specs = [sample_study_spec(arguments.first_number + index, arguments.seed) for index in range(arguments.count)]
    truth = write_openi_dataset(arguments.output, specs, arguments.seed, arguments.width, arguments.height)
    abnormal = sum(record["label"] for record in truth)
    print(json.dumps({"studies": len(truth), "abnormal": abnormal, "output": str(arguments.output)}))
    return 0


def _command_predict(arguments: argparse.Namespace) -> int:
    from cxrmodel.modeling import load_bundle
    from cxrmodel.imaging.decode import decode_image_file
    from cxrmodel.data.collection import StudyCollection

    # The folder is read as the dashboard reads it: OpenI XML layout or its Kaggle CSV variant.
    try:
        studies = list(StudyCollection.from_folder(arguments.studies).studies.values())
    except ValueError as error:
        raise CommandError(f"no studies with images found in {arguments.studies}: {error}") from None
    bundle = load_bundle(arguments.model)
    prepared = [bundle.prepare(decode_image_file(study.image_paths[0]).pixels, study.report_text) for study in studies]
    probabilities = bundle.predict_studies(prepared)
    for study, probability in zip(studies, probabilities):
        print(json.dumps({"study": study.study_id, "label": study.label, "probability": round(float(probability), 4)}))
    return 0


def _steps(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"steps must be 'auto' or a whole number, got {text!r}") from None
    if value < 2:
        raise argparse.ArgumentTypeError(f"steps must be at least 2, got {value}")
    return value


def read_report_file(path: Path) -> str:
    """A report from a plain-text file (UTF-8/16, Windows-1252) or an OpenI XML (FINDINGS + IMPRESSION).

    Read and checked exactly as a dashboard upload is (:func:`cxrmodel.inputs.report_from_file`).
    """
    from cxrmodel.inputs import report_from_file

    if not path.is_file():
        raise CommandError(f"report file {path} does not exist")
    return report_from_file(str(path), path.read_bytes())


def _command_explain(arguments: argparse.Namespace) -> int:
    import numpy as np

    from cxrmodel.modeling import load_bundle
    from cxrmodel.explain.study import ExplanationSettings, StudyExplainer, attribution_arrays, explanation_document
    from cxrmodel.imaging.decode import decode_image
    from cxrmodel.inputs import clean_report_text

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
        from cxrmodel.explain.cache import ExplanationCache

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


def _command_evaluate_detection(arguments: argparse.Namespace) -> int:
    from cxrmodel.modeling import load_bundle
    from cxrmodel.explain.cache import ExplanationCache
    from cxrmodel.evaluation.detection_quality import detection_report, write_quality_chart, write_quality_json
    from cxrmodel.explain.study import ExplanationSettings, StudyExplainer
    from cxrmodel.data.collection import StudyCollection

    bundle = load_bundle(arguments.model)
    collection = StudyCollection.from_folder(arguments.studies)
    cache = ExplanationCache(arguments.cache_dir) if arguments.cache_dir else None
    settings = ExplanationSettings(min_points=arguments.min_points, steps=arguments.steps,
                                   attribution_smoothing=arguments.smoothing)
    explainer = StudyExplainer(bundle, cache)
    report = detection_report(explainer, collection, settings=settings, counterfactual=arguments.counterfactual)
    qualities = report.thresholds
    arguments.output.mkdir(parents=True, exist_ok=True)
    extra = {"model": {"name": bundle.name, "fingerprint": bundle.fingerprint}, "studies": str(arguments.studies),
             "default_sight_sensitivity": bundle.config.default_sight_sensitivity,
             "attribution_smoothing": explainer.attribution_smoothing(settings)}
    write_quality_json(qualities, arguments.output / "detection-quality.json", extra, report.lesions)
    write_quality_chart(qualities, arguments.output / "detection-quality.png", bundle.config.default_sight_sensitivity)
    for quality in qualities:
        print(json.dumps(quality.to_dict()))
    return 0


def _command_fetch(arguments: argparse.Namespace) -> int:
    from cxrmodel.data import fetch

    try:
        paths = getattr(fetch, arguments.fetcher)(arguments.dest, wheel=arguments.from_wheel, timeout=arguments.timeout)
    except fetch.FetchError as error:
        raise CommandError(str(error)) from None
    for path in paths if isinstance(paths, tuple) else (paths,):
        print(path)
    return 0


def _command_evaluate(arguments: argparse.Namespace) -> int:
    from cxrmodel.data.fetch import default_reports_path
    from cxrmodel.training.evaluate_text import TextEvaluationSettings, evaluate_openi_reports

    logging.getLogger("cxrmodel.training.evaluate_text").setLevel(logging.INFO)  # one progress line per fold on stderr
    if arguments.compare_embeddings and arguments.word_vectors not in ("random", "word2vec"):
        raise CommandError("--compare-embeddings compares random with word2vec initialisation; "
                           "it cannot be combined with --word-vectors FILE")
    if arguments.word_vectors not in ("random", "word2vec") and not Path(arguments.word_vectors).is_file():
        raise CommandError(f"--word-vectors: {arguments.word_vectors!r} is neither 'random', 'word2vec' "
                           "nor an existing word vectors file")
    settings = TextEvaluationSettings(folds=arguments.folds, epochs=arguments.epochs, seed=arguments.seed,
                                      word_vectors=arguments.word_vectors,
                                      compare_embeddings=arguments.compare_embeddings)
    document = evaluate_openi_reports(arguments.reports or default_reports_path(), settings)
    if arguments.json:
        print(json.dumps(document))
    else:
        print(f"{document['n_studies']} reports, {document['folds']} stratified folds, {document['wall_seconds']:.0f} s")
        for name, block in document["models"].items():
            print(f"{name:22s} accuracy {block['accuracy_mean']:.4f} +/- {block['accuracy_sd']:.4f}, "
                  f"AUC {block['auc_mean']:.4f} +/- {block['auc_sd']:.4f}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every command."""
    parser = argparse.ArgumentParser(
        prog="python -m cxrmodel",
        description="Chest X-ray multimodal: synthetic data, demo model, predictions.",
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="log progress at INFO level")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = commands.add_parser("demo", help="the bundled demo model and studies")
    demo_commands = demo.add_subparsers(dest="demo_command", metavar="DEMO_COMMAND")
    build = demo_commands.add_parser(
        "build", help="regenerate synthetic data, train, write models/demo and studies/demo (about 20 min on 2 cores)"
    )
    build.add_argument("--model-output", default="models/demo", help="bundle directory to write")
    build.add_argument("--studies-output", default="studies/demo", help="demo studies directory to write")
    build.add_argument("--seed", type=int, default=2019)
    build.add_argument("--training-studies", type=positive_int, default=2000)
    build.add_argument("--validation-studies", type=positive_int, default=300)
    build.add_argument("--test-studies", type=positive_int, default=400)
    build.add_argument("--image-size", type=positive_int, default=160, help="model grid side in pixels")
    build.add_argument("--epochs", type=positive_int, default=None, help="override the epochs of every stage")
    build.set_defaults(handler=_command_demo_build)
    baseline = demo_commands.add_parser(
        "baseline", help="(re)write the demo bundle's mean-normal image baseline from its training recipe"
    )
    baseline.add_argument("--model-output", default="models/demo", help="bundle directory to update")
    baseline.add_argument("--seed", type=int, default=2019)
    baseline.set_defaults(handler=_command_demo_baseline)
    selection = demo_commands.add_parser(
        "selection", help="write the selection set (45 synthetic studies with masks, disjoint from the demo studies) "
        "used to choose explanation settings such as the map smoothing"
    )
    selection.add_argument("--output", type=output_folder, required=True, help="folder to write (created)")
    selection.add_argument("--seed", type=int, default=2019)
    selection.set_defaults(handler=_command_demo_selection)

    synthetic = commands.add_parser("synthetic", help="write synthetic studies in the OpenI layout with masks")
    synthetic.add_argument("--output", type=output_folder, required=True, help="folder to write (created)")
    synthetic.add_argument("--count", type=positive_int, default=100)
    synthetic.add_argument("--seed", type=int, default=0)
    synthetic.add_argument("--first-number", type=positive_int, default=1, help="number of the first CXR<n>")
    synthetic.add_argument("--width", type=positive_int, default=480)
    synthetic.add_argument("--height", type=positive_int, default=512)
    synthetic.set_defaults(handler=_command_synthetic)

    predict = commands.add_parser("predict", help="P(abnormal) for every study of an OpenI folder, as JSON lines")
    predict.add_argument("--model", type=_existing_directory, required=True, help="model bundle directory")
    predict.add_argument("--studies", type=_existing_directory, required=True,
                         help="OpenI folder (ecgen-radiology/ + NLMCXR_png/, or the Kaggle indiana_*.csv layout)")
    predict.set_defaults(handler=_command_predict)

    from cxrmodel.explain.quadrature import METHODS

    explain = commands.add_parser("explain", help="explain one study: probability, circles, word attributions")
    explain.add_argument("--model", type=_existing_directory, required=True, help="model bundle directory")
    explain.add_argument("--image", type=Path, required=True, help="PNG, JPEG or DICOM radiograph")
    report = explain.add_mutually_exclusive_group(required=True)
    report.add_argument("--report", type=Path, help="report as a text file or an OpenI XML")
    report.add_argument("--report-text", help="report text")
    explain.add_argument("--threshold", type=sight_sensitivity, default=None,
                         help="sight sensitivity in [0, 1] (default: the bundle's, 0.70)")
    explain.add_argument("--distance", type=positive_float, default=None,
                         help="link distance in model-grid pixels (default: 10 x grid/224)")
    explain.add_argument("--min-points", type=positive_int, default=2)
    explain.add_argument("--steps", type=_steps, default="auto", help="'auto' or a number of integration steps")
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

    from cxrmodel.cli.detect import add_detect_parser

    add_detect_parser(commands)

    from cxrmodel.cli.pretrain import add_pretrain_parsers

    add_pretrain_parsers(commands)

    from cxrmodel.cli.embeddings import add_embeddings_parser

    add_embeddings_parser(commands)

    from cxrmodel.cli.train import add_train_parsers

    add_train_parsers(commands)

    quality = commands.add_parser("evaluate-detection", help="sweep tau on synthetic studies: lesion hit rate, markers")
    quality.add_argument("--model", type=_existing_directory, required=True, help="model bundle directory")
    quality.add_argument("--studies", type=_existing_directory, required=True, help="synthetic OpenI folder with truth")
    quality.add_argument("--output", type=output_folder, default=Path("docs"), help="folder for the JSON and PNG")
    quality.add_argument("--counterfactual", action="store_true",
                         help="also re-render every study with findings without them (same patient, markers and "
                              "report) and count how often its circles still land on the lesion's spot")
    quality.add_argument("--min-points", type=positive_int, default=2)
    quality.add_argument("--steps", type=_steps, default="auto")
    quality.add_argument("--smoothing", type=attribution_smoothing, default=None, metavar="SIGMA", help=SMOOTHING_HELP)
    quality.add_argument("--cache-dir", type=Path, default=None, help="reuse attributions from this cache")
    quality.set_defaults(handler=_command_evaluate_detection)

    data = commands.add_parser("data", help="fetch real datasets into the local cache")
    data_commands = data.add_subparsers(dest="data_command", metavar="DATA_COMMAND")
    for name, fetcher, what in (
        ("fetch-openi-reports", "fetch_openi_reports", "the OpenI IU X-ray reports (NLMCXR_reports.tgz, CC BY-NC-ND)"),
        ("fetch-chestxray14-labels", "fetch_chestxray14_labels",
         "the NIH ChestX-ray14 label and box files (Data_Entry_2017_v2020.csv.gz, BBox_List_2017.csv.gz)"),
    ):
        fetch = data_commands.add_parser(name, help=f"put {what} in the cache, sha256-checked")
        fetch.add_argument("--dest", type=Path, default=None,
                           help="folder (default: $XDG_CACHE_HOME/cxrmodel/data or ~/.cache/cxrmodel/data)")
        fetch.add_argument("--from-wheel", type=Path, default=None,
                           help="extract from this already downloaded torchxrayvision-1.5.7 wheel (no network)")
        fetch.add_argument("--timeout", type=positive_float, default=600.0, help="seconds pip download may take")
        fetch.set_defaults(handler=_command_fetch, fetcher=fetcher)

    evaluate = commands.add_parser(
        "evaluate", help="stratified k-fold accuracy/AUC of the text model on real reports, with a TF-IDF baseline"
    )
    evaluate.add_argument("--dataset", choices=("openi-reports",), required=True)
    evaluate.add_argument("--modality", choices=("text",), required=True,
                          help="only text: the IU images cannot be fetched here")
    evaluate.add_argument("--folds", type=positive_int, default=5)
    evaluate.add_argument("--reports", type=Path, default=None,
                          help="reports .tgz or folder (default: the archive fetched by 'data fetch-openi-reports')")
    evaluate.add_argument("--epochs", type=positive_int, default=15, help="maximum epochs per fold")
    evaluate.add_argument("--seed", type=int, default=2019)
    evaluate.add_argument("--word-vectors", default="word2vec", metavar="{random,word2vec,FILE}",
                          help="embedding initialisation: random, word2vec trained on each training fold's reports "
                               "only (default), or a word2vec/GloVe text file")
    evaluate.add_argument("--compare-embeddings", action="store_true",
                          help="train both the random and the word2vec model on the same folds (Table 1 analogue)")
    evaluate.add_argument("--json", action="store_true", help="print one JSON line")
    evaluate.set_defaults(handler=_command_evaluate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command; returns the process exit status."""
    parser = build_parser()
    arguments = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if arguments.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    handler: Callable[[argparse.Namespace], int] | None = getattr(arguments, "handler", None)
    if handler is None:
        parser.print_help()
        return 0 if arguments.command is None else USER_ERROR_STATUS
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        return handler(arguments)
    except (CommandError, ValueError, OSError) as error:  # OSError: missing, unwritable or clashing files
        print("error: " + " ".join(str(error).split()), file=sys.stderr)  # always one line
        return USER_ERROR_STATUS
