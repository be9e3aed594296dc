"""cxrmodel: everything that is not UI — imaging, text, models, attribution, data.

Importing this package must stay cheap: submodules that need TensorFlow import it lazily so that the
slider path (`cxrmodel.detection.circles`) and the data tools never pay for it.
"""

__version__ = "0.1.0"
