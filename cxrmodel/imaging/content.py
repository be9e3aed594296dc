"""The part of the model grid an image covers, in grey levels: shared by the distribution and view checks."""

from __future__ import annotations

import math

import numpy as np

from cxrmodel.imaging.grid import GridMapping


def gray_grid(image: np.ndarray, name: str) -> np.ndarray:
    """A square ``(S, S)`` or ``(S, S, C)`` grid image as ``(S, S)`` float64 grey levels (NaN -> 0).

    Raises:
        ValueError: When the image is not square.
    """
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
