"""Which synthetic lesions the circles hit: what the dashboard's hit-rate line needs, without the generator.

A lesion (one finding's mask, original-image pixels) is hit when at least one circle's centre, rounded to the
nearest pixel, lies inside it. :mod:`cxrmodel.evaluation.detection_quality` counts hits the same way over a
whole folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from cxrmodel.data.synthetic import load_mask, load_truth


def centre_inside(mask: np.ndarray, x: float, y: float) -> bool:
    row, column = int(round(y)), int(round(x))
    return 0 <= row < mask.shape[0] and 0 <= column < mask.shape[1] and bool(mask[row, column])


def lesions_hit(masks: Sequence[np.ndarray], centres: Sequence[tuple[float, float]]) -> int:
    """How many lesion masks contain at least one circle centre ``(x, y)`` (original-image pixels)."""
    return sum(any(centre_inside(mask, x, y) for x, y in centres) for mask in masks)


def lesion_masks_for_study(studies_directory: str | Path, study_id: str) -> list[np.ndarray]:
    """The lesion masks of one study of a synthetic folder, one per finding, as ``detection_report`` uses.

    Args:
        studies_directory: A study folder with ``truth.json`` and ``masks/`` (e.g. ``studies/demo``).
        study_id: The study, e.g. ``"CXR90014"``.

    Returns:
        ``(height, width)`` bool arrays in original-image pixels (True = lesion), in ``truth.json`` order;
        ``[]`` when the study has no findings, the folder no ``truth.json`` or the study no truth record
        (a real upload): then lesion hit rates are undefined.
    """
    record = load_truth(studies_directory).get(study_id)
    if record is None:
        return []
    return [load_mask(studies_directory, path) for path in record.get("masks", {}).values()]


def sweep_hit_rates(sweep: dict, lesion_masks: Sequence[np.ndarray]) -> list[float | None]:
    """Lesion hit rate at every threshold of a ``circle_sweep`` output, as ``detection_report`` counts hits.

    A lesion is hit at a threshold when at least one of that threshold's circle centres, rounded to the
    nearest pixel, lies inside its mask. (``circle_sweep`` keeps centres to 0.01 px, so only a centre within
    0.005 px of a pixel boundary could be counted differently than in ``detection_report``.)

    Args:
        sweep: :func:`cxrmodel.detection.circle_sweep` output: ``"circles"`` holds one list of
            ``{"x", "y", "r", "points", "mass"}`` (original-image pixels, x = column, y = row) per threshold,
            and ``"image"`` (optional) ``{"width", "height"}`` of the original image.
        lesion_masks: ``(height, width)`` bool arrays in original-image pixels, one per lesion (e.g. from
            :func:`lesion_masks_for_study`).

    Returns:
        Per threshold, the fraction of lesions hit in ``[0, 1]``; ``None`` at every threshold when there are
        no lesions.

    Raises:
        ValueError: A mask is not 2-D or does not match the sweep's image size.
    """
    masks = [np.asarray(mask, dtype=bool) for mask in lesion_masks]
    image = sweep.get("image")
    for index, mask in enumerate(masks):
        if mask.ndim != 2:
            raise ValueError(f"lesion mask {index} must be a 2-D (height, width) array, got shape {mask.shape}")
        if image and mask.shape != (int(image["height"]), int(image["width"])):
            raise ValueError(f"lesion mask {index} is {mask.shape[1]}x{mask.shape[0]} pixels but the sweep's "
                             f"image is {image['width']}x{image['height']}: masks must be in original-image pixels")
    if not masks:
        return [None] * len(sweep["circles"])
    return [
        lesions_hit(masks, [(circle["x"], circle["y"]) for circle in circles]) / len(masks)
        for circles in sweep["circles"]
    ]
