"""Circles around the strongest pixels of an attribution map: what the viewer draws on a chest X-ray.

Definition (exact; `detect_circles` implements it, `sweep_circles` evaluates it for many thresholds at once):

- a is a 2-D attribution map (rows = y, columns = x); p = max(a, 0). If max(p) = 0 there are no circles.
- Sight sensitivity tau in [0, 1]: pixel (x, y) is a *signal* when p >= tau * max(p) and p > 0.
- Signals are linked when their Euclidean distance is <= the link distance (pixels of the map's grid; default
  10 * width / 224, the paper's 10 px on a 224 px map). Clusters are the connected components of that graph,
  identical to single-linkage hierarchical clustering cut at the link distance (scipy `fclusterdata(points,
  t=link_distance, criterion="distance", method="single")`), computed without a pairwise distance matrix
  (cxrmodel.detection._runs for the few signal runs of a typical map, cxrmodel.detection._grid otherwise;
  both give the same clusters and the same floats).
- Clusters with fewer than `min_points` signals are dropped.
- Circle: centre (x, y) = mean of its signals' coordinates; r = largest Euclidean distance from the centre to
  a signal; points = number of signals; mass = the cluster's share of sum(p) over the WHOLE map. Circles are
  sorted by mass, largest first (ties: smaller y, then smaller x first).

Coordinates: pixel (row i, column j) has coordinates x = j, y = i: integer pixel indices of the attribution
map's own grid, so (0, 0) is the centre of the top-left pixel and y points down. Circles (x, y, r) are in
these map pixels. In continuous coordinates whose origin is the top-left *corner* of the map, a pixel centre
is at (j + 0.5, i + 0.5): add 0.5 to x and y before mapping to image coordinates (e.g. with
cxrmodel.imaging.GridMapping), and scale r by the same pixel size.

This module imports only numpy and scipy (never TensorFlow) so that the threshold slider stays fast.
"""

from __future__ import annotations

import functools
import logging
import math
import numbers
import time
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from cxrmodel.detection._clusters import ClusterTable, cluster_signals, signal_labels
from cxrmodel.detection._grid import CellGrid, signal_mask
from cxrmodel.detection._incremental import sweep_cluster_tables
from cxrmodel.detection._runs import (
    RUN_PATH_MAX_QUERIES,
    SignalRuns,
    label_image,
    map_summary,
    run_labels,
    run_queries,
    signal_runs,
    table_by_runs,
)

logger = logging.getLogger(__name__)

DEFAULT_SIGHT_SENSITIVITY = 0.70
DEFAULT_MIN_POINTS = 2
PAPER_LINK_DISTANCE_PX = 10.0
PAPER_MAP_WIDTH_PX = 224


@dataclass(frozen=True)
class Circle:
    """One cluster of signal pixels, in pixels of the attribution map's grid (x = column, y = row index).

    Attributes:
        x: Centre column, mean of the signals' column indices (pixels).
        y: Centre row, mean of the signals' row indices (pixels).
        r: Largest Euclidean distance from the centre to one of the signals (pixels; 0 for a single pixel).
        points: Number of signal pixels in the cluster.
        mass: The cluster's share of the positive attribution of the whole map, in (0, 1].
    """

    x: float
    y: float
    r: float
    points: int
    mass: float

    def to_dict(self) -> dict[str, float | int]:
        """{"x", "y", "r", "points", "mass"} with plain Python numbers (JSON-ready)."""
        return asdict(self)


@dataclass(frozen=True)
class Detection:
    """The circles of one attribution map at one sight sensitivity.

    Attributes:
        circles: Circles sorted by mass, largest first.
        signals: Number of signal pixels at this sight sensitivity (before dropping small clusters).
    """

    circles: list[Circle]
    signals: int

    def to_dict(self) -> dict[str, object]:
        """{"circles": [circle dicts], "signals": N} (JSON-ready)."""
        return {"circles": [circle.to_dict() for circle in self.circles], "signals": self.signals}


def default_link_distance(map_width: int) -> float:
    """The paper's link distance (10 px on a 224 px wide map) scaled to a map `map_width` pixels wide.

    Args:
        map_width: Width of the attribution map in pixels (its number of columns), >= 1.

    Returns:
        10 * map_width / 224, in pixels of that map.
    """
    if isinstance(map_width, bool) or not isinstance(map_width, numbers.Integral) or map_width < 1:
        raise ValueError(f"map width must be a positive whole number of pixels, got {map_width!r}")
    return _paper_link_distance(int(map_width))


def _paper_link_distance(map_width: int) -> float:
    """10 * map_width / 224 without validation (for widths taken from a validated map's shape)."""
    return PAPER_LINK_DISTANCE_PX * map_width / PAPER_MAP_WIDTH_PX


def _validated_map(attribution_map: np.ndarray) -> tuple[np.ndarray, float, float]:
    """The map as a C-contiguous (rows, columns) float64 array, max(a) and sum(max(a, 0)).

    Raises:
        ValueError: naming the problem (not 2-D, empty, not real numbers, NaN or infinite values, overflow).
    """
    values = np.asarray(attribution_map)
    if values.ndim != 2:
        raise ValueError(
            f"attribution map must be 2-D (rows x columns), got shape {values.shape}; "
            "select one channel or sum over channels first"
        )
    if values.size == 0:
        raise ValueError(f"attribution map is empty (shape {values.shape})")
    if values.dtype.kind not in "biuf":
        raise ValueError(f"attribution map must hold real numbers, got dtype {values.dtype}")
    # C order: sums (and so masses) then do not depend on the caller's memory layout.
    values = np.ascontiguousarray(values, dtype=np.float64)
    if not values.flags.writeable:  # the compiled code is specialised to writable arrays: no second compile
        values = values.copy()
    highest, total, finite = map_summary(values)  # one compiled pass instead of four numpy ones
    if not finite:
        bad = ~np.isfinite(values)
        bad_row, bad_column = np.argwhere(bad)[0]
        kind = "NaN" if np.isnan(values[bad_row, bad_column]) else "infinite"
        raise ValueError(
            f"attribution map has {int(bad.sum())} non-finite value(s) (first: {kind} at row {bad_row}, "
            f"column {bad_column}); replace them (e.g. numpy.nan_to_num) before detecting circles"
        )
    if not math.isfinite(total):
        raise ValueError("attribution map values are too large to sum in float64; rescale the map first")
    return values, highest, total


def _validated_sight_sensitivity(sight_sensitivity: float) -> float:
    if isinstance(sight_sensitivity, bool) or not isinstance(sight_sensitivity, numbers.Real):
        raise ValueError(f"sight sensitivity must be a number in [0, 1], got {sight_sensitivity!r}")
    value = float(sight_sensitivity)
    if not 0.0 <= value <= 1.0:  # also rejects NaN
        raise ValueError(f"sight sensitivity must be in [0, 1] (a fraction of the strongest pixel), got {value}")
    return value


def _validated_link_distance(link_distance: float | None, map_width: int) -> float:
    if link_distance is None:  # map_width is a shape entry here: a positive int
        return _paper_link_distance(map_width)
    if isinstance(link_distance, bool) or not isinstance(link_distance, numbers.Real):
        raise ValueError(f"link distance must be a number of pixels > 0, got {link_distance!r}")
    value = float(link_distance)
    if not (math.isfinite(value) and value > 0.0):
        raise ValueError(f"link distance must be a finite number of pixels > 0, got {value}")
    return value


def _validated_min_points(min_points: int) -> int:
    if isinstance(min_points, bool) or not isinstance(min_points, numbers.Integral) or min_points < 1:
        raise ValueError(f"min_points must be a whole number >= 1, got {min_points!r}")
    return int(min_points)


@dataclass(eq=False, slots=True)
class _PreparedMap:
    """What every threshold of one map shares: the map, its positive maximum and sum, and the cell grid."""

    values: np.ndarray  # (rows, columns) C-contiguous float64
    peak: float  # max(p)
    total: float  # sum(p) over the whole map, in detection_runs.map_summary's order
    grid: CellGrid
    _positive: np.ndarray | None = None

    @property
    def positive(self) -> np.ndarray:
        """(rows, columns) float64 max(a, 0), made on first use (the run path reads the map itself)."""
        if self._positive is None:
            self._positive = np.maximum(self.values, 0.0)
        return self._positive


@functools.lru_cache(maxsize=32)
def _cell_grid(map_shape: tuple[int, int], link_distance: float) -> CellGrid:
    """Cell grids are immutable and depend only on shape and link distance: build each once per process."""
    return CellGrid.for_map(map_shape, link_distance)


def _prepare(attribution_map: np.ndarray, link_distance: float | None) -> _PreparedMap:
    values, highest, total = _validated_map(attribution_map)
    distance = _validated_link_distance(link_distance, values.shape[1])
    return _PreparedMap(values, max(highest, 0.0), total, _cell_grid(values.shape, distance))


def _fast_runs(prepared: _PreparedMap, threshold: float) -> SignalRuns | None:
    """The signals p >= threshold (and p > 0) as row runs when the run path applies (few runs), else None.

    The run path (cxrmodel.detection._runs, compiled) and the cell engine (cxrmodel.detection._clusters) give
    the same clusters and the same floats; the run path is several times faster for the few hundred signals
    of a typical map at the default sight sensitivity, the cell engine for dense maps with many runs.
    """
    runs = signal_runs(prepared.values, threshold, prepared.grid)
    if run_queries(runs, prepared.grid) > RUN_PATH_MAX_QUERIES:
        return None
    return runs


def _cluster_table(prepared: _PreparedMap, threshold: float) -> ClusterTable:
    """Per-cluster statistics of the signals p >= threshold (and p > 0), by whichever path is faster."""
    table = table_by_runs(prepared.values, threshold, prepared.grid, RUN_PATH_MAX_QUERIES)
    if table is None:
        # The map itself instead of p = max(a, 0): the same signals (the threshold test implies a > 0), and
        # the cell engine weights only signals, where a = p; saves building p (~0.7 ms at 1024 x 1024).
        return cluster_signals(signal_mask(prepared.values, threshold), prepared.values, prepared.grid)
    return table


# Up to this many clusters, circles are filtered and sorted in Python (fewer fixed-cost numpy calls); above
# it with numpy (lexsort). Both give the same circles in the same order (stable sorts on the same keys).
_PYTHON_SORT_MAX_CLUSTERS = 32


def _circles(table: ClusterTable, total: float, min_points: int) -> list[Circle]:
    """Drop clusters smaller than min_points, compute masses, sort by mass (largest first).

    Ties: smaller y, then smaller x, then cluster order. Masses are weight / total in float64 either way
    (Python and numpy divide doubles alike).
    """
    if len(table.points) <= _PYTHON_SORT_MAX_CLUSTERS:
        circles = [
            Circle(x=x, y=y, r=r, points=points, mass=weight / total)
            for x, y, r, points, weight in zip(
                table.centre_x.tolist(),
                table.centre_y.tolist(),
                table.radius.tolist(),
                table.points.tolist(),
                table.weight.tolist(),
                strict=True,
            )
            if points >= min_points
        ]
        if len(circles) > 1:
            circles.sort(key=lambda circle: (-circle.mass, circle.y, circle.x))
        return circles
    order = (table.points >= min_points).nonzero()[0]
    if len(order) > 1:
        mass = table.weight[order] / total
        order = order[np.lexsort((table.centre_x[order], table.centre_y[order], -mass))]
    return [
        Circle(x=x, y=y, r=r, points=points, mass=share)
        for x, y, r, points, share in zip(
            table.centre_x[order].tolist(),
            table.centre_y[order].tolist(),
            table.radius[order].tolist(),
            table.points[order].tolist(),
            (table.weight[order] / total).tolist(),
            strict=True,
        )
    ]


def _detection(table: ClusterTable, total: float, min_points: int) -> Detection:
    detection = Detection(circles=_circles(table, total, min_points), signals=int(np.add.reduce(table.points)))
    logger.debug("%d signals, %d clusters, %d circles", detection.signals, len(table.points), len(detection.circles))
    return detection


def detect_circles(
    attribution_map: np.ndarray,
    sight_sensitivity: float = DEFAULT_SIGHT_SENSITIVITY,
    link_distance: float | None = None,
    min_points: int = DEFAULT_MIN_POINTS,
) -> Detection:
    """Circles around the clusters of strongest pixels of an attribution map (see the module docstring).

    Args:
        attribution_map: (rows, columns) real array, finite; rows are y, columns are x.
        sight_sensitivity: Threshold tau in [0, 1] as a fraction of the strongest positive attribution.
        link_distance: Single-linkage cut-off in pixels of the map's grid (> 0); None: 10 * columns / 224.
        min_points: Smallest number of signal pixels a cluster needs to get a circle (>= 1).

    Returns:
        The circles (map pixel coordinates x = column, y = row) sorted by mass, and the number of signals.

    Raises:
        ValueError: map not 2-D, empty, non-numeric or with NaN/inf; tau outside [0, 1]; link distance not a
            positive finite number; min_points < 1.
    """
    prepared = _prepare(attribution_map, link_distance)
    sight_sensitivity = _validated_sight_sensitivity(sight_sensitivity)
    min_points = _validated_min_points(min_points)
    if prepared.peak <= 0.0:
        return Detection(circles=[], signals=0)
    # 1. Signals: p >= sight_sensitivity * max(p) and p > 0; 2. single-linkage clusters and their statistics;
    # 3. circles of the clusters with >= min_points signals.
    table = _cluster_table(prepared, sight_sensitivity * prepared.peak)
    return _detection(table, prepared.total, min_points)


def cluster_labels(
    attribution_map: np.ndarray,
    sight_sensitivity: float = DEFAULT_SIGHT_SENSITIVITY,
    link_distance: float | None = None,
) -> np.ndarray:
    """The partition behind `detect_circles`: which cluster every signal pixel belongs to.

    Args:
        attribution_map: (rows, columns) real array, finite.
        sight_sensitivity: Threshold tau in [0, 1].
        link_distance: As for `detect_circles`.

    Returns:
        (rows, columns) int64: a cluster id in 0..k-1 (arbitrary order, before any `min_points` filtering) at
        every signal pixel, -1 everywhere else.
    """
    prepared = _prepare(attribution_map, link_distance)
    sight_sensitivity = _validated_sight_sensitivity(sight_sensitivity)
    if prepared.peak <= 0.0:
        return np.full(prepared.values.shape, -1, dtype=np.int64)
    threshold = sight_sensitivity * prepared.peak
    runs = _fast_runs(prepared, threshold)
    if runs is None:
        return signal_labels(signal_mask(prepared.values, threshold), prepared.grid)
    return label_image(prepared.values.shape, runs, run_labels(runs, prepared.grid))


def sweep_circles(
    attribution_map: np.ndarray,
    sight_sensitivities: Sequence[float],
    link_distance: float | None = None,
    min_points: int = DEFAULT_MIN_POINTS,
) -> list[Detection]:
    """`detect_circles` at many sight sensitivities of one map (the slider's precomputation).

    The distinct thresholds are visited from the highest to the lowest. While a threshold leaves few signal
    runs, the compiled run path clusters it on its own (tens of microseconds at 224 x 224). From the first
    one with many runs on, one incremental sweep takes the rest: lowering tau only adds signals, so it adds
    the pixels that become signals at each threshold to per-cell state and keeps a union-find over cells
    (cells joined at a higher tau stay joined, only cell pairs that touch a cell which gained signals are
    tested again; cxrmodel.detection._incremental). The result equals `detect_circles` at each tau exactly (same
    circles, bit for bit).

    Args:
        attribution_map: (rows, columns) real array, finite.
        sight_sensitivities: Thresholds in [0, 1], any order, repeats allowed (e.g. 0.00, 0.02, ..., 1.00).
        link_distance: As for `detect_circles`.
        min_points: As for `detect_circles`.

    Returns:
        One Detection per threshold, in the order given.
    """
    prepared = _prepare(attribution_map, link_distance)
    requested = [_validated_sight_sensitivity(value) for value in sight_sensitivities]
    min_points = _validated_min_points(min_points)
    if prepared.peak <= 0.0:
        return [Detection(circles=[], signals=0) for _ in requested]
    # 1. Distinct thresholds, highest first; the same threshold expression as detect_circles, so both select
    #    exactly the same signals.
    descending = sorted(set(requested), reverse=True)
    thresholds = [sight_sensitivity * prepared.peak for sight_sensitivity in descending]
    # 2. The high thresholds (few signal runs) by the compiled run path, each on its own; from the first one
    #    with too many runs on, one incremental sweep over the rest. 3. Circles per threshold, in the order
    #    asked for.
    tables: list[ClusterTable] = []
    for threshold in thresholds:
        table = table_by_runs(prepared.values, threshold, prepared.grid, RUN_PATH_MAX_QUERIES)
        if table is None:
            break
        tables.append(table)
    if len(tables) < len(thresholds):
        tables += sweep_cluster_tables(prepared.positive, thresholds[len(tables):], prepared.grid)
    by_sight_sensitivity = {
        sight_sensitivity: _detection(table, prepared.total, min_points)
        for sight_sensitivity, table in zip(descending, tables, strict=True)
    }
    return [by_sight_sensitivity[sight_sensitivity] for sight_sensitivity in requested]


def load_compiled_detection() -> None:
    """Load the compiled code `detect_circles` and `sweep_circles` use now, so that no user waits for it later.

    numba compiles on first use: a few seconds the first time on a machine, then ~0.4 s per process to load
    the cached code. The dashboard calls this at start-up and `detect` before it times the detection
    (`cluster_labels`, which neither uses, loads its own pieces on first call).
    """
    started = time.perf_counter()
    tiny = np.zeros((4, 5))
    tiny[1, 1:3] = tiny[2, 2] = 1.0
    detect_circles(tiny, 0.5, 2.0)
    logger.info("compiled detection loaded in %.2f s", time.perf_counter() - started)
