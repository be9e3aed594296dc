"""Stratified k-fold evaluation of the text-only model on OpenI (IU X-ray) reports, against a TF-IDF baseline.

For each of ``k`` stratified folds (scikit-learn ``StratifiedKFold``, shuffled with the run's seed):

1. the vocabulary is built from the training fold's reports only;
2. the Kim CNN text model (:func:`cxrmodel.model.build_model` ``"text"``, the paper's architecture) is trained as
   :mod:`cxrmodel.train` trains the text submodel (Adam, binary cross-entropy, early stopping on the validation
   AUC with the best weights restored), the validation set being a stratified part of the training fold;
3. accuracy (at P = 0.5) and ROC AUC are measured on the held-out fold;
4. on the same folds, TF-IDF (word 1-2 grams) + logistic regression (C chosen by cross-validation inside the
   training fold) is fitted on the training fold only and measured the same way.

The text read is :attr:`cxrmodel.data.openi.Study.report_text` (FINDINGS + IMPRESSION); the label is 1 unless the
MeSH major term is exactly ``normal``. Caution: on IU X-ray the labels were derived from these very reports, so
text-only scores are far higher than the paper's hospital numbers; they measure how well a model reads the
report, not diagnostic skill.
"""

from __future__ import annotations

import logging
import platform
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

DATASETS = ("openi-reports",)
MODALITIES = ("text",)


@dataclass(frozen=True)
class TextEvaluationSettings:
    """How the folds are cut and the text model trained.

    Attributes:
        folds: Number of stratified folds (k).
        epochs: Maximum training epochs per fold (early stopping usually ends sooner).
        batch_size: Training batch size.
        seed: Seeds the fold split, the inner validation split and the weights.
        validation_fraction: Share of each training fold kept aside (stratified) for early stopping.
        patience: Epochs without a better validation AUC before training stops.
        learning_rate: Adam learning rate.
        max_words: Vocabulary size cap (the paper: 15,000).
        model_overrides: :class:`cxrmodel.model.ModelConfig` fields to change (tests use a smaller model);
            empty = the paper's text architecture (140 tokens, 300-d embedding, kernels 3/4/5, L2 0.03).
    """

    folds: int = 5
    epochs: int = 15
    batch_size: int = 64
    seed: int = 2019
    validation_fraction: float = 0.1
    patience: int = 3
    learning_rate: float = 1e-3
    max_words: int = 15000
    model_overrides: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.folds < 2:
            raise ValueError(f"need at least 2 folds, got {self.folds}")
        if self.epochs < 1:
            raise ValueError(f"need at least 1 epoch, got {self.epochs}")
        if not 0.0 < self.validation_fraction < 0.5:
            raise ValueError(f"validation_fraction must be in (0, 0.5), got {self.validation_fraction}")


def stratified_folds(labels: Sequence[int], folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train indices, test indices) per fold: stratified, shuffled with ``seed``, test folds disjoint.

    Raises:
        ValueError: When a label has fewer studies than ``folds`` (a fold could not hold both labels).
    """
    from sklearn.model_selection import StratifiedKFold

    labels = np.asarray(labels)
    counts = np.bincount(labels, minlength=2)
    if counts.min() < folds:
        raise ValueError(f"{folds} folds need at least {folds} studies of each label, got {counts.tolist()}")
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return [(train, test) for train, test in splitter.split(np.zeros(len(labels)), labels)]


def _summary(per_fold: list[dict]) -> dict:
    summary: dict = {}
    for metric in ("accuracy", "auc"):
        values = np.array([fold[metric] for fold in per_fold], dtype=np.float64)
        summary[f"{metric}_mean"] = round(float(values.mean()), 4)
        summary[f"{metric}_sd"] = round(float(values.std(ddof=1)), 4) if len(values) > 1 else 0.0
    return summary


def fit_tfidf_baseline(train_texts: Sequence[str], train_labels: np.ndarray, seed: int):
    """TF-IDF (word 1-2 grams, sublinear tf, min_df 2) + logistic regression, fitted on the given texts only.

    The inverse regularisation strength C (L2) is chosen among 0.1, 1, 10, 100 and 1000 by a stratified 5-fold
    cross-validation (log loss) inside the given texts, so the baseline is not handicapped by one arbitrary C and
    never sees the held-out fold.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline

    inner_folds = int(min(5, np.bincount(np.asarray(train_labels), minlength=2).min()))
    pipeline = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True),
        LogisticRegressionCV(Cs=[0.1, 1.0, 10.0, 100.0, 1000.0], l1_ratios=(0.0,), use_legacy_attributes=False,
                             cv=StratifiedKFold(max(2, inner_folds), shuffle=True, random_state=seed),
                             scoring="neg_log_loss", max_iter=5000, random_state=seed),
    )
    return pipeline.fit(list(train_texts), train_labels)


def _train_text_model(texts: list[str], labels: np.ndarray, train: np.ndarray, test: np.ndarray,
                      settings: TextEvaluationSettings, fold_seed: int) -> tuple[np.ndarray, dict]:
    """Train the Kim CNN on ``train`` (inner validation split for early stopping); P(abnormal) on ``test``."""
    from sklearn.model_selection import train_test_split

    from cxrmodel.model import ModelConfig, build_model
    from cxrmodel.text import Vocabulary, encode_reports
    from cxrmodel.train import StudyArrays, fit_model, predict_probabilities

    vocabulary = Vocabulary.build((texts[index] for index in train), max_words=settings.max_words)
    config = ModelConfig(vocabulary_size=len(vocabulary), **settings.model_overrides)
    token_ids = encode_reports(texts, vocabulary, config.max_tokens).astype(np.int32)
    no_images = np.zeros((len(texts), 1, 1), np.uint8)  # the text model never reads them
    arrays = StudyArrays(no_images, token_ids, labels.astype(np.int32))
    inner_train, inner_validation = train_test_split(
        train, test_size=settings.validation_fraction, stratify=labels[train], random_state=fold_seed
    )
    model = build_model("text", config)
    history = fit_model(
        model, "text", arrays.subset(inner_train), arrays.subset(inner_validation), epochs=settings.epochs,
        learning_rate=settings.learning_rate, batch_size=settings.batch_size, seed=fold_seed,
        patience=settings.patience,
    )
    probabilities = predict_probabilities(model, arrays.subset(test), "text", batch_size=256)
    validation_auc = history.get("val_auc", [])
    details = {
        "vocabulary_size": len(vocabulary),
        "epochs_trained": len(history.get("loss", [])),
        "best_epoch": int(np.argmax(validation_auc)) + 1 if validation_auc else None,
        "train_seconds": round(float(history["seconds"]), 1),
    }
    import keras

    keras.backend.clear_session()  # keep memory flat across folds
    return probabilities, details


def evaluate_text_model(studies: Sequence, settings: TextEvaluationSettings | None = None) -> dict:
    """Evaluate the text model and the TF-IDF baseline on the same stratified folds of ``studies``.

    Args:
        studies: Objects with ``report_text``, ``label`` (1 = abnormal) and ``study_id``
            (:class:`cxrmodel.data.openi.Study`).
        settings: Folds and training settings.

    Returns:
        A plain-JSON document: ``accuracy_mean``/``accuracy_sd``/``auc_mean``/``auc_sd`` of the text model
        (sd over folds, ddof 1), ``n_studies``, ``folds``, ``per_fold`` (held-out size and abnormal count,
        accuracy, AUC, training details), ``baseline_tfidf_logreg`` (same metrics and ``per_fold``),
        ``settings`` and ``wall_seconds``.
    """
    from cxrmodel.train import classification_metrics

    settings = settings or TextEvaluationSettings()
    started = time.perf_counter()
    texts = [study.report_text for study in studies]
    labels = np.asarray([int(study.label) for study in studies], np.int64)
    splits = stratified_folds(labels, settings.folds, settings.seed)

    model_folds: list[dict] = []
    baseline_folds: list[dict] = []
    for fold, (train, test) in enumerate(splits, 1):
        fold_started = time.perf_counter()
        base = {"fold": fold, "n_train": int(len(train)), "n_test": int(len(test)),
                "n_test_abnormal": int(labels[test].sum())}

        baseline = fit_tfidf_baseline([texts[i] for i in train], labels[train], settings.seed)
        baseline_probabilities = baseline.predict_proba([texts[i] for i in test])[:, 1]
        baseline_metrics = classification_metrics(labels[test], baseline_probabilities)
        baseline_folds.append({**base, **{key: round(value, 4) for key, value in baseline_metrics.items()}})

        probabilities, details = _train_text_model(texts, labels, train, test, settings, settings.seed + fold)
        metrics = classification_metrics(labels[test], probabilities)
        model_folds.append({**base, **{key: round(value, 4) for key, value in metrics.items()}, **details,
                            "seconds": round(time.perf_counter() - fold_started, 1)})
        logger.info(
            "fold %d/%d (%d held out, %d abnormal): text CNN accuracy %.4f AUC %.4f (%d epochs); "
            "TF-IDF+LR accuracy %.4f AUC %.4f; %.0f s",
            fold, settings.folds, len(test), base["n_test_abnormal"], metrics["accuracy"], metrics["auc"],
            details["epochs_trained"], baseline_metrics["accuracy"], baseline_metrics["auc"],
            time.perf_counter() - fold_started,
        )

    document = {
        "model": "kim_cnn_text",
        **_summary(model_folds),
        "n_studies": int(len(labels)),
        "n_abnormal": int(labels.sum()),
        "folds": settings.folds,
        "per_fold": model_folds,
        "baseline_tfidf_logreg": {**_summary(baseline_folds), "per_fold": baseline_folds},
        "settings": asdict(settings),
        "wall_seconds": round(time.perf_counter() - started, 1),
        "platform": f"{platform.machine()} {platform.python_implementation()} {platform.python_version()}",
    }
    return document


def evaluate_openi_reports(reports: str | Path, settings: TextEvaluationSettings | None = None) -> dict:
    """Load an OpenI reports archive/folder (:func:`cxrmodel.data.openi.load_openi`) and evaluate on it.

    Raises:
        FileNotFoundError: ``reports`` is missing (the message says how to fetch it).
    """
    from cxrmodel.data.openi import load_openi

    reports = Path(reports)
    if not reports.exists():
        raise FileNotFoundError(
            f"OpenI reports not found at {reports}: run 'python -m cxrmodel data fetch-openi-reports' first "
            "(or pass --reports FILE)"
        )
    started = time.perf_counter()
    studies = load_openi(reports)
    document = evaluate_text_model(studies, settings)
    document = {"dataset": "openi-reports", "modality": "text", "reports": str(reports), **document}
    document["wall_seconds"] = round(time.perf_counter() - started, 1)
    return document
