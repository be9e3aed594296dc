"""Stratified k-fold evaluation of the text-only model on OpenI (IU X-ray) reports, against a TF-IDF baseline.

For each of ``k`` stratified folds (scikit-learn ``StratifiedKFold``, shuffled with the run's seed):

1. the vocabulary is built from the training fold's reports only;
2. the Kim CNN text model (:func:`cxrmodel.modeling.builders.build_model` ``"text"``, the paper's architecture) is
   trained as :mod:`cxrmodel.training.fit` trains the text submodel (Adam, binary cross-entropy, early stopping on the
   validation AUC with the best weights restored), the validation set being a stratified part of the training fold;
3. accuracy (at P = 0.5) and ROC AUC are measured on the held-out fold;
4. on the same folds, TF-IDF (word 1-2 grams) + logistic regression (C chosen by cross-validation inside the
   training fold) is fitted on the training fold only and measured the same way.

Word vectors (``word_vectors``): ``"random"`` initialises the embedding at random (Keras' uniform +/-0.05);
``"word2vec"`` (the default, as in the paper) trains word2vec (:func:`cxrmodel.training.embeddings.train_word2vec`) on
the **training fold's reports only** and initialises the (trainable) embedding from it — the held-out fold's reports are
never seen, not even without labels, so the score is what a model gets on reports that arrive after training; a path
loads external vectors (word2vec or GloVe text). ``compare_embeddings`` trains both the random and the word2vec model on
every fold (the paper's Table 1 analogue) next to the TF-IDF baseline.

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
WORD_VECTOR_MODES = ("random", "word2vec")
"""Built-in ``word_vectors`` choices; any other value is a path to a word2vec/GloVe text file."""


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
        model_overrides: :class:`cxrmodel.modeling.builders.ModelConfig` fields to change (tests use a smaller model);
            empty = the paper's text architecture (140 tokens, 300-d embedding, kernels 3/4/5, L2 0.03).
        word_vectors: ``"random"``, ``"word2vec"`` (trained per training fold) or a word vectors file path;
            the model this names is the document's headline model.
        compare_embeddings: Also train the other of random / word2vec on every fold (same folds, same run).
        monitor: Early stopping criterion on the inner validation split (``"val_auc"`` or ``"val_loss"``).
        reduce_learning_rate_patience: Halve the learning rate after this many epochs without improvement
            (``None``: constant rate).
        word2vec_epochs: word2vec passes over the training fold's reports.
        word2vec_window: word2vec context window.
        word2vec_min_count: Words seen fewer times in the training fold get no word2vec vector.
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
    word_vectors: str = "word2vec"
    compare_embeddings: bool = False
    monitor: str = "val_auc"
    reduce_learning_rate_patience: int | None = None
    word2vec_epochs: int = 20
    word2vec_window: int = 5
    word2vec_min_count: int = 2

    def __post_init__(self) -> None:
        if self.folds < 2:
            raise ValueError(f"need at least 2 folds, got {self.folds}")
        if self.epochs < 1:
            raise ValueError(f"need at least 1 epoch, got {self.epochs}")
        if not 0.0 < self.validation_fraction < 0.5:
            raise ValueError(f"validation_fraction must be in (0, 0.5), got {self.validation_fraction}")
        if self.monitor not in ("val_auc", "val_loss"):
            raise ValueError(f"monitor must be 'val_auc' or 'val_loss', got {self.monitor!r}")
        if not self.word_vectors:
            raise ValueError("word_vectors must be 'random', 'word2vec' or a word vectors file")
        if self.compare_embeddings and self.word_vectors not in WORD_VECTOR_MODES:
            raise ValueError("compare_embeddings compares 'random' with 'word2vec'; it cannot be combined with a "
                             f"word vectors file ({self.word_vectors})")

    def model_names(self) -> list[str]:
        """Keys of the trained text models in the document, the headline model first."""
        def name(mode: str) -> str:
            return f"kim_cnn_{mode}" if mode in WORD_VECTOR_MODES else "kim_cnn_vectors_file"

        names = [name(self.word_vectors)]
        if self.compare_embeddings:
            names.append(name("random" if self.word_vectors == "word2vec" else "word2vec"))
        return names


def stratified_folds(labels: Sequence[int], folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train indices, test indices) per fold: stratified, shuffled with ``seed``, test folds disjoint.

    Raises:
        ValueError: When a label has fewer studies than ``folds`` (a fold could not hold both labels).
    """
    from sklearn.model_selection import StratifiedKFold  # noqa: PLC0415 - sklearn only when folds are made

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
    from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: PLC0415 - sklearn only for the baseline
    from sklearn.linear_model import LogisticRegressionCV  # noqa: PLC0415 - same
    from sklearn.model_selection import StratifiedKFold  # noqa: PLC0415 - same
    from sklearn.pipeline import make_pipeline  # noqa: PLC0415 - same

    inner_folds = int(min(5, np.bincount(np.asarray(train_labels), minlength=2).min()))
    pipeline = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True),
        LogisticRegressionCV(Cs=[0.1, 1.0, 10.0, 100.0, 1000.0], l1_ratios=(0.0,), use_legacy_attributes=False,
                             cv=StratifiedKFold(max(2, inner_folds), shuffle=True, random_state=seed),
                             scoring="neg_log_loss", max_iter=5000, random_state=seed),
    )
    return pipeline.fit(list(train_texts), train_labels)


def _train_text_model(texts: list[str], labels: np.ndarray, train: np.ndarray, test: np.ndarray,
                      settings: TextEvaluationSettings, fold_seed: int, vectors=None) -> tuple[np.ndarray, dict]:
    """Train the Kim CNN on ``train`` (inner validation split for early stopping); P(abnormal) on ``test``.

    ``vectors`` (:class:`cxrmodel.training.embeddings.WordVectors`) initialises the embedding; ``None`` = random.
    """
    from sklearn.model_selection import train_test_split  # noqa: PLC0415 - sklearn only when training

    from cxrmodel.modeling import ModelConfig  # noqa: PLC0415 - same: the model stack only when training
    from cxrmodel.modeling.builders import build_model  # noqa: PLC0415 - same (loads Keras)
    from cxrmodel.text import Vocabulary, encode_reports  # noqa: PLC0415 - same
    from cxrmodel.training.embeddings import (  # noqa: PLC0415 - same
        embedding_coverage,
        embedding_matrix,
        initialise_word_embedding,
    )
    from cxrmodel.training.fit import StudyArrays, fit_model, predict_probabilities  # noqa: PLC0415 - same (Keras)

    vocabulary = Vocabulary.build((texts[index] for index in train), max_words=settings.max_words)
    config = ModelConfig(vocabulary_size=len(vocabulary), **settings.model_overrides)
    token_ids = encode_reports(texts, vocabulary, config.max_tokens).astype(np.int32)
    no_images = np.zeros((len(texts), 1, 1), np.uint8)  # the text model never reads them
    arrays = StudyArrays(no_images, token_ids, labels.astype(np.int32))
    inner_train, inner_validation = train_test_split(
        train, test_size=settings.validation_fraction, stratify=labels[train], random_state=fold_seed
    )
    import keras  # noqa: PLC0415 - Keras only when training

    keras.utils.set_random_seed(fold_seed)  # the same initial weights with or without pre-trained vectors
    model = build_model("text", config)
    details: dict = {"vocabulary_size": len(vocabulary)}
    if vectors is not None:
        initialise_word_embedding(model, embedding_matrix(vectors, vocabulary, config.embedding_dimension, fold_seed))
        details["vector_coverage"] = round(embedding_coverage(vectors, vocabulary), 4)
    history = fit_model(
        model, "text", arrays.subset(inner_train), arrays.subset(inner_validation), epochs=settings.epochs,
        learning_rate=settings.learning_rate, batch_size=settings.batch_size, seed=fold_seed,
        patience=settings.patience, monitor=settings.monitor,
        reduce_learning_rate_patience=settings.reduce_learning_rate_patience,
    )
    probabilities = predict_probabilities(model, arrays.subset(test), "text", batch_size=256)
    monitored = history.get(settings.monitor, [])
    best = (np.argmax(monitored) if settings.monitor == "val_auc" else np.argmin(monitored)) if monitored else None
    details.update({
        "epochs_trained": len(history.get("loss", [])),
        "best_epoch": int(best) + 1 if best is not None else None,
        "train_seconds": round(float(history["seconds"]), 1),
    })
    keras.backend.clear_session()  # keep memory flat across folds
    return probabilities, details


def _fold_word_vectors(name: str, texts: list[str], train: np.ndarray, settings: TextEvaluationSettings,
                       fold_seed: int, external):
    """The vectors that initialise model ``name`` on this fold: None (random), word2vec on the fold, or the file's."""
    if name == "kim_cnn_random":
        return None, {}
    if name == "kim_cnn_vectors_file":
        return external, {}
    from cxrmodel.training.embeddings import train_word2vec  # noqa: PLC0415 - gensim only when word2vec is trained

    dimension = int(settings.model_overrides.get("embedding_dimension", 300))
    started = time.perf_counter()
    vectors = train_word2vec(
        (texts[index] for index in train), dimension=dimension, window=settings.word2vec_window,
        min_count=settings.word2vec_min_count, epochs=settings.word2vec_epochs, seed=fold_seed,
    )
    return vectors, {"word2vec_words": len(vectors), "word2vec_seconds": round(time.perf_counter() - started, 1)}


def evaluate_text_model(studies: Sequence, settings: TextEvaluationSettings | None = None) -> dict:
    """Evaluate the text model(s) and the TF-IDF baseline on the same stratified folds of ``studies``.

    Args:
        studies: Objects with ``report_text``, ``label`` (1 = abnormal) and ``study_id``
            (:class:`cxrmodel.data.openi.Study`).
        settings: Folds, word vectors and training settings.

    Returns:
        A plain-JSON document: ``accuracy_mean``/``accuracy_sd``/``auc_mean``/``auc_sd`` of the headline text
        model (``model``; sd over folds, ddof 1), ``n_studies``, ``folds``, ``per_fold`` (held-out size and
        abnormal count, accuracy, AUC, training details), ``baseline_tfidf_logreg`` (same metrics and
        ``per_fold``), ``models`` (every trained model and the baseline by name, each with its summary and
        ``per_fold``), ``acceptance`` (the headline model against 0.95 accuracy, 0.98 AUC and the baseline's
        means), ``settings`` and ``wall_seconds``.

    Raises:
        FileNotFoundError / ValueError: When ``settings.word_vectors`` is a missing or malformed file.
    """
    from cxrmodel.training.fit import classification_metrics  # noqa: PLC0415 - fit loads Keras

    settings = settings or TextEvaluationSettings()
    started = time.perf_counter()
    external = None
    if settings.word_vectors not in WORD_VECTOR_MODES:
        from cxrmodel.training.embeddings import load_word_vectors  # noqa: PLC0415 - only for a vectors file

        external = load_word_vectors(settings.word_vectors,
                                     dimension=int(settings.model_overrides.get("embedding_dimension", 300)))
    texts = [study.report_text for study in studies]
    labels = np.asarray([int(study.label) for study in studies], np.int64)
    splits = stratified_folds(labels, settings.folds, settings.seed)
    names = settings.model_names()

    model_folds: dict[str, list[dict]] = {name: [] for name in names}
    baseline_folds: list[dict] = []
    for fold, (train, test) in enumerate(splits, 1):
        fold_started = time.perf_counter()
        fold_seed = settings.seed + fold
        base = {"fold": fold, "n_train": int(len(train)), "n_test": int(len(test)),
                "n_test_abnormal": int(labels[test].sum())}

        baseline = fit_tfidf_baseline([texts[i] for i in train], labels[train], settings.seed)
        baseline_probabilities = baseline.predict_proba([texts[i] for i in test])[:, 1]
        baseline_metrics = classification_metrics(labels[test], baseline_probabilities)
        baseline_folds.append({**base, **{key: round(value, 4) for key, value in baseline_metrics.items()}})

        word2vec = None
        for name in names:
            model_started = time.perf_counter()
            if name == "kim_cnn_word2vec" and word2vec is not None:
                vectors, vector_details = word2vec
            else:
                vectors, vector_details = _fold_word_vectors(name, texts, train, settings, fold_seed, external)
                if name == "kim_cnn_word2vec":
                    word2vec = (vectors, vector_details)
            probabilities, details = _train_text_model(texts, labels, train, test, settings, fold_seed, vectors)
            metrics = classification_metrics(labels[test], probabilities)
            model_folds[name].append({**base, **{key: round(value, 4) for key, value in metrics.items()}, **details,
                                      **vector_details, "seconds": round(time.perf_counter() - model_started, 1)})
            logger.info(
                "fold %d/%d (%d held out, %d abnormal): %s accuracy %.4f AUC %.4f (%d epochs); "
                "TF-IDF+LR accuracy %.4f AUC %.4f; %.0f s",
                fold, settings.folds, len(test), base["n_test_abnormal"], name, metrics["accuracy"], metrics["auc"],
                details["epochs_trained"], baseline_metrics["accuracy"], baseline_metrics["auc"],
                time.perf_counter() - fold_started,
            )

    headline = names[0]
    baseline_block = {**_summary(baseline_folds), "per_fold": baseline_folds}
    models = {name: {**_summary(folds), "per_fold": folds} for name, folds in model_folds.items()}
    models["tfidf_logreg"] = baseline_block
    summary = _summary(model_folds[headline])
    document = {
        "model": headline,
        **summary,
        "n_studies": int(len(labels)),
        "n_abnormal": int(labels.sum()),
        "folds": settings.folds,
        "per_fold": model_folds[headline],
        "baseline_tfidf_logreg": baseline_block,
        "models": models,
        "acceptance": {
            "accuracy_at_least_0.95": summary["accuracy_mean"] >= 0.95,
            "auc_at_least_0.98": summary["auc_mean"] >= 0.98,
            "accuracy_not_below_baseline": summary["accuracy_mean"] >= baseline_block["accuracy_mean"],
            "auc_not_below_baseline": summary["auc_mean"] >= baseline_block["auc_mean"],
        },
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
    from cxrmodel.data.openi import load_openi  # noqa: PLC0415 - the OpenI reader only for reports

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
