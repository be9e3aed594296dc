"""cxrmodel: everything that is not UI — imaging, text, models, explanations, circles, data, training.

Subpackages, one reason each (each declares its public API in ``__all__``): ``detection`` (circles; numpy,
scipy and numba only), ``explain`` (integrated gradients and the study explainer), ``modeling`` (config and
bundle; Keras builders apart), ``imaging``, ``evaluation``, ``rendering``, ``data`` (with ``data.synthetic``),
``training`` and ``cli``. Importing this package must stay cheap: TensorFlow is imported only where a model is
built or loaded, so the web process and the slider path never pay for it (tests/test_import_boundaries.py).
"""

__version__ = "0.1.0"
