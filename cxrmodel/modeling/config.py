"""Keras-free description of a model bundle's architecture, preprocessing and explanation defaults.

``config.json`` of every bundle is a :class:`ModelConfig`. Reading it must not load TensorFlow (the web process
reads bundles), so the Keras builders live apart in :mod:`cxrmodel.modeling.builders`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from cxrmodel.detection import DEFAULT_SIGHT_SENSITIVITY, validate_smoothing

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

MODALITIES = ("multimodal", "image", "text")
MODALITY_LABELS = {"multimodal": "multimodal", "image": "image only", "text": "text only"}
"""How tables, charts and the model card name each modality."""

# keras.applications backbones that can serve as image encoder; "compact" is a small CNN defined here for
# the CPU-trained demo (keras.applications has no network small enough to train from scratch in minutes).
APPLICATION_BACKBONES = {
    "densenet121": "DenseNet121",
    "mobilenetv3small": "MobileNetV3Small",
    "efficientnetb0": "EfficientNetB0",
    "resnet50": "ResNet50",
}
BACKBONES = ("compact", *APPLICATION_BACKBONES)
COMPACT_POOLINGS = ("average", "max")
LEGACY_COMPACT_FIELDS = {"compact_pooling": "max"}
"""The compact backbone of configs written before its pooling became a setting."""


@dataclass(frozen=True)
class ModelConfig:
    """Architecture and preprocessing of a model bundle (saved as ``config.json``).

    Attributes:
        image_size: Side of the square model grid in pixels (the paper: 224).
        backbone: One of :data:`BACKBONES`.
        preprocessing: ``"imagenet"`` (mean/std of ImageNet, as CheXNet weights expect) or ``"unit"``
            (pixels used as they are, in [0, 1]).
        max_tokens: Report length after cutting/padding (the paper: 140).
        vocabulary_size: Number of token ids including padding (0) and out-of-vocabulary (1).
        embedding_dimension: Word vector length (the paper: 300).
        text_filters: Filters per Conv1D branch.
        kernel_sizes: Conv1D kernel sizes of the parallel branches (the paper: 3, 4, 5).
        text_l2: L2 weight on the Conv1D kernels (the paper: 0.03).
        dropout: Dropout rate after the text branches and in the decision head (the paper: 0.5).
        image_feature_units: Units of the dense layer after the image encoder's pooled features.
        text_feature_units: Units of the dense layer after the concatenated text branches.
        fusion_units: Units of the hidden dense layer of the decision head.
        compact_widths: Channel widths of the compact backbone's stages.
        compact_pooling: Downsampling between the compact backbone's stages: ``"average"`` (2 x 2 average
            pooling: every pixel of a window receives gradient, so integrated-gradients maps are not a
            one-pixel-in-four speckle) or ``"max"`` (the bundles written before this field existed).
        default_sight_sensitivity: Default threshold tau for the circles (the paper's notebook: 0.70).
        default_link_distance: Default single-linkage distance in model-grid pixels (10 on a 224 grid).
        default_image_baseline: Image end of the integrated-gradients path: ``"black"`` (the paper's) or
            ``"mean"`` (the bundle's ``image_baseline.png``, the mean of the normal training images — use it
            when the model calls a black image abnormal, which makes black-baseline attributions meaningless).
        default_attribution_smoothing: Sigma in model-grid pixels of the sum-preserving Gaussian blur applied to
            the image attribution map before the circles are found (:mod:`cxrmodel.detection.smoothing`); 0 = the raw
            map, as in the paper.
    """

    image_size: int = 224
    backbone: str = "compact"
    preprocessing: str = "unit"
    max_tokens: int = 140
    vocabulary_size: int = 2
    embedding_dimension: int = 300
    text_filters: int = 64
    kernel_sizes: tuple[int, ...] = (3, 4, 5)
    text_l2: float = 0.03
    dropout: float = 0.5
    image_feature_units: int = 64
    text_feature_units: int = 64
    fusion_units: int = 32
    compact_widths: tuple[int, ...] = (16, 32, 48, 64, 96)
    compact_pooling: str = "average"
    default_sight_sensitivity: float = DEFAULT_SIGHT_SENSITIVITY
    default_link_distance: float = field(default=-1.0)
    default_image_baseline: str = "black"
    default_attribution_smoothing: float = 0.0

    def __post_init__(self) -> None:
        if self.backbone not in BACKBONES:
            raise ValueError(f"unknown backbone {self.backbone!r}; choose one of {', '.join(BACKBONES)}")
        if self.preprocessing not in ("imagenet", "unit"):
            raise ValueError(f"preprocessing must be 'imagenet' or 'unit', got {self.preprocessing!r}")
        if self.compact_pooling not in COMPACT_POOLINGS:
            raise ValueError(f"compact_pooling must be one of {', '.join(COMPACT_POOLINGS)}, "
                             f"got {self.compact_pooling!r}")
        if self.image_size < 32:
            raise ValueError(f"image_size must be at least 32 pixels, got {self.image_size}")
        if self.vocabulary_size < 2:
            raise ValueError("vocabulary_size must count at least the padding and out-of-vocabulary ids")
        if self.default_image_baseline not in ("black", "blur", "mean"):
            raise ValueError(f"default_image_baseline must be black, blur or mean, got {self.default_image_baseline!r}")
        if not 0.0 <= self.default_sight_sensitivity <= 1.0:
            raise ValueError("default_sight_sensitivity must be in [0, 1]")
        object.__setattr__(self, "default_attribution_smoothing",
                           validate_smoothing(self.default_attribution_smoothing))
        if self.default_link_distance < 0:
            # The paper's 10 px on a 224 grid, scaled to this grid.
            object.__setattr__(self, "default_link_distance", round(10.0 * self.image_size / 224.0, 3))
        object.__setattr__(self, "kernel_sizes", tuple(int(k) for k in self.kernel_sizes))
        object.__setattr__(self, "compact_widths", tuple(int(w) for w in self.compact_widths))

    def to_dict(self) -> dict:
        """Plain-JSON form."""
        data = asdict(self)
        data["kernel_sizes"] = list(self.kernel_sizes)
        data["compact_widths"] = list(self.compact_widths)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        """Inverse of :meth:`to_dict`; unknown keys are rejected so typos in config.json are caught.

        A config written before ``compact_pooling`` existed describes the compact backbone of that time
        (max pooling), so that is filled in for it.
        """
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown config keys: {', '.join(unknown)}")
        return cls(**{**LEGACY_COMPACT_FIELDS, **data})
