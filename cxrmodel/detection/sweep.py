"""What the slider draws: circles at every slider threshold, mapped to original-image coordinates.

Computed once per explained study and shipped to the browser, which then only picks the nearest threshold.
Like the rest of :mod:`cxrmodel.detection`, this imports nothing else from ``cxrmodel``: the model-grid to image
mapping is any object with the :class:`GridToImage` shape (:class:`cxrmodel.imaging.GridMapping` is one).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from cxrmodel.detection.circles import Circle, sweep_circles


class GridToImage(Protocol):
    """Model-grid -> original-image coordinates (continuous pixel-centre coordinates, pixels)."""

    image_width: int
    image_height: int

    def to_image(self, x: float, y: float) -> tuple[float, float]: ...

    def length_to_image(self, length: float) -> float: ...


def circles_to_image(circles: list[Circle], mapping: GridToImage) -> list[Circle]:
    """Model-grid circles (pixel-index coordinates) -> original-image pixel-index coordinates."""
    converted = []
    for circle in circles:
        # Pixel index -> continuous pixel-centre coordinate (+0.5), map, and back (-0.5).
        x, y = mapping.to_image(circle.x + 0.5, circle.y + 0.5)
        converted.append(
            Circle(
                x=float(x) - 0.5,
                y=float(y) - 0.5,
                r=float(mapping.length_to_image(circle.r)),
                points=circle.points,
                mass=circle.mass,
            )
        )
    return converted


SLIDER_STEP = 0.02
"""Step of the sight-sensitivity slider; the precomputed thresholds are its positions."""

SLIDER_THRESHOLDS = tuple(round(index * SLIDER_STEP, 2) for index in range(round(1.0 / SLIDER_STEP) + 1))
"""Sight sensitivities precomputed for the slider: 0.00, 0.02, ..., 1.00."""


def circle_sweep(
    attribution_map: np.ndarray,
    mapping: GridToImage,
    link_distance: float,
    min_points: int,
    thresholds: tuple[float, ...] = SLIDER_THRESHOLDS,
) -> dict:
    """Circles at every slider threshold, in original-image coordinates, as small JSON for the browser.

    Raising tau only removes signals, so the whole grid comes from one sweep (cxrmodel.detection.circles); the browser
    then only picks the nearest threshold and draws, with no server round trip per slider move.

    Returns:
        ``{"thresholds": [...], "circles": [[{"x","y","r","points","mass"}, ...] per threshold],
        "signals": [int per threshold], "image": {"width", "height"}, "positive_mass": float}``.
        ``positive_mass`` is the sum of the positive values of ``attribution_map`` (attribution units, model
        grid): the denominator of "retained attribution mass". Each circle's ``mass`` is already its share
        of it, so the share retained at a threshold is the sum of that threshold's circle masses, and a
        circle's absolute attribution is ``mass * positive_mass``.
    """
    detections = sweep_circles(attribution_map, thresholds, link_distance, min_points)
    positive_mass = float(np.maximum(np.asarray(attribution_map, dtype=np.float64), 0.0).sum())
    return {
        "thresholds": list(thresholds),
        "circles": [
            [
                {"x": round(c.x, 2), "y": round(c.y, 2), "r": round(c.r, 2), "points": c.points,
                 "mass": round(c.mass, 4)}
                for c in circles_to_image(detection.circles, mapping)
            ]
            for detection in detections
        ],
        "signals": [detection.signals for detection in detections],
        "image": {"width": int(mapping.image_width), "height": int(mapping.image_height)},
        "positive_mass": positive_mass,
    }
