"""Fit a bundle's trust profile from its own training films and check it on its validation films.

The rule is stated in :mod:`cxrmodel.imaging.trust_profile`; ``train`` calls :func:`fit_trust_profile` on its
split, and ``python -m cxrmodel trust-profile`` refits an existing bundle's profile from a studies folder.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np

from cxrmodel.imaging.content import content_box, gray_grid
from cxrmodel.imaging.distribution import DistributionThresholds, check_distribution
from cxrmodel.imaging.trust_profile import (
    CONTRAST_MARGINS,
    CONTRAST_QUANTILES,
    HISTOGRAM_MARGIN,
    HISTOGRAM_QUANTILE,
    MIN_TRAINING_FILMS,
    MIN_VALIDATION_ACCEPTANCE,
    NEIGHBOURS,
    SIMILARITY_MARGIN,
    SIMILARITY_QUANTILE,
    STATISTICS_QUANTILE,
    TrustProfile,
    TrustProfileError,
    created_now,
    film_statistics,
    mapping_from_padding,
)

__all__ = ["fit_trust_profile", "grid_films"]

logger = logging.getLogger(__name__)

_MEASURE_ONLY = DistributionThresholds(similarity=-math.inf, histogram_distance=math.inf,
                                       contrast_ratio=(0.0, math.inf))
"""Limits that flag nothing on the pixel checks: the fit only reads the measured values."""


def grid_films(grids: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
    """Model-grid films as ``(S, S)`` float64 grey levels in [0, 1] (uint8 grids are divided by 255)."""
    films = []
    for grid in grids:
        array = np.asarray(grid)
        films.append(gray_grid(array / 255.0 if array.dtype == np.uint8 else array, "grid"))
    return films


def _measure(film: np.ndarray, reference: np.ndarray) -> tuple[dict, np.ndarray] | None:
    """The pixel-check values and film statistics of one training film, or None when it is blank or too narrow."""
    mapping = mapping_from_padding(film)
    check = check_distribution(film, mapping, reference, _MEASURE_ONLY)
    if "similarity" not in check.features:
        return None
    rows, columns = content_box(mapping, film.shape[0])
    return check.features, film_statistics(film[rows, columns])


def fit_trust_profile(training: np.ndarray | Sequence[np.ndarray], validation: np.ndarray | Sequence[np.ndarray],
                      reference: np.ndarray, fitted_on: str) -> TrustProfile:
    """Fit a trust profile on training films and check it on validation films (the rule of the profile module).

    Args:
        training: ``(n, S, S)`` model-grid films (uint8 0-255 or float 0-1) the model was trained on.
        validation: ``(m, S, S)`` films of the same kind that the fit does not see (may be empty).
        reference: The bundle's reference film (``Bundle.image_baseline``), ``(S, S)`` or ``(S, S, 3)`` in [0, 1].
        fitted_on: What the films are, in words (kept in the profile and shown on the page).

    Returns:
        The profile with its counts (``training``, ``validation``, ``validation_accepted``) and any warning.

    Raises:
        TrustProfileError: Fewer than :data:`MIN_TRAINING_FILMS` usable training films.
    """
    measured = [item for item in (_measure(film, reference) for film in grid_films(training)) if item is not None]
    if len(measured) < MIN_TRAINING_FILMS:
        raise TrustProfileError(f"only {len(measured)} usable training films: a trust profile needs at least "
                                f"{MIN_TRAINING_FILMS} to set its limits from their spread")
    values = {key: np.array([features[key] for features, _ in measured])
              for key in ("similarity", "histogram_distance", "contrast_ratio")}
    statistics = np.array([item for _, item in measured])
    mean, scale = statistics.mean(axis=0), statistics.std(axis=0)
    scale = np.where(scale > 1e-9, scale, 1.0)
    standardised = (statistics - mean) / scale
    from sklearn.neighbors import NearestNeighbors  # noqa: PLC0415 - only when a profile is fitted

    # Leave one out: the nearest neighbour of a training film is itself, so take the next NEIGHBOURS.
    distances = NearestNeighbors().fit(standardised).kneighbors(standardised, n_neighbors=NEIGHBOURS + 1)[0][:, -1]
    low_quantile, high_quantile = CONTRAST_QUANTILES
    profile = TrustProfile(
        similarity=float(np.quantile(values["similarity"], SIMILARITY_QUANTILE) - SIMILARITY_MARGIN),
        histogram_distance=float(np.quantile(values["histogram_distance"], HISTOGRAM_QUANTILE) * HISTOGRAM_MARGIN),
        contrast_ratio=(float(np.quantile(values["contrast_ratio"], low_quantile) * CONTRAST_MARGINS[0]),
                        float(np.quantile(values["contrast_ratio"], high_quantile) * CONTRAST_MARGINS[1])),
        statistics_threshold=float(np.quantile(distances, STATISTICS_QUANTILE)),
        statistics_mean=mean, statistics_scale=scale, training_statistics=standardised.astype(np.float32),
        counts={"training": len(measured)}, fitted_on=fitted_on, created=created_now(),
    )
    checked = [check_distribution(film, mapping_from_padding(film), reference, profile=profile)
               for film in grid_films(validation)]
    accepted = sum(check.in_distribution is True for check in checked)
    profile.counts.update(validation=len(checked), validation_accepted=accepted)
    if checked and accepted / len(checked) < MIN_VALIDATION_ACCEPTANCE:
        warning = (f"only {accepted} of {len(checked)} validation films pass this profile (below "
                   f"{MIN_VALIDATION_ACCEPTANCE:.0%}): the training films may not represent the films it will see")
        logger.warning("trust profile: %s", warning)
        profile.warnings.append(warning)
    logger.info("trust profile fitted on %d training films: %d of %d validation films accepted",
                len(measured), accepted, len(checked))
    return profile
