"""Synthetic ChestX-ray14-format set -> image encoder pre-training -> transfer; resumability; CLI errors.

Tiny on purpose: 24 phantoms at 128 px, a 32 px model grid, compact backbone, 1-2 epochs.
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from cxrmodel.cli.main import main
from cxrmodel.data.chestxray14 import ChestXray14Dataset, load_bounding_boxes
from cxrmodel.data.synthetic.chestxray14 import PHANTOM_TO_CHESTXRAY14
from cxrmodel.data.synthetic.studies import sample_study_spec
from cxrmodel.modeling.builders import build_model
from cxrmodel.training.pretrain import (
    ENCODER_WEIGHTS,
    PARTIAL_FOLDER,
    RESULT_FILE,
    PretrainSettings,
    load_pretrained_image_encoder,
    pretrain_image_encoder,
)

SEED = 4


@pytest.fixture(scope="module")
def synthetic_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("cxr14") / "set"
    assert main(["synthetic-chestxray14", "--output", str(root), "--count", "24", "--seed", str(SEED),
                 "--width", "128", "--height", "128"]) == 0
    return root


def test_synthetic_set_is_in_the_original_nih_format(synthetic_set, capsys):
    lines = (synthetic_set / "Data_Entry_2017.csv").read_text().splitlines()
    assert lines[0] == ("Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
                        "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y],")
    assert len(lines) == 25 and all(line.endswith(",") for line in lines)  # the original's trailing comma
    boxes_text = (synthetic_set / "BBox_List_2017.csv").read_text()
    assert boxes_text.startswith("Image Index,Finding Label,Bbox [x,y,w,h],,,\n")
    dataset = ChestXray14Dataset.from_folder(synthetic_set, require_all_images=True)
    assert len(dataset) == 24 and dataset.labels.shape == (24, 14)
    for entry in dataset.entries:  # labels follow the phantom findings of the same seeded studies
        spec = sample_study_spec(entry.patient_id, SEED)
        assert set(entry.findings) == {PHANTOM_TO_CHESTXRAY14[f.kind] for f in spec.findings
                                       if f.kind in PHANTOM_TO_CHESTXRAY14}
        assert entry.view_position == ("AP" if spec.portable else "PA")
    assert any(len(entry.findings) > 1 for entry in dataset.entries) or dataset.labels.sum() > 0
    boxes = load_bounding_boxes(synthetic_set / "BBox_List_2017.csv")
    by_image = {entry.image_index: entry for entry in dataset.entries}
    assert boxes, "no box written"
    for image, image_boxes in boxes.items():
        for box in image_boxes:
            assert box.finding in by_image[image].findings
            assert 0 <= box.x and box.x + box.width <= 128 and 0 <= box.y and box.y + box.height <= 128


def test_pretrain_then_load_and_transfer(synthetic_set, tmp_path, capsys):
    capsys.readouterr()
    output = tmp_path / "pretrained"
    arguments = ["pretrain-image", "--chestxray14", str(synthetic_set), "--output", str(output), "--image-size", "32",
                 "--epochs", "1", "--batch-size", "8", "--seed", "1"]
    assert main(arguments) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["reused"] is False and printed["epochs"] == 1 and printed["n_train"] + printed["n_validation"] == 24
    assert sorted(path.name for path in output.iterdir()) == ["config.json", ENCODER_WEIGHTS, RESULT_FILE]
    result = json.loads((output / RESULT_FILE).read_text())
    assert result["findings"][0] == "Atelectasis" and len(result["history"]) == 1
    assert result["val_auc"] and all(0.0 <= auc <= 1.0 for auc in result["val_auc"].values())

    encoder, config = load_pretrained_image_encoder(output)
    assert (config.image_size, config.backbone, config.preprocessing) == (32, "compact", "unit")
    images = np.random.default_rng(0).uniform(0, 1, (3, 32, 32, 3)).astype(np.float32)
    features = np.asarray(encoder(images, training=False))
    assert features.shape == (3, config.image_feature_units)
    again, _ = load_pretrained_image_encoder(output)
    np.testing.assert_allclose(np.asarray(again(images, training=False)), features, rtol=1e-6)
    fresh = keras.Model.from_config(encoder.get_config())  # same architecture, untrained
    assert not np.allclose(np.asarray(fresh(images, training=False)), features)
    model = build_model("image", config, image_encoder=encoder)  # the transfer the pipeline does
    assert model.get_layer("image_encoder") is encoder

    weights_time = (output / ENCODER_WEIGHTS).stat().st_mtime_ns
    assert main(arguments) == 0  # same settings: reused, nothing retrained
    assert json.loads(capsys.readouterr().out)["reused"] is True
    assert (output / ENCODER_WEIGHTS).stat().st_mtime_ns == weights_time


class _Interrupt(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        raise KeyboardInterrupt


def test_interrupted_run_resumes_after_its_last_epoch(synthetic_set, tmp_path):
    settings = PretrainSettings(image_size=32, epochs=2, batch_size=8, seed=1)
    output = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        pretrain_image_encoder(synthetic_set, output, settings, callbacks=[_Interrupt()])
    assert not (output / RESULT_FILE).exists() and (output / PARTIAL_FOLDER / "checkpoint.keras").is_file()
    with pytest.raises(FileNotFoundError, match="not a finished image pre-training output"):
        load_pretrained_image_encoder(output)
    result = pretrain_image_encoder(synthetic_set, output, settings)
    assert result["resumed_from_epoch"] == 1 and [h["epoch"] for h in result["history"]] == [1, 2]
    assert not (output / PARTIAL_FOLDER).exists()


@pytest.mark.parametrize(("arguments", "message"), [
    (["--chestxray14", "{tmp}/absent"], "is not a folder"),
    (["--chestxray14", "{tmp}"], "no ChestX-ray14 label file"),
    (["--chestxray14", "{set}", "--backbone", "vgg"], "unknown backbone 'vgg'"),
    (["--chestxray14", "{set}", "--epochs", "0"], "epochs must be at least 1"),
    (["--chestxray14", "{set}", "--image-weights", "{tmp}/none.h5"], "does not exist"),
    (["--chestxray14", "{set}", "--image-weights", "{set}/Data_Entry_2017.csv"], "need backbone densenet121"),
])
def test_bad_arguments_exit_2_with_one_line(synthetic_set, tmp_path, capsys, arguments, message):
    filled = [value.format(tmp=tmp_path, set=synthetic_set) for value in arguments]
    assert main(["pretrain-image", "--output", str(tmp_path / "out"), *filled]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and message in error
    assert not (tmp_path / "out").exists()


def test_synthetic_command_checks_sizes(tmp_path, capsys):
    assert main(["synthetic-chestxray14", "--output", str(tmp_path / "s"), "--count", "2", "--width", "64"]) == 2
    assert "between 128 and 1024" in capsys.readouterr().err


def test_the_encoder_written_is_the_best_validation_epochs(synthetic_set, tmp_path):
    weights_after_epoch: dict[int, list] = {}

    class RememberEncoder(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            weights_after_epoch[epoch + 1] = [w.copy() for w in self.model.get_layer("image_encoder").get_weights()]

    settings = PretrainSettings(image_size=32, epochs=3, batch_size=8, seed=3, learning_rate=0.05)
    result = pretrain_image_encoder(synthetic_set, tmp_path / "out", settings, callbacks=[RememberEncoder()])
    # Best = highest mean validation AUC; lowest validation loss when no label has both classes (this tiny set).
    scores = [epoch["val_auc_mean"] if epoch["val_auc_mean"] is not None else -epoch["val_loss"]
              for epoch in result["history"]]
    assert len(scores) == 3 and result["best_epoch"] == 1 + scores.index(max(scores))
    encoder, _ = load_pretrained_image_encoder(tmp_path / "out")
    kept = encoder.get_weights()

    def same(weights):
        return all(np.array_equal(a, b) for a, b in zip(kept, weights, strict=True))

    assert same(weights_after_epoch[result["best_epoch"]])
    if result["best_epoch"] != 3:  # the last epoch's encoder is not the one kept
        assert not same(weights_after_epoch[3])
