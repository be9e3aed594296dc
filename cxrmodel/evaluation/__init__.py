"""How good are the circles? Lesion hits against synthetic ground truth, per study and over a folder.

:mod:`~cxrmodel.evaluation.lesion_hits` is what the dashboard needs (numpy and the truth readers only);
:mod:`~cxrmodel.evaluation.detection_quality` sweeps tau over a folder with its controls (chance and
counterfactual hit rates) and explains studies, so it loads TensorFlow when it runs, not when imported.
"""

from cxrmodel.evaluation.detection_quality import (
    DEFAULT_SWEEP,
    DetectionReport,
    LesionOutcome,
    ThresholdQuality,
    detection_report,
    write_quality_json,
)
from cxrmodel.evaluation.lesion_hits import centre_inside, lesion_masks_for_study, lesions_hit, sweep_hit_rates

__all__ = [
    "DEFAULT_SWEEP",
    "DetectionReport",
    "LesionOutcome",
    "ThresholdQuality",
    "centre_inside",
    "detection_report",
    "lesion_masks_for_study",
    "lesions_hit",
    "sweep_hit_rates",
    "write_quality_json",
]
