"""``train`` and ``demo build`` calibrate the bundle they write (cxrmodel.training.fit.write_bundle_calibration).

A tiny untrained multimodal stands in for the trained one; its validation and test labels are drawn from its own
probabilities sharpened by a known factor, so the temperature it should get is known.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("keras")

from cxrmodel.modeling import ModelConfig  # noqa: E402
from cxrmodel.modeling.bundle import CALIBRATION_FILE, read_calibration  # noqa: E402
from cxrmodel.training.fit import StudyArrays, predict_probabilities, write_bundle_calibration  # noqa: E402


@pytest.fixture(scope="module")
def tiny_model():
    import keras

    from cxrmodel.modeling.builders import build_model

    keras.utils.set_random_seed(3)
    config = ModelConfig(image_size=32, vocabulary_size=20, max_tokens=8, embedding_dimension=4, text_filters=4,
                         compact_widths=(4, 8), image_feature_units=4, text_feature_units=4, fusion_units=4)
    model = build_model("multimodal", config)
    output_layer = model.get_layer("decision_head").get_layer("abnormal_probability")
    kernel, bias = output_layer.get_weights()
    output_layer.set_weights([kernel * 40.0, bias])  # spread P(abnormal) over (0, 1)
    return model


def _arrays(model, n: int, seed: int, sharpen: float = 2.0) -> StudyArrays:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 32, 32), dtype=np.uint8)
    tokens = rng.integers(0, 20, (n, 8)).astype(np.int32)
    unlabelled = StudyArrays(images, tokens, np.zeros(n, np.int32))
    p = np.clip(predict_probabilities(model, unlabelled, "multimodal"), 1e-6, 1 - 1e-6)
    truth = 1 / (1 + np.exp(-sharpen * np.log(p / (1 - p))))  # the model is under-confident by ``sharpen``
    return StudyArrays(images, tokens, (rng.random(n) < truth).astype(np.int32))


def test_the_temperature_is_fitted_on_validation_and_measured_on_test(tiny_model, tmp_path):
    (tmp_path / CALIBRATION_FILE).write_text("{}")  # an older run's file is replaced
    validation, test = _arrays(tiny_model, 400, 1), _arrays(tiny_model, 300, 2)
    document = write_bundle_calibration(tmp_path, tiny_model, validation, test, "the validation part")
    assert document is not None and json.loads((tmp_path / CALIBRATION_FILE).read_text()) == document
    assert document["temperature"] == pytest.approx(0.5, rel=0.3)
    assert document["fitted_count"] == 400 and document["held_out"]["count"] == 300
    calibration = read_calibration(tmp_path)
    assert calibration.fitted_on == "the validation part"
    assert calibration.held_out.nll_calibrated < calibration.held_out.nll_raw


def test_no_finite_temperature_leaves_the_bundle_uncalibrated(tiny_model, tmp_path):
    (tmp_path / CALIBRATION_FILE).write_text(json.dumps({"stale": True}))
    validation = _arrays(tiny_model, 60, 3)
    p = predict_probabilities(tiny_model, validation, "multimodal")
    separated = StudyArrays(validation.grid_images, validation.token_ids, (p >= 0.5).astype(np.int32))
    assert write_bundle_calibration(tmp_path, tiny_model, separated, validation, "separated") is None
    assert not (tmp_path / CALIBRATION_FILE).exists()  # never a calibration of another model
