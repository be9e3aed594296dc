"""cxrmodel.evaluate_text and ``python -m cxrmodel evaluate``: schema, stratified disjoint folds, missing data.

Runs on ~60 synthetic IU-style reports packed like ``NLMCXR_reports.tgz`` (no real reports in unit tests); a
separate test runs on the real archive when it is present (required when ``CI`` is set).
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import numpy as np
import pytest

from cxrmodel.cli import main
from cxrmodel.data.fetch import REPORTS_SHA256, default_reports_path, file_sha256
from cxrmodel.data.openi import load_openi
from cxrmodel.evaluate_text import TextEvaluationSettings, evaluate_openi_reports, stratified_folds

SEED = 11
STUDIES = 60


@pytest.fixture(scope="module")
def synthetic_reports_archive(tmp_path_factory) -> Path:
    """60 synthetic OpenI report XMLs (no images) in a .tgz laid out like the real archive."""
    from cxrmodel.data.reports import write_report
    from cxrmodel.data.synthetic import openi_xml, sample_study_spec

    path = tmp_path_factory.mktemp("reports") / "NLMCXR_reports.tgz"
    with tarfile.open(path, "w:gz") as archive:
        for number in range(1, STUDIES + 1):
            spec = sample_study_spec(number, SEED)
            report = write_report(spec.findings, np.random.default_rng([SEED, number, 3]),
                                  understate=spec.understated, portable=spec.portable)
            data = openi_xml(spec, report).encode("utf-8")
            info = tarfile.TarInfo(f"ecgen-radiology/{number}.xml")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def _check_metrics(block: dict, folds: int, n_studies: int) -> None:
    for key in ("accuracy_mean", "accuracy_sd", "auc_mean", "auc_sd"):
        assert isinstance(block[key], float) and 0.0 <= block[key] <= 1.0, key
    assert len(block["per_fold"]) == folds
    assert sum(fold["n_test"] for fold in block["per_fold"]) == n_studies
    for fold in block["per_fold"]:
        assert fold["n_train"] + fold["n_test"] == n_studies
        assert 0.0 <= fold["accuracy"] <= 1.0 and 0.0 <= fold["auc"] <= 1.0


def test_cli_json_schema_and_stratified_folds(synthetic_reports_archive, capsys):
    status = main(["evaluate", "--dataset", "openi-reports", "--modality", "text", "--folds", "2",
                   "--reports", str(synthetic_reports_archive), "--epochs", "2", "--seed", "5", "--json"])
    assert status == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1  # one JSON line on stdout, progress on stderr
    document = json.loads(lines[0])
    labels = [study.label for study in load_openi(synthetic_reports_archive)]
    assert document["dataset"] == "openi-reports" and document["modality"] == "text"
    assert document["n_studies"] == STUDIES and document["n_abnormal"] == sum(labels)
    assert document["folds"] == 2
    assert document["settings"]["epochs"] == 2 and document["settings"]["batch_size"] == 64
    assert document["wall_seconds"] > 0
    _check_metrics(document, 2, STUDIES)
    _check_metrics(document["baseline_tfidf_logreg"], 2, STUDIES)
    # Same folds for the model and the baseline; each held-out fold keeps the label balance (stratified).
    for model_fold, baseline_fold in zip(document["per_fold"], document["baseline_tfidf_logreg"]["per_fold"]):
        assert {k: model_fold[k] for k in ("n_test", "n_test_abnormal")} == \
               {k: baseline_fold[k] for k in ("n_test", "n_test_abnormal")}
        assert abs(model_fold["n_test_abnormal"] - sum(labels) / 2) <= 1
        assert 1 <= model_fold["epochs_trained"] <= 2 and model_fold["vocabulary_size"] > 2


def test_folds_are_disjoint_stratified_and_seeded():
    labels = np.array([0] * 23 + [1] * 37)
    folds = stratified_folds(labels, 5, seed=3)
    tests = [test for _, test in folds]
    assert sorted(np.concatenate(tests).tolist()) == list(range(60))  # disjoint and covering
    for train, test in folds:
        assert not set(train) & set(test)
        assert abs(labels[test].mean() - labels.mean()) < 0.05
    assert all((a[1] == b[1]).all() for a, b in zip(folds, stratified_folds(labels, 5, seed=3)))
    assert any((a[1] != b[1]).any() for a, b in zip(folds, stratified_folds(labels, 5, seed=4)))
    with pytest.raises(ValueError, match="at least 5 studies of each label"):
        stratified_folds(np.array([0] * 3 + [1] * 20), 5, seed=0)


def test_vocabulary_comes_from_the_training_fold_only(synthetic_reports_archive, monkeypatch):
    import cxrmodel.text

    seen: list[list[str]] = []
    original = cxrmodel.text.Vocabulary.build.__func__

    def spy(cls, reports, *arguments, **keywords):
        reports = list(reports)
        seen.append(reports)
        return original(cls, reports, *arguments, **keywords)

    monkeypatch.setattr(cxrmodel.text.Vocabulary, "build", classmethod(spy))
    settings = TextEvaluationSettings(folds=2, epochs=1, seed=5,
                                      model_overrides={"embedding_dimension": 8, "text_filters": 4})
    document = evaluate_openi_reports(synthetic_reports_archive, settings)
    assert [len(reports) for reports in seen] == [fold["n_train"] for fold in document["per_fold"]]


def test_missing_reports_say_how_to_fetch(tmp_path, capsys):
    status = main(["evaluate", "--dataset", "openi-reports", "--modality", "text",
                   "--reports", str(tmp_path / "absent.tgz"), "--json"])
    assert status == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "fetch-openi-reports" in error


def test_real_reports_archive_when_present():
    """The real IU archive (fetched by 'data fetch-openi-reports'): skipped only when absent outside CI."""
    path = Path(os.environ.get("CXR_OPENI_REPORTS", default_reports_path()))
    if not path.is_file():
        if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
            pytest.fail(f"{path} is missing in CI: run 'python -m cxrmodel data fetch-openi-reports' first")
        pytest.skip(f"real OpenI reports not fetched ({path})")
    assert file_sha256(path) == REPORTS_SHA256
    studies = load_openi(path)
    assert len(studies) == 3955
    assert sum(study.label == 0 for study in studies) == 1391
