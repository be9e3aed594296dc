"""Exact single-linkage linking of signal pixels on the integer pixel grid (engine of cxrmodel.detection.circles).

Clusters are the connected components of the graph that links two signal pixels when their Euclidean distance
is at most the link distance; that is exactly single-linkage hierarchical clustering cut at that distance
(scipy `fclusterdata(points, t=link_distance, criterion="distance", method="single")`), but computed without
any pairwise distance matrix:

1. Distances between pixels are square roots of integers, so "distance <= link_distance" is the integer test
   "squared distance <= max_squared_distance" (the largest integer whose float64 square root, as scipy's
   `pdist` computes it, is still <= link_distance). Every comparison is on exact integers.
2. Tiny link distances (< 2 px) link only 4- or 8-neighbours: `scipy.ndimage.label` gives the clusters
   (cxrmodel.detection._clusters).
3. Otherwise the map is cut into cells small enough that any two pixels of a cell are linked (cell diagonal
   <= link distance), so every occupied cell lies inside one cluster and the clustering becomes a small graph
   over occupied cells (about 800 cells at 224 x 224 or 1024 x 1024 with the default link distance).
   Two cells are linked when their closest pair of signals is within the link distance; only the ~10 cell
   offsets whose nearest pixels could be that close are candidates. The closest pair of two cells that are
   separated along the columns is always between the rightmost signal of a row of the left cell and the
   leftmost signal of a row of the right cell (moving either point towards the other along its row only
   shortens the distance), so each test needs only the per-row column extremes (per-column row extremes for
   cells stacked vertically): at most side^2 line pairs per cell pair, vectorised over all pairs.
4. Cheap tests decide most pairs first (same-row gaps of side-by-side cells; bounding boxes), the exact test
   runs only for pairs still in different components.

Why hand-written rather than one library call: `fclusterdata` builds the O(n^2) distance matrix (27 GB for
the 82 000 signals of a dense 1024 x 1024 map); a `cKDTree` radius graph avoids the matrix but still lists
every linked pixel pair (millions at the default 46 px link distance, ~280 ms). Connectivity only needs one
link per pair of cells, and the integer grid makes that test exact and vectorisable with numpy.

Coordinates: pixel (row i, column j) of the map has coordinates x = j, y = i (integer pixel indices of the
map's own grid, origin at the centre of the top-left pixel, y pointing down). Callers convert to image
coordinates.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

logger = logging.getLogger(__name__)

# Exact link tests run in chunks of at most this many (cell pair x line pair) elements (8 bytes each).
_PAIR_TEST_CHUNK_ELEMENTS = 1 << 21
# Above this many elements of exact tests, first drop the cell pairs that sure links already joined.
_PRUNE_ABOVE_ELEMENTS = 1 << 15
# Union-find on graphs up to this many nodes jumps pointers a fixed log2(nodes) times per round.
_FIXED_JUMPS_UP_TO_NODES = 4096


def signal_mask(positive: np.ndarray, threshold: float) -> np.ndarray:
    """(rows, columns) bool signals: p >= threshold and p > 0 (threshold = sight sensitivity * max(p) >= 0)."""
    # p >= threshold > 0 already implies p > 0: one comparison pass instead of two.
    return positive >= threshold if threshold > 0.0 else positive > 0.0


def max_linked_squared_distance(link_distance: float, map_shape: tuple[int, int]) -> int:
    """The largest integer squared pixel distance that still counts as linked.

    Args:
        link_distance: Link distance in pixels of the map's grid (finite, > 0).
        map_shape: (rows, columns) of the map; distances beyond its diagonal never occur, which caps the result.

    Returns:
        n such that two pixels are linked exactly when their squared distance (an integer) is <= n; computed
        with the same float64 square root as scipy's `pdist`, so ties at exactly the link distance agree.
    """
    rows, columns = map_shape
    diagonal_squared = (rows - 1) ** 2 + (columns - 1) ** 2
    if link_distance >= math.sqrt(diagonal_squared):
        return diagonal_squared
    squared = math.floor(link_distance * link_distance)
    while squared > 0 and math.sqrt(squared) > link_distance:
        squared -= 1
    while math.sqrt(squared + 1) <= link_distance:
        squared += 1
    return squared


@dataclass(frozen=True, eq=False)
class CellGrid:
    """How a map of a given shape is cut into cells for one link distance.

    Attributes:
        rows, columns: Map shape in pixels.
        max_squared_distance: Linked when squared pixel distance <= this (see `max_linked_squared_distance`).
        cell_rows, cell_columns: Cell height and width in pixels; any two pixels of a cell are linked.
        grid_rows, grid_columns: Number of cells down and across (the last ones may be partly outside the map).
        offsets: (k, 2) int64 (row offset, column offset), in cells, of the neighbour cells that can hold a
            linked pixel; one of each +/- pair (row offset > 0, or row offset 0 and column offset > 0).
        adjacent: (k,) bool, True for the offsets (0, 1) and (1, 0) of cells sharing a side.
        across: (k, side, side) float64, side = max(cell_rows, cell_columns): for offset k, the squared
            pixel distance across the facing extremes, between line i of the near cell and line j of the far
            cell (rows for side-by-side cells, columns for stacked cells; see `link_cells` step 3).
    """

    rows: int
    columns: int
    max_squared_distance: int
    cell_rows: int
    cell_columns: int
    grid_rows: int
    grid_columns: int
    offsets: np.ndarray
    adjacent: np.ndarray
    across: np.ndarray

    @classmethod
    def for_map(cls, map_shape: tuple[int, int], link_distance: float) -> CellGrid:
        """The cell grid of a (rows, columns) map for a link distance in pixels."""
        rows, columns = map_shape
        max_squared = max_linked_squared_distance(link_distance, map_shape)
        # Side s with (s - 1)^2 + (s - 1)^2 <= max_squared: the cell diagonal is within the link distance.
        side = math.isqrt(max_squared // 2) + 1
        cell_rows, cell_columns = min(side, rows), min(side, columns)
        grid_rows, grid_columns = -(-rows // cell_rows), -(-columns // cell_columns)

        def gap(cells: int, cell_size: int) -> int:  # smallest pixel distance between cells `cells` apart
            return max(0, (abs(cells) - 1) * cell_size + 1)

        reach_rows = min(grid_rows - 1, math.isqrt(max_squared) // cell_rows + 1)
        reach_columns = min(grid_columns - 1, math.isqrt(max_squared) // cell_columns + 1)
        offsets = [
            (row_offset, column_offset)
            for row_offset in range(0, reach_rows + 1)
            for column_offset in range(-reach_columns, reach_columns + 1)
            if (row_offset > 0 or column_offset > 0)
            and gap(row_offset, cell_rows) ** 2 + gap(column_offset, cell_columns) ** 2 <= max_squared
        ]
        lines = np.arange(max(cell_rows, cell_columns))
        across = np.empty((len(offsets), len(lines), len(lines)))
        for index, (row_offset, column_offset) in enumerate(offsets):
            # Side by side: line = row, the far (right) cell's rows are `shift` rows below the near cell's.
            # Stacked (column offset 0): line = column, both cells share their columns.
            shift = 0 if column_offset == 0 else (row_offset if column_offset > 0 else -row_offset) * cell_rows
            across[index] = (shift + lines[None, :] - lines[:, None]) ** 2
        offsets_array = np.array(offsets, dtype=np.int64).reshape(-1, 2)
        adjacent = np.abs(offsets_array).sum(axis=1) == 1
        return cls(
            rows, columns, max_squared, cell_rows, cell_columns, grid_rows, grid_columns, offsets_array, adjacent,
            across,
        )

    @property
    def links_neighbours_only(self) -> bool:
        """True when only 4- or 8-neighbouring pixels can be linked (link distance < 2 px)."""
        return self.max_squared_distance < 4

    def padded(self, values: np.ndarray, fill: float | bool) -> np.ndarray:
        """A (rows, columns) map padded with `fill` to whole cells (the same array if it already is)."""
        padded_shape = (self.grid_rows * self.cell_rows, self.grid_columns * self.cell_columns)
        if values.shape == padded_shape:
            return values
        padded = np.full(padded_shape, fill, dtype=values.dtype)
        padded[: self.rows, : self.columns] = values
        return padded


def components(node_count: int, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Connected components of the undirected graph with edges first[k] -- second[k].

    Not scipy.sparse.csgraph.connected_components: building its sparse matrix costs ~0.3-0.5 ms for a graph
    of a few hundred cells, more than the rest of the clustering at 224 x 224, and a 51-threshold sweep needs
    it 100 times or more. This vectorised union-find (hook every root to the smaller root across each edge,
    then pointer jumping) returns the same partition in a fraction of that.

    Args:
        node_count: Number of nodes.
        first, second: (e,) int node indices of the edges.

    Returns:
        (node_count,) int64 labels 0..c-1, numbered in order of each component's smallest node.
    """
    nodes = np.arange(node_count)
    parent = nodes
    # Trees have depth < node_count (parent[i] <= i), so this many pointer jumps always reach the roots; for
    # small graphs a fixed number of cheap jumps costs less than testing for convergence after each one.
    fixed_jumps = max(node_count - 1, 1).bit_length() if node_count <= _FIXED_JUMPS_UP_TO_NODES else 0
    while len(first):
        if parent is nodes:  # first round: every node is its own root
            root_first, root_second = first, second
            parent = nodes.copy()
        else:
            root_first, root_second = parent[first], parent[second]
            open_edges = root_first != root_second
            first, second = first[open_edges], second[open_edges]
            if not len(first):
                break
            root_first, root_second = root_first[open_edges], root_second[open_edges]
        # parent[i] <= i always, so no cycles; every round removes at least one root.
        np.minimum.at(parent, np.maximum(root_first, root_second), np.minimum(root_first, root_second))
        for _ in range(fixed_jumps):
            parent = parent[parent]
        while not fixed_jumps:
            grandparent = parent[parent]
            if np.array_equal(grandparent, parent):
                break
            parent = grandparent
    return (np.add.accumulate(parent == nodes, dtype=np.intp) - 1)[parent]


@dataclass(frozen=True, eq=False)
class CellPairs:
    """Candidate cell pairs among a set of cells (nodes 0..m-1): each cell with each neighbour at each offset.

    Attributes:
        first, second: (p,) int64 nodes; `second` is `grid.offsets[offset]` cells from `first`.
        offset: (p,) int64 index into `grid.offsets`.
        near_row, far_row: (p,) int64 rows of the facing-extreme tables (see `facing_extremes`) to compare:
            the left (or upper) cell's near extremes with the right (or lower) cell's far extremes.
    """

    first: np.ndarray
    second: np.ndarray
    offset: np.ndarray
    near_row: np.ndarray
    far_row: np.ndarray

    @classmethod
    def among(cls, grid: CellGrid, cell_row: np.ndarray, cell_column: np.ndarray) -> CellPairs:
        """All candidate pairs among the cells at (cell_row[i], cell_column[i]), node i."""
        node_count = len(cell_row)
        margin_columns = int(np.abs(grid.offsets[:, 1]).max(initial=0))
        node_of = np.full(
            (grid.grid_rows + int(grid.offsets[:, 0].max(initial=0)), grid.grid_columns + 2 * margin_columns),
            -1,
            dtype=np.int64,
        )
        node_of[cell_row, cell_column + margin_columns] = np.arange(node_count)
        other = node_of[
            cell_row[:, None] + grid.offsets[:, 0], cell_column[:, None] + margin_columns + grid.offsets[:, 1]
        ]
        first, offset = np.nonzero(other >= 0)
        second = other[first, offset]
        offset_columns = grid.offsets[offset, 1]
        stacked = np.where(offset_columns == 0, node_count, 0)  # stacked pairs use the column tables
        near_row = np.where(offset_columns < 0, second, first) + stacked
        far_row = np.where(offset_columns < 0, first, second) + stacked
        return cls(first, second, offset, near_row, far_row)


def facing_extremes(
    cells: np.ndarray, row_base: np.ndarray, column_base: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-line extremes of each cell's signals, in map pixels, for the link tests and the radius.

    Args:
        cells: (m, side, side) bool signal blocks (padded with False to square).
        row_base, column_base: (m, 1) map row / column of each cell's top-left pixel.

    Returns:
        near, far: (2m, side) float64. Rows 0..m-1, per cell row: rightmost (near) / leftmost (far) signal
        column; rows m..2m-1, per cell column: bottom (near) / top (far) signal row; -inf / +inf where the
        line holds no signal. The near cell of a pair is the left one (side by side) or the upper one.
    """
    side = cells.shape[1]
    row_has, column_has = cells.any(axis=2), cells.any(axis=1)
    near = np.concatenate(
        [
            np.where(row_has, column_base + (side - 1) - cells[:, :, ::-1].argmax(axis=2), -np.inf),
            np.where(column_has, row_base + (side - 1) - cells[:, ::-1, :].argmax(axis=1), -np.inf),
        ]
    )
    far = np.concatenate(
        [
            np.where(row_has, column_base + cells.argmax(axis=2), np.inf),
            np.where(column_has, row_base + cells.argmax(axis=1), np.inf),
        ]
    )
    return near, far


def link_cells(
    grid: CellGrid,
    node_count: int,
    near: np.ndarray,
    far: np.ndarray,
    pairs: CellPairs,
    open_pairs: np.ndarray,
    labels: np.ndarray | None = None,
) -> np.ndarray:
    """Component labels of cells, linking two cells when some pair of their signals is within the link distance.

    Args:
        grid: The cell grid.
        node_count: Number of cells (nodes); `near` / `far` are their (2 * node_count, side) facing extremes.
        near, far: From `facing_extremes` (or the same layout built incrementally).
        pairs: Candidate pairs among the nodes.
        open_pairs: (p,) bool, the pairs still to decide (both cells hold signals, not known to be joined).
        labels: (node_count,) int64 components already known (e.g. from a higher threshold of a sweep), in
            0..node_count-1; None: every node on its own.

    Returns:
        (node_count,) int64 component labels in 0..node_count-1, merging `labels` with the links found.
    """
    if labels is None:
        labels = np.arange(node_count)
    max_squared = grid.max_squared_distance
    side = grid.across.shape[1]
    # 1. Sure links: 4-neighbour cells whose facing extremes are close within one row / column (a sufficient
    #    condition at O(cell side) per pair).
    adjacent = np.flatnonzero(open_pairs & grid.adjacent[pairs.offset])
    same_line_gap = (far[pairs.far_row[adjacent]] - near[pairs.near_row[adjacent]]).min(axis=1)
    linked = [adjacent[same_line_gap * same_line_gap <= max_squared]]
    open_pairs = open_pairs.copy()
    open_pairs[linked[0]] = False
    undecided = np.flatnonzero(open_pairs)
    if len(undecided) * side * side > _PRUNE_ABOVE_ELEMENTS:
        # 2. Many exact tests ahead. Drop the pairs that links so far already put in one component, then
        #    decide what the bounding boxes of the cells' signals decide: nearest box corners farther apart
        #    than the link distance -> never linked; farthest corners within it -> always linked.
        joined = components(node_count, labels[pairs.first[linked[0]]], labels[pairs.second[linked[0]]])[labels]
        undecided = undecided[joined[pairs.first[undecided]] != joined[pairs.second[undecided]]]
        low_x, high_x = far[:node_count].min(axis=1), near[:node_count].max(axis=1)
        low_y, high_y = far[node_count:].min(axis=1), near[node_count:].max(axis=1)
        first, second = pairs.first[undecided], pairs.second[undecided]
        gap_x = np.maximum(0.0, np.maximum(low_x[second] - high_x[first], low_x[first] - high_x[second]))
        gap_y = np.maximum(0.0, np.maximum(low_y[second] - high_y[first], low_y[first] - high_y[second]))
        span_x = np.maximum(high_x[second] - low_x[first], high_x[first] - low_x[second])
        span_y = np.maximum(high_y[second] - low_y[first], high_y[first] - low_y[second])
        always = span_x * span_x + span_y * span_y <= max_squared
        linked.append(undecided[always])
        undecided = undecided[~always & (gap_x * gap_x + gap_y * gap_y <= max_squared)]
    # 3. Exact test. Two cells side by side: their closest pair of signals is a row's rightmost signal of the
    #    left cell and a row's leftmost signal of the right cell (stacked cells: a column's bottom / top
    #    signal), so min over line pairs (i, j) of (far[j] - near[i])^2 + across[offset][i, j] is their
    #    smallest squared distance.
    chunk = _PAIR_TEST_CHUNK_ELEMENTS // (side * side) + 1
    for start in range(0, len(undecided), chunk):
        tested = undecided[start : start + chunk]
        gap = far[pairs.far_row[tested]][:, None, :] - near[pairs.near_row[tested]][:, :, None]
        linked.append(tested[((gap * gap + grid.across[pairs.offset[tested]]) <= max_squared).any(axis=(1, 2))])
    found = np.concatenate(linked)
    logger.debug("cells: %d nodes, %d exact pair tests, %d links", node_count, len(undecided), len(found))
    return components(node_count, labels[pairs.first[found]], labels[pairs.second[found]])[labels]


