"""Model builders: image submodel, Kim-style text submodel, the multimodal and single-modality comparisons.

Every model is assembled from three named sub-models so that the explanation engine can re-wire them:

* ``image_encoder``  — (batch, S, S, 3) float in [0, 1] -> image features. Normalisation happens inside,
  so callers always pass display-range pixels.
* ``word_embedding`` — an Embedding layer (token ids -> (batch, 140, 300) vectors, trainable).
* ``text_encoder``   — (batch, 140, 300) embedded report -> text features (Conv1D 3/4/5 branches).
* ``decision_head``  — features -> P(abnormal), one sigmoid unit.

Integrated gradients needs gradients with respect to the *embedding output* (token ids are not
differentiable); :func:`embedding_space_model` builds the same network with the embedded report as input.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field

import keras
from keras import layers

from cxrmodel.detection.smoothing import validate_smoothing

logger = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

MODALITIES = ("multimodal", "image", "text")

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
    default_sight_sensitivity: float = 0.70
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
        object.__setattr__(self, "default_attribution_smoothing", validate_smoothing(self.default_attribution_smoothing))
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


def _compact_backbone(config: ModelConfig) -> keras.Model:
    """A small VGG-style CNN: per stage two 3x3 conv + batch norm + ReLU, then 2x2 pooling (``compact_pooling``)."""
    inputs = keras.Input((config.image_size, config.image_size, 3), name="normalised_image")
    features = inputs
    for stage, width in enumerate(config.compact_widths):
        convolutions = 1 if stage == 0 else 2
        for index in range(convolutions):
            features = layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"stage{stage}_conv{index}")(
                features
            )
            # Momentum 0.9 (Keras default 0.99): the demo trains for a few hundred steps only, and slow moving
            # statistics made held-out predictions lag far behind training ones. (Group normalisation, tried
            # instead for its batch-independent statistics, did not learn the demo task in 6 epochs.)
            features = layers.BatchNormalization(momentum=0.9, name=f"stage{stage}_bn{index}")(features)
            features = layers.ReLU(name=f"stage{stage}_relu{index}")(features)
        if stage < len(config.compact_widths) - 1:
            pooling = layers.AveragePooling2D if config.compact_pooling == "average" else layers.MaxPooling2D
            features = pooling(2, name=f"stage{stage}_pool")(features)
    pooled = layers.GlobalAveragePooling2D(name="average_pool")(features)
    return keras.Model(inputs, pooled, name="compact_backbone")


def _application_backbone(config: ModelConfig) -> keras.Model:
    """A keras.applications network without its top, random weights (no weights can be downloaded here)."""
    constructor = getattr(keras.applications, APPLICATION_BACKBONES[config.backbone])
    keyword_arguments = {}
    if config.backbone == "mobilenetv3small":
        keyword_arguments["include_preprocessing"] = False
    return constructor(
        include_top=False,
        weights=None,
        input_shape=(config.image_size, config.image_size, 3),
        pooling="avg",
        **keyword_arguments,
    )


def build_backbone(config: ModelConfig) -> keras.Model:
    """The image backbone named in ``config`` with global average pooling: (S, S, 3) -> (channels,)."""
    if config.backbone == "compact":
        return _compact_backbone(config)
    return _application_backbone(config)


def build_image_encoder(config: ModelConfig) -> keras.Model:
    """Image submodel: normalisation -> backbone -> batch norm -> small dense layer.

    Input (batch, S, S, 3) float32 in [0, 1]; output (batch, image_feature_units).
    """
    image = keras.Input((config.image_size, config.image_size, 3), name="image")
    if config.preprocessing == "imagenet":
        normalised = layers.Normalization(
            mean=list(IMAGENET_MEAN), variance=[s * s for s in IMAGENET_STD], name="imagenet_normalisation"
        )(image)
    else:
        normalised = image
    pooled = build_backbone(config)(normalised)
    features = layers.BatchNormalization(momentum=0.9, name="image_feature_norm")(pooled)
    features = layers.Dense(config.image_feature_units, activation="relu", name="image_features")(features)
    return keras.Model(image, features, name="image_encoder")


def build_word_embedding(config: ModelConfig) -> layers.Embedding:
    """Trainable word embedding (token ids -> embedding_dimension vectors); id 0 is padding."""
    return layers.Embedding(config.vocabulary_size, config.embedding_dimension, name="word_embedding")


def build_text_encoder(config: ModelConfig) -> keras.Model:
    """Kim-style text submodel over an embedded report.

    Input (batch, max_tokens, embedding_dimension); parallel Conv1D branches (ReLU, "same" padding, L2),
    each max-pooled over time, concatenated, dropout, dense. Output (batch, text_feature_units).
    """
    embedded = keras.Input((config.max_tokens, config.embedding_dimension), name="embedded_report")
    branches = []
    for kernel_size in config.kernel_sizes:
        branch = layers.Conv1D(
            config.text_filters,
            kernel_size,
            padding="same",
            activation="relu",
            kernel_regularizer=keras.regularizers.L2(config.text_l2),
            name=f"conv_k{kernel_size}",
        )(embedded)
        branches.append(layers.GlobalMaxPooling1D(name=f"max_pool_k{kernel_size}")(branch))
    merged = layers.Concatenate(name="text_branches")(branches) if len(branches) > 1 else branches[0]
    merged = layers.Dropout(config.dropout, name="text_dropout")(merged)
    features = layers.Dense(config.text_feature_units, activation="relu", name="text_features")(merged)
    return keras.Model(embedded, features, name="text_encoder")


def build_decision_head(feature_units: int, config: ModelConfig) -> keras.Model:
    """Features (batch, feature_units) -> P(abnormal) (batch, 1) via one hidden layer and one sigmoid."""
    features = keras.Input((feature_units,), name="features")
    hidden = layers.Dense(config.fusion_units, activation="relu", name="fusion_hidden")(features)
    hidden = layers.Dropout(config.dropout, name="fusion_dropout")(hidden)
    probability = layers.Dense(1, activation="sigmoid", name="abnormal_probability")(hidden)
    return keras.Model(features, probability, name="decision_head")


def _report_input(config: ModelConfig) -> keras.KerasTensor:
    return keras.Input((config.max_tokens,), dtype="int32", name="report_tokens")


def _image_input(config: ModelConfig) -> keras.KerasTensor:
    return keras.Input((config.image_size, config.image_size, 3), name="image")


def build_model(
    modality: str,
    config: ModelConfig,
    *,
    image_encoder: keras.Model | None = None,
    text_encoder: keras.Model | None = None,
    word_embedding: layers.Embedding | None = None,
) -> keras.Model:
    """Build the multimodal or a single-modality comparison model.

    Encoders may be passed in to transfer them (e.g. the image encoder of a trained image-only model into a
    multimodal that is then fine-tuned at a low learning rate, as in the paper).

    Args:
        modality: ``"multimodal"`` (inputs ``image`` and ``report_tokens``), ``"image"`` or ``"text"``.
        config: Architecture.
        image_encoder: Optional prebuilt image encoder to reuse.
        text_encoder: Optional prebuilt text encoder to reuse.
        word_embedding: Optional prebuilt embedding layer to reuse.

    Returns:
        An uncompiled Keras model whose output is P(abnormal), shape (batch, 1).
    """
    if modality not in MODALITIES:
        raise ValueError(f"modality must be one of {', '.join(MODALITIES)}, got {modality!r}")
    # Inputs are always a dict keyed by input name, so every model takes the same kind of batch.
    inputs: dict[str, keras.KerasTensor] = {}
    features = []
    if modality in ("multimodal", "image"):
        image_encoder = image_encoder or build_image_encoder(config)
        inputs["image"] = _image_input(config)
        features.append(image_encoder(inputs["image"]))
    if modality in ("multimodal", "text"):
        text_encoder = text_encoder or build_text_encoder(config)
        word_embedding = word_embedding or build_word_embedding(config)
        inputs["report_tokens"] = _report_input(config)
        features.append(text_encoder(word_embedding(inputs["report_tokens"])))
    joined = layers.Concatenate(name="fused_features")(features) if len(features) > 1 else features[0]
    head = build_decision_head(int(joined.shape[-1]), config)
    probability = head(joined)
    return keras.Model(inputs, probability, name=f"{modality}_model")


def model_modality(model: keras.Model) -> str:
    """Which of :data:`MODALITIES` a model built by :func:`build_model` is."""
    names = {tensor.name.split(":")[0] for tensor in model.inputs}
    if {"image", "report_tokens"} <= names:
        return "multimodal"
    if "image" in names:
        return "image"
    if "report_tokens" in names:
        return "text"
    raise ValueError(f"model inputs {sorted(names)} are neither 'image' nor 'report_tokens'")


def embedding_space_model(model: keras.Model) -> keras.Model:
    """The same multimodal with the *embedded* report as input instead of token ids.

    Shares every weight with ``model``. Inputs: ``image`` (batch, S, S, 3) and ``embedded_report``
    (batch, max_tokens, embedding_dimension); output P(abnormal) (batch, 1). Used for integrated gradients.
    """
    image_encoder = model.get_layer("image_encoder")
    text_encoder = model.get_layer("text_encoder")
    head = model.get_layer("decision_head")
    image = keras.Input(image_encoder.input.shape[1:], name="image")
    embedded = keras.Input(text_encoder.input.shape[1:], name="embedded_report")
    joined = layers.Concatenate(name="fused_features")([image_encoder(image), text_encoder(embedded)])
    return keras.Model({"image": image, "embedded_report": embedded}, head(joined), name="embedding_space_model")
