"""Out-of-distribution check: does a study's image look like the frontal chest films the model was trained on?

A model answers every input, including a lateral view, a photograph or a blank file, and presents the answer
with the same confidence. This module compares the image the model actually sees (the study on the square
model grid, :attr:`cxrmodel.modeling.bundle.PreparedStudy.model_image`) with the bundle's reference image — the mean
normal training image, ``image_baseline.png`` — using plain numpy/scipy (no TensorFlow: the dashboard's web
process calls it).

Only the content box of the grid is compared (the part the original image covers, from the
:class:`~cxrmodel.imaging.decode.GridMapping`; the black padding around a non-square image is left out, as it would
make any image look partly like a chest). Inside it, four checks:

1. **Blank**: the standard deviation of the grey levels is below :data:`BLANK_STD` (a black, white or
   uniformly grey image).
2. **Structure**: the Pearson correlation (normalised cross-correlation) of the lightly smoothed image with the
   reference is below :data:`SIMILARITY_THRESHOLD`. This is the score. When the image correlates better with
   the reference turned upside down or by 90 degrees, or strongly negatively (inverted polarity), the reason
   says so.
3. **Grey levels**: the earth mover's (Wasserstein-1) distance between the image's grey-level histogram and the
   reference's exceeds :data:`HISTOGRAM_DISTANCE_THRESHOLD` (over- or under-exposed, a different film curve).
4. **Contrast**: the image's grey-level spread divided by the reference's lies outside
   :data:`CONTRAST_RATIO_RANGE` (washed out or harsh).

Calibration (``benchmarks/distribution_check_cases.py``, demo bundle ``models/demo``, 160 px grid). In
distribution, the 32 demo studies plus 100 fresh synthetic studies (``seed=777``): similarity 0.915-0.992
(median 0.97), histogram distance 0.006-0.113, contrast ratio 0.875-1.182. A further 400 synthetic studies
(``seed=2024``) as a hold-out: similarity >= 0.928, histogram distance <= 0.146 (hence the threshold 0.20,
first set to 0.15), contrast ratio 0.851-1.174; no false alarm. Constructed out-of-distribution cases (blank
black and white, uniform noise, a 90-degree rotation, a crude lateral silhouette, a squashed film, half a film,
a colour photograph stand-in, an upside-down chest, a zoom on one lung, inverted polarity, a washed-out and an
over-darkened film): the geometric ones reach at most similarity 0.59 (upside down), the two exposure ones
histogram distance >= 0.20 or contrast ratio <= 0.71; all 13 are flagged. The thresholds fit this synthetic
training distribution (a real radiograph is expected to be reported as unlike the demo model's training images;
not measured, the repository holds no real film); recalibrate them for a bundle trained on real films.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage, stats

from cxrmodel.imaging.grid import GridMapping

logger = logging.getLogger(__name__)

BLANK_STD = 0.02
"""Grey-level standard deviation (0..1 units) under which the content is called blank; training images >= 0.247."""

SIMILARITY_THRESHOLD = 0.75
"""Smallest correlation with the reference image that counts as a frontal chest film.

In-distribution minimum 0.915 (132 images; 0.928 on the hold-out); geometric out-of-distribution cases at most
0.59 (upside down)."""

INVERTED_SIMILARITY = -0.5
"""A correlation at or below this means the film is the reference with black and white swapped."""

HISTOGRAM_DISTANCE_THRESHOLD = 0.20
"""Largest Wasserstein-1 distance (0..1 grey units) between the image's and the reference's grey levels.

In-distribution maximum 0.113 (132 images; 0.146 on 400 hold-out studies); over-darkened film 0.33."""

CONTRAST_RATIO_RANGE = (0.75, 1.4)
"""Accepted range of (image grey-level std) / (reference grey-level std), both smoothed.

In distribution 0.875-1.182 (0.851-1.174 on the hold-out); washed-out film 0.31, over-darkened 0.71."""

SMOOTHING_SIGMA = 2.0
"""Gaussian smoothing (model-grid pixels) of the image before comparison: the reference is a mean, so smooth."""

MIN_CONTENT_SIDE = 16
"""Content boxes narrower than this (model-grid pixels) are too elongated to compare."""


@dataclass(frozen=True)
class DistributionCheck:
    """The verdict on one image.

    Attributes:
        in_distribution: True = looks like the training images, False = it does not (show a warning), None =
            could not be checked (the bundle has no reference image).
        score: Correlation of the image with the reference image in [-1, 1] (1 = typical training film); NaN
            when unchecked.
        reasons: Human-readable reasons for a False verdict, or why no check was possible; empty when True.
    """

    in_distribution: bool | None
    score: float
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON form: ``{"in_distribution", "score" (None when NaN), "reasons"}``."""
        return {
            "in_distribution": self.in_distribution,
            "score": round(self.score, 4) if math.isfinite(self.score) else None,
            "reasons": list(self.reasons),
        }


def _gray(image: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(image, dtype=np.float64)
    if array.ndim == 3:
        array = array.mean(axis=-1)
    if array.ndim != 2 or array.shape[0] != array.shape[1]:
        raise ValueError(f"{name} must be a square (S, S) or (S, S, C) image, got shape {np.shape(image)}")
    return np.nan_to_num(array, nan=0.0)


def content_box(mapping: GridMapping | None, size: int) -> tuple[slice, slice]:
    """Rows and columns of the model grid fully covered by the original image (padding excluded).

    Args:
        mapping: The study's grid mapping, or None for "the whole grid".
        size: Side of the model grid.
    """
    if mapping is None:
        return slice(0, size), slice(0, size)
    left = min(size // 2, max(0, math.ceil(mapping.offset_x - 1e-6)))
    top = min(size // 2, max(0, math.ceil(mapping.offset_y - 1e-6)))
    return slice(top, size - top), slice(left, size - left)


def _correlation(first: np.ndarray, second: np.ndarray) -> float:
    """Pearson correlation of two equally shaped arrays; 0 when either is constant."""
    a = first - first.mean()
    b = second - second.mean()
    denominator = math.sqrt(float((a * a).sum()) * float((b * b).sum()))
    return float((a * b).sum() / denominator) if denominator > 1e-12 else 0.0


def check_distribution(
    model_image: np.ndarray, mapping: GridMapping | None, reference: np.ndarray | None
) -> DistributionCheck:
    """Judge whether a model-grid image looks like the training images.

    Args:
        model_image: (S, S, 3) or (S, S) in [0, 1], the study on the model grid (``PreparedStudy.model_image``).
        mapping: The study's grid mapping (``PreparedStudy.mapping``): where the image content lies on the grid.
        reference: The bundle's reference image (``Bundle.image_baseline``, the mean normal training image),
            same grid; None when the bundle has none.

    Returns:
        The verdict with its score and reasons.

    Raises:
        ValueError: When the image or the reference is not a square grid image, or their sizes differ.
    """
    if reference is None:
        return DistributionCheck(
            None, float("nan"), ["the model bundle has no reference image (image_baseline.png), so the image "
                                 "cannot be compared with the training images"]
        )
    image = _gray(model_image, "model_image")
    typical = _gray(reference, "reference")
    if image.shape != typical.shape:
        raise ValueError(f"model_image is {image.shape[0]} px but the reference is {typical.shape[0]} px")
    rows, columns = content_box(mapping, image.shape[0])
    content = image[rows, columns]
    if min(content.shape) < MIN_CONTENT_SIDE:
        size = image.shape[0]
        return DistributionCheck(
            False, 0.0, [f"the image is too elongated to be a chest radiograph (it covers only "
                         f"{content.shape[1]} x {content.shape[0]} of the model's {size} x {size} grid)"]
        )
    spread = float(content.std())
    if spread < BLANK_STD:
        return DistributionCheck(
            False, 0.0, [f"the image is almost uniform (blank?): grey-level spread {spread:.3f}, threshold {BLANK_STD}"]
        )

    smoothed = ndimage.gaussian_filter(content, SMOOTHING_SIGMA, mode="nearest")
    typical_box = typical[rows, columns]
    score = _correlation(smoothed, typical_box)
    reasons: list[str] = []
    if score < SIMILARITY_THRESHOLD:
        upside_down = _correlation(smoothed, typical[::-1][rows, columns])
        rotated = max(_correlation(smoothed, np.rot90(typical, turns)[rows, columns]) for turns in (1, 3))
        if score <= INVERTED_SIMILARITY:
            reasons.append(f"the grey levels look inverted (white lungs, dark bones): similarity {score:.2f} to the "
                           "training images")
        elif upside_down >= SIMILARITY_THRESHOLD and upside_down > score:
            reasons.append(f"the image looks upside down (similarity {score:.2f} to the training images, "
                           f"{upside_down:.2f} when flipped)")
        elif rotated >= SIMILARITY_THRESHOLD:
            reasons.append(f"the image looks rotated by 90 degrees (similarity {score:.2f} to the training images, "
                           f"{rotated:.2f} when turned)")
        else:
            reasons.append(f"does not look like a frontal chest radiograph (similarity {score:.2f} to the training "
                           f"images, threshold {SIMILARITY_THRESHOLD})")

    distance = float(stats.wasserstein_distance(smoothed.ravel(), typical_box.ravel()))
    if distance > HISTOGRAM_DISTANCE_THRESHOLD:
        shift = float(smoothed.mean() - typical_box.mean())
        tone = "brighter" if shift > 0 else "darker"
        reasons.append(f"grey levels unlike the training images (histogram distance {distance:.3f}, threshold "
                       f"{HISTOGRAM_DISTANCE_THRESHOLD:.2f}; {abs(shift):.2f} {tone} on average)")

    typical_spread = float(typical_box.std())
    ratio = float(smoothed.std()) / typical_spread if typical_spread > 0 else math.inf
    low, high = CONTRAST_RATIO_RANGE
    if not low <= ratio <= high:
        kind = "flatter (washed out?)" if ratio < low else "harsher"
        reasons.append(f"contrast {kind} than the training images ({ratio:.2f} times theirs, accepted {low}-{high})")

    if reasons:
        logger.info("image flagged as out of distribution (score %.3f): %s", score, "; ".join(reasons))
    return DistributionCheck(not reasons, score, reasons)
