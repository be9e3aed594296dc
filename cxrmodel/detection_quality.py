"""Detection quality on ground truth: does the circle sweep find the synthetic lesions, and the markers?

For every study of a synthetic folder (with ``truth.json`` and masks) the attribution is computed once; then
the sight sensitivity tau is swept and, per tau, we count:

* **lesion hit rate** — a lesion (one finding's mask) is hit when at least one circle's centre lies inside it;
* **circles per study**;
* **marker circles** — circles whose centre lies on burnt-in film text (the structured noise), and the share
  of studies with a marker that get at least one such circle.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from cxrmodel.data.synthetic import load_mask
from cxrmodel.detection import sweep_circles
from cxrmodel.explain import ExplanationSettings, StudyExplainer, circles_to_image
from cxrmodel.studies import StudyCollection

logger = logging.getLogger(__name__)

DEFAULT_SWEEP = tuple(round(value, 2) for value in np.arange(0.1, 0.951, 0.05))


@dataclass(frozen=True)
class ThresholdQuality:
    """Detection quality at one sight sensitivity over a study set."""

    sight_sensitivity: float
    lesion_hit_rate: float
    lesions: int
    circles_per_study: float
    marker_circles: int
    studies_with_marker_circles: int

    def to_dict(self) -> dict:
        """Plain JSON."""
        return dict(self.__dict__)


def _centre_inside(mask: np.ndarray, x: float, y: float) -> bool:
    row, column = int(round(y)), int(round(x))
    return 0 <= row < mask.shape[0] and 0 <= column < mask.shape[1] and bool(mask[row, column])


def evaluate_detection(
    explainer: StudyExplainer,
    collection: StudyCollection,
    sight_sensitivities: Sequence[float] = DEFAULT_SWEEP,
    settings: ExplanationSettings | None = None,
) -> list[ThresholdQuality]:
    """Sweep tau over every study of a synthetic collection that has truth masks."""
    settings = settings or ExplanationSettings()
    config = explainer.bundle.config
    link_distance = settings.link_distance or config.default_link_distance
    if not collection.truth:
        raise ValueError(f"{collection.root} has no truth.json: detection quality needs synthetic ground truth")
    hits = np.zeros(len(sight_sensitivities))
    circle_counts = np.zeros(len(sight_sensitivities))
    marker_circles = np.zeros(len(sight_sensitivities), dtype=int)
    studies_with_marker_circles = np.zeros(len(sight_sensitivities), dtype=int)
    lesions = 0
    for study_id, study in collection.studies.items():
        record = collection.truth.get(study_id)
        if record is None:
            continue
        image_bytes = study.image_paths[0].read_bytes()
        prepared, attribution, _, _ = explainer.attribute(image_bytes, study.report_text, settings)
        masks = [load_mask(collection.root, path) for path in record["masks"].values()]
        marker_mask = load_mask(collection.root, record["marker_mask"]) if record.get("marker_mask") else None
        lesions += len(masks)
        detections = sweep_circles(attribution.image_attribution, sight_sensitivities, link_distance, settings.min_points)
        for index, detection in enumerate(detections):
            circles = circles_to_image(detection.circles, prepared.mapping)
            circle_counts[index] += len(circles)
            hits[index] += sum(any(_centre_inside(mask, c.x, c.y) for c in circles) for mask in masks)
            if marker_mask is not None:
                on_markers = sum(_centre_inside(marker_mask, c.x, c.y) for c in circles)
                marker_circles[index] += on_markers
                studies_with_marker_circles[index] += int(on_markers > 0)
        logger.info("evaluated detection on %s", study_id)
    studies = sum(1 for study_id in collection.studies if study_id in collection.truth)
    return [
        ThresholdQuality(
            sight_sensitivity=float(tau),
            lesion_hit_rate=float(hits[i] / lesions) if lesions else float("nan"),
            lesions=lesions,
            circles_per_study=float(circle_counts[i] / max(studies, 1)),
            marker_circles=int(marker_circles[i]),
            studies_with_marker_circles=int(studies_with_marker_circles[i]),
        )
        for i, tau in enumerate(sight_sensitivities)
    ]


def write_quality_chart(qualities: Sequence[ThresholdQuality], path: Path, default_sight_sensitivity: float) -> None:
    """PNG chart: hit rate, circles per study and marker circles against tau."""
    import matplotlib  # noqa: PLC0415 - only the evaluation command draws charts

    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot  # noqa: PLC0415

    taus = [q.sight_sensitivity for q in qualities]
    figure, (top, bottom) = pyplot.subplots(2, 1, figsize=(6, 5.5), sharex=True)
    top.plot(taus, [q.lesion_hit_rate for q in qualities], marker="o", color="#1f77b4")
    top.set_ylabel("lesion hit rate")
    top.set_ylim(0, 1.05)
    bottom.plot(taus, [q.circles_per_study for q in qualities], marker="o", label="circles per study", color="#444")
    bottom.plot(taus, [q.marker_circles for q in qualities], marker="s", label="circles on film markers", color="#d62728")
    bottom.set_xlabel("sight sensitivity τ")
    bottom.legend()
    for axis in (top, bottom):
        axis.axvline(default_sight_sensitivity, color="#999", linestyle="--", linewidth=1)
        axis.grid(alpha=0.3)
    top.set_title("Detection quality against synthetic ground truth")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)


def write_quality_json(qualities: Sequence[ThresholdQuality], path: Path, extra: dict) -> None:
    """JSON file with every threshold's figures plus ``extra`` (model, settings)."""
    path.write_text(json.dumps({**extra, "thresholds": [q.to_dict() for q in qualities]}, indent=1) + "\n")
