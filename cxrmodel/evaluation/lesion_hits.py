"""Which synthetic lesions the circles hit: what the dashboard's hit-rate line needs, without the generator.

A lesion (one finding's mask, original-image pixels) is hit when at least one circle's centre, rounded to the
nearest pixel, lies inside it. :mod:`cxrmodel.evaluation.detection_quality` counts hits the same way over a
whole folder.

The pointing game (the saliency benchmarks' measure against radiologists' marks) turns it around: a point
(a reader's "the finding is here", or a lesion's :func:`lesion_point`) is hit when it lies inside a circle. Both
the phantoms' evaluation and the reviewers' agreement (:mod:`cxrmodel.reviews.agreement`) count it with
:func:`point_inside_circle`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from cxrmodel.data.synthetic import load_mask, load_truth


def centre_inside(mask: np.ndarray, x: float, y: float) -> bool:
    row, column = int(round(y)), int(round(x))
    return 0 <= row < mask.shape[0] and 0 <= column < mask.shape[1] and bool(mask[row, column])


def point_inside_circle(circle: dict, x: float, y: float) -> bool:
    """True when the point ``(x, y)``, rounded to the nearest pixel like a circle centre in :func:`centre_inside`,
    lies within the circle's radius of its centre.

    Args:
        circle: ``{"x", "y", "r"}`` in original-image pixels (x = column, y = row).
        x: Column of the point, original-image pixels.
        y: Row of the point, original-image pixels.

    Returns:
        The same as :func:`centre_inside` of the rounded point on the circle's pixel mask (the pixels whose
        centres lie within ``r`` of the circle's centre).
    """
    column, row = int(round(x)), int(round(y))
    return (column - float(circle["x"])) ** 2 + (row - float(circle["y"])) ** 2 <= float(circle["r"]) ** 2


def points_hit(circles: Sequence[dict], points: Sequence[tuple[float, float]]) -> list[bool]:
    """Per point ``(x, y)``, whether it lies inside at least one of the circles (:func:`point_inside_circle`)."""
    return [any(point_inside_circle(circle, x, y) for circle in circles) for x, y in points]


COVERAGE_GRID = 256
""":func:`circle_coverage` samples at most this many pixels along each side of the image."""


def circle_coverage(circles: Sequence[dict], width: int, height: int, grid: int = COVERAGE_GRID) -> float:
    """Share of the image inside at least one circle: the chance that a point placed at random is hit.

    Counted by the rule of :func:`point_inside_circle` (pixel centres within ``r`` of a circle's centre) on every
    ``stride``-th pixel of each axis, ``stride = ceil(max(width, height) / grid)`` (every pixel of an image up to
    ``grid`` pixels on its longer side).

    Args:
        circles: ``{"x", "y", "r"}`` in original-image pixels.
        width: Image width, pixels.
        height: Image height, pixels.
        grid: Most samples along the longer side.

    Returns:
        The covered share in [0, 1].
    """
    stride = max(1, -(-max(width, height) // grid))
    columns = np.arange(0, width, stride, dtype=np.float64)
    rows = np.arange(0, height, stride, dtype=np.float64)
    covered = np.zeros((rows.size, columns.size), dtype=bool)
    for circle in circles:
        x, y, r = float(circle["x"]), float(circle["y"]), float(circle["r"])
        in_columns = (columns >= x - r) & (columns <= x + r)
        in_rows = (rows >= y - r) & (rows <= y + r)
        if not in_columns.any() or not in_rows.any():
            continue
        window = np.ix_(in_rows, in_columns)
        covered[window] |= ((columns[in_columns][None, :] - x) ** 2 + (rows[in_rows][:, None] - y) ** 2) <= r * r
    return float(covered.mean()) if covered.size else 0.0


def lesion_point(mask: np.ndarray) -> tuple[float, float]:
    """The point that stands for a lesion in the pointing game: its mask pixel nearest the mask's centroid.

    Args:
        mask: ``(height, width)`` bool array, original-image pixels, with at least one True pixel.

    Returns:
        ``(x, y)`` = (column, row) of a pixel inside the mask (a centroid may fall outside a crescent-shaped one).

    Raises:
        ValueError: the mask is empty.
    """
    rows, columns = np.nonzero(np.asarray(mask, dtype=bool))
    if rows.size == 0:
        raise ValueError("an empty lesion mask has no point")
    nearest = int(np.argmin((rows - rows.mean()) ** 2 + (columns - columns.mean()) ** 2))
    return float(columns[nearest]), float(rows[nearest])


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
