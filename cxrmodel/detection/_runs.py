"""Single-linkage clusters of the signal pixels from their row runs, compiled (the fast path of detection).

At the default sight sensitivity a map has a few hundred signal pixels in a few blobs. This module clusters
them in a handful of compiled loops, exactly (the same partition and the same floats as the cell engine,
cxrmodel.detection._clusters / detection_grid):

1. Runs: one pass over the map collects the signals (p >= threshold and p > 0) as row runs, maximal
   horizontal segments [start, end]. With a link distance >= 1 px all pixels of a run are linked (1 px
   apart); below it nothing links, and every signal is a run of its own.
2. Links: two runs dy rows apart with column gap max(0, start' - end, start - end') are linked exactly when
   dy^2 + gap^2 <= max_squared_distance (integers; see detection_grid.max_linked_squared_distance), i.e. when
   gap <= reach[dy] = isqrt(max_squared_distance - dy^2). For each run only the rows within the link distance
   above it are visited; runs of a row are sorted and disjoint, and the runs of the current row come left to
   right, so one pointer per row above moves forward to the first run in reach, and the linked ones follow
   it. A union-find joins them.
3. Statistics per cluster: counts and exact integer coordinate sums; the radius from the run ends (the
   farthest pixel of a run from the centre is one of its ends; squares and sums are formed as the cell engine
   forms them on row extremes, and float rounding is monotone, so the maxima are the same floats); the
   attribution mass in the cell engine's order (`detection_clusters.cell_sums`: per cell, each column top to
   bottom, then the columns left to right; then per cluster in row-major cell order; per pixel in row-major
   order when only neighbours link, as the `scipy.ndimage.label` path adds it), so masses are bit-identical.

Why compiled: the same steps in numpy took about 90 array calls of 1-3 us each (0.25-0.4 ms at 224 x 224),
while the work itself is a few thousand integer comparisons. The loops are branchy integer code that numpy
cannot express in a few calls and no library offers (scipy's `fclusterdata` builds the O(n^2) distance
matrix, `scipy.ndimage.label` links 3 x 3 neighbourhoods only, a `cKDTree` radius graph lists every linked
pixel pair); numba compiles them once per machine (cached on disk, `cache=True`).

Cost: O(map pixels + runs * (isqrt(max_squared_distance) + 1) + linked run pairs). `detect_circles` and
`cluster_labels` take this path while runs * (rows reached + 1) stays below `RUN_PATH_MAX_QUERIES`, and the
cell engine otherwise (dense maps, where linking cells instead of runs wins); `sweep_circles` takes it for its
high thresholds and the incremental cell sweep for the rest.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numba
import numpy as np

from cxrmodel.detection._clusters import ClusterTable
from cxrmodel.detection._grid import CellGrid

# Largest runs x (rows reached + 1) for which the run path is used; above it the cell engine, whose cost
# grows with occupied cells rather than with runs times rows reached, is faster. Measured on the benchmark
# maps (benchmarks/detection_benchmark.py, 2 shared cores): the run path wins at every tau at 224 x 224 (up to
# ~87 000, 2.7 vs 3.8 ms), is even with the cell engine around 200 000 at 1024 x 1024 (4.6 vs 4.7 ms) and
# 2-8x slower beyond 600 000.
RUN_PATH_MAX_QUERIES = 150_000


@dataclass(eq=False, slots=True)  # not frozen: a frozen init costs ~1 us on a path of a few tens
class SignalRuns:
    """Maximal horizontal runs of signal pixels in row-major order.

    Attributes:
        row: (r,) int64 row index (y) of each run.
        start, end: (r,) int64 first and last column index (x) of each run, inclusive.
        row_first: (rows + 1,) int64 index of the first run of each map row (row_first[rows] = r).
    """

    row: np.ndarray
    start: np.ndarray
    end: np.ndarray
    row_first: np.ndarray

    def __len__(self) -> int:
        return len(self.row)


# fastmath "reassoc" only: LLVM may vectorise the sums (~5x faster) but keeps NaN / inf semantics, which
# the finiteness check needs. The total's last bits may then differ between CPUs (different vector widths);
# within one process every detection path uses this same total.
@numba.njit(cache=True, nogil=True, fastmath={"reassoc", "nsz"})
def _positive_sum_and_check(values: np.ndarray) -> tuple[float, float]:
    flat = values.reshape(-1)
    total = 0.0
    check = 0.0  # value * 0 is NaN for NaN and +/-inf, 0 otherwise
    for index in range(flat.size):
        value = flat[index]
        total += max(value, 0.0)
        check += value * 0.0
    return total, check


def map_summary(values: np.ndarray) -> tuple[float, float, bool]:
    """(max(a), sum of max(a, 0), every value finite) of a C-contiguous 2-D float64 map.

    numpy's maximum (SIMD, and NaN propagates) and one compiled pass for the sum and the finiteness check:
    a scalar loop over the maximum does not vectorise (NaN-aware max), numpy's sum needs max(a, 0) first.
    """
    peak = float(np.maximum.reduce(values, axis=None))
    total, check = _positive_sum_and_check(values)
    return peak, total, check == 0.0


@numba.njit(cache=True, nogil=True)
def _scan_runs(values: np.ndarray, threshold: float, single_pixels: bool):
    """Row runs of the signals (value >= threshold and value > 0): (row, start, end, row_first)."""
    rows, columns = values.shape
    # threshold > 0 implies value > 0; at threshold 0 a signal is any value > 0.
    positive_only = threshold <= 0.0
    # 1. Signals per row, in a loop LLVM vectorises: most rows hold none at a high sight sensitivity, and
    #    the run arrays need no more room than there are signals.
    row_signals = np.zeros(rows, dtype=np.int64)
    for row in range(rows):
        found = 0
        for column in range(columns):
            found += (values[row, column] > 0.0) if positive_only else (values[row, column] >= threshold)
        row_signals[row] = found
    capacity = row_signals.sum()
    run_row = np.empty(capacity, dtype=np.int64)
    run_start = np.empty(capacity, dtype=np.int64)
    run_end = np.empty(capacity, dtype=np.int64)
    row_first = np.empty(rows + 1, dtype=np.int64)
    # 2. Runs of the rows that have signals.
    count = 0
    for row in range(rows):
        row_first[row] = count
        if row_signals[row] == 0:
            continue
        in_run = False
        for column in range(columns):
            value = values[row, column]
            signal = (value > 0.0) if positive_only else (value >= threshold)
            if signal and (not in_run or single_pixels):
                run_row[count] = row
                run_start[count] = column
                count += 1
                in_run = True
            elif not signal and in_run:
                run_end[count - 1] = column - 1
                in_run = False
            if signal and single_pixels:
                run_end[count - 1] = column
        if in_run:
            run_end[count - 1] = columns - 1
    row_first[rows] = count
    return run_row[:count], run_start[:count], run_end[:count], row_first


@numba.njit(inline="always")
def _root(parent: np.ndarray, node: int) -> int:
    while parent[node] != node:
        parent[node] = parent[parent[node]]  # path halving
        node = parent[node]
    return node


@numba.njit(cache=True, nogil=True)
def _link_runs(run_row, run_start, run_end, row_first, reach) -> np.ndarray:
    """(r,) cluster id of each run, 0..k-1 in the order of each cluster's first run."""
    count = len(run_row)
    parent = np.arange(count)
    rows_reached = len(reach) - 1
    first_candidate = np.zeros(rows_reached + 1, dtype=np.int64)  # per row above: first run still in reach
    joined_until = np.zeros(rows_reached + 1, dtype=np.int64)  # per row above: runs before this were joined
    joined_by = np.full(rows_reached + 1, -1, dtype=np.int64)  # ... to the cluster of this run (-1: none)
    for run in range(count):
        row, start, end = run_row[run], run_start[run], run_end[run]
        root = run  # root of this run's tree, kept current: a union makes the smaller root the root
        # Same row: the previous run is the nearest; farther ones are linked through it when in reach.
        if run > row_first[row] and start - run_end[run - 1] <= reach[0]:
            other_root = _root(parent, run - 1)
            parent[root] = other_root  # other_root <= run - 1 < run = root
            root = other_root
        if run == row_first[row]:  # a new row: every row above is searched from its first run again
            for rows_up in range(1, min(rows_reached, row) + 1):
                first_candidate[rows_up] = row_first[row - rows_up]
                joined_by[rows_up] = -1
        for rows_up in range(1, min(rows_reached, row) + 1):
            gap = reach[rows_up]
            low, stop = first_candidate[rows_up], row_first[row - rows_up + 1]
            # Skip the runs of that row ending before start - gap; starts only grow along a row, so runs
            # skipped here are out of reach for the rest of this row too.
            while low < stop and run_end[low] < start - gap:
                low += 1
            first_candidate[rows_up] = low
            # Runs of that row an earlier run of this row already joined to its cluster need no second look
            # when this run is in that cluster too (in a blob, neighbouring runs share most candidates).
            if joined_by[rows_up] >= 0 and low < joined_until[rows_up]:
                if _root(parent, joined_by[rows_up]) == root:
                    low = joined_until[rows_up]
            while low < stop and run_start[low] <= end + gap:
                other_root = _root(parent, low)
                if other_root < root:
                    parent[root] = other_root
                    root = other_root
                elif other_root > root:
                    parent[other_root] = root
                low += 1
            if low > joined_until[rows_up] or joined_by[rows_up] < 0:
                joined_until[rows_up] = low
                joined_by[rows_up] = run
    labels = np.empty(count, dtype=np.int64)
    clusters = 0
    for run in range(count):  # roots are the smallest run of their tree: each cluster's first run
        root = _root(parent, run)
        if root == run:
            labels[run] = clusters
            clusters += 1
        else:
            labels[run] = labels[root]
    return labels


@numba.njit(cache=True, nogil=True)
def _run_statistics(values, run_row, run_start, run_end, labels, cell_rows, cell_columns, grid_columns, by_cell):
    """Per cluster (points, centre_x, centre_y, radius, weight); see the module docstring, step 3."""
    clusters = labels.max() + 1 if len(labels) else 0
    points = np.zeros(clusters, dtype=np.int64)
    sum_x = np.zeros(clusters, dtype=np.int64)
    sum_y = np.zeros(clusters, dtype=np.int64)
    weight = np.zeros(clusters)
    for run in range(len(labels)):
        cluster, row, start, end = labels[run], run_row[run], run_start[run], run_end[run]
        length = end - start + 1
        points[cluster] += length
        sum_x[cluster] += (start + end) * length // 2  # (start + end) * length is always even
        sum_y[cluster] += row * length
        if not by_cell:  # per pixel in row-major order
            for column in range(start, end + 1):
                weight[cluster] += values[row, column]
    if by_cell:
        # One band of cell rows at a time: each column of the band summed top to bottom (runs come in
        # row-major order), then each occupied cell's columns left to right, cells left to right.
        column_sums = np.zeros(grid_columns * cell_columns)
        cell_cluster = np.full(grid_columns, -1, dtype=np.int64)
        run = 0
        while run < len(labels):
            band = run_row[run] // cell_rows
            while run < len(labels) and run_row[run] // cell_rows == band:
                row = run_row[run]
                for column in range(run_start[run], run_end[run] + 1):
                    column_sums[column] += values[row, column]
                    cell_cluster[column // cell_columns] = labels[run]
                run += 1
            for cell in range(grid_columns):
                if cell_cluster[cell] >= 0:
                    cell_sum = 0.0
                    for column in range(cell * cell_columns, (cell + 1) * cell_columns):
                        cell_sum += column_sums[column]
                        column_sums[column] = 0.0
                    weight[cell_cluster[cell]] += cell_sum
                    cell_cluster[cell] = -1
    centre_x = sum_x / points
    centre_y = sum_y / points
    radius_squared = np.zeros(clusters)
    for run in range(len(labels)):
        cluster = labels[run]
        left = run_start[run] - centre_x[cluster]
        right = run_end[run] - centre_x[cluster]
        down = run_row[run] - centre_y[cluster]
        radius_squared[cluster] = max(radius_squared[cluster], max(left * left, right * right) + down * down)
    return points, centre_x, centre_y, np.sqrt(radius_squared), weight


@numba.njit(cache=True, nogil=True)
def _paint_labels(shape, run_row, run_start, run_end, labels):
    painted = np.full(shape, -1, dtype=np.int64)
    for run in range(len(labels)):
        painted[run_row[run], run_start[run] : run_end[run] + 1] = labels[run]
    return painted


@numba.njit(cache=True, nogil=True)
def _table_by_runs(values, threshold, single_pixels, reach, max_runs, cell_rows, cell_columns, grid_columns, by_cell):
    """Scan, link and statistics in one compiled call; ok = False (and nothing else) above max_runs runs."""
    run_row, run_start, run_end, row_first = _scan_runs(values, threshold, single_pixels)
    if len(run_row) > max_runs:
        nothing = np.zeros(0)
        return False, np.zeros(0, dtype=np.int64), nothing, nothing, nothing, nothing
    labels = _link_runs(run_row, run_start, run_end, row_first, reach)
    statistics = _run_statistics(
        values, run_row, run_start, run_end, labels, cell_rows, cell_columns, grid_columns, by_cell
    )
    return (True,) + statistics


@functools.lru_cache(maxsize=64)
def row_reach(max_squared_distance: int) -> np.ndarray:
    """(D + 1,) int64, reach[dy] = largest column gap still linked dy rows apart; D = isqrt(max_squared).

    Cached per link distance: callers must not modify the array.
    """
    rows_reached = math.isqrt(max_squared_distance)
    return np.array([math.isqrt(max_squared_distance - dy * dy) for dy in range(rows_reached + 1)], dtype=np.int64)


def table_by_runs(values: np.ndarray, threshold: float, grid: CellGrid, max_queries: int) -> ClusterTable | None:
    """The per-cluster statistics of the signals by the run path, or None when it has too many runs.

    The same clusters as `signal_runs` + `run_labels` (which `cluster_labels` uses), in one compiled call.

    Args:
        values: (rows, columns) C-contiguous float64 map, finite.
        threshold: Signal threshold >= 0 (0: every positive pixel).
        grid: The cell grid of this map shape and link distance.
        max_queries: Largest runs x (rows reached + 1) to accept (`RUN_PATH_MAX_QUERIES`).
    """
    reach = row_reach(grid.max_squared_distance)
    ok, *statistics = _table_by_runs(
        values, threshold, grid.max_squared_distance < 1, reach, max_queries // len(reach),
        grid.cell_rows, grid.cell_columns, grid.grid_columns, not grid.links_neighbours_only,
    )
    return ClusterTable(*statistics) if ok else None


def signal_runs(values: np.ndarray, threshold: float, grid: CellGrid) -> SignalRuns:
    """The signals of a map (value >= threshold and value > 0) as row runs.

    Args:
        values: (rows, columns) C-contiguous float64 map, finite.
        threshold: Signal threshold >= 0 (0: every positive pixel).
        grid: The cell grid of this map shape and link distance (its max_squared_distance < 1 makes every
            signal a run of its own: nothing links).
    """
    return SignalRuns(*_scan_runs(values, threshold, grid.max_squared_distance < 1))


def run_queries(runs: SignalRuns, grid: CellGrid) -> int:
    """runs x (rows reached + 1): the run path's linking cost driver."""
    return len(runs) * (math.isqrt(grid.max_squared_distance) + 1)


def run_labels(runs: SignalRuns, grid: CellGrid) -> np.ndarray:
    """(r,) int64 single-linkage cluster of each run, numbered 0..k-1 in the order of their first run."""
    return _link_runs(runs.row, runs.start, runs.end, runs.row_first, row_reach(grid.max_squared_distance))


def label_image(shape: tuple[int, int], runs: SignalRuns, labels: np.ndarray) -> np.ndarray:
    """(rows, columns) int64: the cluster id of every signal pixel, -1 elsewhere."""
    return _paint_labels(shape, runs.row, runs.start, runs.end, labels)
