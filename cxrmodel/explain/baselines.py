"""The image end of the integrated-gradients path: black, blurred, the dataset mean, or any array.

The text end is always the padding embedding (see :mod:`cxrmodel.explain.integrated_gradients`).
"""

from __future__ import annotations

import numpy as np

BLUR_SIGMA_FRACTION = 1.0 / 8.0
"""Sigma of the "blur" image baseline as a fraction of the image side (28 px on a 224 grid)."""

IMAGE_BASELINES = ("black", "blur", "mean")
"""Named image baselines; an array may be passed instead."""


def blurred_image(model_image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of an (S, S, 3) image over the two spatial axes (mirror edges), float32."""
    from scipy.ndimage import gaussian_filter  # noqa: PLC0415 - only needed for the blur baseline

    return gaussian_filter(np.asarray(model_image, np.float32), sigma=(sigma, sigma, 0), mode="reflect")


def make_image_baseline(
    model_image: np.ndarray, baseline: str | np.ndarray, mean_image: np.ndarray | None = None
) -> np.ndarray:
    """The image end of the path.

    Args:
        model_image: (S, S, 3) float32 in [0, 1], the study on the model grid.
        baseline: ``"black"``, ``"blur"``, ``"mean"`` or an (S, S, 3) / (S, S) array.
        mean_image: The dataset-mean image, (S, S, 3) or (S, S); required for ``"mean"``.

    Returns:
        (S, S, 3) float32.

    Raises:
        ValueError: For an unknown name, a missing mean image or a wrong shape.
    """
    image = np.asarray(model_image, np.float32)
    if isinstance(baseline, str):
        if baseline == "black":
            return np.zeros_like(image)
        if baseline == "blur":
            return blurred_image(image, BLUR_SIGMA_FRACTION * image.shape[0])
        if baseline == "mean":
            if mean_image is None:
                raise ValueError("image_baseline='mean' needs the explainer's mean_image (or pass the array)")
            baseline = mean_image
        else:
            raise ValueError(f"unknown image baseline {baseline!r}; choose {', '.join(IMAGE_BASELINES)} or an array")
    array = np.asarray(baseline, np.float32)
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], image.shape[-1], axis=-1)
    if array.shape != image.shape:
        raise ValueError(f"image baseline has shape {array.shape}, the model image {image.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError("image baseline contains NaN or infinite values")
    return array
