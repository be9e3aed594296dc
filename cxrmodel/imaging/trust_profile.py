"""A bundle's trust profile: what "looks like this model's training films" means, fitted on those films.

The distribution check (:func:`cxrmodel.imaging.check_distribution`) was first calibrated on the demo bundle, whose
training films are phantoms drawn from one anatomical template: a single correlation with their mean film
separates them from everything else. A bundle trained on real films needs its own limits, because real patients
(position, build, collimation, film processing) vary far more: with the demo's threshold (0.88), 37 of 40 of a
real-film bundle's own training films were flagged. A profile holds, for one bundle:

* the thresholds of the pixel checks (similarity to the bundle's reference film, grey-level distance, contrast),
  each set from the training films' own values by the rule below;
* a **film-statistics** check: every film is summarised by :func:`film_statistics` (grey-level histogram,
  edge-strength histogram, Laplacian texture, mean and spread, on the content resampled to 64 x 64) and standardised
  with the training films' mean and spread; its distance to the :data:`NEIGHBOURS`-th nearest training film must
  not exceed the threshold. Why these statistics: on the 1,000 real NIH films (64 px), the pixel layout alone
  (correlation with a mean film, or PCA/Mahalanobis on the downsampled film) does not separate phantoms from real
  films once it is fitted on real films (phantoms sit inside the real films' spread), while film texture and
  exposure statistics do (``benchmarks/trust_profile_own_films.py``, ``docs/method.md``).

**The rule.** Similarity: the training films' 1st percentile minus 0.05. Grey-level distance: their 99th
percentile times 1.1. Contrast ratio: their 1st percentile times 0.9 to their 99th percentile times 1.1.
Film statistics: the 97th percentile of the training films' leave-one-out distances (each film's distance to its
:data:`NEIGHBOURS`-th nearest *other* training film). The percentile was chosen on a calibration set only (600 NIH
``train`` films fitting, 200 NIH ``valid`` films and 400 phantoms of seed 777 judging): at the 98th, 1.75 % of those
phantoms passed, at the 97th 0.25 %, with 98 % of the validation films accepted either way; the acceptance
numbers are reported on films and phantoms that choice never saw. The validation films, which none of this saw, are then
checked and their acceptance recorded with the counts; below :data:`MIN_VALIDATION_ACCEPTANCE` a warning is
logged and kept in the profile. Fewer than :data:`MIN_TRAINING_FILMS` training films are too few for a 97th
percentile of distances to mean anything: no profile is fitted (``fit_trust_profile`` raises).

Blank, elongated, inverted, orientation and view (lateral) checks keep their fixed limits: they describe what a
frontal chest film is, not one training set.

TensorFlow-free (numpy, scipy, scikit-learn's nearest neighbours): the dashboard's web process judges uploads.
"""

from __future__ import annotations

import datetime as _datetime
import json
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from cxrmodel.imaging.grid import GridMapping

__all__ = [
    "MIN_TRAINING_FILMS",
    "NEIGHBOURS",
    "PROFILE_ARRAYS_FILE",
    "PROFILE_FILE",
    "TrustProfile",
    "TrustProfileError",
    "film_statistics",
    "mapping_from_padding",
    "read_trust_profile",
]

logger = logging.getLogger(__name__)

PROFILE_FILE = "trust_profile.json"
PROFILE_ARRAYS_FILE = "trust_profile.npz"
FORMAT_VERSION = 1

NEIGHBOURS = 5
"""The film-statistics distance is to the 5th nearest training film: one odd look-alike does not vouch for a film."""
STATISTICS_QUANTILE = 0.97
SIMILARITY_QUANTILE, SIMILARITY_MARGIN = 0.01, 0.05
HISTOGRAM_QUANTILE, HISTOGRAM_MARGIN = 0.99, 1.1
CONTRAST_QUANTILES, CONTRAST_MARGINS = (0.01, 0.99), (0.9, 1.1)
MIN_TRAINING_FILMS = 50
MIN_VALIDATION_ACCEPTANCE = 0.95
"""A profile whose validation films are accepted less often than this is kept, with a logged and recorded warning."""

STATISTICS_SIDE = 64
"""Film statistics are taken on the content resampled to this side, so they do not depend on the model grid."""
_GREY_BINS, _EDGE_BINS, _EDGE_RANGE = 16, 16, 0.2


class TrustProfileError(ValueError):
    """A trust profile cannot be fitted or read (the message says why and what to do)."""


def mapping_from_padding(grid: np.ndarray) -> GridMapping:
    """The grid mapping of a model-grid film whose original size is unknown, from its black padding.

    Training arrays keep only the grid; the content is where the rows and columns are not all black.

    Args:
        grid: ``(S, S)`` grey levels.
    """
    size = grid.shape[0]
    rows = np.flatnonzero(grid.max(axis=1) > 0)
    columns = np.flatnonzero(grid.max(axis=0) > 0)
    if rows.size == 0 or columns.size == 0:
        return GridMapping.for_image(size, size, size)
    return GridMapping.for_image(int(columns[-1] - columns[0] + 1), int(rows[-1] - rows[0] + 1), size)


def film_statistics(content: np.ndarray) -> np.ndarray:
    """Exposure and texture statistics of a film's content, the film-statistics check's features.

    Args:
        content: ``(h, w)`` grey levels in [0, 1], the part of the model grid the film covers.

    Returns:
        ``(36,)`` float64: 16-bin grey-level histogram, 16-bin edge-strength histogram (gradient magnitude per
        pixel of the 64 px film, 0-0.2), mean absolute and standard deviation of the Laplacian, grey-level spread
        and mean.
    """
    image = Image.fromarray(np.ascontiguousarray(content, dtype=np.float32))
    small = np.asarray(image.resize((STATISTICS_SIDE, STATISTICS_SIDE), Image.Resampling.BILINEAR), np.float64)
    small = np.clip(small, 0.0, 1.0)
    smoothed = ndimage.gaussian_filter(small, 0.5)
    gradient_rows, gradient_columns = np.gradient(smoothed)
    edges = np.hypot(gradient_rows, gradient_columns)
    laplacian = ndimage.laplace(smoothed)
    count = float(small.size)
    return np.concatenate([
        np.histogram(small, _GREY_BINS, (0.0, 1.0))[0] / count,
        np.histogram(edges, _EDGE_BINS, (0.0, _EDGE_RANGE))[0] / count,
        [np.abs(laplacian).mean(), laplacian.std(), small.std(), small.mean()],
    ])


@dataclass
class TrustProfile:
    """The limits that judge whether a film looks like one bundle's training films (see the module docstring).

    Attributes:
        similarity: Smallest accepted correlation with the bundle's reference film.
        histogram_distance: Largest accepted grey-level distance to the reference.
        contrast_ratio: Accepted (low, high) spread ratio to the reference.
        statistics_threshold: Largest accepted film-statistics distance to the :data:`NEIGHBOURS`-th nearest
            training film.
        statistics_mean: ``(36,)`` mean of the training films' statistics (standardisation).
        statistics_scale: ``(36,)`` their spread (standardisation; never 0).
        training_statistics: ``(n, 36)`` float32 standardised statistics of the training films.
        counts: ``{"training", "validation", "validation_accepted"}``.
        fitted_on: What the films were, in words.
        created: ISO time of the fit.
        source: Where the profile was read from (set when read; "bundle" or "override" in :meth:`describe`).
        warnings: Problems found when it was fitted (e.g. low validation acceptance).
    """

    similarity: float
    histogram_distance: float
    contrast_ratio: tuple[float, float]
    statistics_threshold: float
    statistics_mean: np.ndarray
    statistics_scale: np.ndarray
    training_statistics: np.ndarray
    counts: dict
    fitted_on: str
    created: str = ""
    source: str = ""
    override: bool = False
    warnings: list[str] = field(default_factory=list)
    _neighbours: object = field(default=None, repr=False, compare=False)

    def statistics_distance(self, content: np.ndarray) -> float:
        """The film-statistics distance of a film's content to its :data:`NEIGHBOURS`-th nearest training film."""
        standardised = (film_statistics(content) - self.statistics_mean) / self.statistics_scale
        return float(self._index().kneighbors(standardised[None], n_neighbors=NEIGHBOURS)[0][0, -1])

    def _index(self):
        if self._neighbours is None:
            from sklearn.neighbors import NearestNeighbors  # noqa: PLC0415 - loaded on the first judged film

            self._neighbours = NearestNeighbors().fit(self.training_statistics)
        return self._neighbours

    def describe(self) -> str:
        """One line for the page and the CLI: which profile judged the film, fitted on what."""
        counts = self.counts
        where = f"the override {self.source}" if self.override else "this bundle's own trust profile"
        validation = ""
        if counts.get("validation"):
            validation = (f"; {counts['validation_accepted']} of {counts['validation']} validation films "
                          "accepted")
        return f"{where}, fitted on {counts.get('training', 0)} training films ({self.fitted_on}){validation}"

    def to_dict(self) -> dict:
        """The JSON document (``trust_profile.json``); the arrays go to ``trust_profile.npz``."""
        return {
            "format": FORMAT_VERSION,
            "rule": {"similarity": f"training quantile {SIMILARITY_QUANTILE} minus {SIMILARITY_MARGIN}",
                     "histogram_distance": f"training quantile {HISTOGRAM_QUANTILE} times {HISTOGRAM_MARGIN}",
                     "contrast_ratio": f"training quantiles {list(CONTRAST_QUANTILES)} times {list(CONTRAST_MARGINS)}",
                     "film_statistics": f"quantile {STATISTICS_QUANTILE} of the training films' leave-one-out "
                                        f"distance to the {NEIGHBOURS}th nearest training film"},
            "thresholds": {"similarity": round(self.similarity, 6),
                           "histogram_distance": round(self.histogram_distance, 6),
                           "contrast_ratio": [round(value, 6) for value in self.contrast_ratio],
                           "film_statistics": round(self.statistics_threshold, 6)},
            "counts": dict(self.counts),
            "fitted_on": self.fitted_on,
            "created": self.created,
            "warnings": list(self.warnings),
        }

    def save(self, target: str | os.PathLike) -> Path:
        """Write the profile into a bundle folder (or any folder, for an override); returns the JSON path."""
        folder = Path(target)
        folder.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(folder / PROFILE_ARRAYS_FILE, statistics_mean=self.statistics_mean,
                            statistics_scale=self.statistics_scale,
                            training_statistics=self.training_statistics.astype(np.float32))
        path = folder / PROFILE_FILE
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return path


def _profile_error(path: Path, problem: str) -> TrustProfileError:
    return TrustProfileError(f"{path}: {problem}; refit it with 'python -m cxrmodel trust-profile --model BUNDLE "
                             "--studies DIR' or delete it")


def read_trust_profile(location: str | os.PathLike, *, override: bool = False) -> TrustProfile | None:
    """Read a trust profile from a folder holding ``trust_profile.json`` and ``.npz`` (or the JSON file's path).

    Args:
        location: A bundle folder, a profile folder, or the ``trust_profile.json`` file.
        override: True when the reader named it (``--trust-profile``), not the bundle.

    Returns:
        The profile, or None when a bundle folder has none (``override`` False).

    Raises:
        TrustProfileError: The profile is missing (when named as an override) or broken.
    """
    path = Path(location)
    folder = path.parent if path.suffix == ".json" else path
    document_path, arrays_path = folder / PROFILE_FILE, folder / PROFILE_ARRAYS_FILE
    if not document_path.is_file():
        if override:
            raise TrustProfileError(f"--trust-profile {location}: no {PROFILE_FILE} there (write one with "
                                    "'python -m cxrmodel trust-profile --model BUNDLE --studies DIR --output DIR')")
        return None
    try:
        document = json.loads(document_path.read_text(encoding="utf-8"))
        thresholds = document["thresholds"]
        low, high = (float(value) for value in thresholds["contrast_ratio"])
        values = [float(thresholds[key]) for key in ("similarity", "histogram_distance", "film_statistics")]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise _profile_error(document_path, f"unreadable ({error})") from error
    if not all(math.isfinite(value) for value in (*values, low, high)) or not low <= high:
        raise _profile_error(document_path, "its thresholds must be finite numbers with contrast low <= high")
    try:
        with np.load(arrays_path) as arrays:
            mean, scale = arrays["statistics_mean"], arrays["statistics_scale"]
            training = arrays["training_statistics"].astype(np.float64)
    except (OSError, KeyError, ValueError) as error:
        raise _profile_error(arrays_path, f"missing or unreadable ({error})") from error
    if training.ndim != 2 or training.shape[0] < NEIGHBOURS:
        raise _profile_error(arrays_path, f"it must hold at least {NEIGHBOURS} training films' statistics")
    if mean.shape != (training.shape[1],) or scale.shape != (training.shape[1],):
        raise _profile_error(arrays_path, "its arrays do not fit together")
    return TrustProfile(values[0], values[1], (low, high), values[2], mean, scale, training,
                        dict(document.get("counts") or {}), str(document.get("fitted_on", "")),
                        str(document.get("created", "")), str(folder), override,
                        [str(item) for item in document.get("warnings") or []])


def created_now() -> str:
    """The current UTC time in ISO form, seconds precision (the profile's ``created``)."""
    return _datetime.datetime.now(_datetime.timezone.utc).replace(microsecond=0).isoformat()
