"""How a region of the film is taken away for the deletion evidence, without putting a finding in its place.

Removing a region means replacing its pixels by something that does not depend on them. What replaces them must
not itself read as a finding, or the deletion test measures the patch and not the region: pasting the
explanation's reference image (the mean normal training film) into a circle leaves a disk whose edges, grey level
and texture differ from the film around it, and on the demo model that disk can *raise* the log-odds of abnormal
(BENCHMARKS.md, "Deletion evidence on the log-odds scale"). Three removals, by name (:data:`REMOVALS`):

* ``"imputation"`` — noisy linear imputation (ROAD: Rong et al., "A Consistent and Efficient Evaluation Strategy
  for Attribution Methods", ICML 2022). Every removed pixel is the weighted mean of its 8 neighbours (edge
  neighbours 1/6, diagonal ones 1/12, ROAD's weights), removed neighbours included, so the region is the smooth
  surface spanned by the pixels around it: one sparse linear system per mask (``scipy.sparse``). Then Gaussian
  noise of :data:`IMPUTATION_NOISE` (ROAD's 0.01) is added, so the fill is not a tell-tale perfectly smooth patch.
  The noise is seeded by the mask itself, so one mask always gives one image.
* ``"surroundings"`` — the region's own blurred surroundings: a normalised convolution (a Gaussian of the pixels
  outside the mask divided by the Gaussian of the mask's complement, sigma :data:`SURROUNDINGS_SIGMA_FRACTION` ×
  the grid side), widened where the region is too deep for it to reach.
* ``"reference"`` — the explanation's reference image (the integrated-gradients image baseline) pasted in:
  the removal the evidence used before, kept as a named alternative.

Which removal the evidence uses by default (:data:`DEFAULT_REMOVAL`) was chosen by checks stated before they were
run — how far each removal moves the log-odds on random regions of the demo films and of lesion-free phantoms,
and how often it raises them — never by how the circles fare (benchmarks/evidence_removal.py, BENCHMARKS.md).
numpy and scipy only.
"""

from __future__ import annotations

import logging
import zlib

import numpy as np

logger = logging.getLogger(__name__)

REMOVALS = ("imputation", "surroundings", "reference")
"""Named region removals (see the module docstring)."""

DEFAULT_REMOVAL = "imputation"
"""The removal the deletion evidence uses unless asked for another (chosen in benchmarks/evidence_removal.py)."""

IMPUTATION_NOISE = 0.01
"""Standard deviation of the noise added to imputed pixels (model-image grey levels, 0–1; ROAD's default)."""

SURROUNDINGS_SIGMA_FRACTION = 1.0 / 32.0
"""Sigma of the normalised convolution of ``"surroundings"`` as a fraction of the grid side (5 px at 160²)."""

_EDGE_WEIGHT = 1.0 / 6.0
_DIAGONAL_WEIGHT = 1.0 / 12.0
_NEIGHBOURS = tuple((row, column, _DIAGONAL_WEIGHT if row and column else _EDGE_WEIGHT)
                    for row in (-1, 0, 1) for column in (-1, 0, 1) if row or column)
_NOISE_SEED = 20261207
_SMALLEST_WEIGHT = 1e-6


def check_removal(removal: str) -> str:
    """``removal`` when it is one of :data:`REMOVALS`.

    Raises:
        ValueError: Naming the choices, for any other name.
    """
    if removal not in REMOVALS:
        raise ValueError(f"unknown region removal {removal!r}; choose one of {', '.join(REMOVALS)}")
    return removal


def mask_seed(mask: np.ndarray) -> int:
    """A seed that depends on the mask alone (CRC-32 of its packed bits and shape)."""
    packed = np.packbits(np.asarray(mask, bool), axis=None)
    return zlib.crc32(packed.tobytes() + np.asarray(mask.shape, np.int64).tobytes())


def linear_imputation(model_image: np.ndarray, mask: np.ndarray, noise: float = IMPUTATION_NOISE) -> np.ndarray:
    """ROAD's noisy linear imputation of the pixels of ``mask``.

    Every masked pixel p satisfies ``Σ_q w_q (x_p − x_q) = 0`` over its in-grid neighbours q (edge 1/6, diagonal
    1/12); the pixels outside the mask are fixed. The sparse system (one unknown per masked pixel, one right-hand
    side per channel) is solved by LU factorisation; then N(0, ``noise``²) is added per pixel (the same value in
    every channel, so a grey film stays grey), seeded by :func:`mask_seed`, and the result is clipped to [0, 1].

    Args:
        model_image: (S, S, C) float in [0, 1].
        mask: (S, S) bool, the pixels to remove.
        noise: Standard deviation of the added noise (grey levels).

    Returns:
        (S, S, C) float32; pixels outside ``mask`` unchanged.

    Raises:
        ValueError: When the mask covers the whole grid (nothing to impute from).
    """
    from scipy import sparse  # noqa: PLC0415 - scipy only when evidence is computed
    from scipy.sparse.linalg import splu  # noqa: PLC0415

    image = np.asarray(model_image, np.float32)
    removed = np.asarray(mask, bool)
    height, width = removed.shape
    unknown = np.flatnonzero(removed)
    if unknown.size == 0:
        return image.copy()
    if unknown.size == removed.size:
        raise ValueError("the region covers the whole film: there is nothing around it to impute from")
    channels = image.reshape(height * width, -1).astype(np.float64)
    position = np.full(height * width, -1, np.int64)
    position[unknown] = np.arange(unknown.size)
    rows, columns = np.divmod(unknown, width)
    flat_mask = removed.ravel()

    # 1. One equation per removed pixel: its weight sum on the diagonal, removed neighbours off it, known ones
    #    moved to the right-hand side.
    diagonal = np.zeros(unknown.size)
    right_side = np.zeros((unknown.size, channels.shape[1]))
    entry_rows, entry_columns, entry_values = [], [], []
    for row_step, column_step, weight in _NEIGHBOURS:
        neighbour_rows, neighbour_columns = rows + row_step, columns + column_step
        inside = (neighbour_rows >= 0) & (neighbour_rows < height) & (neighbour_columns >= 0) & (
            neighbour_columns < width)
        equations = np.flatnonzero(inside)
        neighbours = neighbour_rows[inside] * width + neighbour_columns[inside]
        diagonal[equations] += weight
        also_removed = flat_mask[neighbours]
        entry_rows.append(equations[also_removed])
        entry_columns.append(position[neighbours[also_removed]])
        entry_values.append(np.full(int(also_removed.sum()), -weight))
        right_side[equations[~also_removed]] += weight * channels[neighbours[~also_removed]]
    indices = np.arange(unknown.size)
    matrix = sparse.csc_matrix(
        (np.concatenate([diagonal, *entry_values]),
         (np.concatenate([indices, *entry_rows]), np.concatenate([indices, *entry_columns]))),
        shape=(unknown.size, unknown.size),
    )

    # 2. Solve (one factorisation for every channel; the matrix is symmetric, so a symmetric ordering keeps the
    #    fill-in low), add the seeded noise, clip to the film's range.
    solved = splu(matrix, permc_spec="MMD_AT_PLUS_A", options={"SymmetricMode": True}).solve(right_side)
    rng = np.random.default_rng([_NOISE_SEED, mask_seed(removed)])
    solved += rng.normal(0.0, noise, size=(unknown.size, 1))
    result = channels.copy()
    result[unknown] = np.clip(solved, 0.0, 1.0)
    return result.reshape(image.shape).astype(np.float32)


def blurred_surroundings(model_image: np.ndarray, mask: np.ndarray,
                         sigma_fraction: float = SURROUNDINGS_SIGMA_FRACTION) -> np.ndarray:
    """The pixels of ``mask`` filled with a Gaussian average of the pixels around them (normalised convolution).

    ``fill = G_σ * (x · (1 − m)) / G_σ * (1 − m)`` per channel; where a pixel lies too deep inside the mask for
    the Gaussian to reach a kept pixel, sigma is doubled for it until one does.

    Args:
        model_image: (S, S, C) float in [0, 1].
        mask: (S, S) bool, the pixels to remove.
        sigma_fraction: Sigma as a fraction of the grid side.

    Returns:
        (S, S, C) float32; pixels outside ``mask`` unchanged.
    """
    from scipy.ndimage import gaussian_filter  # noqa: PLC0415 - scipy only when evidence is computed

    image = np.asarray(model_image, np.float64)
    removed = np.asarray(mask, bool)
    if not removed.any():
        return image.astype(np.float32)
    if removed.all():
        raise ValueError("the region covers the whole film: there is nothing around it to fill it from")
    kept = (~removed).astype(np.float64)
    result = image.copy()
    pending = removed.copy()
    sigma = max(sigma_fraction * removed.shape[0], 0.5)
    while pending.any():
        weight = gaussian_filter(kept, sigma, mode="reflect")
        filled = gaussian_filter(image * kept[:, :, None], (sigma, sigma, 0), mode="reflect")
        reached = pending & (weight > _SMALLEST_WEIGHT)
        result[reached] = filled[reached] / weight[reached][:, None]
        pending &= ~reached
        sigma *= 2.0
    return result.astype(np.float32)


def remove_region(model_image: np.ndarray, mask: np.ndarray, removal: str,
                  reference_image: np.ndarray | None = None) -> np.ndarray:
    """``model_image`` with the pixels of ``mask`` removed by ``removal`` (:data:`REMOVALS`).

    Args:
        model_image: (S, S, C) float32 in [0, 1], the study on the model grid.
        mask: (S, S) bool.
        removal: ``"imputation"``, ``"surroundings"`` or ``"reference"``.
        reference_image: (S, S, C), the explanation's reference image; needed for ``"reference"`` only.

    Returns:
        (S, S, C) float32. A mask that covers the whole grid (the circles of a very low tau can) leaves nothing to
        fill it from: the film is then replaced by ``reference_image`` whatever the removal, as the modality
        ledger removes a whole film.
    """
    check_removal(removal)
    if np.asarray(mask, bool).all() and reference_image is not None:
        return np.broadcast_to(np.asarray(reference_image, np.float32), np.shape(model_image)).copy()
    if removal == "imputation":
        return linear_imputation(model_image, mask)
    if removal == "surroundings":
        return blurred_surroundings(model_image, mask)
    if reference_image is None:
        raise ValueError("the 'reference' removal needs the reference image")
    return np.where(np.asarray(mask, bool)[:, :, None], reference_image, model_image).astype(np.float32)
