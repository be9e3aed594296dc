"""cxrmodel.modeling.chexnet: CheXNet Keras weights (written here in the Keras 2 legacy HDF5 layout) into the
encoder.
"""

from __future__ import annotations

import h5py
import keras
import numpy as np
import pytest

from cxrmodel.modeling import IMAGENET_MEAN, IMAGENET_STD, ModelConfig
from cxrmodel.modeling.builders import build_image_encoder
from cxrmodel.modeling.chexnet import (
    CHEXNET_FINDINGS,
    ChexnetWeightsError,
    load_chexnet_weights,
)

# Keras 2 names of the layers Keras 3 renamed ("/" is no longer allowed in a layer name).
KERAS2_NAMES = {"conv1_conv": "conv1/conv", "conv1_bn": "conv1/bn", "conv1_relu": "conv1/relu"}
WEIGHT_SUFFIXES = {"Conv2D": ["kernel"], "BatchNormalization": ["gamma", "beta", "moving_mean", "moving_variance"],
                   "Dense": ["kernel", "bias"]}


def _chexnet_model() -> keras.Model:
    """The CheXNet Keras model (DenseNet121 without top, average pooling, Dense(14, sigmoid) 'predictions')."""
    keras.utils.set_random_seed(5)
    base = keras.applications.DenseNet121(include_top=False, weights=None, pooling="avg", input_shape=(224, 224, 3))
    predictions = keras.layers.Dense(14, activation="sigmoid", name="predictions")(base.output)
    model = keras.Model(base.input, predictions)
    rng = np.random.default_rng(0)
    for layer in model.layers:  # batch-norm statistics are 0/1 at initialisation: make every weight informative
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.1, beta.shape),
                               rng.normal(0, 0.1, mean.shape), rng.uniform(0.5, 2.0, variance.shape)])
    return model


def _write_keras2_h5(model: keras.Model, path, skip: str | None = None, reshape: str | None = None) -> None:
    """What Keras 2 ``model.save_weights(path)`` writes: layer_names/backend/keras_version, weight_names per layer."""
    with h5py.File(path, "w") as handle:
        names = [KERAS2_NAMES.get(layer.name, layer.name) for layer in model.layers if layer.name != skip]
        handle.attrs["layer_names"] = np.array([name.encode() for name in names])
        handle.attrs["backend"] = b"tensorflow"
        handle.attrs["keras_version"] = b"2.1.6"
        for layer in model.layers:
            if layer.name == skip:
                continue
            name = KERAS2_NAMES.get(layer.name, layer.name)
            group = handle.create_group(name)
            values = layer.get_weights()
            suffixes = WEIGHT_SUFFIXES.get(type(layer).__name__, [])[: len(values)]
            weight_names = [f"{name}/{suffix}:0" for suffix in suffixes]
            group.attrs["weight_names"] = np.array([w.encode() for w in weight_names], dtype="S")
            for weight_name, value in zip(weight_names, values, strict=False):
                if layer.name == reshape:
                    value = value[..., :-1]
                group.create_dataset(weight_name, data=value)


@pytest.fixture(scope="module")
def chexnet(tmp_path_factory):
    model = _chexnet_model()
    path = tmp_path_factory.mktemp("chexnet") / "brucechou1983_CheXNet_Keras_0.3.0_weights.h5"
    _write_keras2_h5(model, path)
    return model, path


@pytest.fixture(scope="module")
def encoder():
    keras.utils.set_random_seed(9)
    return build_image_encoder(ModelConfig(backbone="densenet121", preprocessing="imagenet", image_size=224))


def test_loaded_backbone_gives_chexnet_pooled_features_and_head(chexnet, encoder):
    model, path = chexnet
    with h5py.File(path, "r") as handle:  # the file really is in the Keras 2 layout
        assert "conv1/conv" in [name.decode() for name in handle.attrs["layer_names"]]
        assert list(handle["conv1/conv"].attrs["weight_names"]) == [b"conv1/conv/kernel:0"]
    pixels = np.random.default_rng(1).uniform(0, 1, (2, 224, 224, 3)).astype(np.float32)
    backbone = encoder.get_layer("densenet121")
    before = np.asarray(backbone(encoder.get_layer("imagenet_normalisation")(pixels)))
    after_untouched = encoder.get_layer("image_features").get_weights()

    head = load_chexnet_weights(encoder, path)

    pooled = np.asarray(backbone(encoder.get_layer("imagenet_normalisation")(pixels)))
    chexnet_input = (pixels - np.array(IMAGENET_MEAN, np.float32)) / np.array(IMAGENET_STD, np.float32)
    expected_pooled = np.asarray(keras.Model(model.input, model.get_layer("avg_pool").output)(chexnet_input))
    assert pooled.shape == (2, 1024)
    assert not np.allclose(before, expected_pooled, atol=1e-3)  # the loading is what makes them agree
    np.testing.assert_allclose(pooled, expected_pooled, rtol=1e-4, atol=1e-4)
    probabilities = 1.0 / (1.0 + np.exp(-(pooled @ head.kernel + head.bias)))
    np.testing.assert_allclose(probabilities, np.asarray(model(chexnet_input)), atol=1e-5)
    for mine, kept in zip(encoder.get_layer("image_features").get_weights(), after_untouched, strict=True):
        np.testing.assert_array_equal(mine, kept)  # only the backbone is replaced
    kernel, bias = head.in_chestxray14_order()
    assert kernel[:, 2].tolist() == head.kernel[:, CHEXNET_FINDINGS.index("Consolidation")].tolist()
    assert bias.shape == (14,)


def test_not_hdf5_and_not_keras(tmp_path, encoder):
    text = tmp_path / "weights.h5"
    text.write_text("not hdf5")
    with pytest.raises(ChexnetWeightsError, match="not an HDF5 file"):
        load_chexnet_weights(encoder, text)
    with h5py.File(tmp_path / "other.h5", "w") as handle:
        handle.create_dataset("x", data=[1, 2])
    with pytest.raises(ChexnetWeightsError, match="no 'layer_names'"):
        load_chexnet_weights(encoder, tmp_path / "other.h5")
    with pytest.raises(FileNotFoundError):
        load_chexnet_weights(encoder, tmp_path / "absent.h5")


def test_wrong_layout_is_refused_and_nothing_changes(chexnet, encoder, tmp_path):
    model, _ = chexnet
    snapshot = [array.copy() for array in encoder.get_layer("densenet121").get_weights()[:3]]
    _write_keras2_h5(model, tmp_path / "missing.h5", skip="conv3_block2_1_conv")
    with pytest.raises(ChexnetWeightsError, match="1 DenseNet-121 layers missing .*conv3_block2_1_conv"):
        load_chexnet_weights(encoder, tmp_path / "missing.h5")
    _write_keras2_h5(model, tmp_path / "shape.h5", reshape="conv5_block16_2_conv")
    with pytest.raises(ChexnetWeightsError, match="conv5_block16_2_conv.*shapes"):
        load_chexnet_weights(encoder, tmp_path / "shape.h5")
    for array, kept in zip(encoder.get_layer("densenet121").get_weights()[:3], snapshot, strict=True):
        np.testing.assert_array_equal(array, kept)


@pytest.mark.parametrize(("config", "message"), [
    (ModelConfig(backbone="compact", image_size=64), "no densenet121 backbone"),
    (ModelConfig(backbone="densenet121", preprocessing="imagenet", image_size=64), "224 x 224"),
])
def test_model_that_is_not_chexnet_shaped(chexnet, config, message):
    with pytest.raises(ChexnetWeightsError, match=message):
        load_chexnet_weights(build_image_encoder(config), chexnet[1])
