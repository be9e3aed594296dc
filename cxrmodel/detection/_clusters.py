"""Cluster statistics (size, centre, radius, attribution mass) of the signal pixels of one map.

`cluster_signals` is the single-threshold entry point: it cuts the map into cells (cxrmodel.detection._grid),
links them, and sums per cell, then per cluster:

- counts and coordinate sums are exact integers per cell;
- attribution sums are per cell, each column of a cell top to bottom, then its columns left to right
  (`cell_sums`), then per cluster in row-major cell order, so the sweep (cxrmodel.detection._incremental), which
  recomputes only the cells that changed, and the compiled run path (cxrmodel.detection._runs), which adds the same
  columns of the same cells in the same order, get bit-identical sums;
- the farthest signal from a cluster's centre is a vertex of the cluster's convex hull, and hull vertices
  are row extremes of their cell (a pixel between two signals of its row is not a vertex), so the radius
  is evaluated on the per-cell row extremes only.

Coordinates: pixel (row i, column j) has x = j, y = i, in pixels of the map's own grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from cxrmodel.detection._grid import CellGrid, CellPairs, facing_extremes, link_cells


@dataclass(eq=False, slots=True)  # not frozen: a frozen init costs ~1 us, a tenth of a small detection
class ClusterTable:
    """Per-cluster statistics of the signals of one map, one entry per cluster (no size filter applied).

    Attributes:
        points: (k,) int64, number of signal pixels.
        centre_x, centre_y: (k,) float64, mean column / row index of the signals (pixels of the map's grid).
        radius: (k,) float64, largest Euclidean distance from the centre to a signal (pixels).
        weight: (k,) float64, sum of the positive attribution of the signals.
    """

    points: np.ndarray
    centre_x: np.ndarray
    centre_y: np.ndarray
    radius: np.ndarray
    weight: np.ndarray

    @classmethod
    def empty(cls) -> ClusterTable:
        """A table without clusters (no signals)."""
        nothing = np.zeros(0)
        return cls(nothing.astype(np.int64), nothing, nothing, nothing, nothing)


def sequential_row_sums(values: np.ndarray) -> np.ndarray:
    """(m,) sum of each row of `values` (m, n), added strictly left to right starting from the first entry.

    numpy reduces a C-contiguous (n, m) array over axis 0 one row at a time (out += row k), so the transposed
    copy gives sequential sums fast (a running `np.add.accumulate` along short rows is several times slower,
    and a reduction along the rows themselves sums pairwise). A single row is accumulated instead: numpy would
    collapse the (n, 1) array to one dimension and sum it pairwise.
    """
    if len(values) == 1:
        return np.add.accumulate(values, axis=1)[:, -1]
    return np.add.reduce(np.ascontiguousarray(values.T), axis=0)


def cell_sums(blocks: np.ndarray) -> np.ndarray:
    """(m,) sum of each (cell_rows, cell_columns) block of `blocks` (m, cell_rows, cell_columns), float64.

    A fixed order that depends only on the block: each column of a block added in sequence from the top row
    down, then the column sums in sequence from the left. cxrmodel.detection._runs adds its runs in exactly this
    order (each cell column top to bottom, then the columns of a cell left to right), so it gets the same sums
    from its signal list without building blocks, and the sweep, which recomputes only the cells that
    changed, gets them too. Zeros (non-signals, padding) leave a sequential sum of non-negative values
    unchanged, so only the signals' order matters.

    A reduction over the middle axis adds whole block rows one after another (out += row), so each column
    is summed top to bottom; a one-column block would be collapsed to one dimension and summed pairwise, so
    it is summed as a row instead.
    """
    if blocks.shape[2] == 1:
        return sequential_row_sums(blocks[:, :, 0])
    return sequential_row_sums(np.add.reduce(blocks, axis=1))


def cell_weights(cells: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(m,) sum of `weights` over the signals of each cell; cells, weights: (m, cell_rows, cell_columns)."""
    return cell_sums(cells * weights)


def cluster_table(
    labels: np.ndarray,
    cell_points: np.ndarray,
    cell_sum_x: np.ndarray,
    cell_sum_y: np.ndarray,
    cell_weight: np.ndarray,
    row_left: np.ndarray,
    row_right: np.ndarray,
    row_base: np.ndarray,
) -> ClusterTable:
    """Per-cluster statistics from per-cell sums of the occupied cells, given in row-major cell order.

    Args:
        labels: (m,) int cluster label of each occupied cell (any numbering; clusters without signals dropped).
        cell_points, cell_sum_x, cell_sum_y: (m,) number of signals and exact sums of their x / y.
        cell_weight: (m,) sum of positive attribution of the cell's signals.
        row_left, row_right: (m, side) leftmost / rightmost signal column of each cell row (+inf / -inf: none).
        row_base: (m, 1) map row of each cell's first row.
    """
    # 1. Per-cluster sums (bincount adds in the given cell order: identical for detection and sweep).
    size = int(labels.max()) + 1
    points = np.bincount(labels, weights=cell_points, minlength=size).astype(np.int64)
    kept = np.flatnonzero(points)
    points = points[kept]
    centre_x = np.bincount(labels, weights=cell_sum_x, minlength=size)[kept] / points
    centre_y = np.bincount(labels, weights=cell_sum_y, minlength=size)[kept] / points
    weight = np.bincount(labels, weights=cell_weight, minlength=size)[kept]
    # 2. Radius from the row extremes (the convex-hull candidates), per cell, then per cluster.
    compact = np.zeros(size, dtype=np.int64)
    compact[kept] = np.arange(len(kept))
    cluster = compact[labels]
    cell_centre_x, cell_centre_y = centre_x[cluster][:, None], centre_y[cluster][:, None]
    row_squared = (row_base + np.arange(row_left.shape[1]) - cell_centre_y) ** 2
    extreme_squared = np.maximum((row_left - cell_centre_x) ** 2, (row_right - cell_centre_x) ** 2)
    cell_radius = np.where(np.isfinite(row_left), extreme_squared + row_squared, -1.0).max(axis=1)
    radius_squared = np.zeros(len(kept))
    np.maximum.at(radius_squared, cluster, cell_radius)
    return ClusterTable(points, centre_x, centre_y, np.sqrt(radius_squared), weight)


def _cluster_neighbours_only(mask: np.ndarray, positive: np.ndarray, grid: CellGrid) -> ClusterTable:
    """Clusters when only 4-neighbours (1 <= link < sqrt 2), 8-neighbours (sqrt 2 <= link < 2) or nothing link."""
    # 1. Label connected pixels with the matching 3 x 3 neighbourhood (a centre-only structure links nothing).
    structure = np.add.outer([1, 0, 1], [1, 0, 1]) <= grid.max_squared_distance
    labels_image, cluster_count = ndimage.label(mask, structure=structure)
    # 2. Per-signal sums; pixel (i, j) has x = j, y = i.
    flat = np.flatnonzero(mask)
    labels = labels_image.ravel()[flat] - 1
    ys, xs = np.divmod(flat, grid.columns)
    points = np.bincount(labels, minlength=cluster_count)
    centre_x = np.bincount(labels, weights=xs, minlength=cluster_count) / points
    centre_y = np.bincount(labels, weights=ys, minlength=cluster_count) / points
    weight = np.bincount(labels, weights=positive.ravel()[flat], minlength=cluster_count)
    # 3. Radius: largest distance from the centre, per cluster.
    radius_squared = np.zeros(cluster_count)
    np.maximum.at(radius_squared, labels, (xs - centre_x[labels]) ** 2 + (ys - centre_y[labels]) ** 2)
    return ClusterTable(points.astype(np.int64), centre_x, centre_y, np.sqrt(radius_squared), weight)


@dataclass(frozen=True, eq=False)
class _LinkedCells:
    """The occupied cells of one mask (row-major) and their cluster labels."""

    cell_row: np.ndarray  # (m,) cell coordinates
    cell_column: np.ndarray
    cells: np.ndarray  # (m, cell_rows, cell_columns) bool signal blocks
    blocks_shape: tuple[int, int, int, int]  # shape of the padded map seen as blocks
    near: np.ndarray  # (2m, side) facing extremes, see detection_grid.facing_extremes
    far: np.ndarray
    labels: np.ndarray  # (m,) cluster label of each cell


def _link_occupied_cells(mask: np.ndarray, grid: CellGrid) -> _LinkedCells | None:
    """Occupied cells of `mask` and their single-linkage labels (None when there is no signal)."""
    side = grid.across.shape[1]
    # 1. Occupied cells (row-major) and their signal blocks.
    padded_mask = grid.padded(mask, False)
    # Which cells hold a signal: reduce each band of cell rows first, then within cells (5-10x faster than
    # reducing the (grid_rows, grid_columns, cell_rows, cell_columns) view over its last two axes).
    band = padded_mask.reshape(grid.grid_rows, grid.cell_rows, -1).any(axis=1)
    occupied = band.reshape(grid.grid_rows, grid.grid_columns, grid.cell_columns).any(axis=2)
    cell_row, cell_column = np.nonzero(occupied)
    cell_count = len(cell_row)
    if cell_count == 0:
        return None
    blocks_shape = (grid.grid_rows, grid.cell_rows, grid.grid_columns, grid.cell_columns)
    cells = padded_mask.reshape(blocks_shape)[cell_row, :, cell_column, :]
    square = cells
    if grid.cell_rows != grid.cell_columns:  # pad to square so row and column extremes share one table
        square = np.zeros((cell_count, side, side), dtype=bool)
        square[:, : grid.cell_rows, : grid.cell_columns] = cells
    # 2. Facing extremes and the links between cells (nodes = occupied cells).
    near, far = facing_extremes(square, cell_row[:, None] * grid.cell_rows, cell_column[:, None] * grid.cell_columns)
    pairs = CellPairs.among(grid, cell_row, cell_column)
    labels = link_cells(grid, cell_count, near, far, pairs, np.ones(len(pairs.first), dtype=bool))
    return _LinkedCells(cell_row, cell_column, cells, blocks_shape, near, far, labels)


def signal_labels(mask: np.ndarray, grid: CellGrid) -> np.ndarray:
    """(rows, columns) int64 single-linkage cluster id of every signal pixel, -1 elsewhere (ids 0..k-1)."""
    if grid.links_neighbours_only:
        structure = np.add.outer([1, 0, 1], [1, 0, 1]) <= grid.max_squared_distance
        return ndimage.label(mask, structure=structure)[0].astype(np.int64) - 1
    linked = _link_occupied_cells(mask, grid)
    if linked is None:
        return np.full(mask.shape, -1, dtype=np.int64)
    cell_labels = np.full((grid.grid_rows, grid.grid_columns), -1, dtype=np.int64)
    cell_labels[linked.cell_row, linked.cell_column] = linked.labels
    pixels = np.repeat(np.repeat(cell_labels, grid.cell_rows, axis=0), grid.cell_columns, axis=1)
    return np.where(mask, pixels[: grid.rows, : grid.columns], -1)


def cluster_signals(mask: np.ndarray, positive: np.ndarray, grid: CellGrid) -> ClusterTable:
    """Single-linkage clusters of the signal pixels of one map.

    Args:
        mask: (rows, columns) bool, True at signal pixels.
        positive: (rows, columns) float64, positive part of the attribution (weights for the cluster mass).
        grid: The cell grid of this map shape and link distance.

    Returns:
        The per-cluster statistics, clusters in no particular order.
    """
    if grid.links_neighbours_only:
        return _cluster_neighbours_only(mask, positive, grid)
    # 1. Occupied cells and their cluster labels.
    linked = _link_occupied_cells(mask, grid)
    if linked is None:
        return ClusterTable.empty()
    cells, cell_row, cell_column = linked.cells, linked.cell_row, linked.cell_column
    row_base = cell_row[:, None] * grid.cell_rows  # (m, 1) map row of each cell's first row
    column_base = cell_column[:, None] * grid.cell_columns

    # 2. Per-cell sums: exact integer coordinate sums, and the weights of the signals.
    whole_cells = positive.shape == (grid.grid_rows * grid.cell_rows, grid.grid_columns * grid.cell_columns)
    if whole_cells or 4 * cells.size > positive.size:
        # Whole cells (a view) or many occupied cells: gather blocks from a padded copy (~4x faster per element).
        weights = grid.padded(positive, 0.0).reshape(linked.blocks_shape)[cell_row, :, cell_column, :]
    else:  # few occupied cells: gather just them; indices clipped at the map's edge fall on non-signals
        pixel_rows = np.minimum(row_base + np.arange(grid.cell_rows), grid.rows - 1)
        pixel_columns = np.minimum(column_base + np.arange(grid.cell_columns), grid.columns - 1)
        weights = positive[pixel_rows[:, :, None], pixel_columns[:, None, :]]
    row_counts = cells.sum(axis=2)  # (m, cell_rows)
    cell_points = row_counts.sum(axis=1)
    cell_sum_x = cells.sum(axis=1) @ np.arange(grid.cell_columns) + cell_points * column_base[:, 0]
    cell_sum_y = row_counts @ np.arange(grid.cell_rows) + cell_points * row_base[:, 0]

    # 3. Per-cluster statistics.
    cell_count = len(cell_row)
    return cluster_table(
        linked.labels,
        cell_points,
        cell_sum_x,
        cell_sum_y,
        cell_weights(cells, weights),
        linked.far[:cell_count],
        linked.near[:cell_count],
        row_base,
    )
