"""Model builders: image submodel, Kim-style text submodel, the multimodal and single-modality comparisons.

Every model is assembled from three named sub-models so that the explanation engine can re-wire them:

* ``image_encoder``  — (batch, S, S, 3) float in [0, 1] -> image features. Normalisation happens inside,
  so callers always pass display-range pixels.
* ``word_embedding`` — an Embedding layer (token ids -> (batch, 140, 300) vectors, trainable).
* ``text_encoder``   — (batch, 140, 300) embedded report -> text features (Conv1D 3/4/5 branches).
* ``decision_head``  — features -> P(abnormal), one sigmoid unit.

Integrated gradients needs gradients with respect to the *embedding output* (token ids are not
differentiable); :func:`embedding_space_model` builds the same network with the embedded report as input.
The deletion evidence reads the decision on the log-odds scale; :func:`log_odds_model` builds the same network
with the sigmoid of ``abnormal_probability`` left off (the saved model is not changed).
"""

from __future__ import annotations

import logging

import keras
from keras import layers, ops

from cxrmodel.modeling.config import (
    APPLICATION_BACKBONES,
    IMAGENET_MEAN,
    IMAGENET_STD,
    MODALITIES,
    ModelConfig,
)

logger = logging.getLogger(__name__)

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


def _fused_features(model: keras.Model, report_input: str) -> tuple[dict[str, keras.KerasTensor], keras.KerasTensor]:
    """New inputs for ``model``'s encoders and the fused features they give (the decision head's input).

    Args:
        model: A model built by :func:`build_model`.
        report_input: ``"embedded_report"`` (the text encoder's input, for gradients) or ``"report_tokens"``
            (token ids through the model's own embedding layer).

    Returns:
        ``(inputs by name, fused features)``, sharing every weight with ``model``.
    """
    modality = model_modality(model)
    inputs: dict[str, keras.KerasTensor] = {}
    features = []
    if modality in ("multimodal", "image"):
        image_encoder = model.get_layer("image_encoder")
        inputs["image"] = keras.Input(image_encoder.input.shape[1:], name="image")
        features.append(image_encoder(inputs["image"]))
    if modality in ("multimodal", "text"):
        text_encoder = model.get_layer("text_encoder")
        if report_input == "embedded_report":
            inputs["embedded_report"] = keras.Input(text_encoder.input.shape[1:], name="embedded_report")
            embedded = inputs["embedded_report"]
        else:
            tokens = model.get_layer("report_tokens")
            inputs["report_tokens"] = keras.Input(tokens.output.shape[1:], dtype="int32", name="report_tokens")
            embedded = model.get_layer("word_embedding")(inputs["report_tokens"])
        features.append(text_encoder(embedded))
    joined = layers.Concatenate(name="fused_features")(features) if len(features) > 1 else features[0]
    return inputs, joined


def embedding_space_model(model: keras.Model) -> keras.Model:
    """The same model with the *embedded* report as input instead of token ids.

    Shares every weight with ``model``, of any of :data:`MODALITIES`. Inputs (a dict): ``image`` (batch, S, S, 3)
    when the model reads the image and ``embedded_report`` (batch, max_tokens, embedding_dimension) when it reads
    the report; output P(abnormal) (batch, 1). Used for integrated gradients.
    """
    inputs, joined = _fused_features(model, "embedded_report")
    return keras.Model(inputs, model.get_layer("decision_head")(joined), name="embedding_space_model")


class PreSigmoidReadout(layers.Layer):
    """The output unit of a sigmoid ``Dense(1)`` without its sigmoid: ``hidden @ kernel + bias``.

    Holds the Dense layer itself, so it reads the same weights (nothing is copied) and computes exactly what the
    Dense layer feeds its activation.
    """

    def __init__(self, dense: layers.Dense, **kwargs) -> None:
        super().__init__(**kwargs)
        self.dense = dense

    def call(self, hidden):
        log_odds = ops.matmul(hidden, self.dense.kernel)
        return log_odds if self.dense.bias is None else ops.add(log_odds, self.dense.bias)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.dense.units)


def log_odds_model(model: keras.Model) -> keras.Model:
    """The same model with the log-odds of abnormal as output: the input of the final sigmoid, not its output.

    A saturated sigmoid hides every effect on the probability scale, and in float32 P(abnormal) rounds to exactly
    1.0 beyond about 16.6 log-odds, where log(P / (1 − P)) is infinite; the pre-sigmoid value stays finite.
    Shares every weight with ``model`` (of any of :data:`MODALITIES`); dropout is off in inference, so
    ``sigmoid(log_odds_model(x)) == model(x)``.

    Inputs (a dict, as ``model``'s): ``image`` (batch, S, S, 3) and / or ``report_tokens`` (batch, max_tokens)
    int32. Output: (batch, 1) log-odds, natural log.
    """
    head = model.get_layer("decision_head")
    readout = head.get_layer("abnormal_probability")
    before_readout = keras.Model(head.inputs, readout.input, name="decision_hidden")
    inputs, joined = _fused_features(model, "report_tokens")
    log_odds = PreSigmoidReadout(readout, name="abnormal_log_odds")(before_readout(joined))
    return keras.Model(inputs, log_odds, name="log_odds_model")
