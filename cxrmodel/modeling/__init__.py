"""The model as files: a Keras-free :class:`ModelConfig` and the bundle (model + vocabulary + config + card).

Everything re-exported here is importable without TensorFlow: :func:`load_bundle` imports Keras only when it
really loads the model. The Keras builders (:mod:`cxrmodel.modeling.builders`) and the CheXNet weight import
(:mod:`cxrmodel.modeling.chexnet`) load TensorFlow and are imported by their full path, by the processes that
compute.
"""

from cxrmodel.modeling.bundle import (
    BUNDLE_FILES,
    CARD_FILE,
    CONFIG_FILE,
    IMAGE_BASELINE_FILE,
    MODEL_FILE,
    VOCABULARY_FILE,
    Bundle,
    BundleError,
    PreparedStudy,
    bundle_fingerprint,
    load_bundle,
    save_bundle,
    write_image_baseline,
)
from cxrmodel.modeling.config import (
    APPLICATION_BACKBONES,
    BACKBONES,
    COMPACT_POOLINGS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    LEGACY_COMPACT_FIELDS,
    MODALITIES,
    MODALITY_LABELS,
    ModelConfig,
)

__all__ = [
    "APPLICATION_BACKBONES",
    "BACKBONES",
    "BUNDLE_FILES",
    "CARD_FILE",
    "COMPACT_POOLINGS",
    "CONFIG_FILE",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "IMAGE_BASELINE_FILE",
    "LEGACY_COMPACT_FIELDS",
    "MODALITIES",
    "MODALITY_LABELS",
    "MODEL_FILE",
    "VOCABULARY_FILE",
    "Bundle",
    "BundleError",
    "ModelConfig",
    "PreparedStudy",
    "bundle_fingerprint",
    "load_bundle",
    "save_bundle",
    "write_image_baseline",
]
