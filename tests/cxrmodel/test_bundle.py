"""Model bundles: what is saved loads back identically, and a broken bundle says which file is wrong."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

pytest.importorskip("keras")

from cxrmodel.modeling import ModelConfig  # noqa: E402
from cxrmodel.modeling.builders import build_model
from cxrmodel.modeling.bundle import BundleError, load_bundle, save_bundle  # noqa: E402
from cxrmodel.text import Vocabulary  # noqa: E402

REPORTS = ["The heart is normal in size. No pneumothorax.", "Mild cardiomegaly. Small right pleural effusion."]


def _card() -> dict:
    return {"name": "tiny", "synthetic": True, "created": "2026-11-25T00:00:00+00:00", "trained_on": "nothing",
            "metrics": {"multimodal": {"accuracy": 0.5, "auc": 0.5}}}


def _tiny_config(vocabulary: Vocabulary) -> ModelConfig:
    return ModelConfig(image_size=32, vocabulary_size=len(vocabulary), max_tokens=16, embedding_dimension=8,
                       text_filters=4, compact_widths=(4, 8), image_feature_units=4, text_feature_units=4,
                       fusion_units=4)


@pytest.fixture(scope="module")
def tiny_bundle(tmp_path_factory):
    vocabulary = Vocabulary.build(REPORTS)
    config = _tiny_config(vocabulary)
    model = build_model("multimodal", config)
    directory = tmp_path_factory.mktemp("bundle") / "tiny"
    save_bundle(directory, model, vocabulary, config, _card())
    return directory, model


def _studies(bundle):
    rng = np.random.default_rng(1)
    return [bundle.prepare(rng.random((40, 30), dtype=np.float32), report) for report in REPORTS]


def test_saved_bundle_predicts_exactly_like_the_trained_model(tiny_bundle):
    directory, model = tiny_bundle
    bundle = load_bundle(directory)
    studies = _studies(bundle)
    expected = np.asarray(model({"image": np.stack([s.model_image for s in studies]),
                                 "report_tokens": np.stack([s.report.token_ids for s in studies])}, training=False))
    np.testing.assert_allclose(bundle.predict_studies(studies), expected.reshape(-1), rtol=1e-6, atol=1e-7)
    assert bundle.synthetic and bundle.config.max_tokens == 16 and len(bundle.fingerprint) == 16


def test_fingerprint_changes_when_the_model_changes(tiny_bundle, tmp_path):
    directory, _ = tiny_bundle
    copy = tmp_path / "copy"
    shutil.copytree(directory, copy)
    assert load_bundle(copy).fingerprint == load_bundle(directory).fingerprint
    config = json.loads((copy / "config.json").read_text())
    config["default_sight_sensitivity"] = 0.5
    (copy / "config.json").write_text(json.dumps(config))
    assert load_bundle(copy).fingerprint != load_bundle(directory).fingerprint


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (lambda d: (d / "card.json").unlink(), "missing card.json"),
        (lambda d: (d / "vocab.json").write_text("{not json"), "vocab.json"),
        (lambda d: (d / "config.json").write_text('{"image_size": 32, "colour": 1}'),
         "config.json: unknown config keys: colour"),
        (lambda d: (d / "model.keras").write_bytes(b"PK\x03\x04 truncated"), "model.keras could not be loaded"),
        (lambda d: (d / "card.json").write_text('{"name": "x"}'), "card.json lacks"),
        (lambda d: (d / "vocab.json").write_text(json.dumps(
            {"format": "cxrmodel-vocabulary", "version": 1, "padding_id": 0, "oov_id": 1,
             "words": ["<pad>", "<oov>", "heart"]})), "different trainings"),
    ],
    ids=["missing-card", "corrupt-vocabulary", "unknown-config-key", "corrupt-model", "incomplete-card",
         "vocabulary-mismatch"],
)
def test_broken_bundle_names_the_broken_file(tiny_bundle, tmp_path, breakage, message):
    directory, _ = tiny_bundle
    broken = tmp_path / "broken"
    shutil.copytree(directory, broken)
    breakage(broken)
    with pytest.raises(BundleError, match=message):
        load_bundle(broken)


def test_missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(BundleError, match="does not exist"):
        load_bundle(tmp_path / "nowhere")


def test_mean_image_baseline_travels_with_the_bundle(tiny_bundle, tmp_path):
    from cxrmodel.modeling.bundle import write_image_baseline

    directory, _ = tiny_bundle
    copy = tmp_path / "with-baseline"
    shutil.copytree(directory, copy)
    gradient = np.tile(np.linspace(0, 1, 32, dtype=np.float32), (32, 1))
    write_image_baseline(copy, gradient)
    config = json.loads((copy / "config.json").read_text())
    config["default_image_baseline"] = "mean"
    (copy / "config.json").write_text(json.dumps(config))
    bundle = load_bundle(copy)
    assert bundle.image_baseline.shape == (32, 32, 3)
    np.testing.assert_allclose(bundle.image_baseline[..., 0], gradient, atol=1 / 255)
    (copy / "image_baseline.png").unlink()
    with pytest.raises(BundleError, match="image_baseline.png is missing"):
        load_bundle(copy)


def test_a_trained_model_is_saved_without_its_optimizer_state(tmp_path):
    import io  # noqa: PLC0415
    import zipfile  # noqa: PLC0415

    import h5py  # noqa: PLC0415
    import keras  # noqa: PLC0415

    vocabulary = Vocabulary.build(REPORTS)
    config = _tiny_config(vocabulary)
    model = build_model("multimodal", config)
    rng = np.random.default_rng(0)
    inputs = {"image": rng.random((4, 32, 32, 3), dtype=np.float32),
              "report_tokens": rng.integers(0, len(vocabulary), (4, 16)).astype(np.int32)}
    model.compile(keras.optimizers.Adam(), "binary_crossentropy")
    model.fit(inputs, np.array([0, 1, 0, 1], np.float32), verbose=0)
    save_bundle(tmp_path / "trained", model, vocabulary, config, _card())
    with zipfile.ZipFile(tmp_path / "trained" / "model.keras") as archive:
        weights = h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r")
        assert "optimizer" not in weights  # Adam's two slots per weight would triple the bundle
    np.testing.assert_allclose(np.asarray(load_bundle(tmp_path / "trained").model(inputs)), np.asarray(model(inputs)),
                               rtol=1e-5, atol=1e-6)
