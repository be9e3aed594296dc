"""Why the model says what it says: integrated gradients over the image and the report, for one study at a time.

One algorithm per module (as in Captum's ``captum/attr``): :mod:`~cxrmodel.explain.integrated_gradients` (the
compiled engine; TensorFlow is imported when an explainer is built), :mod:`~cxrmodel.explain.quadrature` (the
integration rules), :mod:`~cxrmodel.explain.baselines`, :mod:`~cxrmodel.explain.settings` (the defaults, also
the cache-key part), :mod:`~cxrmodel.explain.results` (the result types), :mod:`~cxrmodel.explain.study` (a
study in, an explanation out), :mod:`~cxrmodel.explain.cache` (with :mod:`~cxrmodel.explain.keys` and the store of
views drawn from it, :mod:`~cxrmodel.explain.views`) and :mod:`~cxrmodel.explain.disclosure` (what of an
explanation every output may show). Everything re-exported here is importable
without TensorFlow.
"""

from cxrmodel.explain.baselines import BLUR_SIGMA_FRACTION, IMAGE_BASELINES, make_image_baseline
from cxrmodel.explain.cache import CorruptEntryError, ExplanationCache, explanation_key
from cxrmodel.explain.disclosure import COVERED_PARTS, REFUSE, SHOW, WITHHOLD, Disclosure
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
    study_distribution,
)

__all__ = [
    "ADAPTIVE_METHOD",
    "BLUR_SIGMA_FRACTION",
    "COVERED_PARTS",
    "DEFAULT_INTEGRATION",
    "DIFFERENCE_FLOOR",
    "IMAGE_BASELINES",
    "METHODS",
    "REFUSE",
    "SHOW",
    "WITHHOLD",
    "Completeness",
    "CorruptEntryError",
    "Disclosure",
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
    "study_distribution",
    "word_attributions",
]
