"""Why the model says what it says: integrated gradients over the image and the report, for one study at a time.

One algorithm per module (as in Captum's ``captum/attr``): :mod:`~cxrmodel.explain.integrated_gradients` (the
compiled engine; TensorFlow is imported when an explainer is built), :mod:`~cxrmodel.explain.quadrature` (the
integration rules), :mod:`~cxrmodel.explain.baselines`, :mod:`~cxrmodel.explain.settings` (the defaults, also
the cache-key part), :mod:`~cxrmodel.explain.results` (the result types), :mod:`~cxrmodel.explain.study` (a
study in, an explanation out) and :mod:`~cxrmodel.explain.cache`. Everything re-exported here is importable
without TensorFlow.
"""

from cxrmodel.explain.baselines import BLUR_SIGMA_FRACTION, IMAGE_BASELINES, make_image_baseline
from cxrmodel.explain.cache import CorruptEntryError, ExplanationCache, explanation_key
from cxrmodel.explain.quadrature import METHODS
from cxrmodel.explain.results import (
    DIFFERENCE_FLOOR,
    Completeness,
    StudyAttribution,
    WordAttribution,
    word_attributions,
)
from cxrmodel.explain.settings import ADAPTIVE_METHOD, DEFAULT_INTEGRATION, IntegrationSettings
from cxrmodel.explain.study import (
    Explanation,
    ExplanationSettings,
    ProgressCallback,
    StudyExplainer,
    attribution_arrays,
    explanation_document,
)

__all__ = [
    "ADAPTIVE_METHOD",
    "BLUR_SIGMA_FRACTION",
    "DEFAULT_INTEGRATION",
    "DIFFERENCE_FLOOR",
    "IMAGE_BASELINES",
    "METHODS",
    "Completeness",
    "CorruptEntryError",
    "Explanation",
    "ExplanationCache",
    "ExplanationSettings",
    "IntegrationSettings",
    "ProgressCallback",
    "StudyAttribution",
    "StudyExplainer",
    "WordAttribution",
    "attribution_arrays",
    "explanation_document",
    "explanation_key",
    "make_image_baseline",
    "word_attributions",
]
