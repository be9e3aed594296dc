"""Training and k-fold evaluation on a target dataset with transferred encoders (`train`, `evaluate-models`).

``python -m cxrmodel train --studies DIR --output BUNDLE`` (:func:`train_target_bundle`):

1. load the target folder (:func:`cxrmodel.training.target_data.load_target_dataset`: OpenI XML or Kaggle CSV layout)
   and decode every frontal image onto the model grid;
2. load the transfer sources (:mod:`cxrmodel.training.transfer`): pre-trained image encoder or CheXNet weights,
   word vectors;
3. split the studies, stratified by label, into training, validation (early stopping) and held-out test parts;
4. build the vocabulary from the training reports only, then train image-only, text-only and the multimodal
   (:func:`cxrmodel.training.transfer.train_transfer_models`, fine-tuning at a low learning rate), each finished
   sub-model saved under ``BUNDLE/work/<settings key>/`` so that an interrupted run resumes;
5. write the bundle (:func:`cxrmodel.modeling.bundle.save_bundle`): the multimodal, vocabulary, config, the mean normal
   training image as the attribution baseline, and a model card with the training data, the transfer sources, the
   held-out metrics of all three models and ``synthetic`` from the data;
6. decide the calibration of each of the three bundles: a temperature fitted on the validation part, kept only by
   the rule of :mod:`cxrmodel.evaluation.calibration` (enough studies, a lower cross-validated ECE, no higher ECE
   on the held-out part), else the reason it is not calibrated: the bundle's ``calibration.json``
   (:func:`cxrmodel.training.fit.write_bundle_calibration`).

``python -m cxrmodel evaluate-models --studies DIR --folds K`` (:func:`evaluate_target_models`): the same three
models trained on each of K stratified folds (a stratified part of each training fold for early stopping, the
vocabulary from the training fold only), accuracy (at P = 0.5) and ROC AUC on the held-out fold, mean and standard
deviation (ddof 1) over folds — the paper's Table 3 — and accuracy per epoch (training and validation, mean over
folds) — its Figure 5. :func:`cxrmodel.rendering.charts.write_evaluation_chart` draws both as one PNG.
"""

from __future__ import annotations

import dataclasses
import datetime as _datetime
import json
import logging
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cxrmodel.modeling import BACKBONES, MODALITIES, MODALITY_LABELS, ModelConfig
from cxrmodel.progress import progress_meter
from cxrmodel.training.fit import StudyArrays, TrainingSchedule, write_bundle_calibration, write_single_modality_bundles
from cxrmodel.training.target_data import (
    TargetDataset,
    data_fingerprint,
    decode_readable_images,
    decode_target_images,
    load_target_dataset,
)
from cxrmodel.training.transfer import (
    TransferSources,
    TransferWeights,
    accuracy_curves,
    load_transfer_weights,
    settings_key,
    source_image_fields,
    train_transfer_models,
)
from cxrmodel.training.trust import CARD_KEY as TRUST_CARD_KEY
from cxrmodel.training.trust import write_bundle_trust_profile

logger = logging.getLogger(__name__)

WORK_FOLDER = "work"
FORMAT_VERSION = 1
MODEL_ORDER = MODALITIES
"""The three models the pipeline trains, in the order tables and charts list them."""
MODEL_LABELS = MODALITY_LABELS
FOLD_RESULT = "result.json"


@dataclass(frozen=True)
class TargetSettings:
    """What determines a target training besides the data and the transfer sources.

    Attributes:
        image_size: Model grid side in pixels; None = the pre-trained encoder's (224 without one).
        backbone: One of :data:`cxrmodel.modeling.builders.BACKBONES`;
            None = the pre-trained encoder's (``compact`` without).
        embedding_dimension: Word vector length without word vectors (with them: the vectors' dimension).
        max_words: Vocabulary cap (the paper: 15,000).
        seed: Seeds the splits, the weights and the shuffling.
        validation_fraction: Share of the studies (``train``) or of each training fold (``evaluate-models``)
            kept aside, stratified, for early stopping.
        test_fraction: Share of the studies held out for the card's metrics (``train`` only).
        schedule: Epochs and learning rates of the stages.
        model_overrides: Further :class:`ModelConfig` fields (e.g. ``text_filters``; ``compact_widths`` only
            without a pre-trained encoder, whose architecture is fixed).
        eager: Run Keras steps eagerly (:func:`cxrmodel.training.transfer.eager_execution`): faster on a few dozen
            studies (``pipeline --quick``), slower on real data sets.
    """

    image_size: int | None = None
    backbone: str | None = None
    embedding_dimension: int = 300
    max_words: int = 15000
    seed: int = 2019
    validation_fraction: float = 0.1
    test_fraction: float = 0.2
    schedule: TrainingSchedule = TrainingSchedule()
    model_overrides: dict = field(default_factory=dict)
    eager: bool = False

    def __post_init__(self) -> None:
        if self.backbone is not None and self.backbone not in BACKBONES:
            raise ValueError(f"unknown backbone {self.backbone!r}; choose one of {', '.join(BACKBONES)}")
        if self.image_size is not None and self.image_size < 32:
            raise ValueError(f"image size must be at least 32 pixels, got {self.image_size}")
        if not 0.0 < self.validation_fraction < 0.5:
            raise ValueError(f"validation fraction must be between 0 and 0.5, got {self.validation_fraction}")
        if not 0.0 < self.test_fraction < 0.5:
            raise ValueError(f"test fraction must be between 0 and 0.5, got {self.test_fraction}")
        if self.validation_fraction + self.test_fraction >= 0.7:
            raise ValueError("validation and test fractions together must leave at least 30 % of the studies for "
                             f"training, got {self.validation_fraction} + {self.test_fraction}")
        unknown = sorted(set(self.model_overrides) - set(ModelConfig.__dataclass_fields__))
        if unknown:
            raise ValueError(f"unknown model settings: {', '.join(unknown)}")

    def to_dict(self) -> dict:
        """Plain JSON."""
        return json.loads(json.dumps(dataclasses.asdict(self), default=list))


def resolve_image_fields(settings: TargetSettings, sources: TransferSources) -> dict:
    """The image fields of the target :class:`ModelConfig`: the pre-trained source's, else from ``settings``.

    Cheap (reads the pre-training's ``config.json`` only), so option conflicts are reported before any loading.

    Raises:
        ValueError: ``--image-size``/``--backbone`` contradict the pre-trained image source.
    """
    fields = source_image_fields(sources, settings.image_size)
    if fields:
        source = "CheXNet weights" if sources.image_weights is not None else "pre-trained image encoder"
        for name, value in (("image_size", settings.image_size), ("backbone", settings.backbone)):
            if value is not None and value != fields[name]:
                raise ValueError(f"--{name.replace('_', '-')} {value} does not match the {source} ({fields[name]}); "
                                 "leave the option out" + (" or pre-train at that setting"
                                                           if sources.image_encoder is not None else ""))
        return fields
    backbone = settings.backbone or "compact"
    fields = {"image_size": settings.image_size or 224, "backbone": backbone,
              "preprocessing": "unit" if backbone == "compact" else "imagenet"}
    if "compact_widths" in settings.model_overrides:
        fields["compact_widths"] = tuple(settings.model_overrides["compact_widths"])
    return fields


def target_config(settings: TargetSettings, image_fields: dict, transfer: TransferWeights, vocabulary) -> ModelConfig:
    """The target model's config: image fields, vocabulary size, embedding dimension, overrides, mean baseline."""
    overrides = {key: value for key, value in settings.model_overrides.items() if key not in image_fields}
    return ModelConfig(
        **image_fields,
        vocabulary_size=len(vocabulary),
        embedding_dimension=transfer.embedding_dimension or settings.embedding_dimension,
        default_image_baseline="mean",
        **overrides,
    )


def holdout_split(labels: np.ndarray, validation_fraction: float, test_fraction: float, seed: int):
    """Stratified (train, validation, test) index arrays.

    Raises:
        ValueError: When a label has too few studies to appear in every part.
    """
    from sklearn.model_selection import train_test_split  # noqa: PLC0415 - sklearn only when splitting

    labels = np.asarray(labels)
    counts = np.bincount(labels, minlength=2)
    if counts.min() < 3:
        raise ValueError(f"a stratified train/validation/test split needs at least 3 studies of each label, found "
                         f"{int(counts[0])} normal and {int(counts[1])} abnormal")
    indices = np.arange(len(labels))
    rest, test = train_test_split(indices, test_size=test_fraction, stratify=labels, random_state=seed)
    train, validation = train_test_split(rest, test_size=validation_fraction / (1.0 - test_fraction),
                                         stratify=labels[rest], random_state=seed + 1)
    return np.sort(train), np.sort(validation), np.sort(test)


@dataclass
class PreparedTarget:
    """A loaded target dataset with its decoded images and the transfer weights, shared by all splits."""

    dataset: TargetDataset
    transfer: TransferWeights
    image_fields: dict
    grid_images: np.ndarray
    fingerprint: str


def prepare_target(studies: str | os.PathLike, settings: TargetSettings, sources: TransferSources,
                   check_labels=None) -> PreparedTarget:
    """Load the studies and the transfer sources, decode the images at the model's grid size.

    Everything a user can get wrong is checked before anything slow happens: option conflicts with the
    pre-trained encoder, the folder's layout and labels, then ``check_labels(labels)`` (e.g. enough studies per
    label for the folds).
    """
    image_fields = resolve_image_fields(settings, sources)
    dataset = load_target_dataset(studies)
    if check_labels is not None:
        check_labels(dataset.labels)
    transfer = load_transfer_weights(sources, image_fields or None)
    # A study whose image file cannot be decoded is left out and counted in dataset.selection, not fatal.
    readable, grids = decode_readable_images(dataset, image_fields["image_size"])
    if check_labels is not None and len(readable.studies) < len(dataset.studies):
        check_labels(readable.labels)
    return PreparedTarget(readable, transfer, image_fields, grids, data_fingerprint(readable, grids))


def with_training_split_word2vec(prepared: PreparedTarget, settings: TargetSettings, sources: TransferSources,
                                 training: np.ndarray, seed: int) -> PreparedTarget:
    """``prepared`` with word2vec vectors trained on the reports of ``training`` only, when ``sources`` asks for
    them (:attr:`TransferSources.word2vec_on_training_split`); else ``prepared`` as it is.

    The vocabulary is built from the same studies, so no held-out report shapes either.
    """
    if not sources.word2vec_on_training_split:
        return prepared
    from cxrmodel.training.embeddings import train_word2vec  # noqa: PLC0415 - gensim only when word2vec is trained

    reports = prepared.dataset.reports
    vectors = train_word2vec((reports[index] for index in training), dimension=settings.embedding_dimension,
                             seed=seed)
    logger.info("word2vec on the %d training reports: %d words, dimension %d", len(training), len(vectors),
                vectors.dimension)
    return dataclasses.replace(prepared, transfer=dataclasses.replace(prepared.transfer, word_vectors=vectors))


def _split_arrays(prepared: PreparedTarget, settings: TargetSettings, vocabulary_indices: np.ndarray):
    from cxrmodel.text import Vocabulary, encode_reports  # noqa: PLC0415 - kept where used (fit loads it anyway)

    reports = prepared.dataset.reports
    vocabulary = Vocabulary.build((reports[i] for i in vocabulary_indices), max_words=settings.max_words)
    config = target_config(settings, prepared.image_fields, prepared.transfer, vocabulary)
    token_ids = encode_reports(reports, vocabulary, config.max_tokens).astype(np.int32)
    return StudyArrays(prepared.grid_images, token_ids, prepared.dataset.labels), vocabulary, config


def bundle_study_arrays(dataset: TargetDataset, config: ModelConfig, vocabulary) -> StudyArrays:
    """A target folder's studies as inputs of an existing bundle's model (``calibrate --studies``).

    The images are decoded at the bundle's grid size and the reports encoded with the bundle's own vocabulary,
    the same functions :func:`train_target_bundle` uses, so a study gets the inputs it would get in training.
    """
    from cxrmodel.text import encode_reports  # noqa: PLC0415 - kept where used, as in _split_arrays

    grids = decode_target_images(dataset, config.image_size)
    token_ids = encode_reports(dataset.reports, vocabulary, config.max_tokens).astype(np.int32)
    return StudyArrays(grids, token_ids, dataset.labels)


def _resume_key(kind: str, prepared: PreparedTarget, settings: TargetSettings, sources: TransferSources,
                config: ModelConfig, **extra) -> str:
    return settings_key({"format": FORMAT_VERSION, "kind": kind, "settings": settings.to_dict(),
                         "config": config.to_dict(), "data": prepared.fingerprint, "sources": sources.fingerprint(),
                         **extra})


def _clear_session() -> None:
    import keras  # noqa: PLC0415 - Keras only when training

    keras.backend.clear_session()  # keep memory flat across splits


def _label_counts(labels: np.ndarray) -> dict:
    return {"abnormal": int(labels.sum()), "normal": int(len(labels) - labels.sum())}


def train_target_bundle(
    studies: str | os.PathLike,
    output: str | os.PathLike,
    settings: TargetSettings | None = None,
    sources: TransferSources | None = None,
    *,
    progress_bar: bool = False,
    command: str | None = None,
) -> dict:
    """Train the three models on a target folder and write each as a dashboard bundle.

    The multimodal goes to ``output``; the text-only and image-only comparison models to ``output/text-only`` and
    ``output/image-only`` (:data:`cxrmodel.training.fit.SINGLE_MODALITY_FOLDERS`), each with its card and calibration.

    Args:
        studies: OpenI folder (XML or Kaggle CSV layout) with images.
        output: Bundle directory (created); finished sub-models are kept in ``output/work/`` for resuming.
        settings: Model, split and schedule settings.
        sources: Transfer sources (None = everything from scratch).
        progress_bar: Keras' per-batch progress bar on stderr.
        command: The command line, recorded in the card.

    Returns:
        The model card, plus ``reused`` (sub-models taken from an earlier run) and ``bundle`` (its path).
    """
    from cxrmodel.modeling import save_bundle  # noqa: PLC0415 - kept where used (Keras-free)
    from cxrmodel.training.demo import mean_normal_image  # noqa: PLC0415 - demo loads the phantom generator

    settings = settings or TargetSettings()
    sources = sources or TransferSources()
    started = time.perf_counter()
    output = Path(output)
    prepared = prepare_target(studies, settings, sources, check_labels=lambda labels: holdout_split(
        labels, settings.validation_fraction, settings.test_fraction, settings.seed))
    labels = prepared.dataset.labels
    train, validation, test = holdout_split(labels, settings.validation_fraction, settings.test_fraction, settings.seed)
    prepared = with_training_split_word2vec(prepared, settings, sources, train, settings.seed)
    arrays, vocabulary, config = _split_arrays(prepared, settings, train)
    key = _resume_key("train", prepared, settings, sources, config)
    work = output / WORK_FOLDER / key
    logger.info("training on %d studies, %d for early stopping, %d held out; work folder %s",
                len(train), len(validation), len(test), work)
    trained, reused = train_transfer_models(
        config, arrays.subset(train), arrays.subset(validation), arrays.subset(test), vocabulary, settings.schedule,
        settings.seed, transfer=prepared.transfer, checkpoint_directory=work, progress_bar=progress_bar,
        eager=settings.eager,
    )
    dataset = prepared.dataset
    synthetic = dataset.synthetic
    card = {
        "name": f"Multimodal trained on {dataset.root.name or dataset.root} ({config.backbone} {config.image_size} px "
                "+ Kim text CNN)",
        "synthetic": synthetic,
        "created": _datetime.datetime.now(_datetime.timezone.utc).replace(microsecond=0).isoformat(),
        "trained_on": (f"{len(train)} of {dataset.describe()}; {len(validation)} more for early stopping"),
        "held_out": (f"{len(test)} studies never seen in training ({int(labels[test].sum())} abnormal), a stratified "
                     f"{settings.test_fraction:.0%} of the folder"),
        "metrics": trained.metrics,
        "comparison": "image-only and text-only models trained on the same split; the multimodal is built from "
                      "their encoders and fine-tuned at a low learning rate",
        "transfer": sources.describe(),
        "intended_use": ("Demonstration of the explanation tool only. Synthetic model — not for clinical use."
                         if synthetic else "Research on explaining multimodal chest X-ray classifiers; not a "
                         "medical device, not for clinical use."),
        "limitations": ("Trained on synthetic phantoms and reports: it has never seen a real radiograph."
                        if synthetic else "Labels come from the reports' MeSH terms, so the report alone nearly "
                        "determines them; the held-out metrics describe this folder's distribution only."),
        "command": command or "python -m cxrmodel train",
        "settings": settings.to_dict(),
        "data_fingerprint": prepared.fingerprint,
        # What of the folder was trained on and what was left out, by reason (no image, empty report, "No
        # Indexing" only, an image file that cannot be read).
        "selection": dataset.selection,
        "label_counts": {"train": _label_counts(labels[train]), "validation": _label_counts(labels[validation]),
                         "test": _label_counts(labels[test])},
        "accuracy_curves": accuracy_curves(trained.history),
        "reused_sub_models": reused,
        "training_seconds": round(time.perf_counter() - started, 1),
        "platform": f"{platform.machine()} {platform.python_implementation()} {platform.python_version()}",
    }
    baseline = mean_normal_image(arrays.grid_images[train], labels[train])
    save_bundle(output, trained.multimodal, vocabulary, config, card, image_baseline=baseline)
    # 6. Temperature scaling fitted on the early-stopping split, kept only by the rule (calibration.json).
    fitted_on = (f"the {len(validation)} validation studies of this training, a stratified "
                 f"{settings.validation_fraction:.0%} of {dataset.root.name or dataset.root} used for early stopping")
    calibration = write_bundle_calibration(output, trained.multimodal, arrays.subset(validation), arrays.subset(test),
                                           fitted_on)
    single_modality = write_single_modality_bundles(
        output, {"text": trained.text, "image": trained.image}, vocabulary, config, card, baseline,
        arrays.subset(validation), arrays.subset(test), fitted_on)
    # 7. The trust profile: which films these models can judge, from the training films, checked on the
    #    validation films (cxrmodel.imaging.trust_profile). The text-only model reads no film.
    profile_fitted_on = (f"the training films of {dataset.root.name or dataset.root}; checked on its "
                         f"{len(validation)} validation films")
    card[TRUST_CARD_KEY] = write_bundle_trust_profile(
        output, arrays.grid_images[train], arrays.grid_images[validation], profile_fitted_on,
        also_into=[single_modality["image"]] if "image" in single_modality else [])
    _clear_session()
    logger.info("bundle written to %s: %s", output, trained.metrics)
    return {**card, "reused": reused, "bundle": str(output), "calibration": calibration,
            "single_modality_bundles": single_modality}


def _summary(values: list[float]) -> tuple[float, float]:
    array = np.asarray(values, np.float64)
    sd = float(array.std(ddof=1)) if len(array) > 1 else 0.0
    return round(float(array.mean()), 4), round(sd, 4)


def _mean_curves(folds: list[dict]) -> dict:
    """Per model and curve, the mean over folds at each epoch (folds that stopped early count until they stop)."""
    curves: dict = {}
    for model in MODEL_ORDER:
        record: dict = {}
        for name in ("train_accuracy", "validation_accuracy"):
            series = [fold["curves"][model][name] for fold in folds]
            length = max((len(values) for values in series), default=0)
            means, counts = [], []
            for epoch in range(length):
                values = [values[epoch] for values in series if len(values) > epoch]
                means.append(round(float(np.mean(values)), 4))
                counts.append(len(values))
            record[name] = means
            record["folds_per_epoch"] = counts
        curves[model] = record
    return curves


def evaluate_target_models(
    studies: str | os.PathLike,
    folds: int,
    settings: TargetSettings | None = None,
    sources: TransferSources | None = None,
    *,
    work_directory: str | os.PathLike | None = None,
    progress_bar: bool = False,
) -> dict:
    """Train and evaluate the three models on each of ``folds`` stratified folds (Table 3 and Figure 5).

    Args:
        studies: OpenI folder (XML or Kaggle CSV layout) with images.
        folds: Number of stratified folds (at least 2).
        settings: As for :func:`train_target_bundle` (``test_fraction`` is not used: each fold is held out once).
        sources: Transfer sources.
        work_directory: When given, each finished fold (and each finished sub-model within a fold) is kept there
            and reused by a rerun with the same settings, data and sources.
        progress_bar: Keras' per-batch progress bar on stderr.

    Returns:
        Plain JSON: ``models`` (per model ``accuracy_mean``/``accuracy_sd``/``auc_mean``/``auc_sd`` and the
        per-fold values), ``multimodal_gain_points`` (accuracy points over text-only and image-only),
        ``curves`` (per model mean training/validation accuracy per epoch), ``per_fold``, the data description,
        ``transfer``, ``settings``, ``wall_seconds``.
    """
    from sklearn.model_selection import train_test_split  # noqa: PLC0415 - sklearn only when splitting

    from cxrmodel.training.evaluate_text import stratified_folds  # noqa: PLC0415 - same; the k-fold helper

    if folds < 2:
        raise ValueError(f"need at least 2 folds, got {folds}")
    settings = settings or TargetSettings()
    sources = sources or TransferSources()
    started = time.perf_counter()
    prepared = prepare_target(studies, settings, sources,
                              check_labels=lambda labels: stratified_folds(labels, folds, settings.seed))
    labels = prepared.dataset.labels
    splits = stratified_folds(labels, folds, settings.seed)
    work = Path(work_directory) if work_directory is not None else None

    per_fold: list[dict] = []
    for fold, (train_all, test) in enumerate(progress_meter(splits, description="folds", unit="fold"), 1):
        fold_started = time.perf_counter()
        fold_seed = settings.seed + fold
        train, validation = train_test_split(train_all, test_size=settings.validation_fraction,
                                             stratify=labels[train_all], random_state=fold_seed)
        fold_target = with_training_split_word2vec(prepared, settings, sources, train_all, fold_seed)
        arrays, vocabulary, config = _split_arrays(fold_target, settings, train_all)
        key = _resume_key("evaluate", prepared, settings, sources, config, fold=fold, folds=folds)
        fold_directory = work / f"fold-{fold}-{key}" if work is not None else None
        result_path = fold_directory / FOLD_RESULT if fold_directory is not None else None
        if result_path is not None and result_path.is_file():
            record = json.loads(result_path.read_text(encoding="utf-8"))
            logger.info("fold %d/%d: reusing the finished fold from %s", fold, folds, result_path)
            per_fold.append({**record, "reused": True})
            continue
        trained, reused = train_transfer_models(
            config, arrays.subset(np.sort(train)), arrays.subset(np.sort(validation)), arrays.subset(test),
            vocabulary, settings.schedule, fold_seed, transfer=fold_target.transfer,
            checkpoint_directory=fold_directory, progress_bar=progress_bar, eager=settings.eager,
        )
        record = {
            "fold": fold, "n_train": int(len(train)), "n_validation": int(len(validation)), "n_test": int(len(test)),
            "n_test_abnormal": int(labels[test].sum()), "vocabulary_size": len(vocabulary),
            "metrics": trained.metrics, "curves": accuracy_curves(trained.history),
            "reused_sub_models": reused, "seconds": round(time.perf_counter() - fold_started, 1),
        }
        if result_path is not None:
            temporary = result_path.with_name(f".{FOLD_RESULT}.partial")
            temporary.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
            os.replace(temporary, result_path)
        logger.info("fold %d/%d (%d held out): %s; %.0f s", fold, folds, len(test),
                    ", ".join(f"{model} accuracy {trained.metrics[model]['accuracy']:.4f}" for model in MODEL_ORDER),
                    record["seconds"])
        per_fold.append({**record, "reused": False})
        _clear_session()

    models = {}
    for model in MODEL_ORDER:
        accuracy = [fold["metrics"][model]["accuracy"] for fold in per_fold]
        auc = [fold["metrics"][model]["auc"] for fold in per_fold]
        accuracy_mean, accuracy_sd = _summary(accuracy)
        auc_mean, auc_sd = _summary(auc)
        models[model] = {"accuracy_mean": accuracy_mean, "accuracy_sd": accuracy_sd, "auc_mean": auc_mean,
                         "auc_sd": auc_sd, "accuracy_per_fold": accuracy, "auc_per_fold": auc}
    gain = {f"over_{other}": round(100.0 * (models["multimodal"]["accuracy_mean"] - models[other]["accuracy_mean"]), 2)
            for other in ("text", "image")}
    dataset = prepared.dataset
    return {
        "studies": str(dataset.root),
        "layout": dataset.layout,
        "synthetic": dataset.synthetic,
        "n_studies": len(dataset.studies),
        "n_abnormal": int(labels.sum()),
        "selection": dataset.selection,
        "folds": folds,
        "models": models,
        "multimodal_gain_points": gain,
        "curves": _mean_curves(per_fold),
        "per_fold": per_fold,
        "image": {key: list(value) if isinstance(value, tuple) else value
                  for key, value in prepared.image_fields.items()},
        "transfer": sources.describe(),
        "settings": settings.to_dict(),
        "wall_seconds": round(time.perf_counter() - started, 1),
        "platform": f"{platform.machine()} {platform.python_implementation()} {platform.python_version()}",
    }
