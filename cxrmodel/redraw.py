"""An explanation's circles at another sight sensitivity, without computing a gradient again.

The explainer draws the circles at one τ; a notebook often wants others. The image attribution map an
:class:`~cxrmodel.explain.Explanation` carries is the one its circles were found on (smoothed when smoothing is
on), so the circles at any τ, and the slider's whole sweep, follow from it exactly as the dashboard draws them
(:func:`~cxrmodel.detection.detect_circles`, :func:`~cxrmodel.detection.circle_sweep`). numpy, scipy and numba
only: no TensorFlow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cxrmodel.detection import (
    DEFAULT_MIN_POINTS,
    SLIDER_THRESHOLDS,
    Circle,
    circle_sweep,
    circles_to_image,
    detect_circles,
)

if TYPE_CHECKING:
    from cxrmodel.explain import Explanation

__all__ = ["circles_at", "sweep_of"]


def _image_map(explanation: Explanation):
    image_map = explanation.attribution.image_attribution
    if image_map is None:
        raise ValueError("this explanation has no image attribution map: its model does not read the radiograph")
    return image_map


def circles_at(explanation: Explanation, sight_sensitivity: float, *,
               min_points: int = DEFAULT_MIN_POINTS) -> list[Circle]:
    """The circles of ``explanation`` at sight sensitivity τ, in original-image pixels.

    Args:
        explanation: What :meth:`cxrmodel.explain.StudyExplainer.explain` returned.
        sight_sensitivity: τ in [0, 1]; higher draws fewer, stronger circles.
        min_points: Smallest cluster drawn as a circle (the explanation's settings used the same default).

    Returns:
        The circles (``x``, ``y``, ``r``, ``points``, ``mass``), the same as the explainer draws at this τ with the
        explanation's link distance.

    Raises:
        ValueError: for a text-only explanation (no image map) or a τ outside [0, 1].
    """
    if not 0.0 <= sight_sensitivity <= 1.0:
        raise ValueError(f"sight sensitivity must be between 0 and 1, got {sight_sensitivity}")
    detection = detect_circles(_image_map(explanation), sight_sensitivity, explanation.link_distance, min_points)
    return circles_to_image(detection.circles, explanation.prepared.mapping)


def sweep_of(explanation: Explanation, *, min_points: int = DEFAULT_MIN_POINTS,
             thresholds: tuple[float, ...] = SLIDER_THRESHOLDS) -> dict:
    """The circles at every slider threshold (τ = 0.00, 0.02, …, 1.00 by default), as the dashboard's slider has them.

    Args:
        explanation: What :meth:`cxrmodel.explain.StudyExplainer.explain` returned.
        min_points: Smallest cluster drawn as a circle.
        thresholds: The τ values to sweep, ascending.

    Returns:
        :func:`cxrmodel.detection.circle_sweep`'s JSON-ready document (thresholds and circles per threshold, in
        original-image pixels).

    Raises:
        ValueError: for a text-only explanation (no image map).
    """
    return circle_sweep(_image_map(explanation), explanation.prepared.mapping, explanation.link_distance, min_points,
                        thresholds)
