"""The ``evaluate-words`` command: do the text model's integrated-gradients top words name the MeSH major terms?

    python -m cxrmodel evaluate-words --dataset openi-reports [--folds K] [--seed S] [--top-k K] [--epochs E]
        [--word-vectors random|word2vec|FILE] [--random-draws N] [--examples N] [--per-report] [--reports PATH]
        [--include-no-indexing [abnormal|normal]] [--include-empty-reports] [--require-image]
        [--output FILE] [--chart FILE] [--json]

Per outer fold of the real IU reports (the folds and the Kim CNN of ``evaluate --modality text``): the correctly
classified abnormal held-out reports, their top-k attributed words against their MeSH major terms, strict and with
modifiers, next to the TF-IDF + logistic regression word ranking and random words on the same reports
(:mod:`cxrmodel.training.word_validity`, the rule in :mod:`cxrmodel.evaluation.word_hits`). Prints one JSON line
(``--json``) or a table; ``--output`` writes the same JSON to a file and ``--chart`` a PNG bar chart. One progress
line per fold on stderr. TensorFlow, gensim and matplotlib are imported when the command runs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cxrmodel.cli._common import SEED_HELP, CommandError, positive_int, whole_number, writable_file

_RULES = (("strict", "strict"), ("with_modifiers", "with modifiers"))
_METHODS = (("integrated_gradients", "IG (Kim CNN)"), ("tfidf_logreg", "TF-IDF + LR"), ("random", "random words"))




def _format(block: dict) -> str:
    if block["mean"] is None:
        return "n/a"
    return f"{block['mean']:.3f} +/- {block['sd']:.3f}"


def _text_report(document: dict) -> str:
    selection = document["selection"]
    dropped = ", ".join(f"{count} {reason}" for reason, count in selection["dropped"].items())
    summary = document["summary"]
    lines = [
        f"{document['n_studies']} reports kept of {selection['loaded']} (dropped: {dropped}); "
        f"{document['folds']} stratified folds; {document['n_explained']} correctly classified abnormal held-out "
        f"reports explained; {document['wall_seconds']:.0f} s",
        f"top-{document['top_k']} words containing a MeSH major term word (mean +/- sd over folds):",
        f"{'':16s}{'strict':>20s}{'with modifiers':>20s}{'top-1 is a modifier':>22s}",
    ]
    for method, label in _METHODS:
        block = summary[method]
        top1 = _format(block["top1_modifier_share"]) if "top1_modifier_share" in block else "-"
        lines.append(f"{label:16s}{_format(block['strict']):>20s}{_format(block['with_modifiers']):>20s}{top1:>22s}")
    completeness = document["completeness"]
    if completeness["n"]:
        lines.append(f"completeness error: median {completeness['median']:.2%}, max {completeness['max']:.2%}, "
                     f"{completeness['share_within_1pct']:.1%} within 1 %")
    acceptance = document["acceptance"]
    lines.append(f"strict IG hit rate >= 0.80: {'yes' if acceptance['strict_at_least_0.80'] else 'no'}; "
                 f"above TF-IDF: {'yes' if acceptance['above_tfidf'] else 'no'}")
    return "\n".join(lines)


def _command_evaluate_words(arguments: argparse.Namespace) -> int:
    from cxrmodel.data.fetch import default_reports_path  # noqa: PLC0415 - TensorFlow and gensim only when the command runs
    from cxrmodel.data.openi import LabelRules  # noqa: PLC0415 - same
    from cxrmodel.training.evaluate_text import TextEvaluationSettings  # noqa: PLC0415 - same
    from cxrmodel.training.word_validity import (  # noqa: PLC0415 - same
        WordValiditySettings,
        evaluate_openi_word_validity,
    )

    if arguments.folds < 2:
        raise CommandError(f"--folds: need at least 2 folds, got {arguments.folds}")
    if arguments.word_vectors not in ("random", "word2vec") and not Path(arguments.word_vectors).is_file():
        raise CommandError(f"--word-vectors: {arguments.word_vectors!r} is neither 'random', 'word2vec' "
                           "nor an existing word vectors file")
    for option, path in (("--output", arguments.output), ("--chart", arguments.chart)):
        if path is not None:
            writable_file(path, option)
    reports = arguments.reports or default_reports_path()
    if not Path(reports).exists():
        raise CommandError(f"OpenI reports not found at {reports}: run 'python -m cxrmodel data "
                           "fetch-openi-reports' first (or pass --reports FILE)")
    settings = TextEvaluationSettings(folds=arguments.folds, epochs=arguments.epochs, seed=arguments.seed,
                                      word_vectors=arguments.word_vectors, report_model=False)
    word_settings = WordValiditySettings(top_k=arguments.top_k, random_draws=arguments.random_draws,
                                         examples_per_fold=arguments.examples, per_report=arguments.per_report)
    include = arguments.include_no_indexing
    rules = LabelRules(include_no_indexing=include is not None,
                       no_indexing_label=0 if include == "normal" else 1,
                       include_empty_reports=arguments.include_empty_reports, require_image=arguments.require_image)
    document = evaluate_openi_word_validity(reports, settings, word_settings, rules)
    text = json.dumps(document)
    if arguments.output is not None:
        arguments.output.write_text(text + "\n", encoding="utf-8")
    if arguments.chart is not None:
        from cxrmodel.rendering.word_chart import write_word_validity_chart  # noqa: PLC0415 - matplotlib

        write_word_validity_chart(document, arguments.chart)
    print(text if arguments.json else _text_report(document))
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``evaluate-words``.

    Args:
        subparsers: The CLI's sub-command set (``ArgumentParser.add_subparsers()``).
    """
    words = subparsers.add_parser(
        "evaluate-words",
        help="k-fold check on real reports: do the text model's top attributed words name the MeSH major terms?",
    )
    words.add_argument("--dataset", choices=("openi-reports",), required=True,
                       help="the data set by name: the real IU reports fetched by 'data fetch-openi-reports'")
    words.add_argument("--folds", type=whole_number, default=5, help="stratified outer folds (at least 2)")
    words.add_argument("--seed", type=int, default=2019, help=SEED_HELP)
    words.add_argument("--top-k", type=positive_int, default=3, help="distinct top words that may hit (default 3)")
    words.add_argument("--epochs", type=positive_int, default=15, help="maximum epochs per fold")
    words.add_argument("--word-vectors", default="word2vec", metavar="{random,word2vec,FILE}",
                       help="embedding initialisation of the Kim CNN (as 'evaluate'; default word2vec trained on "
                            "each training part)")
    words.add_argument("--random-draws", type=positive_int, default=20,
                       help="random draws of top-k words per report for the random baseline")
    words.add_argument("--examples", type=whole_number, default=4, help="strict misses sampled per fold")
    words.add_argument("--per-report", action="store_true", help="put every explained report's outcome in the JSON")
    words.add_argument("--reports", type=Path, default=None,
                       help="reports .tgz or folder (default: the archive fetched by 'data fetch-openi-reports')")
    words.add_argument("--include-no-indexing", nargs="?", const="abnormal", choices=("abnormal", "normal"),
                       default=None, metavar="{abnormal,normal}",
                       help="keep the studies whose only MeSH term is 'No Indexing' (dropped by default)")
    words.add_argument("--include-empty-reports", action="store_true",
                       help="keep studies with empty FINDINGS and IMPRESSION (dropped by default)")
    words.add_argument("--require-image", action="store_true", help="drop studies that list no image")
    words.add_argument("--output", type=Path, default=None, help="also write the JSON document to this file")
    words.add_argument("--chart", type=Path, default=None, help="write a PNG bar chart of the hit rates")
    words.add_argument("--json", action="store_true", help="print one JSON line")
    words.set_defaults(handler=_command_evaluate_words)
