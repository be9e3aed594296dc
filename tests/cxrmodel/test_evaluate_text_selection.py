"""``evaluate --dataset openi-reports``: the label rules' kept/dropped counts in the JSON, the chosen report model
(inner cross-validation on the training part only) and the public Kim CNN trainer. Fast: tiny exact-format
collections, the CNN (one test) at toy size for one epoch."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cxrmodel.cli.main import main
from cxrmodel.training import evaluate_text
from cxrmodel.training.evaluate_text import (
    REPORT_MODEL_CANDIDATES,
    TextEvaluationSettings,
    choose_report_model,
    evaluate_openi_reports,
    negation_scoped,
)
from tests.cxrmodel.data.openi_label_fixtures import rule_collection, write_archive

BASE = ["evaluate", "--dataset", "openi-reports", "--modality", "text", "--folds", "2", "--inner-folds", "2",
        "--no-kim-cnn", "--json"]


@pytest.fixture(scope="module")
def rules_archive(tmp_path_factory):
    return write_archive(tmp_path_factory.mktemp("rules") / "NLMCXR_reports.tgz", rule_collection())


def _run(capsys, *arguments) -> dict:
    assert main([*BASE, *arguments]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    return json.loads(lines[0])


def test_json_states_kept_and_dropped_by_reason(rules_archive, capsys):
    document = _run(capsys, "--reports", str(rules_archive))
    assert document["selection"] == {
        "loaded": 29, "kept": 25, "kept_normal": 13, "kept_abnormal": 12,
        "dropped": {"no_image": 0, "empty_report": 2, "no_indexing": 2}, "included_no_indexing": 0,
        "rules": {"include_no_indexing": False, "no_indexing_label": None, "include_empty_reports": False,
                  "require_image": False},
        "kept_without_image": 1,
    }
    assert document["n_studies"] == 25 and document["n_abnormal"] == 12
    assert sum(fold["n_test"] for fold in document["models"]["tfidf_logreg"]["per_fold"]) == 25


@pytest.mark.parametrize(
    ("arguments", "kept", "abnormal", "dropped", "included"),
    [
        (["--include-no-indexing"], 27, 14, {"no_image": 0, "empty_report": 2, "no_indexing": 0}, 2),
        (["--include-no-indexing", "normal"], 27, 12, {"no_image": 0, "empty_report": 2, "no_indexing": 0}, 2),
        (["--include-empty-reports"], 26, 12, {"no_image": 0, "empty_report": 0, "no_indexing": 3}, 0),
        (["--require-image"], 24, 12, {"no_image": 1, "empty_report": 2, "no_indexing": 2}, 0),
    ],
)
def test_flags_change_the_counts(rules_archive, capsys, arguments, kept, abnormal, dropped, included):
    document = _run(capsys, "--reports", str(rules_archive), *arguments)
    selection = document["selection"]
    assert (selection["kept"], selection["kept_abnormal"], selection["dropped"]) == (kept, abnormal, dropped)
    assert selection["included_no_indexing"] == included
    assert document["n_studies"] == kept and document["n_abnormal"] == abnormal


def test_readable_output_names_the_counts(rules_archive, capsys):
    assert main([*BASE[:-1], "--reports", str(rules_archive)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("25 reports kept of 29 (dropped: 0 no_image, 2 empty_report, 2 no_indexing)")
    assert "report_model" in out and "tfidf_logreg" in out


def test_report_model_is_chosen_on_the_training_part_only(rules_archive, capsys, monkeypatch):
    seen: list[int] = []
    original = evaluate_text.choose_report_model

    def spy(train_texts, train_labels, seed, inner_folds=5, candidates=REPORT_MODEL_CANDIDATES):
        seen.append(len(train_texts))
        return original(train_texts, train_labels, seed, inner_folds, candidates)

    monkeypatch.setattr(evaluate_text, "choose_report_model", spy)
    document = _run(capsys, "--reports", str(rules_archive))
    folds = document["models"]["report_model"]["per_fold"]
    assert seen == [fold["n_train"] for fold in folds]  # never the held-out fold
    assert document["model"] == "report_model"  # the CNN is off: the chosen model heads
    names = {candidate.name for candidate in REPORT_MODEL_CANDIDATES}
    for fold in folds:
        assert fold["chosen"] in names and set(fold["inner_cv"]) == names
        assert fold["errors"] == round((1 - fold["accuracy"]) * fold["n_test"])
    acceptance = document["report_model_acceptance"]
    assert set(acceptance) == {"accuracy_at_least_0.97", "accuracy_margin_over_baseline", "baseline_accuracy_sd",
                               "report_model_accuracy_sd", "above_baseline_by_one_sd", "folds_above_baseline"}
    assert list(document["models"]) == ["report_model", "tfidf_logreg"]


def test_choose_report_model_prefers_inner_accuracy_then_log_loss():
    texts = ["no effusion lungs clear"] * 10 + ["effusion present right base"] * 10
    labels = np.array([0] * 10 + [1] * 10)
    model, chosen, scores = choose_report_model(texts, labels, seed=0, inner_folds=2,
                                                candidates=REPORT_MODEL_CANDIDATES[:2])
    assert set(scores) == {candidate.name for candidate in REPORT_MODEL_CANDIDATES[:2]}
    best = min(REPORT_MODEL_CANDIDATES[:2], key=lambda c: (-scores[c.name]["accuracy"], scores[c.name]["log_loss"]))
    assert chosen == best
    assert model.predict_proba(["effusion present"])[0, 1] > 0.5


def test_negation_scopes():
    report = "No pneumothorax, pleural effusion or consolidation. Mild cardiomegaly.\n\n1. Negative for edema but " \
             "small granuloma."
    assert negation_scoped(report) == "no . mild cardiomegaly .  . negative but small granuloma . "
    assert negation_scoped("Lungs clear without infiltrate.", "prefix") == "lungs clear without NEG_infiltrate . "
    assert negation_scoped("No effusion.", "none") == "no effusion . "
    with pytest.raises(ValueError, match="mode must be"):
        negation_scoped("x", "keep")


def test_kim_cnn_row_with_selection_and_public_trainer(rules_archive):
    settings = TextEvaluationSettings(folds=2, epochs=1, seed=3, word_vectors="random", report_model=True,
                                      inner_folds=2, model_overrides={"embedding_dimension": 8, "text_filters": 4,
                                                                      "max_tokens": 24})
    document = evaluate_openi_reports(rules_archive, settings)
    assert list(document["models"]) == ["kim_cnn_random", "report_model", "tfidf_logreg"]
    assert document["model"] == "kim_cnn_random" and document["selection"]["kept"] == 25
    for name in ("kim_cnn_random", "report_model", "tfidf_logreg"):
        assert [fold["n_test"] for fold in document["models"][name]["per_fold"]] == [13, 12]

    import keras

    from cxrmodel.training.evaluate_text import _train_text_model, train_text_model

    texts = ["lungs clear"] * 6 + ["cardiomegaly effusion"] * 6
    labels = np.array([0] * 6 + [1] * 6)
    train, test = np.arange(0, 12, 2), np.arange(1, 12, 2)
    small = TextEvaluationSettings(folds=2, epochs=1, validation_fraction=0.34,
                                   model_overrides={"embedding_dimension": 4, "text_filters": 2, "max_tokens": 8})
    trained = train_text_model(texts, labels, train, test, small, fold_seed=0)
    assert isinstance(trained.model, keras.Model) and trained.probabilities.shape == (6,)
    assert len(trained.vocabulary) == trained.details["vocabulary_size"] and trained.config.max_tokens == 8
    probabilities, details = _train_text_model(texts, labels, train, test, small, fold_seed=0)
    assert probabilities.shape == (6,) and details["epochs_trained"] == 1
