"""cxrmodel.training.evaluate_text and ``python -m cxrmodel evaluate``: schema, stratified disjoint folds, missing data.

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

from cxrmodel.cli.main import main
from cxrmodel.data.fetch import REPORTS_SHA256, default_reports_path, file_sha256
from cxrmodel.data.openi import load_openi
from cxrmodel.training.evaluate_text import TextEvaluationSettings, evaluate_openi_reports, stratified_folds

SEED = 11
STUDIES = 60


def write_reports_archive(path: Path, count: int) -> Path:
    """``count`` synthetic OpenI report XMLs (no images) in a .tgz laid out like the real archive."""
    from cxrmodel.data.synthetic.reports.writer import write_report
    from cxrmodel.data.synthetic.studies import openi_xml, sample_study_spec

    with tarfile.open(path, "w:gz") as archive:
        for number in range(1, count + 1):
            spec = sample_study_spec(number, SEED)
            report = write_report(spec.findings, np.random.default_rng([SEED, number, 3]),
                                  understate=spec.understated, portable=spec.portable)
            data = openi_xml(spec, report).encode("utf-8")
            info = tarfile.TarInfo(f"ecgen-radiology/{number}.xml")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture(scope="module")
def synthetic_reports_archive(tmp_path_factory) -> Path:
    """60 synthetic OpenI report XMLs (no images) in a .tgz laid out like the real archive."""
    return write_reports_archive(tmp_path_factory.mktemp("reports") / "NLMCXR_reports.tgz", STUDIES)


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
                   "--reports", str(synthetic_reports_archive), "--epochs", "2", "--seed", "5",
                   "--word-vectors", "random", "--json"])
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
    for model_fold, baseline_fold in zip(document["per_fold"], document["baseline_tfidf_logreg"]["per_fold"],
                                         strict=True):
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
    assert all((a[1] == b[1]).all() for a, b in zip(folds, stratified_folds(labels, 5, seed=3), strict=True))
    assert any((a[1] != b[1]).any() for a, b in zip(folds, stratified_folds(labels, 5, seed=4), strict=True))
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


def test_compare_embeddings_same_folds_word2vec_from_training_fold_only(synthetic_reports_archive, monkeypatch):
    import cxrmodel.training.embeddings

    corpora: list[list[str]] = []
    original = cxrmodel.training.embeddings.train_word2vec

    def spy(reports, **keywords):
        reports = list(reports)
        corpora.append(reports)
        return original(reports, **{**keywords, "epochs": 2})

    monkeypatch.setattr(cxrmodel.training.embeddings, "train_word2vec", spy)
    settings = TextEvaluationSettings(folds=2, epochs=1, seed=5, word_vectors="word2vec", compare_embeddings=True,
                                      model_overrides={"embedding_dimension": 16, "text_filters": 4})
    document = json.loads(json.dumps(evaluate_openi_reports(synthetic_reports_archive, settings)))  # plain JSON
    # Headline = the default word2vec model; the table holds it, the random model and the baseline.
    assert document["model"] == "kim_cnn_word2vec" and document["settings"]["word_vectors"] == "word2vec"
    assert list(document["models"]) == ["kim_cnn_word2vec", "kim_cnn_random", "tfidf_logreg"]
    assert document["per_fold"] == document["models"]["kim_cnn_word2vec"]["per_fold"]
    assert document["accuracy_mean"] == document["models"]["kim_cnn_word2vec"]["accuracy_mean"]
    for block in document["models"].values():
        _check_metrics(block, 2, STUDIES)
    folds = {name: [(f["n_test"], f["n_test_abnormal"]) for f in block["per_fold"]]
             for name, block in document["models"].items()}
    assert len(set(map(tuple, folds.values()))) == 1  # same folds for every model
    # word2vec trained once per fold, on that training fold's reports only, shared by nothing else.
    studies = load_openi(synthetic_reports_archive)
    splits = stratified_folds([study.label for study in studies], 2, seed=5)
    assert corpora == [[studies[index].report_text for index in train] for train, _ in splits]
    for fold in document["models"]["kim_cnn_word2vec"]["per_fold"]:
        assert 0.5 < fold["vector_coverage"] <= 1.0 and fold["word2vec_words"] > 10
    assert "vector_coverage" not in document["models"]["kim_cnn_random"]["per_fold"][0]
    assert set(document["acceptance"]) == {"accuracy_at_least_0.95", "auc_at_least_0.98",
                                           "accuracy_not_below_baseline", "auc_not_below_baseline"}
    assert document["acceptance"]["auc_not_below_baseline"] == (
        document["auc_mean"] >= document["baseline_tfidf_logreg"]["auc_mean"])


def test_external_word_vectors_file(synthetic_reports_archive, tmp_path):
    from cxrmodel.training.embeddings import save_word_vectors, train_word2vec

    texts = [study.report_text for study in load_openi(synthetic_reports_archive)]
    path = save_word_vectors(train_word2vec(texts, dimension=8, min_count=1, epochs=2, seed=0), tmp_path / "v.txt")
    settings = TextEvaluationSettings(folds=2, epochs=1, seed=5, word_vectors=str(path),
                                      model_overrides={"embedding_dimension": 8, "text_filters": 4})
    document = evaluate_openi_reports(synthetic_reports_archive, settings)
    assert document["model"] == "kim_cnn_vectors_file"
    assert list(document["models"]) == ["kim_cnn_vectors_file", "tfidf_logreg"]
    assert all(fold["vector_coverage"] > 0.9 for fold in document["per_fold"])


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--word-vectors", "absent.txt"], "neither 'random', 'word2vec' nor an existing word vectors file"),
        (["--word-vectors", "{glove}", "--compare-embeddings"], "cannot be combined with --word-vectors FILE"),
        (["--word-vectors", "{glove}"], "dimension 3, expected 300"),
    ],
)
def test_bad_word_vectors_arguments_are_one_line_exit_2(synthetic_reports_archive, tmp_path, capsys, arguments,
                                                         message):
    glove = tmp_path / "glove.txt"
    glove.write_text("heart 1 2 3\n")
    arguments = [argument.format(glove=glove) for argument in arguments]
    status = main(["evaluate", "--dataset", "openi-reports", "--modality", "text", "--folds", "2",
                   "--reports", str(synthetic_reports_archive), "--json", *arguments])
    assert status == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and message in error


def test_fit_model_monitor_choices_restore_the_best_epoch():
    """``monitor="val_loss"`` keeps the weights of the lowest validation loss; the default stays val_auc."""
    import keras

    from cxrmodel.modeling import ModelConfig
    from cxrmodel.modeling.builders import build_model
    from cxrmodel.training.fit import StudyArrays, fit_model, predict_probabilities

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 80).astype(np.int32)
    token_ids = rng.integers(2, 20, (80, 12)).astype(np.int32)
    token_ids[:, 0] = labels + 20  # one informative word
    arrays = StudyArrays(np.zeros((80, 1, 1), np.uint8), token_ids, labels)
    config = ModelConfig(vocabulary_size=22, max_tokens=12, embedding_dimension=4, text_filters=4)
    model = build_model("text", config)
    history = fit_model(model, "text", arrays.subset(np.arange(60)), arrays.subset(np.arange(60, 80)), epochs=4,
                        learning_rate=0.01, batch_size=16, seed=1, patience=1, monitor="val_loss",
                        reduce_learning_rate_patience=1)
    best = int(np.argmin(history["val_loss"]))
    restored = keras.losses.binary_crossentropy(
        labels[60:].astype(np.float32), predict_probabilities(model, arrays.subset(np.arange(60, 80)), "text"))
    regularisation = float(sum(keras.ops.convert_to_numpy(loss) for loss in model.losses))
    assert float(np.mean(restored)) + regularisation == pytest.approx(history["val_loss"][best], rel=1e-3)
    with pytest.raises(ValueError, match="monitor must be 'val_auc' or 'val_loss'"):
        fit_model(model, "text", arrays, arrays, epochs=1, learning_rate=0.01, monitor="accuracy")
    with pytest.raises(ValueError, match="monitor must be"):
        TextEvaluationSettings(monitor="loss")
    with pytest.raises(ValueError, match="cannot be combined with a word vectors file"):
        TextEvaluationSettings(word_vectors="vectors.txt", compare_embeddings=True)
