"""Model builders: the architectures a researcher expects, wired so that attribution can re-use them."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from cxrmodel.model import ModelConfig, build_model, embedding_space_model, model_modality  # noqa: E402

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
    rewired = np.asarray(embedding_space_model(model)({"image": inputs["image"], "embedded_report": embedded}, training=False))
    np.testing.assert_allclose(direct, rewired, rtol=1e-5, atol=1e-6)


def test_bad_configuration_is_rejected_with_a_reason():
    with pytest.raises(ValueError, match="backbone"):
        ModelConfig(backbone="vgg99")
    with pytest.raises(ValueError, match="unknown config keys: colour"):
        ModelConfig.from_dict({"colour": "blue"})
    assert ModelConfig(image_size=448).default_link_distance == 20.0
    with pytest.raises(ValueError, match="compact_normalisation must be one of group, batch"):
        ModelConfig(compact_normalisation="layer")
    with pytest.raises(ValueError, match="compact_pooling must be one of average, max"):
        ModelConfig(compact_pooling="median")


def _layer_types(model) -> set[str]:
    backbone = model.get_layer("image_encoder").get_layer("compact_backbone")
    return {type(layer).__name__ for layer in backbone.layers}


def test_compact_backbone_uses_group_norm_and_average_pooling_by_default():
    model = build_model("image", TINY)
    types = _layer_types(model)
    assert {"GroupNormalization", "AveragePooling2D"} <= types
    assert not {"BatchNormalization", "MaxPooling2D"} & types
    encoder_layers = {layer.name for layer in model.get_layer("image_encoder").layers}
    assert "image_feature_norm" not in encoder_layers  # no batch statistics anywhere in the image path


def test_compact_image_encoder_with_group_norm_treats_a_study_alone_as_in_a_batch():
    # Per-image normalisation: a study's features do not depend on the other studies of its batch, in
    # training mode too (batch normalisation would use the batch's statistics there).
    model = build_model("image", TINY)
    images = _inputs(TINY, count=3)["image"]
    encoder = model.get_layer("image_encoder")
    together = np.asarray(encoder(images, training=True))
    alone = np.asarray(encoder(images[:1], training=True))
    np.testing.assert_allclose(together[:1], alone, rtol=1e-4, atol=1e-6)


def test_a_config_written_before_the_compact_settings_keeps_the_old_backbone():
    old = TINY.to_dict()
    del old["compact_normalisation"], old["compact_pooling"]
    config = ModelConfig.from_dict(old)
    assert (config.compact_normalisation, config.compact_pooling) == ("batch", "max")
    model = build_model("image", config)
    assert {"BatchNormalization", "MaxPooling2D"} <= _layer_types(model)
    assert "image_feature_norm" in {layer.name for layer in model.get_layer("image_encoder").layers}
    assert ModelConfig.from_dict(TINY.to_dict()) == TINY
