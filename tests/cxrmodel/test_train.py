"""Training: a small text model really learns the synthetic reports; the three-model schedule runs end to end."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("keras")

from cxrmodel.data.synthetic.reports.writer import write_report  # noqa: E402
from cxrmodel.data.synthetic.studies import sample_study_spec  # noqa: E402
from cxrmodel.modeling import ModelConfig  # noqa: E402
from cxrmodel.modeling.builders import (
    build_model,  # noqa: E402
    model_modality,
)
from cxrmodel.text import Vocabulary  # noqa: E402
from cxrmodel.training.fit import (  # noqa: E402
    TrainingSchedule,
    build_study_arrays,
    classification_metrics,
    fit_model,
    predict_probabilities,
    train_three_models,
)


def _reports(first: int, count: int, seed: int = 4):
    specs = [sample_study_spec(number, seed) for number in range(first, first + count)]
    reports = [write_report(spec.findings, np.random.default_rng([seed, spec.number]), understate=False).text
               for spec in specs]
    return reports, [spec.label for spec in specs]


def _arrays(reports, labels, config, vocabulary, image_signal=False):
    rng = np.random.default_rng(0)
    pixels = []
    for label in labels:
        image = rng.random((40, 36), dtype=np.float32) * 0.3
        if image_signal and label:
            image[10:20, 10:20] += 0.6  # a bright "lesion" only on abnormal studies
        pixels.append(image)
    return build_study_arrays(pixels, reports, labels, config, vocabulary)


def _tiny_config(vocabulary) -> ModelConfig:
    return ModelConfig(image_size=32, vocabulary_size=len(vocabulary), max_tokens=48, embedding_dimension=16,
                       text_filters=8, compact_widths=(4, 8), image_feature_units=4, text_feature_units=8,
                       fusion_units=8, dropout=0.2)


def test_text_model_learns_to_separate_normal_from_abnormal_reports():
    train_reports, train_labels = _reports(1, 160)
    test_reports, test_labels = _reports(5000, 100)
    vocabulary = Vocabulary.build(train_reports)
    config = _tiny_config(vocabulary)
    train = _arrays(train_reports, train_labels, config, vocabulary)
    test = _arrays(test_reports, test_labels, config, vocabulary)
    model = build_model("text", config)
    fit_model(model, "text", train, test, epochs=8, learning_rate=3e-3, seed=1, patience=8)
    metrics = classification_metrics(test.labels, predict_probabilities(model, test, "text"))
    assert metrics["auc"] >= 0.9, metrics


def test_three_model_schedule_returns_all_models_and_held_out_metrics():
    reports, labels = _reports(1, 64)
    vocabulary = Vocabulary.build(reports)
    config = _tiny_config(vocabulary)
    arrays = _arrays(reports, labels, config, vocabulary, image_signal=True)
    train, validation, test = (arrays.subset(np.arange(0, 40)), arrays.subset(np.arange(40, 52)),
                               arrays.subset(np.arange(52, 64)))
    schedule = TrainingSchedule(image_epochs=1, text_epochs=1, head_epochs=1, multimodal_epochs=1)
    trained = train_three_models(config, train, validation, test, schedule, seed=0)
    modalities = [model_modality(m) for m in (trained.multimodal, trained.image, trained.text)]
    assert modalities == ["multimodal", "image", "text"]
    assert set(trained.metrics) == {"multimodal", "image", "text"}
    for values in trained.metrics.values():
        assert 0.0 <= values["accuracy"] <= 1.0
    # The transferred encoders are trainable again after the head phase (end-to-end fine-tuning).
    assert trained.multimodal.get_layer("image_encoder").trainable
    assert trained.multimodal.get_layer("word_embedding").trainable
