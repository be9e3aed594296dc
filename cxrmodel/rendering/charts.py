"""Research charts as PNG files: detection quality against tau, and the paper's Table 3 / Figure 5.

matplotlib is imported inside each function (with the Agg backend), so importing this module is cheap and
the web process never loads matplotlib.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from cxrmodel.modeling import MODALITIES, MODALITY_LABELS

if TYPE_CHECKING:  # pragma: no cover - typing only
    from cxrmodel.evaluation import ThresholdQuality

MODALITY_COLOURS = {"multimodal": "#1b9e77", "image": "#d95f02", "text": "#7570b3"}
"""Line and bar colour of each model in the training charts."""


def write_quality_chart(qualities: Sequence["ThresholdQuality"], path: Path, default_sight_sensitivity: float) -> None:
    """PNG chart: hit rate (and its chance level), circles per study and marker circles against tau; with the
    deletion figures (issue #18), a third panel: P's median drop with the circles and with random regions removed,
    and the share of abnormal studies where the circles' drop is larger."""
    import matplotlib  # noqa: PLC0415 - only the evaluation command draws charts

    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot  # noqa: PLC0415

    taus = [q.sight_sensitivity for q in qualities]
    deletion = any(getattr(q, "deletion_drop_median", None) is not None for q in qualities)
    figure, axes = pyplot.subplots(3 if deletion else 2, 1, figsize=(6, 7.8 if deletion else 5.5), sharex=True)
    top, bottom = axes[0], axes[1]
    top.plot(taus, [q.lesion_hit_rate for q in qualities], marker="o", color="#1f77b4", label="lesion hit rate")
    if all(q.chance_hit_rate is not None for q in qualities):
        top.plot(taus, [q.chance_hit_rate for q in qualities], linestyle=":", color="#1f77b4",
                 label="chance (circles of normal studies)")
    if all(q.counterfactual_hit_rate is not None for q in qualities):
        top.plot(taus, [q.counterfactual_hit_rate for q in qualities], linestyle="--", color="#1f77b4",
                 label="same spot, finding removed")
    if len(top.get_lines()) > 1:
        top.legend(loc="center right")
    top.set_ylabel("lesion hit rate")
    top.set_ylim(0, 1.05)
    bottom.plot(taus, [q.circles_per_study for q in qualities], marker="o", label="circles per study", color="#444")
    bottom.plot(taus, [q.marker_circles for q in qualities], marker="s", label="circles on film markers",
                color="#d62728")
    bottom.legend()
    if deletion:
        # Issue #18: does removing the circles lower P(abnormal) more than removing same-size random regions?
        third = axes[2]
        nan = float("nan")
        third.plot(taus, [nan if q.deletion_drop_median is None else q.deletion_drop_median for q in qualities],
                   marker="o", color="#b5452f", label="median drop of P, circles removed")
        third.plot(taus, [nan if q.random_deletion_drop_median is None else q.random_deletion_drop_median
                          for q in qualities], linestyle=":", color="#b5452f",
                   label="median drop, same-size random regions")
        third.plot(taus, [nan if q.circles_beat_random_share is None else q.circles_beat_random_share
                          for q in qualities], marker="s", color="#555", label="share of studies: circles > random")
        third.set_ylabel("abnormal studies")
        third.legend(fontsize=8)
    axes[-1].set_xlabel("sight sensitivity τ")
    for axis in axes:
        axis.axvline(default_sight_sensitivity, color="#999", linestyle="--", linewidth=1)
        axis.grid(alpha=0.3)
    top.set_title("Detection quality against synthetic ground truth")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)


def write_evaluation_chart(document: dict, path: str | os.PathLike) -> Path:
    """Draw Table 3 (accuracy and AUC, mean ± sd over folds) and Figure 5 (accuracy per epoch) as one PNG.

    Args:
        document: The result of :func:`cxrmodel.training.target.evaluate_target_models`.
        path: PNG file to write (its folder is created).
    """
    import matplotlib  # noqa: PLC0415 - only the training commands draw charts

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415
    import matplotlib.ticker  # noqa: PLC0415

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure, (table, curves) = plt.subplots(1, 2, figsize=(10, 4), dpi=90)
    positions = np.arange(len(MODALITIES))
    width = 0.38
    for offset, metric, hatch in ((-width / 2, "accuracy", None), (width / 2, "auc", "//")):
        means = [document["models"][model][f"{metric}_mean"] for model in MODALITIES]
        sds = [document["models"][model][f"{metric}_sd"] for model in MODALITIES]
        bars = table.bar(positions + offset, means, width, yerr=sds, capsize=3, hatch=hatch,
                         color=[MODALITY_COLOURS[model] for model in MODALITIES], alpha=0.85 if hatch else 1.0,
                         edgecolor="white", label=metric.upper() if metric == "auc" else metric)
        for bar, mean in zip(bars, means, strict=True):
            table.text(bar.get_x() + bar.get_width() / 2, mean + 0.01, f"{mean:.3f}", ha="center", va="bottom",
                       fontsize=7)
    table.set_xticks(positions, [MODALITY_LABELS[model] for model in MODALITIES])
    lowest = min(min(document["models"][model]["accuracy_mean"], document["models"][model]["auc_mean"])
                 for model in MODALITIES)
    table.set_ylim(max(0.0, lowest - 0.15), 1.05)
    table.set_ylabel("held-out score (mean ± sd over folds)")
    table.set_title(f"Accuracy (solid) and AUC (hatched), {document['folds']} stratified folds", fontsize=9)
    for model in MODALITIES:
        record = document["curves"][model]
        epochs = np.arange(1, len(record["validation_accuracy"]) + 1)
        curves.plot(epochs, record["validation_accuracy"], color=MODALITY_COLOURS[model], marker="o", markersize=3,
                    label=f"{MODALITY_LABELS[model]} validation")
        epochs = np.arange(1, len(record["train_accuracy"]) + 1)
        curves.plot(epochs, record["train_accuracy"], color=MODALITY_COLOURS[model], linestyle="--", marker=".",
                    markersize=3, label=f"{MODALITY_LABELS[model]} training")
    curves.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    curves.set_xlabel("epoch (image and multimodal: head phase, then fine-tuning)")
    curves.set_ylabel("accuracy (mean over folds)")
    curves.set_title("Accuracy per epoch", fontsize=9)
    curves.legend(fontsize=7, loc="lower right")
    curves.grid(alpha=0.3)
    kind = "synthetic " if document.get("synthetic") else ""
    figure.suptitle(f"{document['n_studies']} {kind}studies ({document['n_abnormal']} abnormal)", fontsize=10)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path
