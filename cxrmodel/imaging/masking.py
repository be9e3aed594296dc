"""Regions of a film replaced by a reference image, in the film's own pixels: the region what-if (issue #19).

The page's "remove this region" builds a new film: the pixels inside the chosen circles (original-image pixel
coordinates, pixel centres within ``r`` of the circle's centre) take the value of the explanation's reference
image (a model-grid image) at the grid point they map to, and the film is written as a 16-bit grayscale PNG, so
every other pixel keeps its exact value (an 8-bit film's grey levels are multiples of 257 in 16 bits and decode
back to themselves). The model then sees that film exactly as ``python -m cxrmodel predict --image`` does.
"""

from __future__ import annotations

import io
from collections.abc import Iterable

import numpy as np
from PIL import Image

from cxrmodel.imaging.grid import GridMapping


def circles_image_mask(circles: Iterable[dict], height: int, width: int) -> np.ndarray:
    """(height, width) bool: image pixels whose centre lies within ``r`` of a circle's centre.

    Args:
        circles: ``{"x", "y", "r"}`` in original-image pixel-index coordinates (x = column, y = row).
        height, width: The film's size in pixels.
    """
    mask = np.zeros((height, width), bool)
    for circle in circles:
        x, y, r = float(circle["x"]), float(circle["y"]), float(circle["r"])
        top, bottom = max(int(np.floor(y - r)), 0), min(int(np.ceil(y + r)) + 1, height)
        left, right = max(int(np.floor(x - r)), 0), min(int(np.ceil(x + r)) + 1, width)
        if top >= bottom or left >= right:
            continue
        rows, columns = np.mgrid[top:bottom, left:right]
        mask[top:bottom, left:right] |= (rows - y) ** 2 + (columns - x) ** 2 <= r * r + 1e-9
    return mask


def reference_on_image(reference_grid: np.ndarray, mapping: GridMapping) -> np.ndarray:
    """(height, width) float: the model-grid reference image at each film pixel's grid point (nearest).

    Args:
        reference_grid: (S, S) or (S, S, 3) in [0, 1] (channels are equal; the first is used).
        mapping: The film's grid mapping.
    """
    grid = np.asarray(reference_grid, np.float64)
    grid = grid[..., 0] if grid.ndim == 3 else grid
    columns = np.arange(mapping.image_width) + 0.5
    rows = np.arange(mapping.image_height) + 0.5
    grid_x, _ = mapping.to_grid(columns, np.zeros_like(columns))
    _, grid_y = mapping.to_grid(np.zeros_like(rows), rows)
    size = grid.shape[0]
    column_index = np.clip(np.floor(np.asarray(grid_x)).astype(int), 0, size - 1)
    row_index = np.clip(np.floor(np.asarray(grid_y)).astype(int), 0, size - 1)
    return grid[row_index[:, None], column_index[None, :]]


def mask_regions(pixels: np.ndarray, circles: Iterable[dict], reference_grid: np.ndarray,
                 mapping: GridMapping) -> np.ndarray:
    """The film with its circled pixels replaced by the reference image (float, [0, 1], same shape)."""
    film = np.asarray(pixels, np.float64)
    mask = circles_image_mask(circles, *film.shape)
    if not mask.any():
        return film.copy()
    return np.where(mask, reference_on_image(reference_grid, mapping), film)


def encode_png16(pixels: np.ndarray) -> bytes:
    """A (height, width) float image in [0, 1] as a 16-bit grayscale PNG (no 8-bit rounding)."""
    array = np.round(np.clip(np.nan_to_num(np.asarray(pixels, np.float64)), 0.0, 1.0) * 65535.0).astype(np.uint16)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")  # uint16 gives mode I;16
    return buffer.getvalue()
