"""The ``evaluate-detection`` and ``evaluate`` commands: how good the explanations and the text model are.

    python -m cxrmodel evaluate-detection --model BUNDLE --studies DIR [--output DIR] [--counterfactual]
        [--min-points N] [--steps auto|N] [--smoothing SIGMA] [--cache-dir DIR]
    python -m cxrmodel evaluate --dataset openi-reports --modality text [--folds K] [--reports PATH]
        [--epochs E] [--seed S] [--word-vectors random|word2vec|FILE] [--compare-embeddings]
        [--no-report-model] [--no-kim-cnn] [--inner-folds K] [--include-no-indexing [abnormal|normal]]
        [--include-empty-reports] [--require-image] [--json]

Both measure and report, and write nothing a later command reads: ``evaluate-detection`` sweeps the sight
sensitivity over synthetic studies with truth (:mod:`cxrmodel.evaluation.detection_quality`: lesion hit rate,
marker hits) for a finished bundle, ``evaluate`` runs the stratified k-fold evaluation of the text model on real
reports (:mod:`cxrmodel.training.evaluate_text`; the studies are those the OpenI label rules keep,
:func:`cxrmodel.data.openi.select_studies`, and the JSON's ``selection`` says how many were kept and dropped, by
reason). ``evaluate-models`` (:mod:`cxrmodel.cli.train`) is not here
because it shares ``train``'s transfer and model options. ``--help`` lists ``data`` between the two commands,
so :func:`cxrmodel.cli.main.build_parser` registers them with two calls, :func:`add_detection_parser` and
:func:`add_parser`. Each prints its result on stdout (JSON lines, or a table for ``evaluate`` without
``--json``); TensorFlow, matplotlib and gensim are imported when a command runs, so ``--help`` loads none of them.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from cxrmodel.cli._common import (
    SMOOTHING_HELP,
    CommandError,
    attribution_smoothing,
    existing_directory,
    integration_steps,
    output_folder,
    positive_int,
)


def _command_evaluate_detection(arguments: argparse.Namespace) -> int:
    from cxrmodel.data import StudyCollection  # noqa: PLC0415 - TensorFlow and matplotlib only when the command runs
    from cxrmodel.evaluation import detection_report, write_quality_json  # noqa: PLC0415
    from cxrmodel.explain import ExplanationCache, ExplanationSettings, StudyExplainer  # noqa: PLC0415
    from cxrmodel.modeling import load_bundle  # noqa: PLC0415
    from cxrmodel.rendering.charts import write_quality_chart  # noqa: PLC0415

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
             "attribution_smoothing": explainer.attribution_smoothing(settings),
             # Issue #18: at the default tau, do the circles (and the top-3 words) beat same-size random controls?
             "deletion_at_default": report.deletion_summary(bundle.config.default_sight_sensitivity)}
    write_quality_json(qualities, arguments.output / "detection-quality.json", extra, report.lesions,
                       report.deletions)
    write_quality_chart(qualities, arguments.output / "detection-quality.png", bundle.config.default_sight_sensitivity)
    for quality in qualities:
        print(json.dumps(quality.to_dict()))
    return 0


def _command_evaluate(arguments: argparse.Namespace) -> int:
    from cxrmodel.data.fetch import default_reports_path  # noqa: PLC0415 - TensorFlow and gensim only when the command runs
    from cxrmodel.data.openi import LabelRules  # noqa: PLC0415 - same
    from cxrmodel.training.evaluate_text import TextEvaluationSettings, evaluate_openi_reports  # noqa: PLC0415

    logging.getLogger("cxrmodel.training.evaluate_text").setLevel(logging.INFO)  # one progress line per fold on stderr
    logging.getLogger("cxrmodel.data.openi").setLevel(logging.INFO)  # the label rules' kept/dropped counts
    if not arguments.kim_cnn and not arguments.report_model:
        raise CommandError("--no-kim-cnn with --no-report-model leaves nothing to evaluate")
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
    quality.add_argument("--output", type=output_folder, default=Path("docs"), help="folder for the JSON and PNG")
    quality.add_argument("--counterfactual", action="store_true",
                         help="also re-render every study with findings without them (same patient, markers and "
                              "report) and count how often its circles still land on the lesion's spot")
    quality.add_argument("--min-points", type=positive_int, default=2)
    quality.add_argument("--steps", type=integration_steps, default="auto")
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
    evaluate.add_argument("--json", action="store_true", help="print one JSON line")
    evaluate.set_defaults(handler=_command_evaluate)
