"""Tests for cxrmodel.detection.circles: circles around single-linkage clusters of the strongest attribution pixels.

The reference is the definition itself, computed the slow way: a point list of the signal pixels and scipy's
`fclusterdata(points, t=link_distance, criterion="distance", method="single")`. Partitions are compared as
sets of frozensets of pixel coordinates, and circles against statistics computed from the reference partition.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage
from scipy.cluster.hierarchy import fcluster, fclusterdata, linkage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

import cxrmodel.detection.circles as detection_module
from cxrmodel.detection._clusters import cell_sums
from cxrmodel.detection._grid import CellGrid, components, max_linked_squared_distance
from cxrmodel.detection._grid import CellGrid as _Grid
from cxrmodel.detection._runs import _table_by_runs, map_summary, signal_runs
from cxrmodel.detection._runs import table_by_runs as real_table_by_runs_default
from cxrmodel.detection.circles import (
    Circle,
    Detection,
    cluster_labels,
    default_link_distance,
    detect_circles,
    sweep_circles,
)

LINK_DISTANCES = [0.5, 1.0, 1.2, math.sqrt(2), 1.9, 2.0, 2.5, 3.0, 5.0, math.sqrt(8), 7.3, 12.0, 1000.0]
SIGHT_SENSITIVITIES = [0.0, 0.3, 0.55, 0.9, 1.0]


def signal_points(attribution: np.ndarray, sight_sensitivity: float) -> np.ndarray:
    """(n, 2) float (x, y) = (column, row) of the signal pixels, straight from the definition."""
    positive = np.maximum(attribution, 0.0)
    mask = (positive >= sight_sensitivity * positive.max()) & (positive > 0)
    ys, xs = np.nonzero(mask)
    return np.stack([xs, ys], axis=1).astype(float)


def partition_from_labels(points: np.ndarray, labels: np.ndarray) -> set[frozenset]:
    xy = points.astype(int).tolist()
    groups: dict[int, set] = {}
    for (x, y), label in zip(xy, labels.tolist(), strict=False):
        groups.setdefault(label, set()).add((x, y))
    return {frozenset(group) for group in groups.values()}


def reference_clusters(attribution: np.ndarray, sight_sensitivity: float, link_distance: float):
    """The definition with scipy: (partition as a set of frozensets of (x, y), signal points, p)."""
    positive = np.maximum(attribution, 0.0)
    if positive.max() <= 0:
        return set(), np.zeros((0, 2)), positive
    points = signal_points(attribution, sight_sensitivity)
    if len(points) == 1:
        labels = np.array([1])
    else:
        labels = fclusterdata(points, t=link_distance, criterion="distance", method="single")
    return partition_from_labels(points, labels), points, positive


def reference_circles(attribution, sight_sensitivity, link_distance, min_points):
    """Circles of the definition, sorted by mass (largest first)."""
    partition, _, positive = reference_clusters(attribution, sight_sensitivity, link_distance)
    circles = []
    for cluster in partition:
        if len(cluster) < min_points:
            continue
        xy = np.array(sorted(cluster), dtype=float)
        centre = xy.mean(axis=0)
        radius = np.sqrt(((xy - centre) ** 2).sum(axis=1).max())
        mass = sum(positive[y, x] for x, y in cluster) / positive.sum()
        circles.append((centre[0], centre[1], radius, len(cluster), mass))
    return sorted(circles, key=lambda circle: -circle[4])


def partition_of(labels: np.ndarray) -> set[frozenset]:
    ys, xs = np.nonzero(labels >= 0)
    groups: dict[int, set] = {}
    for x, y, label in zip(xs.tolist(), ys.tolist(), labels[ys, xs].tolist(), strict=True):
        groups.setdefault(label, set()).add((x, y))
    return {frozenset(group) for group in groups.values()}


def random_maps(shape: tuple[int, int], seed: int) -> list[np.ndarray]:
    """Three kinds of map: white noise, sparse peaks (heavy tail) and smooth blobs with fine noise."""
    rng = np.random.default_rng(seed)
    smooth = ndimage.gaussian_filter(rng.standard_normal(shape), 2.0)
    return [
        rng.standard_normal(shape),
        rng.random(shape) ** 6 - 0.1,
        smooth / np.abs(smooth).max() + 0.05 * rng.standard_normal(shape),
    ]


def realistic_map(size: int, seed: int = 0) -> np.ndarray:
    """Four positive and two negative gaussian blobs plus fine noise (as in benchmarks/detection_benchmark.py)."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    attribution = np.zeros((size, size))
    for index in range(6):
        centre_y, centre_x = rng.uniform(0.15, 0.85, 2) * size
        sigma = rng.uniform(0.03, 0.10) * size
        amplitude = rng.uniform(0.4, 1.0) * (1 if index < 4 else -1)
        attribution += amplitude * np.exp(-((ys - centre_y) ** 2 + (xs - centre_x) ** 2) / (2 * sigma**2))
    return attribution + 0.06 * rng.standard_normal((size, size))


@pytest.fixture(params=["run path", "cell engine"])
def engine(request, monkeypatch):
    """Force one of the two clustering paths of detect_circles / cluster_labels (both must equal scipy)."""
    monkeypatch.setattr(detection_module, "RUN_PATH_MAX_QUERIES", 10**12 if request.param == "run path" else -1)
    return request.param


# ---------------------------------------------------------------------------------------------- partitions


@pytest.mark.parametrize("shape, seed", [((20, 30), 1), ((64, 64), 2), ((100, 80), 3), ((1, 40), 4), ((37, 1), 5)])
def test_partition_equals_scipy_single_linkage(shape, seed, engine):
    for attribution in random_maps(shape, seed):
        for sight_sensitivity in SIGHT_SENSITIVITIES:
            points = signal_points(attribution, sight_sensitivity)
            # fclusterdata(points, t, "distance", method="single") is exactly this linkage cut at t; the
            # linkage is computed once per map and threshold, then cut at every link distance.
            tree = linkage(points, method="single") if len(points) > 1 else None
            for link_distance in LINK_DISTANCES:
                labels = np.ones(1) if tree is None else fcluster(tree, t=link_distance, criterion="distance")
                expected = partition_from_labels(points, labels)
                got = partition_of(cluster_labels(attribution, sight_sensitivity, link_distance))
                assert got == expected, (shape, sight_sensitivity, link_distance)


def test_partition_equals_scipy_on_a_realistic_map_with_the_default_link_distance(engine):
    attribution = realistic_map(160, seed=7)
    for sight_sensitivity in (0.5, 0.7):
        expected, _, _ = reference_clusters(attribution, sight_sensitivity, default_link_distance(160))
        assert partition_of(cluster_labels(attribution, sight_sensitivity)) == expected


def test_ties_at_exactly_the_link_distance_are_linked_like_scipy(engine):
    # Pixels 5 apart (3-4-5 triangle) and sqrt(2) apart (diagonal): linked at exactly that distance only.
    attribution = np.zeros((12, 12))
    attribution[1, 1] = attribution[4, 5] = 1.0  # distance 5
    attribution[9, 9] = attribution[10, 10] = 1.0  # distance sqrt(2)
    for link_distance, clusters in [(5.0, 2), (np.nextafter(5.0, 0), 3), (math.sqrt(2), 3), (1.41421, 4)]:
        expected, _, _ = reference_clusters(attribution, 0.5, link_distance)
        assert len(expected) == clusters
        assert partition_of(cluster_labels(attribution, 0.5, link_distance)) == expected


def test_max_linked_squared_distance_matches_float_square_roots():
    for link_distance in [0.3, 1.0, math.sqrt(2), 2.0, math.sqrt(5), 9.99999, 10.0, 10 * 1024 / 224, 33.3]:
        squared = max_linked_squared_distance(link_distance, (2000, 2000))
        assert math.sqrt(squared) <= link_distance < math.sqrt(squared + 1)
    assert max_linked_squared_distance(1e9, (5, 7)) == 4**2 + 6**2  # capped at the map diagonal


def test_cells_are_small_enough_that_all_their_pixels_are_linked():
    for link_distance in [2.0, 2.9, 3.0, 10.0, 45.7]:
        grid = CellGrid.for_map((500, 400), link_distance)
        diagonal_squared = (grid.cell_rows - 1) ** 2 + (grid.cell_columns - 1) ** 2
        assert diagonal_squared <= grid.max_squared_distance


def test_union_find_components_match_scipy():
    rng = np.random.default_rng(0)
    # Up to 4096 nodes a fixed number of pointer jumps, above it jumps until nothing changes: both covered.
    for node_count, edge_count in [(1, 0), (10, 0), (50, 30), (300, 280), (300, 1000), (4096, 3000), (6000, 5000)]:
        first, second = rng.integers(0, node_count, (2, edge_count))
        labels = components(node_count, first, second)
        graph = coo_matrix((np.ones(edge_count), (first, second)), shape=(node_count, node_count))
        _, expected = connected_components(graph, directed=False)
        assert len(set(zip(labels.tolist(), expected.tolist(), strict=True))) == len(set(expected.tolist()))
        assert labels.max(initial=-1) + 1 == len(set(expected.tolist()))


def test_run_path_and_cell_engine_give_identical_detections(monkeypatch):
    """Same circles, floats bit for bit, on many maps; the default dispatch picks either path."""
    rng = np.random.default_rng(31)
    maps = [attribution for shape in [(20, 30), (64, 64), (45, 17)] for attribution in random_maps(shape, 1)]
    maps += [
        realistic_map(96),
        np.round(rng.random((50, 60)) * 4),  # many ties at every threshold
        np.ones((30, 40)),  # all equal: every pixel a signal
        np.pad(np.ones((1, 1)), ((5, 9), (7, 3))),  # a single positive pixel
        np.tile([[1.0, 0.0, 0.0, 1.0]], (12, 6)),  # runs touching both edges of every row
    ]
    for attribution in maps:
        diagonal = math.hypot(*attribution.shape)
        for link_distance in (None, 0.5, 1.0, 1.5, 2.0, 7.3, diagonal, 10 * diagonal):
            for sight_sensitivity in (0.0, 0.3, 0.7, 1.0):
                results = {}
                for limit in (10**12, -1):  # run path, then cell engine
                    monkeypatch.setattr(detection_module, "RUN_PATH_MAX_QUERIES", limit)
                    results[limit] = (
                        detect_circles(attribution, sight_sensitivity, link_distance, min_points=1),
                        cluster_labels(attribution, sight_sensitivity, link_distance),
                    )
                (run_detection, run_labels), (cell_detection, cell_labels) = results[10**12], results[-1]
                assert run_detection == cell_detection, (attribution.shape, link_distance, sight_sensitivity)
                assert partition_of(run_labels) == partition_of(cell_labels)


def test_cell_sums_add_each_column_top_down_then_the_columns_left_to_right():
    """The one reduction order every engine uses for masses, against plain Python additions in that order."""
    rng = np.random.default_rng(41)

    def in_order(block: np.ndarray) -> float:
        total = 0.0
        for column in block.T:
            column_sum = 0.0
            for value in column.tolist():
                column_sum += value
            total += column_sum
        return total

    # One block, one-column and one-row blocks, small and large cells: the shapes numpy might reorder.
    for shape in [(1, 8, 8), (1, 33, 33), (2, 9, 9), (5, 8, 8), (4, 37, 1), (1, 37, 1), (3, 1, 40), (190, 33, 33)]:
        blocks = np.where(rng.random(shape) < 0.6, rng.random(shape) * 10.0 ** rng.integers(-8, 8, shape), 0.0)
        assert cell_sums(blocks).tolist() == [in_order(block) for block in blocks], shape


def test_run_path_on_a_huge_cell_grid_equals_the_cell_engine(monkeypatch):
    """Tiny link distance on a big map: the run path sums masses over occupied cells only."""
    rng = np.random.default_rng(43)
    attribution = np.zeros((600, 600))
    rows, columns = rng.integers(0, 600, (2, 400))
    attribution[rows, columns] = rng.random(400) + 0.5
    attribution[100:103, 200:260] = rng.random((3, 60)) + 0.5
    grid = CellGrid.for_map(attribution.shape, 2.0)
    assert grid.grid_rows * grid.grid_columns > 4 * np.count_nonzero(attribution) + 4096
    results = []
    for limit in (10**12, -1):  # run path, then cell engine
        monkeypatch.setattr(detection_module, "RUN_PATH_MAX_QUERIES", limit)
        results.append([detect_circles(attribution, tau, link, 1) for tau, link in [(0.0, 2.0), (0.3, 2.9)]])
    assert results[0] == results[1]
    assert len(results[0][0].circles) > 100


def test_few_and_many_clusters_are_sorted_alike(monkeypatch):
    """Circles are filtered and sorted in Python for few clusters, with numpy for many: same result."""
    rng = np.random.default_rng(47)
    equal_masses = np.zeros((12, 12))  # three clusters of equal mass: the upper one first, however far right
    equal_masses[1, 9:11] = equal_masses[6, 1:3] = equal_masses[10, 5:7] = 1.0
    maps = [np.round(rng.random((40, 50)) * 3), realistic_map(64, seed=5), np.tile([[1.0, 0.0, 0.0]], (9, 12))]
    assert [circle.y for circle in detect_circles(equal_masses, 0.5, 1.5).circles] == [1.0, 6.0, 10.0]
    for attribution in maps + [equal_masses]:
        for sight_sensitivity, link_distance, min_points in [(0.0, 1.0, 1), (0.3, 1.5, 2), (0.6, 4.0, 1)]:
            results = []
            for limit in (10**9, -1):
                monkeypatch.setattr(detection_module, "_PYTHON_SORT_MAX_CLUSTERS", limit)
                results.append(detect_circles(attribution, sight_sensitivity, link_distance, min_points))
            assert results[0] == results[1]


def test_signal_runs_never_span_two_rows():
    attribution = np.zeros((3, 5))
    attribution[0, 3:] = attribution[1, :2] = attribution[1, 4] = attribution[2, :] = 1.0
    runs = signal_runs(attribution, 0.5, _Grid.for_map(attribution.shape, 2.0))
    assert list(zip(runs.row.tolist(), runs.start.tolist(), runs.end.tolist(), strict=True)) == [
        (0, 3, 4), (1, 0, 1), (1, 4, 4), (2, 0, 4)
    ]
    assert runs.row_first.tolist() == [0, 1, 3, 4]
    assert int((runs.end - runs.start + 1).sum()) == 10
    # Below 1 px nothing links: every signal is a run of its own.
    single = signal_runs(attribution, 0.5, _Grid.for_map(attribution.shape, 0.5))
    assert len(single) == 10 and (single.start == single.end).all()


def test_map_summary_is_the_maximum_the_positive_sum_and_a_finiteness_check():
    rng = np.random.default_rng(53)
    for shape in [(1, 1), (1, 3), (3, 3), (7, 5), (224, 224)]:  # sizes around the 4 summary lanes
        attribution = rng.standard_normal(shape)
        peak, total, finite = map_summary(attribution)
        assert peak == attribution.max() and finite
        assert total == pytest.approx(np.maximum(attribution, 0.0).sum(), rel=1e-12)
    for bad in (np.nan, np.inf, -np.inf):
        attribution = np.ones((5, 6))
        attribution[3, 4] = bad
        assert not map_summary(attribution)[2]


@pytest.mark.parametrize("shape, seed", [((20, 30), 11), ((64, 64), 12), ((100, 80), 13)])
def test_circles_equal_the_definition(shape, seed, engine):
    for attribution in random_maps(shape, seed):
        for sight_sensitivity in (0.0, 0.4, 0.8):
            for link_distance in (1.0, 1.5, 3.0, 7.3, 12.0):
                expected = reference_circles(attribution, sight_sensitivity, link_distance, 2)
                got = detect_circles(attribution, sight_sensitivity, link_distance, min_points=2).circles
                assert len(got) == len(expected)
                for circle, (x, y, r, points, mass) in zip(got, expected, strict=True):
                    assert circle.points == points
                    assert circle.x == pytest.approx(x, abs=1e-9)
                    assert circle.y == pytest.approx(y, abs=1e-9)
                    assert circle.r == pytest.approx(r, abs=1e-9)
                    assert circle.mass == pytest.approx(mass, rel=1e-9)


def test_hand_made_map_gives_exact_circles():
    # Cluster A: an L of 3 pixels, (x, y) = (2, 1), (3, 1), (2, 2), p = 4, 2, 2.
    # Cluster B: 2 pixels (10, 6), (10, 7), p = 3, 3. A lone pixel (6, 7) with p = 2 (dropped: 1 point).
    # Negative pixels never count, not even in the total.
    attribution = np.zeros((9, 12))
    attribution[1, 2], attribution[1, 3], attribution[2, 2] = 4.0, 2.0, 2.0
    attribution[6, 10], attribution[7, 10] = 3.0, 3.0
    attribution[7, 6] = 2.0
    attribution[4, 4] = -50.0
    detection = detect_circles(attribution, sight_sensitivity=0.5, link_distance=1.5, min_points=2)
    total = 4 + 2 + 2 + 3 + 3 + 2  # positive attribution of the whole map
    assert detection.signals == 6  # threshold 0.5 * 4 = 2: every positive pixel here
    first, second = detection.circles
    assert (first.x, first.y, first.points, first.mass) == (7 / 3, 4 / 3, 3, 8 / total)
    assert first.r == pytest.approx(math.sqrt(5) / 3, abs=1e-12)  # (3, 1) and (2, 2) are farthest
    assert second == Circle(x=10.0, y=6.5, r=0.5, points=2, mass=6 / total)
    # x is the column index, y the row index: the lone pixel sits at column 6, row 7.
    lone = detect_circles(attribution, 0.5, 1.5, min_points=1).circles
    assert lone[-1] == Circle(x=6.0, y=7.0, r=0.0, points=1, mass=2 / total)
    assert first.to_dict() == {"x": first.x, "y": first.y, "r": first.r, "points": 3, "mass": first.mass}


def test_min_points_drops_small_clusters_but_signals_counts_all():
    attribution = np.zeros((30, 30))
    attribution[5, 5] = 1.0  # 1 pixel
    attribution[20, 20:22] = 1.0  # 2 pixels
    attribution[10:12, 25:27] = 1.0  # 4 pixels
    counts = {
        min_points: [c.points for c in detect_circles(attribution, 0.5, 3.0, min_points).circles]
        for min_points in (1, 2, 3, 4, 5)
    }
    assert counts == {1: [4, 2, 1], 2: [4, 2], 3: [4], 4: [4], 5: []}
    assert all(detect_circles(attribution, 0.5, 3.0, m).signals == 7 for m in (1, 5))


@pytest.mark.parametrize("attribution", [np.zeros((16, 16)), -np.ones((16, 16)), np.full((3, 4), -1e-9)])
def test_no_positive_attribution_means_no_circles(attribution):
    assert detect_circles(attribution, 0.0) == Detection(circles=[], signals=0)
    assert detect_circles(attribution, 0.7, 3.0, 1) == Detection(circles=[], signals=0)
    assert sweep_circles(attribution, [0.0, 0.5, 1.0]) == [Detection(circles=[], signals=0)] * 3
    assert (cluster_labels(attribution, 0.0) == -1).all()


def test_sight_sensitivity_zero_takes_every_positive_pixel_and_one_takes_the_peak_only():
    attribution = np.array([[0.0, 0.5, -1.0], [2.0, 0.0, 1e-12]])
    assert detect_circles(attribution, 0.0, 5.0, 1).signals == 3
    (peak,) = detect_circles(attribution, 1.0, 5.0, 1).circles
    assert (peak.x, peak.y, peak.r, peak.points) == (0.0, 1.0, 0.0, 1)
    assert peak.mass == pytest.approx(2.0 / 2.5)


def test_circles_are_sorted_by_mass_largest_first():
    attribution = np.zeros((40, 40))
    attribution[2:4, 2:4] = 1.0  # 4 px of 1.0 -> mass 4
    attribution[20:23, 30:33] = 0.9  # 9 px of 0.9 -> mass 8.1
    attribution[30:32, 5:8] = 1.0  # 6 px -> mass 6
    masses = [circle.mass for circle in detect_circles(attribution, 0.5, 2.0).circles]
    assert masses == sorted(masses, reverse=True)
    assert masses == pytest.approx([8.1 / 18.1, 6 / 18.1, 4 / 18.1])
    for attribution in random_maps((64, 64), 21):
        masses = [circle.mass for circle in detect_circles(attribution, 0.3, 2.0, 1).circles]
        assert masses == sorted(masses, reverse=True)


def test_default_link_distance_is_the_papers_ten_pixels_on_224():
    assert default_link_distance(224) == 10.0
    assert default_link_distance(1024) == pytest.approx(45.714285714)
    attribution = realistic_map(96, seed=3)
    assert detect_circles(attribution, 0.6) == detect_circles(attribution, 0.6, 10 * 96 / 224)


def test_input_types_are_accepted_as_numbers():
    attribution = realistic_map(64, seed=4)
    expected = detect_circles(attribution, 0.5, 3.0)
    assert detect_circles(attribution.tolist(), 0.5, 3.0) == expected
    assert detect_circles(np.asfortranarray(attribution), np.float32(0.5), np.int64(3), np.int32(2)) == expected
    integers = (attribution * 100).round().astype(np.int32)
    assert detect_circles(integers, 0.5, 3.0) == detect_circles(integers.astype(float), 0.5, 3.0)


# ---------------------------------------------------------------------------------------------- sweep


@pytest.mark.parametrize("sweep_queries", ["default", "incremental sweep only", "mixed"])
@pytest.mark.parametrize("shape", [(20, 30), (64, 64), (100, 80), (45, 17), (224, 224)])
def test_sweep_equals_detection_at_every_threshold(shape, sweep_queries, monkeypatch):
    """The sweep takes the run path for high thresholds and the incremental cell sweep below: both match."""
    if sweep_queries != "default":
        limit = -1 if sweep_queries == "incremental sweep only" else 600
        real_table_by_runs = detection_module.table_by_runs
        monkeypatch.setattr(  # only the sweep's limit changes; detect_circles keeps its own choice
            detection_module, "table_by_runs", lambda values, threshold, grid, _: real_table_by_runs(
                values, threshold, grid, limit
            ),
        )
    thresholds = [round(0.04 * k, 2) for k in range(26)] + [0.7, 0.333]  # repeats and off-grid values too
    maps = random_maps(shape, sum(shape))[1:] + [np.round(np.random.default_rng(1).random(shape) * 5)]  # ties
    link_distances = (None, 0.9, 1.5, 2.0, 4.5, 17.0)
    if shape == (224, 224):
        maps, link_distances = [realistic_map(224)], (None, 23.0)
    for attribution in maps:
        for link_distance in link_distances:
            sweep = sweep_circles(attribution, thresholds, link_distance, min_points=1)
            assert len(sweep) == len(thresholds)
            for sight_sensitivity, detection in zip(thresholds, sweep, strict=True):
                # Bit-for-bit equality: the same circles, floats included.
                with monkeypatch.context() as default_paths:
                    default_paths.setattr(detection_module, "table_by_runs", real_table_by_runs_default)
                    expected = detect_circles(attribution, sight_sensitivity, link_distance, min_points=1)
                assert detection == expected


def test_sweep_keeps_the_given_order_and_handles_empty_input():
    attribution = realistic_map(64, seed=9)
    thresholds = [0.9, 0.1, 0.5, 0.9]
    sweep = sweep_circles(attribution, thresholds, 3.0)
    assert [d.signals for d in sweep] == [detect_circles(attribution, t, 3.0).signals for t in thresholds]
    assert sweep_circles(attribution, []) == []


def test_signals_only_grow_as_the_sight_sensitivity_drops():
    signals = [d.signals for d in sweep_circles(realistic_map(128, seed=2), np.linspace(1, 0, 26))]
    assert signals == sorted(signals)


# ---------------------------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "arguments, message",
    [
        ((np.zeros(5),), "2-D"),
        ((np.zeros((2, 3, 4)),), "2-D"),
        ((np.zeros((0, 4)),), "empty"),
        ((np.array([["a", "b"]]),), "real numbers"),
        ((np.array([[1.0, np.nan]]),), "NaN at row 0, column 1"),
        ((np.array([[1.0], [-np.inf]]),), "infinite at row 1, column 0"),
        ((np.ones((3, 3)), 1.5), "sight sensitivity must be in [0, 1]"),
        ((np.ones((3, 3)), -0.1), "sight sensitivity must be in [0, 1]"),
        ((np.ones((3, 3)), float("nan")), "sight sensitivity must be in [0, 1]"),
        ((np.ones((3, 3)), "0.5"), "sight sensitivity must be a number"),
        ((np.ones((3, 3)), 0.5, 0.0), "link distance must be a finite number of pixels > 0"),
        ((np.ones((3, 3)), 0.5, -2.0), "link distance must be a finite number of pixels > 0"),
        ((np.ones((3, 3)), 0.5, float("inf")), "link distance must be a finite number of pixels > 0"),
        ((np.ones((3, 3)), 0.5, None, 0), "min_points must be a whole number >= 1"),
        ((np.ones((3, 3)), 0.5, None, 2.5), "min_points must be a whole number >= 1"),
        ((np.full((2, 2), 1e308),), "too large"),  # the sum overflows
    ],
)
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_bad_arguments_raise_a_value_error_the_user_can_act_on(arguments, message):
    with pytest.raises(ValueError) as error:
        detect_circles(*arguments)
    assert message in str(error.value)


def test_sweep_validates_every_threshold():
    with pytest.raises(ValueError, match=r"sight sensitivity must be in \[0, 1\]"):
        sweep_circles(np.ones((4, 4)), [0.2, 1.2])
    with pytest.raises(ValueError, match="2-D"):
        sweep_circles(np.ones(4), [0.2])
    with pytest.raises(ValueError, match="map width"):
        default_link_distance(0)


def test_read_only_and_non_contiguous_maps_give_the_same_circles_without_another_compile():
    """Maps straight from np.load(mmap_mode="r") or a transposed view reuse the compiled code (~5 s per compile)."""
    attribution = realistic_map(64, seed=3)
    expected = detect_circles(attribution, 0.5)
    compiled = len(_table_by_runs.signatures)
    read_only = attribution.copy()
    read_only.setflags(write=False)
    assert detect_circles(read_only, 0.5) == expected
    assert detect_circles(np.asfortranarray(attribution), 0.5) == expected
    assert detect_circles(attribution.astype(np.float32), 0.5).signals == expected.signals
    assert len(_table_by_runs.signatures) == compiled

