"""Model builders: the architectures a researcher expects, wired so that attribution can re-use them."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from cxrmodel.modeling import ModelConfig  # noqa: E402
from cxrmodel.modeling.builders import build_model, embedding_space_model, model_modality

TINY = ModelConfig(image_size=32, vocabulary_size=20, max_tokens=12, embedding_dimension=8, text_filters=4,
                   compact_widths=(4, 8), image_feature_units=4, text_feature_units=4, fusion_units=4)


def _inputs(config: ModelConfig, count: int = 2) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "image": rng.random((count, config.image_size, config.image_size, 3), dtype=np.float32),
        "report_tokens": rng.integers(0, config.vocabulary_size, (count, config.max_tokens)).astype(np.int32),
    }


@pytest.mark.parametrize("modality", ["multimodal", "image", "text"])
def test_each_modality_outputs_one_probability_per_study(modality):
    model = build_model(modality, TINY)
    inputs = _inputs(TINY)
    names = {"multimodal": ["image", "report_tokens"], "image": ["image"], "text": ["report_tokens"]}[modality]
    output = np.asarray(model({name: inputs[name] for name in names}))
    assert output.shape == (2, 1)
    assert np.all((output > 0) & (output < 1))
    assert model_modality(model) == modality


def test_text_submodel_follows_the_paper():
    config = ModelConfig(vocabulary_size=50)
    model = build_model("text", config)
    embedding = model.get_layer("word_embedding")
    assert embedding.output_dim == 300 and embedding.trainable
    text_encoder = model.get_layer("text_encoder")
    kernel_sizes = sorted(layer.kernel_size[0] for layer in text_encoder.layers if layer.name.startswith("conv_k"))
    assert kernel_sizes == [3, 4, 5]
    assert text_encoder.get_layer("text_dropout").rate == 0.5
    assert text_encoder.input.shape[1:] == (140, 300)


def test_densenet121_backbone_builds_the_papers_multimodal():
    config = ModelConfig(image_size=64, backbone="densenet121", preprocessing="imagenet", vocabulary_size=20)
    model = build_model("multimodal", config)
    backbone_names = [layer.name for layer in model.get_layer("image_encoder").layers]
    assert "densenet121" in backbone_names
    output = np.asarray(model(_inputs(config, 1)))
    assert output.shape == (1, 1)


def test_embedding_space_model_gives_the_same_probability():
    model = build_model("multimodal", TINY)
    inputs = _inputs(TINY)
    embedded = np.asarray(model.get_layer("word_embedding")(inputs["report_tokens"]))
    direct = np.asarray(model(inputs, training=False))
    rewired = np.asarray(embedding_space_model(model)({"image": inputs["image"], "embedded_report": embedded},
                                                      training=False))
    np.testing.assert_allclose(direct, rewired, rtol=1e-5, atol=1e-6)


def test_bad_configuration_is_rejected_with_a_reason():
    with pytest.raises(ValueError, match="backbone"):
        ModelConfig(backbone="vgg99")
    with pytest.raises(ValueError, match="unknown config keys: colour"):
        ModelConfig.from_dict({"colour": "blue"})
    assert ModelConfig(image_size=448).default_link_distance == 20.0
    with pytest.raises(ValueError, match="compact_pooling must be one of average, max"):
        ModelConfig(compact_pooling="median")


def _layer_types(model) -> set[str]:
    backbone = model.get_layer("image_encoder").get_layer("compact_backbone")
    return {type(layer).__name__ for layer in backbone.layers}


def test_compact_backbone_downsamples_by_averaging_for_smoother_gradient_maps():
    assert "AveragePooling2D" in _layer_types(build_model("image", TINY))
    # Max pooling passes each window's gradient to one pixel, average pooling to all four: the input-gradient
    # map (what integrated gradients sums) is less speckled, i.e. neighbouring pixels differ less.
    import tensorflow as tf  # noqa: PLC0415

    images = tf.constant(_inputs(TINY, count=1)["image"])

    def roughness(pooling: str, seed: int) -> float:
        keras.utils.set_random_seed(seed)
        model = build_model("image", ModelConfig(**{**TINY.to_dict(), "compact_pooling": pooling}))
        backbone = model.get_layer("image_encoder").get_layer("compact_backbone")
        with tf.GradientTape() as tape:
            tape.watch(images)
            total = tf.reduce_sum(backbone(images, training=False))
        gradient = np.asarray(tape.gradient(total, images)).sum(axis=-1)[0]
        steps = np.abs(np.diff(gradient, axis=0)).mean() + np.abs(np.diff(gradient, axis=1)).mean()
        return float(steps / (2 * np.abs(gradient).mean()))

    for seed in range(3):
        assert roughness("average", seed) < roughness("max", seed)


def test_a_config_written_before_the_pooling_setting_keeps_max_pooling():
    old = TINY.to_dict()
    del old["compact_pooling"]
    config = ModelConfig.from_dict(old)
    assert config.compact_pooling == "max"
    assert "MaxPooling2D" in _layer_types(build_model("image", config))
    assert ModelConfig.from_dict(TINY.to_dict()) == TINY
