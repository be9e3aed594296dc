"""cxrmodel: everything that is not UI — imaging, text, models, explanations, circles, data, training.

Subpackages, one reason each (each declares its public API in ``__all__``): ``detection`` (circles; numpy,
scipy and numba only), ``explain`` (integrated gradients and the study explainer), ``modeling`` (config and
bundle; Keras builders apart), ``imaging``, ``evaluation``, ``rendering``, ``data`` (with ``data.synthetic``),
``training`` and ``cli``.

The names below are the notebook's API (docs/api.md): load a bundle, explain a study, redraw its circles at
another sight sensitivity or over the slider's sweep, the result types and the JSON document. They are declared
once, in :data:`_API` (name -> module), and imported on first use (PEP 562 module ``__getattr__``), so
``import cxrmodel`` stays cheap: TensorFlow is imported only where a model is built or loaded, and the web process
and the slider path never pay for it (tests/test_import_boundaries.py, tests/test_api_docs.py).
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_API = {
    # A model bundle: load it, what it holds, its error.
    "load_bundle": "cxrmodel.modeling",
    "Bundle": "cxrmodel.modeling",
    "BundleError": "cxrmodel.modeling",
    # Studies of an OpenI folder (studies/demo, your own data).
    "StudyCollection": "cxrmodel.data",
    # Explaining a study, and the result types.
    "StudyExplainer": "cxrmodel.explain",
    "ExplanationSettings": "cxrmodel.explain",
    "ExplanationCache": "cxrmodel.explain",
    "Explanation": "cxrmodel.explain",
    "StudyAttribution": "cxrmodel.explain",
    "WordAttribution": "cxrmodel.explain",
    "Completeness": "cxrmodel.explain",
    "word_attributions": "cxrmodel.explain",
    # The JSON document (what `python -m cxrmodel explain --json` prints) and what of it may be shown.
    "explanation_document": "cxrmodel.explain",
    "Disclosure": "cxrmodel.explain",
    # Circles: at another sight sensitivity, over the slider's sweep, and the definition itself.
    "circles_at": "cxrmodel.redraw",
    "sweep_of": "cxrmodel.redraw",
    "Circle": "cxrmodel.detection",
    "detect_circles": "cxrmodel.detection",
    "circle_sweep": "cxrmodel.detection",
    "SLIDER_THRESHOLDS": "cxrmodel.detection",
}

__all__ = list(_API)

def __getattr__(name: str):
    """Import an API name's module on first use (a subpackage, e.g. ``cxrmodel.cli``, is found as usual)."""
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'cxrmodel' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})
