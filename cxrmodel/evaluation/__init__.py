"""How good are the circles, and how far to trust P(abnormal)?

Lesion hits against synthetic ground truth, per study and over a folder; and the calibration of the model's
probability (:mod:`~cxrmodel.evaluation.calibration`: temperature scaling, reliability bins, expected calibration
error; numpy and scipy only).

:mod:`~cxrmodel.evaluation.lesion_hits` is what the dashboard needs (numpy and the truth readers only);
:mod:`~cxrmodel.evaluation.detection_quality` sweeps tau over a folder with its controls (chance and
counterfactual hit rates) and explains studies, so it loads TensorFlow when it runs, not when imported.
"""

from cxrmodel.evaluation.calibration import (
    CalibrationError,
    apply_temperature,
    calibration_decision,
    calibration_document,
    calibration_shortfall,
    cross_validated_ece,
    expected_calibration_error,
    fit_temperature,
    logits,
    negative_log_likelihood,
    reliability_bins,
)
from cxrmodel.evaluation.detection_quality import (
    DEFAULT_SWEEP,
    DetectionReport,
    LesionOutcome,
    ThresholdQuality,
    detection_report,
    quality_document,
    write_quality_json,
)
from cxrmodel.evaluation.lesion_hits import (
    centre_inside,
    circle_coverage,
    lesion_masks_for_study,
    lesion_point,
    lesions_hit,
    point_inside_circle,
    points_hit,
    sweep_hit_rates,
)

__all__ = [
    "CalibrationError",
    "DEFAULT_SWEEP",
    "DetectionReport",
    "LesionOutcome",
    "ThresholdQuality",
    "apply_temperature",
    "calibration_decision",
    "calibration_document",
    "calibration_shortfall",
    "centre_inside",
    "circle_coverage",
    "cross_validated_ece",
    "detection_report",
    "expected_calibration_error",
    "fit_temperature",
    "lesion_masks_for_study",
    "lesion_point",
    "lesions_hit",
    "point_inside_circle",
    "points_hit",
    "logits",
    "negative_log_likelihood",
    "reliability_bins",
    "sweep_hit_rates",
    "quality_document",
    "write_quality_json",
]
