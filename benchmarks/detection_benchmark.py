"""Benchmark of circle detection (cxrmodel.detection.circles) against the seed's path; prints a markdown table.

    .venv/bin/python benchmarks/detection_benchmark.py [--repeats 25] [--seed-repeats 5]

Maps are "realistic" attribution maps: four positive and two negative gaussian blobs (sigma 3-10 % of the
width, amplitude 0.4-1.0) plus fine i.i.d. gaussian noise (sigma 0.06), at 224 x 224 and 1024 x 1024, with
the default link distance (10 * width / 224 px). For each size and sight sensitivity (0.7 and the denser 0.3):

- `detect_circles`: median wall-clock time over `--repeats` calls (p10-p90 in brackets);
- the seed's path: a per-pixel Python loop building the point list, scipy
  `fclusterdata(points, t=link_distance, criterion="distance", method="single")`, circles per cluster with
  numpy. At 1024 x 1024 its pairwise-distance matrix does not fit in memory when there are many signals
  (n^2 / 2 float64 distances), so above 8000 signals the pixel loop is timed in full and the clustering on a
  random subsample of 8000 signals, scaled by (n / 8000)^2 (marked "extrapolated");
- the speed-up, seed / detect_circles, both timed in the same run.

Then the slider's precomputation: `sweep_circles` over 51 thresholds (0.00, 0.02, ..., 1.00) at 224 x 224,
against 51 separate `detect_circles` calls. The machine may be shared: compare ratios, not absolute times.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import scipy
from scipy.cluster.hierarchy import fclusterdata

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cxrmodel.detection import default_link_distance, detect_circles, sweep_circles  # noqa: E402

SUBSAMPLE_SIGNALS = 8000


def realistic_map(size: int, seed: int = 0) -> np.ndarray:
    """(size, size) attribution map: 4 positive and 2 negative gaussian blobs plus fine gaussian noise."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    attribution = np.zeros((size, size))
    for index in range(6):
        centre_y, centre_x = rng.uniform(0.15, 0.85, 2) * size
        sigma = rng.uniform(0.03, 0.10) * size
        amplitude = rng.uniform(0.4, 1.0) * (1 if index < 4 else -1)
        attribution += amplitude * np.exp(-((ys - centre_y) ** 2 + (xs - centre_x) ** 2) / (2 * sigma**2))
    return attribution + 0.06 * rng.standard_normal((size, size))


def seed_points(attribution: np.ndarray, sight_sensitivity: float) -> tuple[list[list[int]], list[float]]:
    """The seed's per-pixel loop: the (x, y) list of signal pixels and their attributions."""
    positive = np.maximum(attribution, 0.0)
    threshold = sight_sensitivity * positive.max()
    points, weights = [], []
    for row in range(positive.shape[0]):
        for column in range(positive.shape[1]):
            value = positive[row, column]
            if value > 0 and value >= threshold:
                points.append([column, row])
                weights.append(value)
    return points, weights


def seed_circles(points: np.ndarray, weights: np.ndarray, total: float, link_distance: float, min_points: int = 2):
    """The seed's clustering: scipy single linkage cut at the link distance, then circles per cluster."""
    labels = fclusterdata(points, t=link_distance, criterion="distance", method="single")
    circles = []
    for label in np.unique(labels):
        members = labels == label
        if members.sum() < min_points:
            continue
        centre = points[members].mean(axis=0)
        radius = float(np.sqrt(((points[members] - centre) ** 2).sum(axis=1).max()))
        circles.append((centre[0], centre[1], radius, int(members.sum()), weights[members].sum() / total))
    return sorted(circles, key=lambda circle: -circle[4])


def timed(function: Callable[[], object], repeats: int) -> np.ndarray:
    """Wall-clock milliseconds of `repeats` calls (after one warm-up call)."""
    function()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append((time.perf_counter() - started) * 1000.0)
    return np.array(times)


def summary(times: np.ndarray) -> str:
    return f"{np.median(times):.2f} ({np.percentile(times, 10):.2f}-{np.percentile(times, 90):.2f})"


def seed_milliseconds(attribution: np.ndarray, sight_sensitivity: float, repeats: int) -> tuple[float, bool]:
    """Median ms of the seed's path; True when its clustering part was extrapolated from a subsample."""
    link_distance = default_link_distance(attribution.shape[1])
    total = float(np.maximum(attribution, 0.0).sum())
    loop_times, points = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        points, weights = seed_points(attribution, sight_sensitivity)
        loop_times.append((time.perf_counter() - started) * 1000.0)
    points_array, weights_array = np.array(points, dtype=float), np.array(weights)
    count = len(points_array)
    if count <= SUBSAMPLE_SIGNALS:
        cluster_times = timed(lambda: seed_circles(points_array, weights_array, total, link_distance), repeats)
        return float(np.median(np.array(loop_times) + cluster_times)), False
    sample = np.random.default_rng(0).choice(count, SUBSAMPLE_SIGNALS, replace=False)
    cluster_times = timed(
        lambda: seed_circles(points_array[sample], weights_array[sample], total, link_distance), max(1, repeats // 2)
    )
    return float(np.median(loop_times) + np.median(cluster_times) * (count / SUBSAMPLE_SIGNALS) ** 2), True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=25, help="timed calls of detect_circles / sweep_circles")
    parser.add_argument("--seed-repeats", type=int, default=5, help="timed runs of the seed's path at 224 x 224")
    arguments = parser.parse_args()

    print(
        f"Python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start"
    )
    print()
    print("| map | tau | signals | circles | detect_circles ms, median (p10-p90) | seed path ms, median | speed-up |")
    print("|---|---|---|---|---|---|---|")
    for size in (224, 1024):
        attribution = realistic_map(size)
        for sight_sensitivity in (0.7, 0.3):
            detection = detect_circles(attribution, sight_sensitivity)
            fast = timed(lambda attribution=attribution, sight_sensitivity=sight_sensitivity:
                         detect_circles(attribution, sight_sensitivity), arguments.repeats)
            seed_repeats = arguments.seed_repeats if size == 224 else 1
            seed, extrapolated = seed_milliseconds(attribution, sight_sensitivity, seed_repeats)
            note = " (extrapolated)" if extrapolated else ""
            print(
                f"| {size} x {size} | {sight_sensitivity:.1f} | {detection.signals} | {len(detection.circles)} | "
                f"{summary(fast)} | {seed:.1f}{note} | {seed / np.median(fast):.0f}x |"
            )
    print()
    thresholds = [round(0.02 * step, 2) for step in range(51)]
    attribution = realistic_map(224)
    sweep = timed(lambda: sweep_circles(attribution, thresholds), arguments.repeats)
    one_by_one = timed(lambda: [detect_circles(attribution, tau) for tau in thresholds], max(5, arguments.repeats // 3))
    print("| map | thresholds | sweep_circles ms, median (p10-p90) | 51 x detect_circles ms, median | ratio |")
    print("|---|---|---|---|---|")
    print(
        f"| 224 x 224 | 0.00, 0.02, ..., 1.00 (51) | {summary(sweep)} | {np.median(one_by_one):.1f} | "
        f"{np.median(one_by_one) / np.median(sweep):.1f}x |"
    )
    print()
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
