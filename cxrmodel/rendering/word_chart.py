"""PNG chart of ``evaluate-words``: top-k hit rates of the IG, TF-IDF and random word rankings, mean ± sd over folds.

matplotlib is imported inside the function (Agg backend), so importing this module is cheap.
"""

from __future__ import annotations

from pathlib import Path

RANKINGS = (("integrated_gradients", "IG, Kim CNN", "#7570b3"), ("tfidf_logreg", "TF-IDF + LR", "#d95f02"),
            ("random", "random words", "#999999"))
RULES = (("strict", "strict"), ("with_modifiers", "with modifiers"))


def write_word_validity_chart(document: dict, path: str | Path, target: float = 0.80) -> None:
    """Grouped bars (strict, with modifiers) × (IG, TF-IDF, random) with fold-sd error bars and the target line.

    Args:
        document: The ``evaluate-words`` JSON document (:func:`cxrmodel.training.word_validity.evaluate_word_validity`).
        path: The PNG to write.
        target: The acceptance line drawn across the strict group.
    """
    import matplotlib  # noqa: PLC0415 - only the evaluation command draws charts

    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot  # noqa: PLC0415

    summary = document["summary"]
    figure, axis = pyplot.subplots(figsize=(6.4, 3.6))
    width = 0.26
    for offset, (method, label, colour) in enumerate(RANKINGS):
        means = [summary[method][rule]["mean"] or 0.0 for rule, _ in RULES]
        sds = [summary[method][rule]["sd"] or 0.0 for rule, _ in RULES]
        positions = [group + (offset - 1) * width for group in range(len(RULES))]
        bars = axis.bar(positions, means, width, yerr=sds, capsize=3, color=colour, label=label)
        for bar, mean, sd in zip(bars, means, sds, strict=True):
            axis.annotate(f"{mean:.2f}", (bar.get_x() + bar.get_width() / 2, mean + sd), xytext=(0, 3),
                          textcoords="offset points", ha="center", fontsize=8)
    axis.plot([-0.45, 0.45], [target, target], color="#b5452f", linestyle="--", linewidth=1)
    axis.annotate(f"target {target:.2f}", (0.47, target), va="center", fontsize=8, color="#b5452f")
    axis.set_xticks(range(len(RULES)), [label for _, label in RULES])
    axis.set_ylim(0, 1.22)
    axis.set_ylabel(f"share of reports, top-{document['top_k']} hit")
    axis.set_title(f"Top-{document['top_k']} words vs MeSH major terms: {document['n_explained']} correctly "
                   f"classified abnormal IU reports, {document['folds']} folds", fontsize=9)
    axis.legend(loc="upper center", fontsize=8, ncols=3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    pyplot.close(figure)
