"""Target training pieces that need no training: dataset layouts, splits, fold curves, the Table 3 chart."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from cxrmodel.data.openi import load_openi
from cxrmodel.rendering.charts import write_evaluation_chart
from cxrmodel.training.target import TargetSettings, _mean_curves, holdout_split
from cxrmodel.training.target_data import decode_target_images, load_target_dataset
from cxrmodel.training.transfer import TransferSources


def test_openi_folder_is_read_with_frontal_images_reports_and_synthetic_flag(tiny_studies_directory):
    dataset = load_target_dataset(tiny_studies_directory)
    assert dataset.layout == "openi-xml" and dataset.synthetic is True
    assert [study.study_id for study in dataset.studies] == [f"CXR{n}" for n in range(1, 7)]
    assert dataset.labels.tolist() == [0, 1, 0, 1, 1, 0]
    assert dataset.reports[1] == load_openi(tiny_studies_directory)[1].report_text
    grids = decode_target_images(dataset, 32)
    assert grids.shape == (6, 32, 32) and grids.dtype == np.uint8 and grids.std() > 0


def test_kaggle_layout_of_the_same_studies_gives_the_same_training_data(tiny_studies_directory,
                                                                       tiny_kaggle_studies_directory):
    """The Kaggle CSV copy (indiana_reports.csv, indiana_projections.csv, images/images_normalized/)."""
    kaggle = load_target_dataset(tiny_kaggle_studies_directory)
    openi = load_target_dataset(tiny_studies_directory)
    assert kaggle.layout == "kaggle-csv" and kaggle.synthetic is False  # no generator truth.json beside the CSVs
    assert [s.study_id for s in kaggle.studies] == [s.study_id for s in openi.studies]
    assert kaggle.reports == openi.reports and kaggle.labels.tolist() == openi.labels.tolist()
    assert np.array_equal(decode_target_images(kaggle, 32), decode_target_images(openi, 32))


def test_folder_without_studies_of_both_labels_is_refused(tiny_studies_directory, tmp_path):
    shutil.copytree(tiny_studies_directory, tmp_path / "s")
    for number in (2, 4, 5):  # the abnormal ones
        (tmp_path / "s" / "ecgen-radiology" / f"{number}.xml").unlink()
    with pytest.raises(ValueError, match="at least 2 studies of each label"):
        load_target_dataset(tmp_path / "s")


def test_holdout_split_is_stratified_disjoint_and_complete():
    labels = np.array([1] * 65 + [0] * 35)
    train, validation, test = holdout_split(labels, 0.1, 0.2, seed=3)
    assert len(train) + len(validation) + len(test) == 100
    assert not (set(train) & set(validation) or set(train) & set(test) or set(validation) & set(test))
    assert len(test) == 20 and len(validation) == 10
    assert labels[test].sum() == 13 and labels[validation].sum() in (6, 7)
    assert np.array_equal(holdout_split(labels, 0.1, 0.2, seed=3)[2], test)
    with pytest.raises(ValueError, match="at least 3 studies of each label"):
        holdout_split(np.array([1] * 10 + [0] * 2), 0.1, 0.2, seed=0)


def test_settings_are_checked():
    with pytest.raises(ValueError, match="unknown backbone"):
        TargetSettings(backbone="vgg16")
    with pytest.raises(ValueError, match="at least 30 %"):
        TargetSettings(validation_fraction=0.35, test_fraction=0.4)
    with pytest.raises(ValueError, match="unknown model settings: colour"):
        TargetSettings(model_overrides={"colour": 1})
    with pytest.raises(ValueError, match="either --image-encoder"):
        TransferSources(image_encoder=Path("."), image_weights=Path("x.h5"))


def test_mean_curves_average_the_folds_that_reached_each_epoch():
    def fold(train, validation):
        curve = {"train_accuracy": train, "validation_accuracy": validation}
        return {"curves": {"multimodal": curve, "image": curve, "text": curve}}

    curves = _mean_curves([fold([0.5, 0.7, 0.9], [0.4, 0.6, 0.8]), fold([0.7, 0.9], [0.6, 0.8])])
    assert curves["text"]["train_accuracy"] == [0.6, 0.8, 0.9]
    assert curves["text"]["validation_accuracy"] == [0.5, 0.7, 0.8]
    assert curves["text"]["folds_per_epoch"] == [2, 2, 1]


def test_chart_draws_table3_and_curves(tmp_path):
    models = {model: {"accuracy_mean": mean, "accuracy_sd": 0.02, "auc_mean": mean + 0.03, "auc_sd": 0.01}
              for model, mean in (("multimodal", 0.93), ("image", 0.7), ("text", 0.88))}
    curve = {"train_accuracy": [0.6, 0.8, 0.9], "validation_accuracy": [0.55, 0.75, 0.85], "folds_per_epoch": [3] * 3}
    document = {"models": models, "curves": {model: curve for model in models}, "folds": 3, "n_studies": 300,
                "n_abnormal": 180, "synthetic": True}
    path = write_evaluation_chart(document, tmp_path / "charts" / "table3.png")
    from PIL import Image

    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == (900, 360)
    json.dumps(document)  # the document the chart reads is plain JSON


def test_chexnet_weights_become_the_target_image_encoder(tmp_path):
    """--image-weights: a file in the CheXNet Keras layout fixes a 224 px DenseNet-121 encoder and fills it."""
    pytest.importorskip("h5py")
    from cxrmodel.modeling.builders import build_model
    from cxrmodel.text import Vocabulary
    from cxrmodel.training.target import resolve_image_fields, target_config
    from cxrmodel.training.transfer import load_transfer_weights
    from tests.cxrmodel.test_pretrained import _chexnet_model, _write_keras2_h5

    chexnet = _chexnet_model()
    path = tmp_path / "brucechou1983_CheXNet_Keras_0.3.0_weights.h5"
    _write_keras2_h5(chexnet, path)
    sources = TransferSources(image_weights=path)
    with pytest.raises(ValueError, match="--backbone compact does not match the CheXNet weights"):
        resolve_image_fields(TargetSettings(backbone="compact"), sources)
    fields = resolve_image_fields(TargetSettings(), sources)
    assert (fields["image_size"], fields["backbone"], fields["preprocessing"]) == (224, "densenet121", "imagenet")
    weights = load_transfer_weights(sources, fields)
    config = target_config(TargetSettings(), fields, weights, Vocabulary.build(["the heart is normal"]))
    image_model = build_model("image", config)
    image_model.get_layer("image_encoder").set_weights(weights.image_encoder)
    backbone = image_model.get_layer("image_encoder").get_layer("densenet121")
    assert np.array_equal(backbone.get_layer("conv1_conv").get_weights()[0],
                          chexnet.get_layer("conv1_conv").get_weights()[0])


def test_image_tasks_leave_out_no_indexing_empty_and_imageless_studies(tmp_path):
    # Issue #20: the OpenI label rules apply to training on a folder as to the text evaluation.
    from PIL import Image

    from tests.cxrmodel.data.openi_label_fixtures import rule_collection

    reports = tmp_path / "ecgen-radiology"
    images = tmp_path / "NLMCXR_png"
    reports.mkdir()
    images.mkdir()
    for number, document in rule_collection(normal=3, abnormal=3).items():
        (reports / f"{number}.xml").write_text(document, encoding="utf-8")
        for name in {f"CXR{number}_1_IM-{number:04d}-{1001 + index}" for index in range(2)}:
            if f'id="{name}"' in document:
                Image.new("L", (64, 64), 128).save(images / f"{name}.png")
    dataset = load_target_dataset(tmp_path)
    kept = {study.study_id for study in dataset.studies}
    assert kept.isdisjoint({"CXR901", "CXR902", "CXR903", "CXR904", "CXR905"})
    assert len(kept) == 6 and dataset.skipped == 5
