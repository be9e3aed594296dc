"""``train`` and ``demo build`` decide the calibration of each bundle they write
(cxrmodel.training.fit.write_bundle_calibration), by the rule of cxrmodel.evaluation.calibration.

A tiny untrained multimodal stands in for the trained one; its validation and test labels are drawn from its own
probabilities sharpened by a known factor, so the temperature it should get is known.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("keras")

from cxrmodel.modeling import ModelConfig  # noqa: E402
from cxrmodel.modeling.bundle import CALIBRATION_FILE, BundleCalibration, NotCalibrated, read_calibration  # noqa: E402
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
    # Centre it on 0.5 (both labels in every split, as the rule needs 10 of each): subtract the median logit.
    rng = np.random.default_rng(0)
    probe = StudyArrays(rng.integers(0, 256, (200, 32, 32), dtype=np.uint8),
                        rng.integers(0, 20, (200, 8)).astype(np.int32), np.zeros(200, np.int32))
    p = np.clip(predict_probabilities(model, probe, "multimodal"), 1e-6, 1 - 1e-6)
    output_layer.set_weights([kernel * 40.0, bias - np.median(np.log(p / (1 - p)))])
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
    validation, test = _arrays(tiny_model, 400, 1, sharpen=3.0), _arrays(tiny_model, 300, 2, sharpen=3.0)
    document = write_bundle_calibration(tmp_path, tiny_model, validation, test, "the validation part")
    assert document is not None and json.loads((tmp_path / CALIBRATION_FILE).read_text()) == document
    assert document["temperature"] == pytest.approx(1 / 3, rel=0.3)
    assert document["fitted_count"] == 400 and document["held_out"]["count"] == 300
    cross = document["decision"]["cross_validated"]
    assert document["method"] == "temperature" and cross["ece_calibrated"] < cross["ece_raw"]
    calibration = read_calibration(tmp_path)
    assert isinstance(calibration, BundleCalibration) and calibration.fitted_on == "the validation part"
    assert calibration.held_out.nll_calibrated < calibration.held_out.nll_raw


def test_a_tiny_validation_split_ends_not_calibrated_with_its_reason(tiny_model, tmp_path, caplog):
    """What ``train`` on a few dozen studies gets: 9 validation studies, below the rule's minimum of 50."""
    validation, test = _arrays(tiny_model, 9, 5), _arrays(tiny_model, 9, 6)
    with caplog.at_level("WARNING", logger="cxrmodel.training.fit"):
        document = write_bundle_calibration(tmp_path, tiny_model, validation, test, "the 9 validation studies")
    abnormal = int(validation.labels.sum())
    assert document["method"] == "none" and "temperature" not in document and "held_out" not in document
    assert document["reason"] == (f"9 studies ({abnormal} abnormal, {9 - abnormal} normal) are too few to fit a "
                                  "temperature on: the rule needs at least 50, with 10 of each label")
    record = read_calibration(tmp_path)
    assert isinstance(record, NotCalibrated) and record.reason == document["reason"]
    assert record.fitted_on == "the 9 validation studies" and record.rejected_temperature is None
    assert f"is not calibrated: {document['reason']}" in caplog.text


def test_a_temperature_that_raises_the_held_out_ece_is_not_kept(tiny_model, tmp_path):
    """Validation labels twice as sure as the model (T ≈ 0.5) but test labels half as sure: the held-out veto."""
    validation, test = _arrays(tiny_model, 400, 7, sharpen=2.0), _arrays(tiny_model, 300, 8, sharpen=0.5)
    document = write_bundle_calibration(tmp_path, tiny_model, validation, test, "the validation part")
    assert document["method"] == "none" and document["rejected_temperature"] == pytest.approx(0.5, rel=0.3)
    assert document["held_out"]["ece_calibrated"] > document["held_out"]["ece_raw"]
    assert document["reason"].startswith(f"the temperature T={document['rejected_temperature']:.3f} raises the ECE "
                                         "of the 300 held-out studies")
    record = read_calibration(tmp_path)
    assert isinstance(record, NotCalibrated) and record.held_out.ece_raw == document["held_out"]["ece_raw"]


def test_no_finite_temperature_leaves_the_bundle_uncalibrated(tiny_model, tmp_path):
    (tmp_path / CALIBRATION_FILE).write_text(json.dumps({"stale": True}))
    validation = _arrays(tiny_model, 60, 3)
    p = predict_probabilities(tiny_model, validation, "multimodal")
    separated = StudyArrays(validation.grid_images, validation.token_ids, (p >= 0.5).astype(np.int32))
    assert min(separated.labels.sum(), 60 - separated.labels.sum()) >= 10  # enough of each: the fit itself fails
    document = write_bundle_calibration(tmp_path, tiny_model, separated, validation, "separated")
    assert document["method"] == "none" and "perfectly separated" in document["reason"]
    assert json.loads((tmp_path / CALIBRATION_FILE).read_text()) == document  # never a calibration of another model


def test_the_train_command_prints_the_decision(tiny_model, tmp_path):
    from cxrmodel.cli.train import calibration_summary

    tiny = write_bundle_calibration(tmp_path, tiny_model, _arrays(tiny_model, 9, 5), _arrays(tiny_model, 9, 6), "9")
    assert calibration_summary(tiny) == {"calibrated": False, "reason": tiny["reason"]}
    kept = write_bundle_calibration(tmp_path, tiny_model, _arrays(tiny_model, 400, 1, sharpen=3.0),
                                    _arrays(tiny_model, 300, 2, sharpen=3.0), "400")
    assert calibration_summary(kept) == {"calibrated": True, "temperature": kept["temperature"],
                                         "ece_raw": kept["held_out"]["ece_raw"],
                                         "ece_calibrated": kept["held_out"]["ece_calibrated"]}
    assert calibration_summary(None) is None
