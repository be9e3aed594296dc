"""Single-linkage clusters of few signal pixels from their row runs (the fast path of cxrmodel.detection).

At the default sight sensitivity a map has a few hundred signal pixels in a few blobs. For them the cell
engine (cxrmodel.detection_clusters / detection_grid) spends its time in fixed per-call numpy overhead, not
in arithmetic. This module clusters the same signals with far fewer numpy calls, exactly (same partition,
same floats):

1. Runs: the signals of one row that are consecutive pixels form a *run* [a, b] (all its pixels are linked,
   1 px apart, so this path needs a link distance >= 1 px). Signals come as sorted flat indices, so a run
   breaks where `flat + row` (the index on a grid one column wider, which cannot wrap rows) jumps by more
   than 1.
2. Links: two runs dy rows apart with horizontal gap max(0, a2 - b1, a1 - b2) are linked exactly when
   dy^2 + gap^2 <= max_squared_distance (integers; see detection_grid.max_linked_squared_distance), i.e.
   when gap <= g(dy) = isqrt(max_squared_distance - dy^2). Runs of a row are disjoint and sorted, so the runs
   of row y + dy linked to run i are one contiguous index range, found with two `searchsorted` over all
   (run, dy) at once. Run i is joined to the first run of each range and the runs of a range to each other
   (consecutive-index edges from a difference array); detection_grid.components gives the clusters.
3. Statistics per cluster: counts and coordinate sums are exact integers summed per signal pixel; the radius
   is the largest squared distance over the run ends, computed as the cell engine computes it on row
   extremes (float squaring and addition are monotone, so both maxima are the same float); the attribution
   mass is added per cell of the cell grid (`np.bincount` over the signals in row-major order, binned by
   cell column, then the columns of each cell) and then per cluster in row-major cell order, the reduction the cell engine
   and the sweep use (`detection_clusters.cell_sums`; per pixel in row-major order when only neighbours
   link, as the `scipy.ndimage.label` path does), so masses are bit-identical to theirs.

Cost: O(signals + runs * (isqrt(max_squared_distance) + 1)) in about 100 numpy calls (the cell engine needs
about twice as many). `detect_circles` and `cluster_labels` take this path while the (run, dy) table is
small (`RUN_PATH_MAX_QUERIES`) and the cell engine otherwise; the sweep keeps the cell engine.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from cxrmodel.detection_clusters import ClusterTable, sequential_row_sums
from cxrmodel.detection_grid import CellGrid, components

# Largest runs x (rows reached + 1) table for which the run path is used. Measured against the cell engine
# (2 shared cores, 224 and 448 px maps): 1.3-2.4x faster around 1 000, even around 7 500, up to 2x slower
# beyond 20 000 (dense maps, where the cell engine's per-cell work wins).
RUN_PATH_MAX_QUERIES = 8_000


@dataclass(eq=False, slots=True)  # not frozen: a frozen init costs ~1 us, a tenth of a small detection
class SignalRuns:
    """Maximal horizontal runs of signal pixels, sorted by (row, start column).

    Attributes:
        row: (r,) int64 row index (y) of each run.
        start, end: (r,) int64 first and last column index (x) of each run, inclusive.
        length: (r,) int64 number of pixels, end - start + 1.
        signal_y, signal_x: (n,) int64 row / column index of every signal pixel, in the order given.
    """

    row: np.ndarray
    start: np.ndarray
    end: np.ndarray
    length: np.ndarray
    signal_y: np.ndarray
    signal_x: np.ndarray

    @classmethod
    def of(cls, signals: np.ndarray, columns: int) -> SignalRuns:
        """Runs of the signals given as sorted flat (row-major) indices of a map `columns` pixels wide."""
        count = len(signals)
        rows, xs = np.divmod(signals, columns)
        # On a grid one column wider, same-row neighbours stay 1 apart and a row change always jumps > 1.
        wider = signals + rows
        bounds = np.empty(count + 1, dtype=bool)
        bounds[0] = bounds[count] = True
        np.not_equal(wider[1:] - wider[:-1], 1, out=bounds[1:count])
        edges = bounds.nonzero()[0]  # run k is signals edges[k] .. edges[k + 1] - 1
        starts = edges[:-1]
        length = edges[1:] - starts
        start = xs[starts]
        return cls(rows[starts], start, start + (length - 1), length, rows, xs)

    def __len__(self) -> int:
        return len(self.row)


@functools.lru_cache(maxsize=64)
def _row_reach(max_squared_distance: int, key_stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Key shifts dy * stride - g(dy) and dy * stride + g(dy) for dy = 0..isqrt(D), g(dy) = isqrt(D - dy^2)."""
    reach = math.isqrt(max_squared_distance)
    shift = np.array([dy * key_stride for dy in range(reach + 1)], dtype=np.int64)
    gap = np.array([math.isqrt(max_squared_distance - dy * dy) for dy in range(reach + 1)], dtype=np.int64)
    return shift - gap, shift + gap


def run_queries(runs: SignalRuns, grid: CellGrid) -> int:
    """Size of the (run, dy) table that `run_labels` builds: the run path's cost driver."""
    return len(runs) * (math.isqrt(grid.max_squared_distance) + 1)


def run_labels(runs: SignalRuns, grid: CellGrid) -> np.ndarray:
    """(r,) int64 single-linkage cluster of each run, numbered 0..k-1 (needs max_squared_distance >= 1)."""
    run_count = len(runs)
    # Keys ordered like the runs; a stride over width + reach keeps every query of row y + dy inside that
    # row's key range, so a search never lands on a neighbouring row's run.
    stride = grid.columns + math.isqrt(grid.max_squared_distance) + 1
    shift_low, shift_high = _row_reach(grid.max_squared_distance, stride)
    row_key = runs.row * stride
    start_key, end_key = row_key + runs.start, row_key + runs.end
    # Runs j of row y_i + dy linked to run i: end_j >= start_i - g(dy) and start_j <= end_i + g(dy).
    first = end_key.searchsorted(start_key[:, None] + shift_low, side="left")
    stop = start_key.searchsorted(end_key[:, None] + shift_high, side="right")
    found = first < stop
    linked_run = found.nonzero()[0]
    first, stop = first[found], stop[found]
    # Runs first..stop-1 are all linked to run i, hence to each other: edges (j, j + 1) for j in first..stop-2.
    cover = np.bincount(first, minlength=run_count) - np.bincount(stop - 1, minlength=run_count)
    chained = (np.add.accumulate(cover[:-1]) > 0).nonzero()[0]
    return components(run_count, np.concatenate((linked_run, chained)), np.concatenate((first, chained + 1)))


def cluster_runs(
    signals: np.ndarray, runs: SignalRuns, labels: np.ndarray, positive_flat: np.ndarray, grid: CellGrid
) -> ClusterTable:
    """Per-cluster statistics, equal to `cluster_signals` for the same signals (bit for bit).

    Args:
        signals: (n,) sorted flat indices of the signal pixels.
        runs: Their runs (`SignalRuns.of(signals, grid.columns)`).
        labels: (r,) cluster of each run, 0..k-1 (`run_labels`).
        positive_flat: (rows * columns,) positive part of the attribution, flattened row-major.
        grid: The cell grid of this map shape and link distance (for the mass reduction).
    """
    # 1. Counts and exact integer coordinate sums per cluster, summed per signal pixel.
    signal_labels = labels.repeat(runs.length)
    points = np.bincount(signal_labels)
    cluster_count = len(points)
    centre_x = np.bincount(signal_labels, weights=runs.signal_x) / points
    centre_y = np.bincount(signal_labels, weights=runs.signal_y) / points
    # 2. Radius: squared distances as cluster_table computes them (x term + y term). Along a run the largest
    #    is at one of its ends (float subtraction, squaring and addition are monotone), so this maximum over
    #    run ends is the same float as over all signals.
    run_centre_x = centre_x[labels]
    squared = np.maximum(np.square(runs.start - run_centre_x), np.square(runs.end - run_centre_x))
    squared += np.square(runs.row - centre_y[labels])
    radius_squared = np.zeros(cluster_count)
    np.maximum.at(radius_squared, labels, squared)
    # 3. Attribution mass, reduced in the same order as the path the cell engine would take.
    weight = positive_flat[signals]
    if grid.links_neighbours_only:  # scipy.ndimage.label path: per pixel, in row-major order
        mass = np.bincount(signal_labels, weights=weight, minlength=cluster_count)
    else:
        mass = _cell_ordered_mass(runs, signal_labels, cluster_count, weight, grid)
    return ClusterTable(points, centre_x, centre_y, np.sqrt(radius_squared), mass)


def _cell_ordered_mass(
    runs: SignalRuns, signal_labels: np.ndarray, cluster_count: int, weight: np.ndarray, grid: CellGrid
) -> np.ndarray:
    """(k,) attribution sum per cluster: per cell as `cell_sums` adds it, then per cluster in row-major cell order.

    `np.bincount` adds its weights one by one in the order given, and the signals come in row-major map
    order. Binned by (band of cell rows, map column), each bin is one column of one cell, added top to
    bottom; the bins of a cell, side by side in the padded band, are then added left to right: the order of
    `detection_clusters.cell_sums`. Every pixel of a cell is in one cluster (the cell diagonal is within the
    link distance), so a cell's label is that of any of its signals; the per-cluster sums run over cells in
    row-major cell order, as `cluster_table`'s do. Empty bins and cells add 0.0, which changes no sum.
    """
    column_bin = grid.band_offset[runs.signal_y] + runs.signal_x
    cell_count = grid.grid_rows * grid.grid_columns
    if cell_count > 4 * len(column_bin) + 4096:  # huge grid (tiny link distance on a big map): occupied bins only
        occupied, column_bin = np.unique(column_bin, return_inverse=True)  # sorted: same order of bins
        column_sum = np.bincount(column_bin, weights=weight)
        _, cell = np.unique(occupied // grid.cell_columns, return_inverse=True)
        cell_mass = np.bincount(cell, weights=column_sum)  # a cell's columns left to right
        cell = cell[column_bin]
    else:
        column_sum = np.bincount(column_bin, weights=weight, minlength=cell_count * grid.cell_columns)
        cell_mass = sequential_row_sums(column_sum.reshape(-1, grid.cell_columns))
        cell = column_bin // grid.cell_columns
    cell_label = np.zeros(len(cell_mass), dtype=np.intp)
    cell_label[cell] = signal_labels
    return np.bincount(cell_label, weights=cell_mass, minlength=cluster_count)
