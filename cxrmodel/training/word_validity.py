"""Word-explanation validity on real reports (issue #20, item 4): do the Kim CNN's integrated-gradients top words
name the report's MeSH major terms, more often than a linear model's top words and random words?

For each of ``k`` stratified outer folds (:func:`cxrmodel.training.evaluate_text.stratified_folds`, the same folds
as ``evaluate --dataset openi-reports``) over the studies the OpenI label rules keep
(:func:`cxrmodel.data.openi.select_studies`):

1. the paper's Kim CNN text model is trained on the training part exactly as ``evaluate``'s Kim CNN reference row
   (:func:`cxrmodel.training.evaluate_text.train_text_model`; word2vec on the training part's reports by default,
   the same seeds: ``seed + fold``), and TF-IDF + logistic regression on the same part
   (:func:`~cxrmodel.training.evaluate_text.fit_tfidf_baseline`);
2. every held-out report that is abnormal (label 1) **and** called abnormal by the CNN (P >= 0.5) is explained by
   the project's integrated gradients (:class:`cxrmodel.explain.integrated_gradients.IntegratedGradientsExplainer`,
   default integration: ``auto`` steps to a 1 % completeness error) and its words scored
   (:func:`cxrmodel.explain.results.word_attributions`); the completeness error of each is kept;
3. three rankings of the same report's seen words are compared with its MeSH major terms by the rule of
   :mod:`cxrmodel.evaluation.word_hits` (distinct stemmed words; synonyms of
   :mod:`cxrmodel.evaluation.mesh_synonyms`; strict = location/severity modifiers never count): the IG ranking
   (largest signed attribution first), the TF-IDF + LR ranking (coefficient x tf-idf value,
   :func:`~cxrmodel.evaluation.word_hits.linear_word_scores`) and ``top_k`` random words (mean over
   ``random_draws`` seeded draws);
4. per fold: the top-k hit rates (strict and with modifiers) of the three, the share of reports whose top-1 word
   is a modifier, and the completeness errors; over folds: mean and sd (ddof 1).

Nothing is tuned: the CNN's settings are ``evaluate``'s defaults, and the hit rule and synonym table were fixed
before the first run. Caveat: IU labels and MeSH terms were both derived from these reports, so a hit says the
model reads the words the indexers read, not that it sees the disease.
"""

from __future__ import annotations

import logging
import platform
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from cxrmodel.evaluation.mesh_synonyms import synonym_table
from cxrmodel.evaluation.word_hits import (
    MODIFIER_WORDS,
    MeshWords,
    RankedWord,
    is_modifier,
    linear_word_scores,
    mesh_words,
    random_hit_rates,
    rank_words,
    top_keys,
)
from cxrmodel.progress import progress_meter
from cxrmodel.training.evaluate_text import load_openi_selection

logger = logging.getLogger(__name__)

METHODS = ("integrated_gradients", "tfidf_logreg", "random")
"""The word rankings compared, in the document's order."""
TARGET_STRICT_HIT_RATE = 0.80
"""Issue #20's acceptance: strict top-3 hit rate of the IG words at least this, and above the TF-IDF ranking."""


@dataclass(frozen=True)
class WordValiditySettings:
    """What is compared, on top of the text model's :class:`~cxrmodel.training.evaluate_text.TextEvaluationSettings`.

    Attributes:
        top_k: Words per ranking that may hit (distinct words).
        random_draws: Random draws of ``top_k`` words per report (the random baseline is their mean).
        examples_per_fold: Strict IG misses sampled (seeded) per fold into the document's ``examples_of_misses``.
        per_report: Also put every explained report's outcome in the document (``reports``).
    """

    top_k: int = 3
    random_draws: int = 20
    examples_per_fold: int = 4
    per_report: bool = False

    def __post_init__(self) -> None:
        if self.top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {self.top_k}")
        if self.random_draws < 1:
            raise ValueError(f"random_draws must be at least 1, got {self.random_draws}")
        if self.examples_per_fold < 0:
            raise ValueError(f"examples_per_fold must be >= 0, got {self.examples_per_fold}")


@dataclass(frozen=True)
class ReportJudgement:
    """One explained report judged under each ranking and rule.

    Attributes:
        hits: ``{ranking: {"strict": 0/1, "with_modifiers": 0/1}}``; for ``"random"`` the mean over the draws.
        top1_modifier: ``{ranking: whether its top-1 word is a modifier}`` (IG and TF-IDF).
        ig_words: The IG ranking (distinct words, best first).
        tfidf_words: The TF-IDF + LR ranking of the same words.
        mesh: The report's MeSH words.
    """

    hits: dict[str, dict[str, float]]
    top1_modifier: dict[str, bool]
    ig_words: list[RankedWord]
    tfidf_words: list[RankedWord]
    mesh: MeshWords


def judge_report(seen: Sequence[tuple[str, str, float]], tfidf_scores: Sequence[float], mesh_major: Sequence[str],
                 top_k: int, rng: np.random.Generator, random_draws: int) -> ReportJudgement:
    """Rank a report's seen words by IG and by TF-IDF + LR, draw random words, and judge each against the MeSH terms.

    Args:
        seen: ``(text as written, normalised form, IG score)`` of each word the model saw, in report order.
        tfidf_scores: The TF-IDF + LR score of each of those words (:func:`linear_word_scores`).
        mesh_major: The report's MeSH major terms.
        top_k: Distinct words per ranking that may hit.
        rng: Draws the random words.
        random_draws: Number of random draws.
    """
    ig_ranking = rank_words(seen)
    tfidf_ranking = rank_words((written, normalized, score)
                               for (written, normalized, _), score in zip(seen, tfidf_scores, strict=True))
    mesh = mesh_words(mesh_major)
    random_strict, random_loose = random_hit_rates([word.key for word in ig_ranking], mesh, top_k, rng, random_draws)
    hits = {"random": {"strict": random_strict, "with_modifiers": random_loose}}
    top1 = {}
    for method, ranking in (("integrated_gradients", ig_ranking), ("tfidf_logreg", tfidf_ranking)):
        keys = top_keys(ranking, top_k)
        hits[method] = {"strict": float(mesh.hit(keys, strict=True)),
                        "with_modifiers": float(mesh.hit(keys, strict=False))}
        top1[method] = bool(ranking) and is_modifier(ranking[0].key)
    return ReportJudgement(hits, top1, ig_ranking, tfidf_ranking, mesh)


@dataclass(frozen=True)
class _Outcome:
    """One explained report: its judgement, P(abnormal) and the completeness of its attribution."""

    study_id: str
    probability: float
    judgement: ReportJudgement
    relative_error: float
    converged: bool

    def to_dict(self, top_k: int) -> dict:
        judgement = self.judgement
        return {
            "uid": self.study_id, "probability": round(self.probability, 4),
            "mesh_major": list(judgement.mesh.terms),
            "ig_top_words": [{"word": word.text, "score": round(word.score, 5)}
                             for word in judgement.ig_words[:top_k]],
            "tfidf_top_words": [{"word": word.text, "score": round(word.score, 5)}
                                for word in judgement.tfidf_words[:top_k]],
            "hits": judgement.hits, "completeness_relative_error": round(self.relative_error, 6),
        }


def _rate(values: Sequence[float]) -> float | None:
    return round(float(np.mean(values)), 4) if len(values) else None


def _completeness(errors: Sequence[float], converged: Sequence[bool]) -> dict:
    if not errors:
        return {"n": 0, "median": None, "max": None, "share_within_1pct": None, "not_converged": 0}
    values = np.asarray(errors, np.float64)
    return {"n": int(len(values)), "median": round(float(np.median(values)), 6), "max": round(float(values.max()), 6),
            "share_within_1pct": round(float(np.mean(values <= 0.01)), 4),
            "not_converged": int(sum(not flag for flag in converged))}


def hit_rates(judgements: Sequence[ReportJudgement]) -> dict:
    """Per ranking: the share of reports with a top-k hit, strict and with modifiers, and (IG, TF-IDF) the share
    whose top-1 word is a modifier; ``None`` when there is no report."""
    rates: dict = {}
    for method in METHODS:
        block = {rule: _rate([judgement.hits[method][rule] for judgement in judgements])
                 for rule in ("strict", "with_modifiers")}
        if method != "random":
            block["top1_modifier_share"] = _rate([judgement.top1_modifier[method] for judgement in judgements])
        rates[method] = block
    return rates


def _mean_sd(values: Sequence[float | None]) -> dict:
    present = np.asarray([value for value in values if value is not None], np.float64)
    if not len(present):
        return {"mean": None, "sd": None, "per_fold": list(values)}
    return {"mean": round(float(present.mean()), 4),
            "sd": round(float(present.std(ddof=1)), 4) if len(present) > 1 else 0.0, "per_fold": list(values)}


def _summary(per_fold: list[dict]) -> dict:
    summary: dict = {}
    for method in METHODS:
        summary[method] = {metric: _mean_sd([fold["rates"][method][metric] for fold in per_fold])
                           for metric in per_fold[0]["rates"][method]}
    for key in ("n_explained", "kim_cnn_accuracy", "tfidf_accuracy"):
        summary[key] = _mean_sd([fold[key] for fold in per_fold])
    summary["completeness_median"] = _mean_sd([fold["completeness"]["median"] for fold in per_fold])
    summary["completeness_share_within_1pct"] = _mean_sd([fold["completeness"]["share_within_1pct"]
                                                           for fold in per_fold])
    return summary


def _acceptance(summary: dict, per_fold: list[dict]) -> dict:
    ig, tfidf = summary["integrated_gradients"]["strict"], summary["tfidf_logreg"]["strict"]
    if ig["mean"] is None or tfidf["mean"] is None:
        return {"strict_at_least_0.80": False, "above_tfidf": False}
    return {
        "strict_at_least_0.80": ig["mean"] >= TARGET_STRICT_HIT_RATE,
        "above_tfidf": ig["mean"] > tfidf["mean"],
        "margin_over_tfidf": round(ig["mean"] - tfidf["mean"], 4),
        "folds_above_tfidf": sum(
            1 for fold in per_fold
            if fold["rates"]["integrated_gradients"]["strict"] is not None
            and fold["rates"]["tfidf_logreg"]["strict"] is not None
            and fold["rates"]["integrated_gradients"]["strict"] > fold["rates"]["tfidf_logreg"]["strict"]),
    }


def _explain_report(explainer, text: str, vocabulary, config, study, tfidf, top_k: int, rng: np.random.Generator,
                    random_draws: int) -> _Outcome:
    from cxrmodel.explain.results import word_attributions  # noqa: PLC0415 - the explain stack only when it runs
    from cxrmodel.text import encode_report  # noqa: PLC0415 - same

    encoded = encode_report(text, vocabulary, max_tokens=config.max_tokens)
    attribution = explainer.explain(None, encoded.token_ids)
    words = word_attributions(encoded, attribution)
    seen = [(word.text, token.normalized, word.score)
            for word, token in zip(words, encoded.tokens, strict=True) if word.seen]
    tfidf_scores = linear_word_scores(tfidf, text, [written for written, _, _ in seen])
    judgement = judge_report(seen, tfidf_scores, study.mesh_major, top_k, rng, random_draws)
    completeness = attribution.completeness
    return _Outcome(study.study_id, float(attribution.probability), judgement, float(completeness.relative_error),
                    bool(completeness.converged))


def evaluate_word_validity(studies: Sequence, settings=None, word_settings: WordValiditySettings | None = None,
                           selection: dict | None = None) -> dict:
    """Run the procedure of the module docstring on already selected studies.

    Args:
        studies: :class:`cxrmodel.data.openi.Study` objects kept by the label rules (``report_text``, ``label``,
            ``mesh_major``, ``study_id``).
        settings: The text model's :class:`~cxrmodel.training.evaluate_text.TextEvaluationSettings` (folds, seed,
            epochs, word vectors, model overrides); its ``kim_cnn`` must be on. ``report_model`` and
            ``compare_embeddings`` are ignored: one Kim CNN (the headline row) is trained per fold.
        word_settings: ``top_k``, random draws, examples.
        selection: The label rules' counts, copied into the document.

    Returns:
        A plain-JSON document: ``summary`` (per ranking and rule: ``mean``, ``sd``, ``per_fold``), ``per_fold``
        (sizes, the CNN's and TF-IDF's held-out accuracy, ``rates``, ``completeness``), ``completeness`` (all
        explained reports), ``acceptance``, ``examples_of_misses``, ``rule`` (modifier words, synonym table),
        ``selection``, ``settings``, ``wall_seconds``; ``reports`` with ``per_report``.
    """
    import keras  # noqa: PLC0415 - Keras only when the evaluation runs

    from cxrmodel.explain.integrated_gradients import IntegratedGradientsExplainer  # noqa: PLC0415 - same
    from cxrmodel.training.evaluate_text import (  # noqa: PLC0415 - same (sklearn, gensim)
        TextEvaluationSettings,
        _fold_word_vectors,
        fit_tfidf_baseline,
        stratified_folds,
        train_text_model,
    )
    from cxrmodel.training.fit import classification_metrics  # noqa: PLC0415 - same

    settings = settings or TextEvaluationSettings()
    word_settings = word_settings or WordValiditySettings()
    if not settings.kim_cnn:
        raise ValueError("evaluate-words explains the Kim CNN: settings.kim_cnn must be on")
    started = time.perf_counter()
    external = None
    if settings.word_vectors not in ("random", "word2vec"):
        from cxrmodel.training.embeddings import load_word_vectors  # noqa: PLC0415 - only for a vectors file

        external = load_word_vectors(settings.word_vectors,
                                     dimension=int(settings.model_overrides.get("embedding_dimension", 300)))
    model_name = settings.model_names()[0]
    texts = [study.report_text for study in studies]
    labels = np.asarray([int(study.label) for study in studies], np.int64)
    splits = stratified_folds(labels, settings.folds, settings.seed)
    top_k = word_settings.top_k

    per_fold: list[dict] = []
    all_outcomes: list[tuple[int, _Outcome]] = []
    examples: list[dict] = []
    for fold, (train, test) in enumerate(progress_meter(splits, description="folds", unit="fold"), 1):
        fold_started = time.perf_counter()
        fold_seed = settings.seed + fold
        train_texts = [texts[index] for index in train]
        vectors, vector_details = _fold_word_vectors(model_name, texts, train, settings, fold_seed, external)
        trained = train_text_model(texts, labels, train, test, settings, fold_seed, vectors,
                                   description=f"fold {fold}/{settings.folds} {model_name}")
        tfidf = fit_tfidf_baseline(train_texts, labels[train], settings.seed)
        tfidf_probabilities = tfidf.predict_proba([texts[index] for index in test])[:, 1]
        trained_seconds = time.perf_counter() - fold_started

        explainer = IntegratedGradientsExplainer(trained.model)
        rng = np.random.default_rng(settings.seed + fold)
        outcomes: list[_Outcome] = []
        explained = [index for position, index in enumerate(test)
                     if labels[index] == 1 and trained.probabilities[position] >= 0.5]
        for index in progress_meter(explained, description=f"fold {fold}/{settings.folds} reports explained",
                                    unit="report"):
            outcomes.append(_explain_report(explainer, texts[index], trained.vocabulary, trained.config,
                                            studies[index], tfidf, top_k, rng, word_settings.random_draws))
        keras.backend.clear_session()  # keep memory flat across folds

        completeness = _completeness([outcome.relative_error for outcome in outcomes],
                                     [outcome.converged for outcome in outcomes])
        record = {
            "fold": fold, "n_train": int(len(train)), "n_test": int(len(test)),
            "n_test_abnormal": int(labels[test].sum()), "n_explained": len(outcomes),
            "kim_cnn_accuracy": round(classification_metrics(labels[test], trained.probabilities)["accuracy"], 4),
            "tfidf_accuracy": round(classification_metrics(labels[test], tfidf_probabilities)["accuracy"], 4),
            "rates": hit_rates([outcome.judgement for outcome in outcomes]), "completeness": completeness,
            "no_strict_term_word": sum(1 for outcome in outcomes if not outcome.judgement.mesh.strict_keys),
            **trained.details, **vector_details,
            "train_seconds_total": round(trained_seconds, 1),
            "explain_seconds": round(time.perf_counter() - fold_started - trained_seconds, 1),
        }
        per_fold.append(record)
        all_outcomes.extend((fold, outcome) for outcome in outcomes)
        misses = [outcome for outcome in outcomes if not outcome.judgement.hits["integrated_gradients"]["strict"]]
        if misses and word_settings.examples_per_fold:
            chosen = np.sort(rng.choice(len(misses), size=min(word_settings.examples_per_fold, len(misses)),
                                        replace=False))
            examples.extend({"fold": fold, **misses[index].to_dict(top_k)} for index in chosen)
        ig = record["rates"]["integrated_gradients"]
        logger.info("fold %d/%d: %d of %d held-out abnormal reports explained (CNN accuracy %.4f); top-%d strict "
                    "hit rate IG %s, TF-IDF %s, random %s; completeness median %s; %.0f s", fold, settings.folds,
                    len(outcomes), record["n_test_abnormal"], record["kim_cnn_accuracy"], top_k, ig["strict"],
                    record["rates"]["tfidf_logreg"]["strict"], record["rates"]["random"]["strict"],
                    completeness["median"], time.perf_counter() - fold_started)

    summary = _summary(per_fold)
    document = {
        "model": model_name,
        "top_k": top_k,
        "n_studies": int(len(labels)),
        "n_abnormal": int(labels.sum()),
        "folds": settings.folds,
        "n_explained": len(all_outcomes),
        "summary": summary,
        "acceptance": _acceptance(summary, per_fold),
        "completeness": _completeness([outcome.relative_error for _, outcome in all_outcomes],
                                      [outcome.converged for _, outcome in all_outcomes]),
        "per_fold": per_fold,
        "examples_of_misses": examples,
        "rule": {
            "word_key": "model-normalised word (lower case, digits and hyphens removed), Porter stem "
                        "(gensim.parsing.porter)",
            "top_k": f"the {top_k} distinct word keys with the largest score among the words the model saw",
            "strict": "a top-k key is a key of a MeSH major term word or synonym, modifier words excluded",
            "with_modifiers": "a top-k key is a key of a MeSH major term word or synonym",
            "tfidf_score": "coefficient x tf-idf value of the word's unigram in the report (TF-IDF + LR fitted on "
                           "the training part)",
            "random": f"mean over {word_settings.random_draws} draws of {top_k} distinct seen words",
            "modifier_words": list(MODIFIER_WORDS),
            "synonyms": synonym_table(),
        },
    }
    if word_settings.per_report:
        document["reports"] = [{"fold": fold, **outcome.to_dict(top_k)} for fold, outcome in all_outcomes]
    if selection is not None:
        document["selection"] = selection
    document.update({
        "settings": {**asdict(settings), **asdict(word_settings)},
        "wall_seconds": round(time.perf_counter() - started, 1),
        "platform": f"{platform.machine()} {platform.python_implementation()} {platform.python_version()}",
    })
    return document


def evaluate_openi_word_validity(reports: str | Path, settings=None,
                                 word_settings: WordValiditySettings | None = None, rules=None) -> dict:
    """Run :func:`evaluate_word_validity` on the studies that
    :func:`cxrmodel.training.evaluate_text.load_openi_selection` keeps (the label rules, as ``evaluate`` applies
    them); ``selection`` holds the counts kept and dropped by reason.

    Raises:
        FileNotFoundError: ``reports`` is missing (the message says how to fetch it).
    """
    started = time.perf_counter()
    studies, counts = load_openi_selection(reports, rules)
    document = evaluate_word_validity(studies, settings, word_settings, counts)
    document = {"dataset": "openi-reports", "reports": str(reports), **document}
    document["wall_seconds"] = round(time.perf_counter() - started, 1)
    return document
