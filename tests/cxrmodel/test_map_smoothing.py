"""Attribution smoothing: keeps the total (so completeness holds), and turns a pooling speckle into one region."""

from __future__ import annotations

import numpy as np
import pytest

from cxrmodel.detection import detect_circles
from cxrmodel.detection.smoothing import smooth_attribution_map


@pytest.mark.parametrize("shape", [(32, 32), (160, 160), (75, 120)])
@pytest.mark.parametrize("sigma", [0.5, 2.0, 7.0])
def test_smoothing_keeps_the_sum_of_a_signed_map_including_mass_at_the_edges(shape, sigma):
    values = np.random.default_rng(shape[0] + int(sigma * 10)).normal(size=shape).astype(np.float32)
    values[0, 0], values[-1, -1] = 40.0, -25.0  # corner mass must not leak out of the map
    smoothed = smooth_attribution_map(values, sigma)
    assert smoothed.shape == shape and smoothed.dtype == np.float32
    assert float(smoothed.sum(dtype=np.float64)) == pytest.approx(float(values.sum(dtype=np.float64)), abs=1e-3)


def test_zero_sigma_is_the_raw_map():
    values = np.random.default_rng(1).normal(size=(20, 30)).astype(np.float32)
    np.testing.assert_array_equal(smooth_attribution_map(values, 0.0), values)


def _speckled_finding(size: int = 96) -> np.ndarray:
    """A 20 x 20 px finding whose attribution sits on one pixel per 2 x 2 window (what a max pool sends back),
    with the winning pixel's strength varying at random, as on a real map."""
    rng = np.random.default_rng(3)
    values = rng.normal(0.0, 0.02, (size, size))
    for row in range(40, 60, 2):
        for column in range(30, 50, 2):
            values[row + rng.integers(2), column + rng.integers(2)] = rng.uniform(0.3, 1.0)
    return values


def test_a_pooling_speckle_gives_one_circle_on_the_finding_once_smoothed():
    values = _speckled_finding()
    # Raw: at tau 0.7 the strongest winners are isolated pixels more than a link distance of 2.5 apart -> few or
    # no clusters of two, none covering the finding.
    raw = detect_circles(values, 0.7, 2.5, 2)
    smoothed = detect_circles(smooth_attribution_map(values, 2.0), 0.7, 2.5, 2)
    assert len(smoothed.circles) == 1
    circle = smoothed.circles[0]
    assert 38 <= circle.y <= 61 and 28 <= circle.x <= 51
    assert circle.points > sum(c.points for c in raw.circles)


@pytest.mark.parametrize("sigma", [-1.0, float("nan"), float("inf"), 65.0])
def test_bad_sigma_is_refused_with_a_message(sigma):
    with pytest.raises(ValueError, match="between 0 and 64"):
        smooth_attribution_map(np.zeros((4, 4)), sigma)


def test_only_two_dimensional_maps_are_smoothed():
    with pytest.raises(ValueError, match="2-D"):
        smooth_attribution_map(np.zeros((4, 4, 3)), 1.0)
