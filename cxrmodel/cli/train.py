"""The ``train``, ``evaluate-models`` and ``pipeline`` commands (transfer-learning stages on a target dataset).

    python -m cxrmodel train --studies DIR --output BUNDLE [--image-encoder PRETRAIN_DIR | --image-weights CHEXNET.h5]
        [--word-vectors word2vec|FILE] [--image-size S] [--backbone B] [--epochs E] [--seed S]
        [--validation-fraction F] [--test-fraction F]
    python -m cxrmodel evaluate-models --studies DIR --folds K [--json] [--chart OUT.png] [--output FILE.json]
        [--work-dir DIR] [same transfer and model options]
    python -m cxrmodel pipeline --output DIR [--quick] [--seed S]

Each prints its JSON result on stdout (``evaluate-models`` without ``--json``: a table); progress goes to stderr,
a bar per fold and per fit counting epochs (:mod:`cxrmodel.progress`), one log line per epoch with ``-v``, plus
Keras' per-batch bar with ``-v`` when stderr is a terminal. `cxrmodel.cli.main`
registers them with :func:`add_parsers`. User errors exit with status 2 and one line on stderr.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
from pathlib import Path

from cxrmodel.cli._common import (
    SEED_HELP,
    CommandError,
    DeprecatedOption,
    fraction_below_half,
    image_size,
    positive_float,
    positive_int,
)


def _show_progress(arguments: argparse.Namespace) -> bool:
    """Whether Keras' per-batch bar is shown too (``-v`` on a terminal); the epochs and folds always have a bar on
    stderr (:mod:`cxrmodel.progress`), and ``-v`` adds one log line per epoch."""
    return bool(arguments.verbose and sys.stderr.isatty())


TRAINING_SPLIT_WORD2VEC = "word2vec"
"""``--word-vectors word2vec``: word2vec trained on the training split's reports (as ``evaluate`` does per fold)."""


def _word_vectors(text: str) -> str | Path:
    return text if text == TRAINING_SPLIT_WORD2VEC else Path(text)


def _sources(arguments: argparse.Namespace):
    from cxrmodel.training.transfer import TransferSources  # noqa: PLC0415 - TensorFlow only when training

    on_training_split = arguments.word_vectors == TRAINING_SPLIT_WORD2VEC
    return TransferSources(image_encoder=arguments.image_encoder, image_weights=arguments.image_weights,
                           word_vectors=None if on_training_split else arguments.word_vectors,
                           word2vec_on_training_split=on_training_split)


def _settings(arguments: argparse.Namespace, test_fraction: float = 0.2):
    from cxrmodel.training.fit import TrainingSchedule  # noqa: PLC0415 - TensorFlow only when training
    from cxrmodel.training.target import TargetSettings  # noqa: PLC0415

    schedule = TrainingSchedule(learning_rate=arguments.learning_rate,
                                fine_tune_learning_rate=arguments.fine_tune_learning_rate,
                                batch_size=arguments.batch_size)
    if arguments.epochs:
        schedule = dataclasses.replace(schedule, image_epochs=arguments.epochs, text_epochs=arguments.epochs,
                                       head_epochs=max(1, arguments.epochs // 4),
                                       multimodal_epochs=max(1, arguments.epochs // 3))
    return TargetSettings(image_size=arguments.image_size, backbone=arguments.backbone, seed=arguments.seed,
                          embedding_dimension=arguments.embedding_dimension,
                          validation_fraction=arguments.validation_fraction, test_fraction=test_fraction,
                          schedule=schedule)


def _check_studies(arguments: argparse.Namespace) -> None:
    if not arguments.studies.is_dir():
        raise CommandError(f"--studies {arguments.studies} is not a folder (expected an OpenI folder: "
                           "ecgen-radiology/*.xml + NLMCXR_png/*.png, or the Kaggle indiana_*.csv layout)")


def calibration_summary(document: dict | None) -> dict | None:
    """The printed part of a calibration.json document: the temperature kept and its held-out ECE, or the reason
    the bundle is not calibrated; None when none was written."""
    if document is None:
        return None
    if document["method"] != "temperature":
        return {"calibrated": False, "reason": document["reason"]}
    return {"calibrated": True, "temperature": document["temperature"], "ece_raw": document["held_out"]["ece_raw"],
            "ece_calibrated": document["held_out"]["ece_calibrated"]}


def _command_train(arguments: argparse.Namespace) -> int:
    from cxrmodel.training.target import train_target_bundle  # noqa: PLC0415 - TensorFlow only when training
    from cxrmodel.training.target_data import selection_summary  # noqa: PLC0415

    _check_studies(arguments)
    if arguments.output.exists() and not arguments.output.is_dir():
        raise CommandError(f"--output {arguments.output} exists and is not a folder")
    settings, sources = _settings(arguments, arguments.test_fraction), _sources(arguments)
    progress = _show_progress(arguments)
    command = "python -m cxrmodel " + " ".join(shlex.quote(part) for part in sys.argv[1:]) if sys.argv[1:] else None
    card = train_target_bundle(arguments.studies, arguments.output, settings, sources, progress_bar=progress,
                               command=command)
    print(f"selection: {selection_summary(card['selection'])}", file=sys.stderr)
    print(json.dumps({"bundle": card["bundle"], "metrics": card["metrics"], "synthetic": card["synthetic"],
                      "selection": card["selection"],
                      "calibration": calibration_summary(card.get("calibration")),
                      "single_modality_bundles": card.get("single_modality_bundles", {}),
                      "reused": card["reused"], "training_seconds": card["training_seconds"],
                      "dashboard": f"python app.py --model {arguments.output} --studies {arguments.studies}"}))
    return 0


def _command_evaluate_models(arguments: argparse.Namespace) -> int:
    from cxrmodel.rendering.charts import write_evaluation_chart  # noqa: PLC0415 - TensorFlow and matplotlib only when training
    from cxrmodel.training.target import MODEL_LABELS, MODEL_ORDER, evaluate_target_models  # noqa: PLC0415
    from cxrmodel.training.target_data import selection_summary  # noqa: PLC0415

    _check_studies(arguments)
    if arguments.folds < 2:
        raise CommandError(f"--folds must be at least 2, got {arguments.folds}")
    for option in ("chart", "output"):
        path = getattr(arguments, option)
        if path is not None and path.exists() and path.is_dir():
            raise CommandError(f"--{option} {path} is a folder; give a file name")
    if arguments.chart is not None and arguments.chart.suffix.lower() != ".png":
        raise CommandError(f"--chart {arguments.chart} must end in .png")
    settings, sources = _settings(arguments), _sources(arguments)
    progress = _show_progress(arguments)
    document = evaluate_target_models(arguments.studies, arguments.folds, settings, sources,
                                      work_directory=arguments.work_dir, progress_bar=progress)
    if arguments.chart is not None:
        write_evaluation_chart(document, arguments.chart)
        document["chart"] = str(arguments.chart)
    if arguments.output is not None:
        arguments.output.parent.mkdir(parents=True, exist_ok=True)
        arguments.output.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    if arguments.json:
        print(json.dumps(document))
    else:
        print(f"{document['n_studies']} studies ({document['n_abnormal']} abnormal), {document['folds']} stratified "
              f"folds, {document['wall_seconds']:.0f} s")
        print(f"selection: {selection_summary(document['selection'])}")
        for model in MODEL_ORDER:
            row = document["models"][model]
            print(f"{MODEL_LABELS[model]:<11} accuracy {row['accuracy_mean']:.4f} +/- {row['accuracy_sd']:.4f}   "
                  f"AUC {row['auc_mean']:.4f} +/- {row['auc_sd']:.4f}")
        gain = document["multimodal_gain_points"]
        print(f"multimodal gain: {gain['over_text']:+.1f} accuracy points over text only, "
              f"{gain['over_image']:+.1f} over image only")
    return 0


def _command_pipeline(arguments: argparse.Namespace) -> int:
    from cxrmodel.training.pipeline import FULL, QUICK, run_pipeline  # noqa: PLC0415 - TensorFlow only when training

    if arguments.output.exists() and not arguments.output.is_dir():
        raise CommandError(f"--output {arguments.output} exists and is not a folder")
    recipe = dataclasses.replace(QUICK if arguments.quick else FULL, seed=arguments.seed)
    progress = _show_progress(arguments)
    summary = run_pipeline(arguments.output, recipe, progress_bar=progress, mode="quick" if arguments.quick else "full")
    print(json.dumps({key: summary[key] for key in ("mode", "table3", "bundle", "bundle_metrics", "studies",
                                                     "dashboard", "wall_seconds")}))
    return 0


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    transfer = parser.add_argument_group("transfer sources")
    image = transfer.add_mutually_exclusive_group()
    image.add_argument("--image-encoder", type=Path, default=None, metavar="PRETRAIN_DIR",
                       help="image encoder pre-trained by 'pretrain-image' (its grid size and backbone are used)")
    image.add_argument("--image-weights", type=Path, default=None, metavar="CHEXNET.h5",
                       help="CheXNet Keras weights for a densenet121 encoder (ImageNet preprocessing)")
    transfer.add_argument("--word-vectors", type=_word_vectors, default=None, metavar="{word2vec,FILE}",
                          help="initialise the (trainable) word embedding: 'word2vec' trains word2vec on the training "
                               "split's reports only (each training fold's in evaluate-models: no held-out report "
                               "shapes the vectors), FILE reads word2vec/GloVe text vectors (default: random)")
    model = parser.add_argument_group("model and schedule")
    model.add_argument("--image-size", type=image_size, default=None,
                       help="model grid side in pixels (default: the pre-trained encoder's, else 224)")
    # Checked by TargetSettings against cxrmodel.modeling.builders.BACKBONES (importing it here would load
    # TensorFlow for --help).
    model.add_argument("--backbone", default=None,
                       help="image backbone: compact, densenet121, mobilenetv3small, efficientnetb0 or resnet50 "
                            "(default: the pre-trained encoder's, else compact)")
    model.add_argument("--embedding-dimension", type=positive_int, default=300,
                       help="word vector length without --word-vectors (default 300, the paper's)")
    model.add_argument("--epochs", type=positive_int, default=None,
                       help="epochs of the image and text models (head and multimodal phases: a quarter and a third)")
    model.add_argument("--learning-rate", type=positive_float, default=1e-3,
                       help="Adam learning rate of the phases trained from scratch")
    model.add_argument("--fine-tune-learning-rate", type=positive_float, default=1e-4,
                       help="low learning rate of the fine-tuning phases")
    model.add_argument("--batch-size", type=positive_int, default=32, help="studies per gradient step")
    model.add_argument("--seed", type=int, default=2019, help=SEED_HELP)
    model.add_argument("--validation-fraction", type=fraction_below_half, default=0.1,
                       help="stratified share kept aside for early stopping")


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    """Register ``train``, ``evaluate-models`` and ``pipeline`` on the CLI's sub-command set."""
    train = subparsers.add_parser(
        "train", help="train text-only, image-only and multimodal on an OpenI folder and write a dashboard bundle")
    train.add_argument("--studies", type=Path, required=True,
                       help="OpenI folder (XML or Kaggle CSV layout) with images")
    train.add_argument("--output", type=Path, required=True,
                       help="bundle folder to write (finished sub-models are kept in OUTPUT/work for resuming)")
    train.add_argument("--test-fraction", type=fraction_below_half, default=0.2,
                       help="stratified share held out for the card")
    _add_model_options(train)
    train.set_defaults(handler=_command_train)

    evaluate = subparsers.add_parser(
        "evaluate-models", help="k stratified folds: accuracy/AUC mean +/- sd of the three models, accuracy per epoch")
    evaluate.add_argument("--studies", type=Path, required=True, help="OpenI folder (XML or Kaggle CSV layout)")
    evaluate.add_argument("--folds", type=positive_int, default=5, help="stratified folds (at least 2)")
    evaluate.add_argument("--json", action="store_true", help="print the JSON document")
    evaluate.add_argument("--chart", type=Path, default=None, metavar="OUT.png",
                          help="write Table 3 and the accuracy-per-epoch curves as a PNG")
    evaluate.add_argument("--output", type=Path, default=None, metavar="FILE.json", help="also write the JSON document")
    evaluate.add_argument("--output-json", dest="output", type=Path, metavar="FILE.json", action=DeprecatedOption,
                          replacement="--output")
    evaluate.add_argument("--work-dir", type=Path, default=None,
                          help="keep finished folds here; a rerun with the same settings reuses them")
    _add_model_options(evaluate)
    evaluate.set_defaults(handler=_command_evaluate_models)

    pipeline = subparsers.add_parser(
        "pipeline", help="synthetic end to end: pre-training set, pre-training, word2vec, target set, k-fold "
                         "evaluation, bundle (resumable)")
    pipeline.add_argument("--output", type=Path, required=True, help="folder for every stage's output")
    pipeline.add_argument("--quick", action="store_true", help="tiny CI-sized run (about 2 minutes)")
    pipeline.add_argument("--seed", type=int, default=2019, help=SEED_HELP)
    pipeline.set_defaults(handler=_command_pipeline)
