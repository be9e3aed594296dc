"""Attribution smoothing: a sum-preserving Gaussian blur of the image attribution map (no TensorFlow).

Integrated gradients gives each model-grid pixel ``(x − x′) · mean gradient``. Behind a pooling layer the gradient
of a small CNN does not say *which* pixel of a pooling window mattered: a max pool sends all of a window's gradient
to its largest input, so the raw map is a speckle in which neighbouring pixels of the same finding alternate
between strong and zero, and the strongest few percent — what a high sight sensitivity keeps — scatter. Blurring
the map with a Gaussian of ``sigma`` grid pixels spreads each pixel's attribution over its neighbourhood; the
circles are then drawn around regions rather than around single winning pixels.

The blur is a re-distribution, not a re-weighting: with mirrored edges (``scipy.ndimage`` ``mode="reflect"``,
the edge pixel repeated) every pixel's attribution is shared out over weights that add up to 1, so the map's total
— and therefore the completeness check Σ attributions = F(x) − F(x′) — is unchanged. ``sigma = 0`` returns the
raw map (the paper's method). The raw map is kept alongside (``--save-attributions`` writes both).
"""

from __future__ import annotations

import numpy as np

MAX_SMOOTHING = 64.0
"""Largest sigma accepted, in model-grid pixels (beyond it the map is one blob on any grid this tool uses)."""
SMOOTHING_TRUNCATE = 3.0
"""The Gaussian is cut at this many sigmas (an 8-sigma kernel would cost more for no visible difference)."""


def validate_smoothing(sigma: float) -> float:
    """``sigma`` as a float, or ValueError when it is negative, not finite or above :data:`MAX_SMOOTHING`."""
    value = float(sigma)
    if not np.isfinite(value) or value < 0.0 or value > MAX_SMOOTHING:
        raise ValueError(f"attribution smoothing must be between 0 and {MAX_SMOOTHING:g} model-grid pixels, "
                         f"got {sigma!r}")
    return value


def smooth_attribution_map(attribution_map: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of a signed 2-D attribution map that keeps its sum.

    Args:
        attribution_map: (rows, columns) signed attributions (model grid).
        sigma: Standard deviation of the Gaussian in grid pixels; 0 returns the map unchanged (as float32).

    Returns:
        (rows, columns) float32, same total as the input (to float rounding).
    """
    values = np.asarray(attribution_map)
    if values.ndim != 2:
        raise ValueError(f"expected a 2-D attribution map, got shape {values.shape}")
    sigma = validate_smoothing(sigma)
    if sigma == 0.0:
        return values.astype(np.float32, copy=False)
    from scipy import ndimage  # noqa: PLC0415 - keeps scipy out of the start-up of commands that only validate

    blurred = ndimage.gaussian_filter(values.astype(np.float64), sigma, mode="reflect", truncate=SMOOTHING_TRUNCATE)
    return blurred.astype(np.float32)
