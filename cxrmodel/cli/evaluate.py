"""The ``evaluate-detection`` and ``evaluate`` commands: how good the explanations and the text model are.

    python -m cxrmodel evaluate-detection --model BUNDLE --studies DIR [--output FILE.json] [--chart FILE.png]
        [--counterfactual] [--min-points N] [--steps auto|N] [--smoothing SIGMA] [--cache-dir DIR] [--json]
    python -m cxrmodel evaluate --dataset openi-reports --modality text [--folds K] [--reports PATH]
        [--epochs E] [--seed S] [--word-vectors random|word2vec|FILE] [--compare-embeddings]
        [--no-report-model] [--no-kim-cnn] [--inner-folds K] [--include-no-indexing [abnormal|normal]]
        [--include-empty-reports] [--require-image] [--output FILE.json] [--json]

Both measure and report, and write nothing a later command reads: ``evaluate-detection`` sweeps the sight
sensitivity over synthetic studies with truth (:mod:`cxrmodel.evaluation.detection_quality`: lesion hit rate, marker
hits) for a finished bundle, ``evaluate`` runs the stratified k-fold evaluation of the text model on real reports
(:mod:`cxrmodel.training.evaluate_text`; the studies are those the OpenI label rules keep,
:func:`cxrmodel.data.openi.select_studies`, and the JSON's ``selection`` says how many were kept and dropped, by
reason). ``evaluate-models`` (:mod:`cxrmodel.cli.train`) is not here because it shares ``train``'s transfer and
model options. ``--help`` lists ``data`` between the two commands, so :func:`cxrmodel.cli.main.build_parser`
registers them with two calls, :func:`add_detection_parser` and :func:`add_parser`. Each prints its result on
stdout, a table, or with ``--json`` the JSON document as one line; ``--output FILE`` also writes that document to a
file (``evaluate-detection`` wrote into ``docs/`` by default until 2026-12: it now writes nothing unless asked, and
says so). TensorFlow, matplotlib and gensim are imported when a command runs, so ``--help`` loads none of them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cxrmodel.cli._common import (
    MIN_POINTS_HELP,
    SEED_HELP,
    SMOOTHING_HELP,
    STEPS_HELP,
    CommandError,
    attribution_smoothing,
    deprecation_notice,
    existing_directory,
    integration_steps,
    output_folder,
    positive_int,
    writable_file,
)

LEGACY_DETECTION_FILES = ("detection-quality.json", "detection-quality.png")
"""What ``evaluate-detection --output DIR`` wrote into the folder until 2026-12 (kept one release, deprecated)."""


def detection_output(text: str) -> Path:
    """``evaluate-detection --output``: the JSON document's file (``*.json``), or, deprecated, a folder for
    :data:`LEGACY_DETECTION_FILES` (checked as :func:`output_folder`)."""
    path = Path(text).expanduser()
    return path if path.suffix.lower() == ".json" else output_folder(text)


def readable_detection(document: dict) -> list[str]:
    """``evaluate-detection``'s table without ``--json``: one line per sight sensitivity."""
    lines = [f"{document['model']['name']} on {document['studies']}: lesion hit rate per sight sensitivity "
             f"(default tau {document['default_sight_sensitivity']:.2f})",
             "tau   hit rate  chance   circles/study  marker circles  circles beat random"]
    for row in document["thresholds"]:
        chance = "n/a" if row["chance_hit_rate"] is None else f"{row['chance_hit_rate']:.3f}"
        beat = "n/a" if row["circles_beat_random_share"] is None else f"{row['circles_beat_random_share']:.3f}"
        lines.append(f"{row['sight_sensitivity']:.2f}  {row['lesion_hit_rate']:>8.3f}  {chance:>6}   "
                     f"{row['circles_per_study']:>13.2f}  {row['marker_circles']:>14d}  {beat:>19}")
    return lines


def _command_evaluate_detection(arguments: argparse.Namespace) -> int:
    from cxrmodel.data import StudyCollection  # noqa: PLC0415 - TensorFlow and matplotlib only when the command runs
    from cxrmodel.evaluation import detection_report, quality_document  # noqa: PLC0415
    from cxrmodel.explain import ExplanationCache, ExplanationSettings, StudyExplainer  # noqa: PLC0415
    from cxrmodel.modeling import load_bundle  # noqa: PLC0415
    from cxrmodel.rendering.charts import write_quality_chart  # noqa: PLC0415

    output, chart = arguments.output, arguments.chart
    if output is None:
        deprecation_notice("evaluate-detection no longer writes docs/detection-quality.json and .png by default; "
                           "pass --output FILE.json (and --chart FILE.png) to write them")
    elif output.suffix.lower() != ".json":
        json_file, chart_file = (output / name for name in LEGACY_DETECTION_FILES)
        deprecation_notice(f"--output {output} as a folder is deprecated; use --output {json_file} "
                           f"--chart {chart_file}")
        output.mkdir(parents=True, exist_ok=True)
        output, chart = json_file, chart or chart_file
    for option, path in (("--output", output), ("--chart", chart)):
        if path is not None:
            writable_file(path, option)
    bundle = load_bundle(arguments.model)
    collection = StudyCollection.from_folder(arguments.studies)
    cache = ExplanationCache(arguments.cache_dir) if arguments.cache_dir else None
    settings = ExplanationSettings(min_points=arguments.min_points, steps=arguments.steps,
                                   attribution_smoothing=arguments.smoothing)
    explainer = StudyExplainer(bundle, cache)
    report = detection_report(explainer, collection, settings=settings, counterfactual=arguments.counterfactual)
    qualities = report.thresholds
    extra = {"model": {"name": bundle.name, "fingerprint": bundle.fingerprint}, "studies": str(arguments.studies),
             "default_sight_sensitivity": bundle.config.default_sight_sensitivity,
             "attribution_smoothing": explainer.attribution_smoothing(settings),
             # At the default tau, do the circles (and the top-3 words) beat same-size random controls?
             "deletion_at_default": report.deletion_summary(bundle.config.default_sight_sensitivity)}
    document = quality_document(qualities, extra, report.lesions, report.deletions)
    if output is not None:
        output.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    if chart is not None:
        write_quality_chart(qualities, chart, bundle.config.default_sight_sensitivity)
    print(json.dumps(document) if arguments.json else "\n".join(readable_detection(document)))
    return 0


def _command_evaluate(arguments: argparse.Namespace) -> int:
    from cxrmodel.data.fetch import default_reports_path  # noqa: PLC0415 - TensorFlow and gensim only when the command runs
    from cxrmodel.data.openi import LabelRules  # noqa: PLC0415 - same
    from cxrmodel.training.evaluate_text import TextEvaluationSettings, evaluate_openi_reports  # noqa: PLC0415

    if not arguments.kim_cnn and not arguments.report_model:
        raise CommandError("--no-kim-cnn with --no-report-model leaves nothing to evaluate")
    if arguments.output is not None:
        writable_file(arguments.output, "--output")
    if arguments.compare_embeddings and arguments.word_vectors not in ("random", "word2vec"):
        raise CommandError("--compare-embeddings compares random with word2vec initialisation; "
                           "it cannot be combined with --word-vectors FILE")
    if arguments.word_vectors not in ("random", "word2vec") and not Path(arguments.word_vectors).is_file():
        raise CommandError(f"--word-vectors: {arguments.word_vectors!r} is neither 'random', 'word2vec' "
                           "nor an existing word vectors file")
    settings = TextEvaluationSettings(folds=arguments.folds, epochs=arguments.epochs, seed=arguments.seed,
                                      word_vectors=arguments.word_vectors,
                                      compare_embeddings=arguments.compare_embeddings,
                                      kim_cnn=arguments.kim_cnn, report_model=arguments.report_model,
                                      inner_folds=arguments.inner_folds)
    include = arguments.include_no_indexing
    rules = LabelRules(include_no_indexing=include is not None,
                       no_indexing_label=0 if include == "normal" else 1,
                       include_empty_reports=arguments.include_empty_reports, require_image=arguments.require_image)
    document = evaluate_openi_reports(arguments.reports or default_reports_path(), settings, rules)
    if arguments.output is not None:
        arguments.output.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    if arguments.json:
        print(json.dumps(document))
    else:
        selection = document["selection"]
        dropped = ", ".join(f"{count} {reason}" for reason, count in selection["dropped"].items())
        print(f"{document['n_studies']} reports kept of {selection['loaded']} (dropped: {dropped}), "
              f"{document['folds']} stratified folds, {document['wall_seconds']:.0f} s")
        for name, block in document["models"].items():
            print(f"{name:22s} accuracy {block['accuracy_mean']:.4f} +/- {block['accuracy_sd']:.4f}, "
                  f"AUC {block['auc_mean']:.4f} +/- {block['auc_sd']:.4f}")
    return 0


def add_detection_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``evaluate-detection``.

    Args:
        subparsers: The CLI's sub-command set (``ArgumentParser.add_subparsers()``).
    """
    quality = subparsers.add_parser(
        "evaluate-detection", help="sweep tau on synthetic studies: lesion hit rate, markers"
    )
    quality.add_argument("--model", type=existing_directory, required=True, help="model bundle directory")
    quality.add_argument("--studies", type=existing_directory, required=True, help="synthetic OpenI folder with truth")
    quality.add_argument("--output", type=detection_output, default=None, metavar="FILE.json",
                         help="write the JSON document (every threshold, lesion by lesion, the deletion evidence) to "
                              "this file; a folder (deprecated) gets detection-quality.json and .png in it")
    quality.add_argument("--chart", type=Path, default=None, metavar="FILE.png",
                         help="write the hit rate per sight sensitivity as a PNG chart")
    quality.add_argument("--json", action="store_true",
                         help="print the JSON document (one line) instead of the readable table")
    quality.add_argument("--counterfactual", action="store_true",
                         help="also re-render every study with findings without them (same patient, markers and "
                              "report) and count how often its circles still land on the lesion's spot")
    quality.add_argument("--min-points", type=positive_int, default=2, help=MIN_POINTS_HELP)
    quality.add_argument("--steps", type=integration_steps, default="auto", help=STEPS_HELP)
    quality.add_argument("--smoothing", type=attribution_smoothing, default=None, metavar="SIGMA", help=SMOOTHING_HELP)
    quality.add_argument("--cache-dir", type=Path, default=None, help="reuse attributions from this cache")
    quality.set_defaults(handler=_command_evaluate_detection)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``evaluate`` (the text model on the OpenI reports).

    Args:
        subparsers: The CLI's sub-command set (``ArgumentParser.add_subparsers()``).
    """
    evaluate = subparsers.add_parser(
        "evaluate", help="stratified k-fold accuracy/AUC of the text model on real reports, with a TF-IDF baseline"
    )
    evaluate.add_argument("--dataset", choices=("openi-reports",), required=True,
                          help="the data set by name: the real IU reports fetched by 'data fetch-openi-reports'")
    evaluate.add_argument("--modality", choices=("text",), required=True,
                          help="only text: the IU images cannot be fetched here")
    evaluate.add_argument("--folds", type=positive_int, default=5, help="stratified outer folds")
    evaluate.add_argument("--reports", type=Path, default=None,
                          help="reports .tgz or folder (default: the archive fetched by 'data fetch-openi-reports')")
    evaluate.add_argument("--epochs", type=positive_int, default=15, help="maximum epochs per fold")
    evaluate.add_argument("--seed", type=int, default=2019, help=SEED_HELP)
    evaluate.add_argument("--word-vectors", default="word2vec", metavar="{random,word2vec,FILE}",
                          help="embedding initialisation: random, word2vec trained on each training fold's reports "
                               "only (default), or a word2vec/GloVe text file")
    evaluate.add_argument("--compare-embeddings", action="store_true",
                          help="train both the random and the word2vec model on the same folds (Table 1 analogue)")
    evaluate.add_argument("--no-report-model", dest="report_model", action="store_false",
                          help="skip the chosen report model (picked per fold by inner cross-validation on the "
                               "training part among fixed word/character n-gram + negation candidates)")
    evaluate.add_argument("--no-kim-cnn", dest="kim_cnn", action="store_false",
                          help="skip the Kim CNN reference row(s): only the fast rows (report model, TF-IDF + LR)")
    evaluate.add_argument("--inner-folds", type=positive_int, default=5,
                          help="inner cross-validation folds that choose the report model on each training part")
    evaluate.add_argument("--include-no-indexing", nargs="?", const="abnormal", choices=("abnormal", "normal"),
                          default=None, metavar="{abnormal,normal}",
                          help="keep the studies whose only MeSH term is 'No Indexing' (dropped by default), with "
                               "this label (default abnormal: the old 'normal'-only convention); the count is logged")
    evaluate.add_argument("--include-empty-reports", action="store_true",
                          help="keep studies with empty FINDINGS and IMPRESSION (dropped by default)")
    evaluate.add_argument("--require-image", action="store_true",
                          help="drop studies that list no image (as the image tasks do)")
    evaluate.add_argument("--output", type=Path, default=None, metavar="FILE.json",
                          help="also write the JSON document to this file")
    evaluate.add_argument("--json", action="store_true", help="print the JSON document (one line) instead of the table")
    evaluate.set_defaults(handler=_command_evaluate)
