"""Shared fixtures: tiny, fast, deterministic models and studies (no test trains for more than a few seconds)."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs one test process per core (pytest-xdist): each keeps to one compute thread for TensorFlow's
    # and the BLAS pools, so two processes do not fight over two cores. Servers and workers the tests start
    # inherit it. (Inter-op stays at 2: one inter-op thread can deadlock graphs that wait on each other.)
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "2")
    os.environ.setdefault("OMP_NUM_THREADS", "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

TINY_STUDY_SEED = 3
TINY_STUDY_SIZE = {"width": 160, "height": 176}


@pytest.fixture(scope="session")
def tiny_studies_directory(tmp_path_factory) -> Path:
    """Six synthetic studies (both labels) in the OpenI layout, small images."""
    from cxrmodel.data.synthetic.findings import Finding
    from cxrmodel.data.synthetic.studies import sample_study_spec, write_openi_dataset

    forced = [[], [Finding("cardiomegaly", 0.9)], [], [Finding("effusion", 0.8, side="left")],
              [Finding("nodule", 0.9, side="right", zone="upper")], []]
    specs = [sample_study_spec(number, TINY_STUDY_SEED, findings=findings) for number, findings in enumerate(forced, 1)]
    root = tmp_path_factory.mktemp("tiny-studies")
    write_openi_dataset(root, specs, TINY_STUDY_SEED, workers=1, **TINY_STUDY_SIZE)
    return root


@pytest.fixture(scope="session")
def tiny_kaggle_studies_directory(tmp_path_factory, tiny_studies_directory) -> Path:
    """The six tiny studies rewritten in OpenI's Kaggle CSV layout (indiana_reports.csv, indiana_projections.csv,
    images/images_normalized/<uid>_IM-....dcm.png), one frontal film each."""
    import csv
    import shutil

    from cxrmodel.data.openi import load_openi

    root = tmp_path_factory.mktemp("tiny-kaggle")
    images = root / "images" / "images_normalized"
    images.mkdir(parents=True)
    with open(root / "indiana_reports.csv", "w", newline="", encoding="utf-8") as reports, \
            open(root / "indiana_projections.csv", "w", newline="", encoding="utf-8") as projections:
        report_rows, projection_rows = csv.writer(reports), csv.writer(projections)
        report_rows.writerow(["uid", "MeSH", "Problems", "image", "indication", "comparison", "findings", "impression"])
        projection_rows.writerow(["uid", "filename", "projection"])
        for study in load_openi(tiny_studies_directory, tiny_studies_directory / "NLMCXR_png"):
            uid = study.number
            problems = ";".join(term.split("/")[0] for term in study.mesh_major)
            report_rows.writerow([uid, ";".join(study.mesh_major), problems, "Xray Chest PA and Lateral",
                                  study.indication, study.comparison, study.findings, study.impression])
            name = f"{uid}_IM-{uid:04d}-1001.dcm.png"
            shutil.copy(study.image_paths[0], images / name)
            projection_rows.writerow([uid, name, "Frontal"])
    return root


def _tiny_bundle(tmp_path_factory, studies_directory: Path, modality: str) -> Path:
    """An untrained-but-real bundle of ``modality`` (32 px grid, 8-d embeddings) with a synthetic card."""
    from cxrmodel.data.openi import load_openi
    from cxrmodel.modeling import ModelConfig, save_bundle
    from cxrmodel.modeling.builders import build_model
    from cxrmodel.text import Vocabulary

    vocabulary = Vocabulary.build(study.report_text for study in load_openi(studies_directory))
    config = ModelConfig(image_size=32, vocabulary_size=len(vocabulary), max_tokens=24, embedding_dimension=8,
                         text_filters=4, compact_widths=(4, 8), image_feature_units=4, text_feature_units=4,
                         fusion_units=4)
    name = "Tiny test model" if modality == "multimodal" else f"Tiny test model ({modality})"
    card = {"name": name, "synthetic": True, "created": "2026-11-25T00:00:00+00:00",
            "trained_on": "nothing (random weights)", "metrics": {modality: {"accuracy": 0.5, "auc": 0.5}}}
    import keras

    keras.utils.set_random_seed(7)
    model = build_model(modality, config)
    # Random weights give P(abnormal) ~ 0.5 for every input; a steeper output layer makes the prediction
    # depend visibly on image and report, so explanations of this untrained model are not degenerate.
    output_layer = model.get_layer("decision_head").get_layer("abnormal_probability")
    kernel, bias = output_layer.get_weights()
    output_layer.set_weights([kernel * 25.0, bias])
    directory = tmp_path_factory.mktemp(f"tiny-{modality}-bundle") / "bundle"
    save_bundle(directory, model, vocabulary, config, card)
    return directory


@pytest.fixture(scope="session")
def tiny_bundle_directory(tmp_path_factory, tiny_studies_directory) -> Path:
    """An untrained-but-real multimodal bundle (32 px grid, 8-d embeddings) with a synthetic card."""
    return _tiny_bundle(tmp_path_factory, tiny_studies_directory, "multimodal")


@pytest.fixture(scope="session")
def tiny_text_bundle_directory(tmp_path_factory, tiny_studies_directory) -> Path:
    """The same, text-only (reads the report alone)."""
    return _tiny_bundle(tmp_path_factory, tiny_studies_directory, "text")


@pytest.fixture(scope="session")
def tiny_image_bundle_directory(tmp_path_factory, tiny_studies_directory) -> Path:
    """The same, image-only (reads the radiograph alone)."""
    return _tiny_bundle(tmp_path_factory, tiny_studies_directory, "image")
