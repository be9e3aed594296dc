"""Circles around the strongest pixels of an attribution map, and what the slider draws of them.

The exact definition is at the top of :mod:`cxrmodel.detection.circles`. This package imports numpy, scipy and
numba only, never TensorFlow nor anything else from ``cxrmodel`` (tests/cxrmodel/test_import_boundaries.py): the
slider path and ``python -m cxrmodel detect`` run it without the model. The private engines (``_grid``,
``_clusters``, ``_runs``, ``_incremental``) are not part of the API.
"""

from cxrmodel.detection.circles import (
    DEFAULT_MIN_POINTS,
    DEFAULT_SIGHT_SENSITIVITY,
    Circle,
    Detection,
    cluster_labels,
    default_link_distance,
    detect_circles,
    load_compiled_detection,
    sweep_circles,
)
from cxrmodel.detection.smoothing import MAX_SMOOTHING, smooth_attribution_map, validate_smoothing
from cxrmodel.detection.sweep import SLIDER_STEP, SLIDER_THRESHOLDS, GridToImage, circle_sweep, circles_to_image

__all__ = [
    "DEFAULT_MIN_POINTS",
    "DEFAULT_SIGHT_SENSITIVITY",
    "MAX_SMOOTHING",
    "SLIDER_STEP",
    "SLIDER_THRESHOLDS",
    "Circle",
    "Detection",
    "GridToImage",
    "circle_sweep",
    "circles_to_image",
    "cluster_labels",
    "default_link_distance",
    "detect_circles",
    "load_compiled_detection",
    "smooth_attribution_map",
    "sweep_circles",
    "validate_smoothing",
]
