"""Cluster statistics at many sight sensitivities of one map in a single sweep (the threshold slider's data).

Lowering the threshold only adds signal pixels, so the sweep visits the thresholds from the highest to the
lowest and adds the pixels that become signals at each step (in descending attribution order, a step at a
time) to per-cell state kept across steps:

- facing extremes (leftmost / rightmost signal of each cell row, top / bottom of each cell column): updated
  with the new pixels only (`np.minimum.at` / `np.maximum.at`);
- exact integer counts and coordinate sums per cell; the attribution sum of the cells that changed;
- a union-find over cells: cells joined at a higher threshold stay joined at every lower one, and two cells
  not linked at the previous step can only become linked if one of them gained signals, so each step tests
  only the open cell pairs that touch a changed cell.

Every statistic is computed exactly as `cluster_signals` computes it (same per-cell reductions, same cell
order, same radius candidates), so each step's table equals the single-threshold one bit for bit.
"""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np

from cxrmodel.detection._clusters import ClusterTable, cell_weights, cluster_signals, cluster_table
from cxrmodel.detection._grid import CellGrid, CellPairs, link_cells, signal_mask

logger = logging.getLogger(__name__)


def sweep_cluster_tables(positive: np.ndarray, thresholds: Sequence[float], grid: CellGrid) -> list[ClusterTable]:
    """Cluster statistics at each threshold, equal to `cluster_signals(signal_mask(positive, t), positive, grid)`.

    Args:
        positive: (rows, columns) float64, positive part of the attribution map.
        thresholds: Absolute thresholds on p (sight sensitivity * max(p), each >= 0), in non-increasing order.
        grid: The cell grid of this map shape and link distance.

    Returns:
        One ClusterTable per threshold, in the given order.
    """
    step_count = len(thresholds)
    if step_count == 0:
        return []
    if grid.links_neighbours_only or step_count == 1:
        return [cluster_signals(signal_mask(positive, threshold), positive, grid) for threshold in thresholds]
    if any(later > earlier for earlier, later in zip(thresholds, thresholds[1:], strict=False)):
        raise ValueError("sweep thresholds must be in non-increasing order")
    side = grid.across.shape[1]
    cell_count = grid.grid_rows * grid.grid_columns
    cell_area = grid.cell_rows * grid.cell_columns

    # 1. Step at which each pixel becomes a signal (step_count: never): the first k with p >= thresholds[k],
    #    using the same float comparison as `signal_mask`; pixels with p = 0 are never signals.
    level = step_count - np.searchsorted(np.asarray(thresholds[::-1], dtype=np.float64), positive, side="right")
    level[positive <= 0.0] = step_count

    # 2. Cell blocks in row-major cell order (the order `cluster_signals` uses): (cells, cell_rows, cell_columns).
    def cell_blocks(values: np.ndarray, fill: float) -> np.ndarray:
        blocks = grid.padded(values, fill).reshape(grid.grid_rows, grid.cell_rows, grid.grid_columns, grid.cell_columns)
        return np.ascontiguousarray(blocks.swapaxes(1, 2)).reshape(cell_count, grid.cell_rows, grid.cell_columns)

    level_cells = cell_blocks(level, step_count)
    weight_cells = cell_blocks(positive, 0.0)

    # 3. Signal pixels sorted by entry step; their cell, local row / column and map coordinates.
    flat = np.flatnonzero(level_cells < step_count)
    flat = flat[np.argsort(level_cells.ravel()[flat], kind="stable")]
    step_ends = np.searchsorted(level_cells.ravel()[flat], np.arange(step_count), side="right")
    pixel_cell, within = np.divmod(flat, cell_area)
    local_row, local_column = np.divmod(within, grid.cell_columns)
    cell_row, cell_column = np.divmod(np.arange(cell_count), grid.grid_columns)
    row_base = (cell_row * grid.cell_rows)[:, None]
    pixel_y = row_base[pixel_cell, 0] + local_row
    pixel_x = cell_column[pixel_cell] * grid.cell_columns + local_column
    # float copies for the extreme tables: ufunc.at takes its fast path only without casting.
    pixel_y_float, pixel_x_float = pixel_y.astype(np.float64), pixel_x.astype(np.float64)
    # Flat positions in the (2 * cells, side) extreme tables: cell rows first, then cell columns.
    row_slot = pixel_cell * side + local_row
    column_slot = (cell_count + pixel_cell) * side + local_column

    # 4. State carried from step to step.
    near = np.full((2 * cell_count, side), -np.inf)
    far = np.full((2 * cell_count, side), np.inf)
    near_flat, far_flat = near.reshape(-1), far.reshape(-1)  # views
    points = np.zeros(cell_count, dtype=np.int64)
    sum_x = np.zeros(cell_count, dtype=np.int64)
    sum_y = np.zeros(cell_count, dtype=np.int64)
    weight = np.zeros(cell_count)
    labels = np.arange(cell_count)
    pairs = CellPairs.among(grid, cell_row, cell_column)

    tables = []
    start = 0
    for step in range(step_count):
        # 5. Add this step's pixels to the per-cell state.
        new = slice(start, step_ends[step])
        start = step_ends[step]
        np.maximum.at(near_flat, row_slot[new], pixel_x_float[new])
        np.minimum.at(far_flat, row_slot[new], pixel_x_float[new])
        np.maximum.at(near_flat, column_slot[new], pixel_y_float[new])
        np.minimum.at(far_flat, column_slot[new], pixel_y_float[new])
        points += np.bincount(pixel_cell[new], minlength=cell_count)
        sum_x += np.bincount(pixel_cell[new], weights=pixel_x[new], minlength=cell_count).astype(np.int64)
        sum_y += np.bincount(pixel_cell[new], weights=pixel_y[new], minlength=cell_count).astype(np.int64)
        changed = np.zeros(cell_count, dtype=bool)
        changed[pixel_cell[new]] = True
        changed_cells = np.flatnonzero(changed)
        weight[changed_cells] = cell_weights(level_cells[changed_cells] <= step, weight_cells[changed_cells])

        # 6. Link: only pairs of occupied cells in different clusters, one of which changed, can change.
        occupied = points > 0
        open_pairs = (
            occupied[pairs.first]
            & occupied[pairs.second]
            & (changed[pairs.first] | changed[pairs.second])
            & (labels[pairs.first] != labels[pairs.second])
        )
        labels = link_cells(grid, cell_count, near, far, pairs, open_pairs, labels)

        # 7. Snapshot the clusters.
        cells = np.flatnonzero(occupied)
        if len(cells) == 0:
            tables.append(ClusterTable.empty())
            continue
        tables.append(
            cluster_table(
                labels[cells],
                points[cells],
                sum_x[cells],
                sum_y[cells],
                weight[cells],
                far[cells],
                near[cells],
                row_base[cells],
            )
        )
    logger.debug("sweep: %d steps, %d clusters at the lowest threshold", step_count, len(tables[-1].points))
    return tables
