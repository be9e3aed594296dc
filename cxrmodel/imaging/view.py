"""View check: is a chest film frontal (PA/AP), as the model was trained on, or a lateral view?

A frontal chest film shows **two** dark lung fields, one on each side of a bright central column (mediastinum,
heart and spine), which stays bright even when a lung is opacified. A lateral film shows **one** large dark lung
field (both lungs superimposed) across the middle of the chest, with the bright spine towards the back and the
chest wall and heart towards the front. The check measures exactly that, in plain numpy (no TensorFlow: the
dashboard's web process runs it):

1. The content box of the model grid (padding left out) is averaged down to :data:`VIEW_GRID` pixels square
   (no finer than the 64 px NIH films it was measured on, so a small and a large upload give the same numbers)
   and lightly smoothed.
2. In each row of the chest band (:data:`CHEST_ROWS`, the upper and middle thorax), the brightest grey level
   of the central columns (:data:`CENTRE_COLUMNS`) is placed between the darkest (the lung field) and the
   brightest grey level of the inner columns (:data:`INNER_COLUMNS`): 0 = the middle of the chest is as dark as
   the lung field, 1 = it is the brightest part of the row.
3. The **score** is the lower quartile (:data:`ROW_QUANTILE`) of that over the rows: frontal films score high (a
   bright mediastinum in every row), laterals low (lung across the middle, at least in the upper rows). Below
   :data:`LATERAL_THRESHOLD` the film is called lateral.

Calibration and measurement: ``benchmarks/distribution_check_cases.py`` (tables in ``BENCHMARKS.md`` and
``docs/method.md``). Calibration part: the 600 NIH ChestX-ray14 ``train`` films (real frontal PA/AP films,
64 px; lowest score 0.666) and 100 laterals of the geometric model :mod:`cxrmodel.data.synthetic.lateral` (seeds
0-99; highest 0.360); the row band, centre columns and quantile are, of 36 settings tried, the ones with the
widest gap on this part, and the threshold is the middle of the gap. Held out, only reported: the other 400 NIH
films (lowest 0.643: none refused), the demo and 800 synthetic phantoms (all 1.000) and 205 other constructed
laterals (seeds 1000-1199 and five at other sizes; highest 0.476: all refused). **No real lateral film was
available**: the laterals are drawn from a geometric model, so how real laterals score is not measured. A film
cut down to one lung (half a film, a zoom on one lung) has the same single dark field across its middle and is
called lateral too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

from cxrmodel.imaging.content import content_box, gray_grid
from cxrmodel.imaging.grid import GridMapping

VIEW_GRID = 64
"""Side (pixels) of the coarse square grid the view is judged on."""

CHEST_ROWS = (0.25, 0.50)
"""Rows (fractions of the content height) of the chest band: upper and middle thorax, above the heart of a lateral."""

CENTRE_COLUMNS = (0.40, 0.60)
"""Columns (fractions of the content width) where a frontal film has its mediastinum."""

INNER_COLUMNS = (0.15, 0.85)
"""Columns searched for the lung field and for the brightest grey level of a row (the film's edges left out)."""

ROW_QUANTILE = 0.25
"""The score is this quantile over the chest rows (a lateral's lung crosses the middle in its upper rows even
where a large heart fills the lower ones)."""

LATERAL_THRESHOLD = 0.51
"""View score below which the film is called a lateral view (see the module docstring for the calibration)."""

BLANK_STD = 0.02
"""Grey-level spread under which there is nothing to judge (the same as the distribution check's blank test)."""

LATERAL_MESSAGE = ("This looks like a lateral view; the model was trained on frontal (PA/AP) films only. "
                   "Upload the frontal film.")
"""The refusal shown for a lateral view."""

NOT_LATERAL_MESSAGE = ("not called lateral: a bright middle between the lung fields (view score {score:.2f}; "
                       "films below {threshold:.2f} are called lateral). Measured on real frontal films, phantoms and "
                       "a geometric lateral model, no real lateral film: this is no evidence that the film is "
                       "frontal")
"""What a passing view check says: what it measured and what it was measured on, never that the film is frontal
(a real lateral film was reported to pass it: only the similarity check flagged it)."""


@dataclass(frozen=True)
class ViewCheck:
    """The verdict on one image's view.

    Attributes:
        frontal: True = frontal (PA/AP) film, False = lateral view (refuse it), None = nothing to judge (blank
            or too small an image).
        score: Median over the chest rows of how bright the middle of the chest is between the lung field (0)
            and the brightest part of the row (1); NaN when unjudged.
        reason: One sentence for the user: the refusal message for a lateral, otherwise what was measured
            (:data:`NOT_LATERAL_MESSAGE`: not a reassurance that the film is frontal).
    """

    frontal: bool | None
    score: float
    reason: str

    @property
    def lateral(self) -> bool:
        """True when the film was judged a lateral view (``frontal is False``)."""
        return self.frontal is False

    def to_dict(self) -> dict:
        """JSON form: ``{"frontal", "score" (None when NaN), "reason"}``."""
        return {
            "frontal": self.frontal,
            "score": round(self.score, 4) if math.isfinite(self.score) else None,
            "reason": self.reason,
        }


def _coarse(content: np.ndarray) -> np.ndarray:
    resized = Image.fromarray(np.ascontiguousarray(content, dtype=np.float32)).resize(
        (VIEW_GRID, VIEW_GRID), Image.Resampling.BOX
    )
    return ndimage.uniform_filter(np.asarray(resized, np.float64), 3, mode="nearest")


def _span(fractions: tuple[float, float], length: int) -> slice:
    return slice(int(round(fractions[0] * length)), int(round(fractions[1] * length)))


def view_score(model_image: np.ndarray, mapping: GridMapping | None = None) -> float:
    """The view score of a model-grid image (see the module docstring); NaN when the content is blank or tiny."""
    image = gray_grid(model_image, "model_image")
    rows, columns = content_box(mapping, image.shape[0])
    content = image[rows, columns]
    if min(content.shape) < 8 or float(content.std()) < BLANK_STD:
        return float("nan")
    coarse = _coarse(content)
    band = coarse[_span(CHEST_ROWS, VIEW_GRID)]
    centre = band[:, _span(CENTRE_COLUMNS, VIEW_GRID)].max(axis=1)
    inner = band[:, _span(INNER_COLUMNS, VIEW_GRID)]
    darkest, brightest = inner.min(axis=1), inner.max(axis=1)
    usable = brightest - darkest > 1e-3
    if not usable.any():
        return float("nan")
    position = (centre[usable] - darkest[usable]) / (brightest[usable] - darkest[usable])
    return float(np.quantile(position, ROW_QUANTILE))


def check_view(model_image: np.ndarray, mapping: GridMapping | None = None) -> ViewCheck:
    """Judge whether a model-grid image is a frontal chest film or a lateral view.

    Args:
        model_image: (S, S, 3) or (S, S) in [0, 1], the study on the model grid (``PreparedStudy.model_image``),
            or any square grey image.
        mapping: The study's grid mapping (padding is left out); None = the whole grid is content.

    Returns:
        The verdict: ``frontal`` False (with :data:`LATERAL_MESSAGE`) when the score is below
        :data:`LATERAL_THRESHOLD`.

    Raises:
        ValueError: When the image is not square.
    """
    score = view_score(model_image, mapping)
    if not math.isfinite(score):
        return ViewCheck(None, score, "the image is blank or too small to tell a frontal from a lateral view")
    if score < LATERAL_THRESHOLD:
        return ViewCheck(False, score, LATERAL_MESSAGE)
    return ViewCheck(True, score, NOT_LATERAL_MESSAGE.format(score=score, threshold=LATERAL_THRESHOLD))
