"""``evaluate-words``: the hit rule (strict vs with modifiers, synonyms, stemming, distinct top words), the TF-IDF
word ranking, the random baseline, the modifier share, bad arguments, and one end-to-end run on exact-format OpenI
XML with a toy Kim CNN (fast: one tiny model per fold, a few epochs)."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest

from cxrmodel.cli.main import main
from cxrmodel.evaluation.mesh_synonyms import MESH_SYNONYMS, OBSERVED, synonyms_of
from cxrmodel.evaluation.word_hits import (
    MODIFIER_WORDS,
    is_modifier,
    linear_word_scores,
    mesh_words,
    random_hit_rates,
    rank_words,
    top_keys,
    word_key,
)
from cxrmodel.training.word_validity import WordValiditySettings, hit_rates, judge_report
from tests.cxrmodel.data.openi_label_fixtures import rule_collection, write_archive


def _keys(*words: str) -> list[str]:
    return [word_key(word) for word in words]


def test_strict_rule_ignores_location_and_severity_words_the_loose_rule_counts_them():
    mesh = mesh_words(["Opacity/lung/base/left/mild"])
    for modifier in ("left", "base", "mild", "lungs", "bases"):
        assert not mesh.hit(_keys(modifier), strict=True), modifier
        assert mesh.hit(_keys(modifier), strict=False), modifier
    assert mesh.hit(_keys("opacities"), strict=True) and mesh.hit(_keys("opacity"), strict=False)
    assert not mesh.hit(_keys("right", "upper", "heart"), strict=False)  # not words of this term
    assert mesh.hit(_keys("heart", "left", "opacity"), strict=True)  # one accepted word is enough


def test_synonyms_and_stems_turn_report_wording_into_the_mesh_term():
    cases = {
        "Calcinosis/lung/hilum/right": ("calcified", "calcifications", "calcification"),
        "Cicatrix/lung/base/left": ("scarring", "scar", "scarred"),
        "Pulmonary Atelectasis/base/left": ("atelectasis", "atelectatic"),
        "Lung/hyperdistention": ("hyperinflated", "hyperexpanded", "hyperinflation"),
        "Cardiomegaly/mild": ("enlarged", "enlargement", "cardiomegaly"),
        "Granulomatous Disease": ("granuloma", "granulomas", "granulomatous"),
        "Pleural Effusion/right/small": ("effusion", "effusions", "pleural"),
        "Thoracic Vertebrae/degenerative": ("spine", "vertebral", "degenerative"),
        "Opacity/lung/base": ("opacification", "opacities"),
    }
    for term, words in cases.items():
        mesh = mesh_words([term])
        for word in words:
            assert mesh.hit(_keys(word), strict=True), (term, word)
    # Without the synonym table these would miss: the stem alone does not unite them.
    assert word_key("calcified") != word_key("calcinosis") and word_key("scarring") != word_key("cicatrix")
    assert not mesh_words(["Cardiomegaly"]).hit(_keys("heart", "cardiac"), strict=False)  # the organ, not the finding
    assert not mesh_words(["Lung/hyperdistention"]).hit(_keys("lungs"), strict=True)
    assert mesh_words(["Lung/hyperdistention"]).hit(_keys("lungs"), strict=False)
    # Stop words in a MeSH term never become term words.
    assert word_key("of") not in mesh_words(["Technical Quality of Image Unsatisfactory"]).keys
    assert "calcified" in synonyms_of(" Calcinosis ") and synonyms_of("pneumothorax") == ()


def test_the_synonym_table_says_where_every_row_comes_from():
    for row in MESH_SYNONYMS:
        assert row.words and row.component == row.component.lower()
        assert row.source.startswith(OBSERVED) or row.source.startswith("MeSH D0"), row
        assert all(word == word.lower() and " " not in word for word in row.words)
    assert len(MESH_SYNONYMS) <= 25  # small on purpose
    assert len(set(MODIFIER_WORDS)) == len(MODIFIER_WORDS)
    assert not any(is_modifier(word_key(word)) for row in MESH_SYNONYMS for word in row.words)
    assert not is_modifier(word_key("markings"))  # "marked" is left out for this reason


def test_top_words_are_distinct_words_best_instance_first():
    ranking = rank_words([("Right", "right", 0.5), ("effusion", "effusion", 0.4), ("right", "right", 0.6),
                          ("small", "small", 0.3), ("effusions", "effusions", 0.1), ("no", "no", -0.2)])
    assert [(word.text, word.score) for word in ranking] == [("right", 0.6), ("effusion", 0.4), ("small", 0.3),
                                                             ("no", -0.2)]
    assert top_keys(ranking, 3) == _keys("right", "effusion", "small")
    tie = rank_words([("b", "bb", 0.5), ("a", "aa", 0.5)])
    assert [word.text for word in tie] == ["b", "a"]  # ties keep report order


def test_random_baseline_and_the_modifier_share():
    mesh = mesh_words(["Pleural Effusion/right/small"])
    rng = np.random.default_rng(0)
    assert random_hit_rates(_keys("effusion", "pleural"), mesh, 3, rng, 5) == (1.0, 1.0)
    assert random_hit_rates(_keys("right", "small"), mesh, 3, rng, 5) == (0.0, 1.0)
    assert random_hit_rates(_keys("heart", "clear"), mesh, 3, rng, 5) == (0.0, 0.0)
    strict, loose = random_hit_rates(_keys("effusion", "heart", "clear", "normal"), mesh, 1, rng, 400)
    assert 0.15 < strict < 0.35 and strict == loose  # one word in four, drawn 400 times

    seen = [("Right", "right", 0.9), ("small", "small", 0.5), ("effusion", "effusion", 0.4),
            ("heart", "heart", 0.1)]
    modifier_first = judge_report(seen, [0.0, 0.1, 2.0, 0.0], ["Pleural Effusion/right/small"], 3, rng, 20)
    assert modifier_first.hits["integrated_gradients"] == {"strict": 1.0, "with_modifiers": 1.0}
    assert modifier_first.top1_modifier == {"integrated_gradients": True, "tfidf_logreg": False}
    only_modifiers = judge_report(seen, [0.0, 0.1, 2.0, 0.0], ["Pleural Effusion/right/small"], 2, rng, 20)
    assert only_modifiers.hits["integrated_gradients"] == {"strict": 0.0, "with_modifiers": 1.0}
    assert only_modifiers.hits["tfidf_logreg"] == {"strict": 1.0, "with_modifiers": 1.0}  # effusion, then small
    finding_first = judge_report([("effusion", "effusion", 0.9), ("right", "right", 0.1)], [1.0, 0.0],
                                 ["Pleural Effusion/right"], 1, rng, 20)
    rates = hit_rates([modifier_first, only_modifiers, finding_first])
    assert rates["integrated_gradients"] == {"strict": pytest.approx(0.6667, abs=1e-4),
                                             "with_modifiers": 1.0, "top1_modifier_share": pytest.approx(0.6667,
                                                                                                         abs=1e-4)}
    assert rates["tfidf_logreg"]["top1_modifier_share"] == 0.0
    assert hit_rates([])["integrated_gradients"]["strict"] is None


def test_tfidf_word_scores_are_coefficient_times_value_of_the_unigram():
    from cxrmodel.training.evaluate_text import fit_tfidf_baseline

    normal = ["Heart size normal. Lungs are clear.", "The lungs are clear. No effusion.",
              "Normal heart. Clear lungs, no pneumothorax."] * 4
    abnormal = ["Cardiomegaly. Lungs are clear.", "Right pleural effusion. Heart normal.",
                "Cardiomegaly with small effusion."] * 4
    pipeline = fit_tfidf_baseline(normal + abnormal, np.array([0] * 12 + [1] * 12), seed=0)
    report = "Cardiomegaly with small right effusion. Lungs are clear."
    words = ["Cardiomegaly", "small", "right", "effusion", "Lungs", "clear", "unseenword"]
    scores = linear_word_scores(pipeline, report, words)
    vectorizer, model = pipeline[0], pipeline[-1]
    row = vectorizer.transform([report]).toarray()[0]
    index = vectorizer.vocabulary_["cardiomegaly"]
    assert scores[0] == pytest.approx(model.coef_[0][index] * row[index])
    assert "cardiomegaly with" in vectorizer.vocabulary_  # a bigram feature exists, and is not in the word's score
    assert scores[-1] == 0.0
    ranking = rank_words((word, word.lower(), score) for word, score in zip(words, scores, strict=True))
    assert ranking[0].key == word_key("cardiomegaly") and scores[4] < 0 and scores[5] < 0


@pytest.fixture(scope="module")
def rules_archive(tmp_path_factory):
    return write_archive(tmp_path_factory.mktemp("words") / "NLMCXR_reports.tgz", rule_collection())


@pytest.mark.parametrize(("arguments", "message"), [
    (["--folds", "1"], "at least 2 folds"),
    (["--word-vectors", "missing.txt"], "--word-vectors"),
    (["--output", "{tmp}"], "is a folder"),
    (["--chart", "{tmp}/no/such/chart.png"], "does not exist"),
    (["--reports", "{tmp}/none.tgz"], "fetch-openi-reports"),
])
def test_bad_arguments_are_one_line_exit_2(arguments, message, rules_archive, tmp_path, capsys):
    arguments = [part.format(tmp=tmp_path) for part in arguments]
    if "--reports" not in arguments:
        arguments += ["--reports", str(rules_archive)]
    assert main(["evaluate-words", "--dataset", "openi-reports", *arguments]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and message in error


def test_top_k_must_be_positive(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate-words", "--dataset", "openi-reports", "--top-k", "0"])
    assert exit_info.value.code == 2
    with pytest.raises(ValueError, match="top_k"):
        WordValiditySettings(top_k=0)


def test_end_to_end_on_exact_format_reports(rules_archive, tmp_path, capsys, monkeypatch):
    from cxrmodel.training import evaluate_text

    # A toy Kim CNN (the paper's is 300-d, 140 tokens): same code path, seconds instead of minutes.
    # Early stopping on the validation loss: with 2 validation reports the AUC is perfect from epoch 1 and its best
    # weights would be the untrained ones.
    toy = functools.partial(evaluate_text.TextEvaluationSettings, learning_rate=0.02, patience=20, batch_size=4,
                            monitor="val_loss",
                            model_overrides={"embedding_dimension": 8, "text_filters": 4, "max_tokens": 24})
    monkeypatch.setattr(evaluate_text, "TextEvaluationSettings", toy)
    output, chart = tmp_path / "words.json", tmp_path / "words.png"
    status = main(["evaluate-words", "--dataset", "openi-reports", "--folds", "2", "--epochs", "10", "--seed", "3",
                   "--word-vectors", "random", "--top-k", "2", "--reports", str(rules_archive), "--json",
                   "--output", str(output), "--chart", str(chart), "--per-report"])
    assert status == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    document = json.loads(lines[0])
    assert json.loads(output.read_text()) == document
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert document["selection"]["kept"] == 25 and document["selection"]["dropped"] == {
        "no_image": 0, "empty_report": 2, "no_indexing": 2}
    assert document["n_studies"] == 25 and document["n_abnormal"] == 12 and document["top_k"] == 2
    folds = document["per_fold"]
    assert [fold["n_test"] for fold in folds] == [13, 12] and sum(fold["n_test_abnormal"] for fold in folds) == 12
    assert document["n_explained"] == sum(fold["n_explained"] for fold in folds) == len(document["reports"])
    assert 6 <= document["n_explained"] <= 12  # the toy CNN separates these reports (all 12 in the runs seen)
    for report in document["reports"]:  # only correctly classified abnormal reports are explained
        assert report["probability"] >= 0.5 and report["uid"].startswith("CXR1")
        assert 1 <= len(report["ig_top_words"]) <= 2
        assert report["completeness_relative_error"] <= 0.05
    summary = document["summary"]
    for method in ("integrated_gradients", "tfidf_logreg", "random"):
        for rule in ("strict", "with_modifiers"):
            block = summary[method][rule]
            assert len(block["per_fold"]) == 2 and 0.0 <= block["mean"] <= 1.0
            assert block["mean"] <= summary[method]["with_modifiers"]["mean"]  # strict never above loose
    completeness = document["completeness"]
    assert completeness["n"] == document["n_explained"] and completeness["max"] >= completeness["median"]
    assert set(document["acceptance"]) >= {"strict_at_least_0.80", "above_tfidf"}
    assert document["rule"]["modifier_words"] == list(MODIFIER_WORDS)
    assert document["settings"]["top_k"] == 2 and document["settings"]["word_vectors"] == "random"
    # The rates are the reports' hits averaged: recompute the IG strict rate of fold 1 from the per-report rows.
    fold1 = [report for report in document["reports"] if report["fold"] == 1]
    if fold1:
        expected = np.mean([report["hits"]["integrated_gradients"]["strict"] for report in fold1])
        assert summary["integrated_gradients"]["strict"]["per_fold"][0] == pytest.approx(expected, abs=1e-4)
