"""The ``compare-explanations`` command: do the multimodal model and its single-modality parents explain alike?

    python -m cxrmodel compare-explanations --bundles A B [C ...] --studies DIR [--threshold TAU] [--limit N]
        [--seed S] [--cache-dir DIR] [--output FILE] [--json]

Every study of the folder is explained by every bundle (integrated gradients, circles at each bundle's sight
sensitivity or ``--threshold``), and every pair of bundles is compared
(:mod:`cxrmodel.evaluation.explanation_agreement`): the rank correlation and top-3 overlap of the word scores where
both read the report, the Jaccard overlap of the circles and the rank correlation of the attribution maps where
both read the radiograph, and whether they call the study alike. Prints a readable summary with one line per
study, or with ``--json`` the whole document as one JSON line; ``--output`` writes the same JSON document to a
file. A progress bar counts the studies on stderr. ``--limit N`` compares a seeded sample stratified by label
(:func:`stratified_sample`), not the first N of the folder. Bundles and the folder are checked before any model runs;
TensorFlow is imported when the command runs.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from cxrmodel.cli._common import (
    SEED_HELP,
    CommandError,
    existing_directory,
    positive_int,
    sight_sensitivity,
    writable_file,
)
from cxrmodel.progress import progress_meter

logger = logging.getLogger(__name__)

_PAIR_NUMBERS = (
    ("word_rank_correlation", "word rank correlation"),
    ("top3_overlap", "top-3 word overlap"),
    ("region_overlap", "circle overlap (Jaccard)"),
    ("map_rank_correlation", "map rank correlation"),
    ("probability_difference", "|P_A - P_B|"),
)


def _number(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{round(100 * value, 1) + 0.0:.1f}%"


def _summary_line(label: str, block: dict) -> str:
    line = f"    {label}: "
    if block["count"]:
        line += (f"mean {_number(block['mean'])}, median {_number(block['median'])}, sd {_number(block['sd'])} "
                 f"(n={block['count']})")
    else:
        line += "no value"
    if block["missing"]:
        reasons = "; ".join(f"{count} {reason}" for reason, count in block["missing_reasons"].items())
        line += f"; undefined for {block['missing']} ({reasons})"
    return line


def _model_names(models: list[dict]) -> list[str]:
    """Short names: the modality in words, with the path where two bundles share one."""
    labels = [model["modality_label"] for model in models]
    return [label if labels.count(label) == 1 else f"{label} ({model['path']})"
            for label, model in zip(labels, models, strict=True)]


def readable_comparison(document: dict) -> list[str]:
    """The lines ``compare-explanations`` prints without ``--json``, from its document."""
    models, summary = document["models"], document["summary"]
    names = _model_names(models)
    skipped = summary["skipped"]
    reasons = "; ".join(f"{count} {reason}" for reason, count in skipped["reasons"].items())
    lines = [f"{summary['studies']} studies of {document['studies_folder']} compared by {len(models)} models"
             f" ({skipped['count']} skipped" + (f": {reasons}" if reasons else "") + ")"]
    for index, (name, model) in enumerate(zip(names, models, strict=True), 1):
        tau = "" if model["sight_sensitivity"] is None else f", circles at tau {model['sight_sensitivity']:.2f}"
        block = summary["models"][index - 1]
        completeness = block["completeness_error"]
        lines.append(f"  [{index}] {name}: {model['path']}{tau}; called abnormal {_share(block['called_abnormal'])}; "
                     f"completeness error median {_share(completeness['median'])}, mean {_share(completeness['mean'])}")
    lines.append(f"all models call the study alike: {_share(summary['labels_all_agree'])}")
    for plan, pair in zip(document["pairs"], summary["pairs"], strict=True):
        lines.append(f"{names[plan['a']]} vs {names[plan['b']]}: labels agree {_share(pair['labels_agree'])}")
        for key, label in _PAIR_NUMBERS:
            if key in pair:
                lines.append(_summary_line(label, pair[key]))
        if not plan["words"]:
            lines.append(f"    words: not compared ({plan['words_reason']})")
        if not plan["regions"]:
            lines.append(f"    regions: not compared ({plan['regions_reason']})")
    if document["studies"]:
        lines.append("per study (P(abnormal) of each model; per pair: word rho / top-3, circle overlap / map rho):")
    for study in document["studies"]:
        probabilities = " ".join(f"{model['probability']:.3f}" for model in study["models"])
        parts = []
        for plan, pair in zip(document["pairs"], study["pairs"], strict=True):
            numbers = []
            if pair["words"] is not None:
                numbers.append(f"words {_number(pair['words']['rank_correlation'])}/"
                               f"{_number(pair['words']['top3_overlap'])}")
            if pair["regions"] is not None:
                numbers.append(f"circles {_number(pair['regions']['overlap'])}/"
                               f"{_number(pair['regions']['map_rank_correlation'])}")
            if numbers:
                parts.append(f"{plan['a'] + 1}v{plan['b'] + 1} " + " ".join(numbers))
        truth = f" ({study['truth_label']})" if study["truth_label"] else ""
        lines.append(f"  {study['study']}{truth}: P {probabilities}" + ("; " + "; ".join(parts) if parts else ""))
    for entry in document["skipped"]:
        lines.append(f"  skipped {entry['study']}: {entry['reason']} ({entry['detail']})")
    return lines




def stratified_sample(studies: list, count: int, seed: int) -> list:
    """``count`` of ``studies`` drawn at random (seeded), stratified by ``label_name``: each label keeps its share
    of the folder (largest remainders), and every label gets at least one study when ``count`` allows; the sample is
    in folder order.

    Args:
        studies: The folder's studies (each with a ``label_name``), in folder order.
        count: How many to keep, fewer than ``len(studies)``.
        seed: Seeds the draw: the same seed gives the same studies.
    """
    rng = np.random.default_rng(seed)
    by_label: dict[str, list[int]] = {}
    for index, study in enumerate(studies):
        by_label.setdefault(study.label_name, []).append(index)
    labels = sorted(by_label)
    exact = {label: count * len(by_label[label]) / len(studies) for label in labels}
    quota = {label: min(len(by_label[label]), max(1 if count >= len(labels) else 0, int(exact[label])))
             for label in labels}
    for label in sorted(labels, key=lambda name: exact[name] - int(exact[name]), reverse=True):
        if sum(quota.values()) >= count:
            break
        if quota[label] < len(by_label[label]):
            quota[label] += 1
    while sum(quota.values()) > count:  # the one-each floor can overshoot: take from the largest
        largest = max(labels, key=lambda name: quota[name])
        quota[largest] -= 1
    chosen = [int(index) for label in labels
              for index in rng.choice(by_label[label], size=quota[label], replace=False)]
    return [studies[index] for index in sorted(chosen)]


def _command_compare(arguments: argparse.Namespace) -> int:
    from cxrmodel.data import StudyCollection  # noqa: PLC0415 - TensorFlow only when the command runs
    from cxrmodel.evaluation.explanation_agreement import compare_folder  # noqa: PLC0415 - same
    from cxrmodel.explain import ExplanationCache, ExplanationSettings  # noqa: PLC0415 - same
    from cxrmodel.modeling import BundleError, load_bundle  # noqa: PLC0415 - same

    paths: list[Path] = arguments.bundles
    if len(paths) < 2:
        raise CommandError(f"--bundles: compare at least 2 bundles, got {len(paths)}")
    resolved = [path.resolve() for path in paths]
    repeated = sorted({str(path) for path, where in zip(paths, resolved, strict=True) if resolved.count(where) > 1})
    if repeated:
        raise CommandError(f"--bundles: {', '.join(repeated)} given more than once")
    if arguments.output is not None:
        writable_file(arguments.output, "--output")
    bundles = []
    for path in paths:
        try:
            bundles.append((str(path), load_bundle(path, load_model=False)))
        except BundleError as error:
            raise CommandError(f"--bundles: {error}") from None
    try:
        studies = list(StudyCollection.from_folder(arguments.studies).studies.values())
    except ValueError as error:
        raise CommandError(f"no studies with images found in {arguments.studies}: {error}") from None
    if arguments.limit is not None and arguments.limit < len(studies):
        studies = stratified_sample(studies, arguments.limit, arguments.seed)
    for path, bundle in bundles:  # a broken model archive fails now, not after the first bundles' work
        try:
            bundle.model  # noqa: B018 - loads the Keras model
        except BundleError as error:
            raise CommandError(f"--bundles: {error}") from None
        except (ValueError, OSError) as error:
            raise CommandError(f"--bundles: the model of {path} could not be loaded: {error}") from None
    cache = ExplanationCache(arguments.cache_dir) if arguments.cache_dir else None
    settings = ExplanationSettings(sight_sensitivity=arguments.threshold)

    with progress_meter(total=len(studies), description="studies compared", unit="study") as meter:
        def progress(done: int, total: int, study_id: str) -> None:
            meter.set_postfix_str(study_id, refresh=False)
            meter.update(done - meter.n)

        document = compare_folder(bundles, studies, settings, cache, progress=progress)
    document = {"studies_folder": str(arguments.studies), "threshold": arguments.threshold,
                "limit": None if arguments.limit is None else {"studies": arguments.limit, "seed": arguments.seed,
                                                               "sample": "stratified by label"},
                **document}
    text = json.dumps(document)
    if arguments.output is not None:
        arguments.output.write_text(text + "\n", encoding="utf-8")
        logger.info("wrote %s", arguments.output)
    print(text if arguments.json else "\n".join(readable_comparison(document)))
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``compare-explanations``.

    Args:
        subparsers: The CLI's sub-command set (``ArgumentParser.add_subparsers()``).
    """
    command = subparsers.add_parser(
        "compare-explanations",
        help="compare the explanations of several bundles (e.g. multimodal, text-only, image-only) on a folder",
        description="Explain every study with every bundle and compare each pair: Spearman rank correlation and "
        "top-3 overlap of the word scores over the words both models saw (pairs that both read the report), "
        "Jaccard overlap of the circles on the original image and rank correlation of the attribution maps "
        "(pairs that both read the radiograph), label agreement; per study and aggregated (count, mean, "
        "median, sd). A number that is undefined for a study (fewer than 3 shared words, no circles in either, "
        "different model grids) is null with its reason.",
    )
    command.add_argument("--bundles", type=existing_directory, nargs="+", required=True, metavar="BUNDLE",
                         help="two or more model bundle directories")
    command.add_argument("--studies", type=existing_directory, required=True,
                         help="OpenI folder (ecgen-radiology/ + NLMCXR_png/, or the Kaggle indiana_*.csv layout)")
    command.add_argument("--threshold", type=sight_sensitivity, default=None,
                         help="sight sensitivity in [0, 1] for every bundle's circles (default: each bundle's)")
    command.add_argument("--limit", type=positive_int, default=None, metavar="N",
                         help="compare only N studies: a seeded random sample stratified by label (each label keeps "
                              "its share of the folder, at least one study each)")
    command.add_argument("--seed", type=int, default=2019, help=SEED_HELP + " (the --limit sample)")
    command.add_argument("--cache-dir", type=Path, default=None, help="reuse attributions from this cache")
    command.add_argument("--output", type=Path, default=None, metavar="FILE", help="also write the JSON document here")
    command.add_argument("--json", action="store_true", help="print the JSON document (one line)")
    command.set_defaults(handler=_command_compare)
