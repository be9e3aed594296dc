"""Stratified k-fold evaluation of the text-only model on OpenI (IU X-ray) reports, against a TF-IDF baseline.

For each of ``k`` stratified folds (scikit-learn ``StratifiedKFold``, shuffled with the run's seed):

1. the vocabulary is built from the training fold's reports only;
2. the Kim CNN text model (:func:`cxrmodel.modeling.builders.build_model` ``"text"``, the paper's architecture) is
   trained as :mod:`cxrmodel.training.fit` trains the text submodel (Adam, binary cross-entropy, early stopping on the
   validation AUC with the best weights restored), the validation set being a stratified part of the training fold;
3. accuracy (at P = 0.5) and ROC AUC are measured on the held-out fold;
4. on the same folds, TF-IDF (word 1-2 grams) + logistic regression (C chosen by cross-validation inside the
   training fold) is fitted on the training fold only and measured the same way;
5. with ``report_model`` on (the CLI's default), the **chosen report model** (``report_model``): one of the fixed
   candidates of :data:`REPORT_MODEL_CANDIDATES` (linear models on word or character n-grams of the report, with or
   without negation scopes, see :func:`negation_scoped`) is picked per outer fold by an inner stratified
   cross-validation on that fold's training part only (highest inner accuracy, then lowest inner log loss), refitted
   on the whole training part and measured on the held-out fold. The held-out fold never takes part in the choice.

Word vectors (``word_vectors``): ``"random"`` initialises the embedding at random (Keras' uniform +/-0.05);
``"word2vec"`` (the default, as in the paper) trains word2vec (:func:`cxrmodel.training.embeddings.train_word2vec`) on
the **training fold's reports only** and initialises the (trainable) embedding from it — the held-out fold's reports are
never seen, not even without labels, so the score is what a model gets on reports that arrive after training; a path
loads external vectors (word2vec or GloVe text). ``compare_embeddings`` trains both the random and the word2vec model on
every fold (the paper's Table 1 analogue) next to the TF-IDF baseline.

The text read is :attr:`cxrmodel.data.openi.Study.report_text` (FINDINGS + IMPRESSION); the label is 1 unless the
MeSH major term is exactly ``normal``, and the studies are those the OpenI label rules keep
(:func:`cxrmodel.data.openi.select_studies`: by default empty reports and No-Indexing-only studies are dropped); the
document's ``selection`` says how many were kept and dropped, by reason. Caution: on IU X-ray the labels were
derived from these very reports, so text-only scores are far higher than the paper's hospital numbers; they measure
how well a model reads the report, not diagnostic skill.
"""

from __future__ import annotations

import logging
import platform
import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from cxrmodel.progress import progress_meter

logger = logging.getLogger(__name__)

DATASETS = ("openi-reports",)
MODALITIES = ("text",)
WORD_VECTOR_MODES = ("random", "word2vec")
"""Built-in ``word_vectors`` choices; any other value is a path to a word2vec/GloVe text file."""

NEGATION_TRIGGERS = frozenset({"no", "not", "without", "negative", "free", "absent", "nor"})
"""Words that open a negation scope ("no pneumothorax", "negative for effusion", "free of disease")."""
NEGATION_ENDS = frozenset({"but", "however", "although", "except", "which", "with"})
"""Words that close a negation scope before the sentence ends ("no effusion, but mild cardiomegaly")."""
_SENTENCE_BREAK = re.compile(r"[.;:\n]+|\b\d+\.")
_WORD = re.compile(r"[a-z]+")


def negation_scoped(text: str, mode: str = "drop") -> str:
    """The report with negated words marked or removed, sentence by sentence.

    A scope opens after a word of :data:`NEGATION_TRIGGERS` and lasts to the end of the sentence (``.``, ``;``,
    ``:``, a line break or a list number) or to a word of :data:`NEGATION_ENDS`. Words are lower-cased letters.

    Args:
        text: The report.
        mode: ``"drop"`` removes the words inside a scope (IU reports list many negated findings: "No
            pneumothorax, pleural effusion or focal consolidation"; dropping them leaves what *was* seen);
            ``"prefix"`` keeps them as ``NEG_word``; ``"none"`` only lower-cases and splits.

    Returns:
        The sentences' words joined by spaces, sentences separated by ``" . "``.
    """
    if mode not in ("drop", "prefix", "none"):
        raise ValueError(f"mode must be 'drop', 'prefix' or 'none', got {mode!r}")
    sentences = []
    for sentence in _SENTENCE_BREAK.split(text.lower()):
        negated, words = False, []
        for word in _WORD.findall(sentence):
            if word in NEGATION_ENDS:
                negated = False
            if not negated or mode == "none":
                words.append(word)
            elif mode == "prefix":
                words.append(f"NEG_{word}")
            if word in NEGATION_TRIGGERS:
                negated = True
        sentences.append(" ".join(words))
    return " . ".join(sentences)


def _negation_batch(texts, mode: str = "drop") -> list[str]:
    return [negation_scoped(text, mode) for text in texts]


@dataclass(frozen=True)
class ReportModelCandidate:
    """One candidate of the chosen report model: negation handling, n-gram features, logistic regression.

    Attributes:
        name: Short name (in the JSON).
        negation: ``"none"`` (the raw report), ``"drop"`` or ``"prefix"`` (:func:`negation_scoped`).
        features: ``"word"`` (TF-IDF word 1-2 grams) or ``"char"`` (TF-IDF character 2-5 grams within words).
        C: Inverse L2 regularisation strength of the logistic regression.
    """

    name: str
    negation: str
    features: str
    C: float

    def build(self, seed: int):
        """An unfitted scikit-learn pipeline (report strings in, P(abnormal) out)."""
        from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: PLC0415 - sklearn only for the models
        from sklearn.linear_model import LogisticRegression  # noqa: PLC0415 - same
        from sklearn.pipeline import make_pipeline  # noqa: PLC0415 - same
        from sklearn.preprocessing import FunctionTransformer  # noqa: PLC0415 - same

        if self.features == "word":
            vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
        elif self.features == "char":
            vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True)
        else:
            raise ValueError(f"features must be 'word' or 'char', got {self.features!r}")
        steps = [] if self.negation == "none" else [
            FunctionTransformer(_negation_batch, kw_args={"mode": self.negation})]
        return make_pipeline(*steps, vectorizer, LogisticRegression(C=self.C, max_iter=5000, random_state=seed))


REPORT_MODEL_CANDIDATES = tuple(
    ReportModelCandidate(f"{features}-{negation}-C{C:g}", negation, features, C)
    for features, grid in (("word", (10.0, 100.0)), ("char", (100.0, 1000.0)))
    for negation in ("none", "drop")
    for C in grid
)
"""The fixed candidates the inner cross-validation chooses from (word / character n-grams x raw / negation-dropped
text x two regularisation strengths)."""


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
        kim_cnn: Train the Kim CNN reference row(s) (off: only the fast rows, the chosen report model heads).
        report_model: Also evaluate the chosen report model (inner CV over :data:`REPORT_MODEL_CANDIDATES`).
        inner_folds: Folds of the inner cross-validation that chooses the report model on each training part.
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
    kim_cnn: bool = True
    report_model: bool = False
    inner_folds: int = 5

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
        if not (self.kim_cnn or self.report_model):
            raise ValueError("nothing to evaluate: kim_cnn and report_model are both off")
        if self.inner_folds < 2:
            raise ValueError(f"need at least 2 inner folds, got {self.inner_folds}")
        if self.compare_embeddings and self.word_vectors not in WORD_VECTOR_MODES:
            raise ValueError("compare_embeddings compares 'random' with 'word2vec'; it cannot be combined with a "
                             f"word vectors file ({self.word_vectors})")

    def model_names(self) -> list[str]:
        """Keys of the trained text models in the document, the headline model first."""
        def name(mode: str) -> str:
            return f"kim_cnn_{mode}" if mode in WORD_VECTOR_MODES else "kim_cnn_vectors_file"

        if not self.kim_cnn:
            return []
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


def choose_report_model(train_texts: Sequence[str], train_labels: np.ndarray, seed: int, inner_folds: int = 5,
                        candidates: Sequence[ReportModelCandidate] = REPORT_MODEL_CANDIDATES):
    """Pick a candidate by stratified inner cross-validation on the given (training) reports only, refit it on all.

    The choice is the highest mean inner accuracy at P = 0.5, ties broken by the lower mean inner log loss, then by
    candidate order.

    Returns:
        ``(fitted pipeline, chosen candidate, inner scores {name: {"accuracy", "log_loss"}})``.
    """
    from sklearn.metrics import log_loss  # noqa: PLC0415 - sklearn only for the models
    from sklearn.model_selection import StratifiedKFold  # noqa: PLC0415 - same

    train_texts = list(train_texts)
    train_labels = np.asarray(train_labels)
    folds = int(min(inner_folds, np.bincount(train_labels, minlength=2).min()))
    splits = list(StratifiedKFold(max(2, folds), shuffle=True, random_state=seed).split(train_texts, train_labels))
    scores: dict[str, dict[str, float]] = {}
    for candidate in candidates:
        accuracies, losses = [], []
        for inner_train, inner_test in splits:
            model = candidate.build(seed).fit([train_texts[i] for i in inner_train], train_labels[inner_train])
            probabilities = model.predict_proba([train_texts[i] for i in inner_test])[:, 1]
            accuracies.append(float(np.mean((probabilities >= 0.5) == train_labels[inner_test])))
            losses.append(float(log_loss(train_labels[inner_test], probabilities, labels=[0, 1])))
        scores[candidate.name] = {"accuracy": round(float(np.mean(accuracies)), 4),
                                  "log_loss": round(float(np.mean(losses)), 4)}
    order = {candidate.name: index for index, candidate in enumerate(candidates)}
    best = min(candidates, key=lambda c: (-scores[c.name]["accuracy"], scores[c.name]["log_loss"], order[c.name]))
    return best.build(seed).fit(train_texts, train_labels), best, scores


@dataclass
class TrainedTextModel:
    """What :func:`train_text_model` returns.

    Attributes:
        model: The trained Keras text model (best validation epoch's weights).
        vocabulary: The :class:`cxrmodel.text.Vocabulary` built from the training reports.
        config: The :class:`cxrmodel.modeling.ModelConfig` it was built with.
        probabilities: P(abnormal) for the ``test`` indices.
        details: Vocabulary size, vector coverage, epochs trained, best epoch, training seconds.
    """

    model: object
    vocabulary: object
    config: object
    probabilities: np.ndarray
    details: dict


def train_text_model(texts: list[str], labels: np.ndarray, train: np.ndarray, test: np.ndarray,
                     settings: TextEvaluationSettings, fold_seed: int, vectors=None,
                     description: str | None = None) -> TrainedTextModel:
    """Train the Kim CNN on ``train`` (inner validation split for early stopping); P(abnormal) on ``test``.

    ``description`` names the fit on its epoch bar (e.g. ``"fold 2/5 kim_cnn_word2vec"``).

    The k-fold evaluation's trainer. ``vectors`` (:class:`cxrmodel.training.embeddings.WordVectors`) initialises
    the embedding; ``None`` = random. The Keras session is left as it is (the k-fold loop clears it after each fold).
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
        reduce_learning_rate_patience=settings.reduce_learning_rate_patience, description=description,
    )
    probabilities = predict_probabilities(model, arrays.subset(test), "text", batch_size=256)
    monitored = history.get(settings.monitor, [])
    best = (np.argmax(monitored) if settings.monitor == "val_auc" else np.argmin(monitored)) if monitored else None
    details.update({
        "epochs_trained": len(history.get("loss", [])),
        "best_epoch": int(best) + 1 if best is not None else None,
        "train_seconds": round(float(history["seconds"]), 1),
    })
    return TrainedTextModel(model, vocabulary, config, probabilities, details)


def _train_text_model(texts: list[str], labels: np.ndarray, train: np.ndarray, test: np.ndarray,
                      settings: TextEvaluationSettings, fold_seed: int, vectors=None) -> tuple[np.ndarray, dict]:
    """The former private trainer: :func:`train_text_model`'s probabilities and details, session cleared."""
    import keras  # noqa: PLC0415 - Keras only when training

    trained = train_text_model(texts, labels, train, test, settings, fold_seed, vectors)
    keras.backend.clear_session()  # keep memory flat across folds
    return trained.probabilities, trained.details


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


def _report_model_acceptance(report: dict, baseline: dict) -> dict:
    """Issue #20's bar for the chosen report model: >= 0.97 accuracy and above the baseline by one fold-sd."""
    margin = round(report["accuracy_mean"] - baseline["accuracy_mean"], 4)
    return {
        "accuracy_at_least_0.97": report["accuracy_mean"] >= 0.97,
        "accuracy_margin_over_baseline": margin,
        "baseline_accuracy_sd": baseline["accuracy_sd"],
        "report_model_accuracy_sd": report["accuracy_sd"],
        "above_baseline_by_one_sd": margin >= max(baseline["accuracy_sd"], report["accuracy_sd"]),
        "folds_above_baseline": sum(mine["accuracy"] > theirs["accuracy"]
                                    for mine, theirs in zip(report["per_fold"], baseline["per_fold"], strict=True)),
    }


def evaluate_text_model(studies: Sequence, settings: TextEvaluationSettings | None = None,
                        selection: dict | None = None) -> dict:
    """Evaluate the text model(s), the chosen report model and the TF-IDF baseline on the same stratified folds.

    Args:
        studies: Objects with ``report_text``, ``label`` (1 = abnormal) and ``study_id``
            (:class:`cxrmodel.data.openi.Study`), already selected by the label rules.
        settings: Folds, word vectors and training settings.
        selection: The label rules' counts (:meth:`cxrmodel.data.openi.Selection.to_dict`), copied into the
            document as ``selection``.

    Returns:
        A plain-JSON document: ``accuracy_mean``/``accuracy_sd``/``auc_mean``/``auc_sd`` of the headline text
        model (``model``: the Kim CNN, or the chosen report model when the CNN is off; sd over folds, ddof 1),
        ``n_studies``, ``folds``, ``per_fold`` (held-out size and abnormal count, accuracy, AUC, training details),
        ``baseline_tfidf_logreg`` (same metrics and ``per_fold``), ``models`` (every model by name, each with its
        summary and ``per_fold``; ``report_model``'s folds name the chosen candidate and the inner scores),
        ``acceptance`` (the headline model against 0.95 accuracy, 0.98 AUC and the baseline's means),
        ``report_model_acceptance`` (with ``report_model``), ``selection`` (when given), ``settings`` and
        ``wall_seconds``.

    Raises:
        FileNotFoundError / ValueError: When ``settings.word_vectors`` is a missing or malformed file.
    """
    from cxrmodel.training.fit import classification_metrics  # noqa: PLC0415 - fit loads Keras

    settings = settings or TextEvaluationSettings()
    started = time.perf_counter()
    external = None
    if settings.kim_cnn and settings.word_vectors not in WORD_VECTOR_MODES:
        from cxrmodel.training.embeddings import load_word_vectors  # noqa: PLC0415 - only for a vectors file

        external = load_word_vectors(settings.word_vectors,
                                     dimension=int(settings.model_overrides.get("embedding_dimension", 300)))
    texts = [study.report_text for study in studies]
    labels = np.asarray([int(study.label) for study in studies], np.int64)
    splits = stratified_folds(labels, settings.folds, settings.seed)
    names = settings.model_names()

    def rounded(metrics: dict) -> dict:
        return {key: round(value, 4) for key, value in metrics.items()}

    model_folds: dict[str, list[dict]] = {name: [] for name in names}
    report_folds: list[dict] = []
    baseline_folds: list[dict] = []
    for fold, (train, test) in enumerate(progress_meter(splits, description="folds", unit="fold"), 1):
        fold_started = time.perf_counter()
        fold_seed = settings.seed + fold
        base = {"fold": fold, "n_train": int(len(train)), "n_test": int(len(test)),
                "n_test_abnormal": int(labels[test].sum())}
        train_texts, test_texts = [texts[i] for i in train], [texts[i] for i in test]

        baseline = fit_tfidf_baseline(train_texts, labels[train], settings.seed)
        baseline_probabilities = baseline.predict_proba(test_texts)[:, 1]
        baseline_metrics = classification_metrics(labels[test], baseline_probabilities)
        baseline_folds.append({**base, **rounded(baseline_metrics),
                               "errors": int(np.sum((baseline_probabilities >= 0.5) != labels[test]))})
        progress = [f"TF-IDF+LR accuracy {baseline_metrics['accuracy']:.4f} AUC {baseline_metrics['auc']:.4f}"]

        if settings.report_model:
            model_started = time.perf_counter()
            chosen_model, chosen, inner = choose_report_model(train_texts, labels[train], fold_seed,
                                                              settings.inner_folds)
            probabilities = chosen_model.predict_proba(test_texts)[:, 1]
            metrics = classification_metrics(labels[test], probabilities)
            report_folds.append({**base, **rounded(metrics),
                                 "errors": int(np.sum((probabilities >= 0.5) != labels[test])),
                                 "chosen": chosen.name, "inner_cv": inner,
                                 "seconds": round(time.perf_counter() - model_started, 1)})
            progress.append(f"report model ({chosen.name}) accuracy {metrics['accuracy']:.4f} "
                            f"AUC {metrics['auc']:.4f}")

        word2vec = None
        for name in names:
            import keras  # noqa: PLC0415 - Keras only when training

            model_started = time.perf_counter()
            if name == "kim_cnn_word2vec" and word2vec is not None:
                vectors, vector_details = word2vec
            else:
                vectors, vector_details = _fold_word_vectors(name, texts, train, settings, fold_seed, external)
                if name == "kim_cnn_word2vec":
                    word2vec = (vectors, vector_details)
            trained = train_text_model(texts, labels, train, test, settings, fold_seed, vectors,
                                       description=f"fold {fold}/{settings.folds} {name}")
            keras.backend.clear_session()  # keep memory flat across folds
            metrics = classification_metrics(labels[test], trained.probabilities)
            model_folds[name].append({**base, **rounded(metrics),
                                      "errors": int(np.sum((trained.probabilities >= 0.5) != labels[test])),
                                      **trained.details, **vector_details,
                                      "seconds": round(time.perf_counter() - model_started, 1)})
            progress.append(f"{name} accuracy {metrics['accuracy']:.4f} AUC {metrics['auc']:.4f} "
                            f"({trained.details['epochs_trained']} epochs)")
        logger.info("fold %d/%d (%d held out, %d abnormal): %s; %.0f s", fold, settings.folds, len(test),
                    base["n_test_abnormal"], "; ".join(progress), time.perf_counter() - fold_started)

    baseline_block = {**_summary(baseline_folds), "per_fold": baseline_folds}
    models = {name: {**_summary(folds), "per_fold": folds} for name, folds in model_folds.items()}
    if settings.report_model:
        models["report_model"] = {**_summary(report_folds), "per_fold": report_folds}
    models["tfidf_logreg"] = baseline_block
    headline = names[0] if names else "report_model"
    summary = _summary(models[headline]["per_fold"])
    document = {
        "model": headline,
        **summary,
        "n_studies": int(len(labels)),
        "n_abnormal": int(labels.sum()),
        "folds": settings.folds,
        "per_fold": models[headline]["per_fold"],
        "baseline_tfidf_logreg": baseline_block,
        "models": models,
        "acceptance": {
            "accuracy_at_least_0.95": summary["accuracy_mean"] >= 0.95,
            "auc_at_least_0.98": summary["auc_mean"] >= 0.98,
            "accuracy_not_below_baseline": summary["accuracy_mean"] >= baseline_block["accuracy_mean"],
            "auc_not_below_baseline": summary["auc_mean"] >= baseline_block["auc_mean"],
        },
    }
    if settings.report_model:
        document["report_model_acceptance"] = _report_model_acceptance(models["report_model"], baseline_block)
    if selection is not None:
        document["selection"] = selection
    document.update({
        "settings": asdict(settings),
        "wall_seconds": round(time.perf_counter() - started, 1),
        "platform": f"{platform.machine()} {platform.python_implementation()} {platform.python_version()}",
    })
    return document


def load_openi_selection(reports: str | Path, rules=None) -> tuple[list, dict]:
    """Load an OpenI reports archive/folder (:func:`cxrmodel.data.openi.load_openi`) and apply the label rules
    (:func:`cxrmodel.data.openi.select_studies`, default :class:`cxrmodel.data.openi.LabelRules`), as every
    real-report evaluation does.

    Returns:
        ``(studies kept, counts)``; ``counts`` is the documents' ``selection``: loaded, kept and dropped by reason.

    Raises:
        FileNotFoundError: ``reports`` is missing (the message says how to fetch it).
    """
    from cxrmodel.data.openi import LabelRules, load_openi, select_studies  # noqa: PLC0415 - the OpenI reader

    reports = Path(reports)
    if not reports.exists():
        raise FileNotFoundError(
            f"OpenI reports not found at {reports}: run 'python -m cxrmodel data fetch-openi-reports' first "
            "(or pass --reports FILE)"
        )
    loaded = load_openi(reports)
    selection = select_studies(loaded, rules or LabelRules())
    counts = {"loaded": len(loaded), **selection.to_dict(),
              "kept_without_image": sum(1 for study in selection.studies if not study.has_image)}
    return selection.studies, counts


def evaluate_openi_reports(reports: str | Path, settings: TextEvaluationSettings | None = None,
                           rules=None) -> dict:
    """Evaluate on the studies :func:`load_openi_selection` keeps; the document's ``selection`` holds the counts
    kept and dropped by reason.

    Raises:
        FileNotFoundError: ``reports`` is missing (the message says how to fetch it).
    """
    started = time.perf_counter()
    studies, counts = load_openi_selection(reports, rules)
    document = evaluate_text_model(studies, settings, counts)
    document = {"dataset": "openi-reports", "modality": "text", "reports": str(reports), **document}
    document["wall_seconds"] = round(time.perf_counter() - started, 1)
    return document
