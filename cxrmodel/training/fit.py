"""Training and held-out evaluation of the multimodal and its single-modality comparisons.

The schedule follows the paper's transfer-learning recipe on a small target set:

1. train the image-only model (its encoder becomes the multimodal's image submodel);
2. train the text-only model (its embedding and Conv1D encoder become the text submodel);
3. build the multimodal from both trained encoders with a fresh decision head and fine-tune it end to end at a
   low learning rate.

All three are evaluated on the same held-out studies (accuracy at 0.5 and ROC AUC).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import accuracy_score, roc_auc_score

from cxrmodel.imaging import to_model_grid
from cxrmodel.modeling import ModelConfig
from cxrmodel.modeling.builders import build_model
from cxrmodel.progress import epoch_progress
from cxrmodel.text import Vocabulary, encode_report

logger = logging.getLogger(__name__)


@dataclass
class StudyArrays:
    """A set of studies as model-ready arrays.

    Attributes:
        grid_images: (n, S, S) uint8 grayscale images on the square model grid (expanded to 3 channels and
            scaled to [0, 1] on the fly, which keeps thousands of studies in little memory).
        token_ids: (n, max_tokens) int32.
        labels: (n,) int32, 1 = abnormal.
    """

    grid_images: np.ndarray
    token_ids: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, indices: np.ndarray) -> "StudyArrays":
        """The studies at ``indices``."""
        return StudyArrays(self.grid_images[indices], self.token_ids[indices], self.labels[indices])


def grid_image_uint8(pixels: np.ndarray, image_size: int) -> np.ndarray:
    """(height, width) float in [0, 1] -> (S, S) uint8 on the model grid (same path as at inference)."""
    grid, _ = to_model_grid(pixels, image_size)
    return np.clip(np.rint(grid * 255.0), 0, 255).astype(np.uint8)


def build_study_arrays(
    pixels: list[np.ndarray], reports: list[str], labels: list[int], config: ModelConfig, vocabulary: Vocabulary
) -> StudyArrays:
    """Turn decoded images ((h, w) floats in [0, 1]), report texts and labels into :class:`StudyArrays`."""
    if not len(pixels) == len(reports) == len(labels):
        raise ValueError("pixels, reports and labels must have the same length")
    grid_images = np.stack([grid_image_uint8(image, config.image_size) for image in pixels])
    token_ids = np.stack([encode_report(report, vocabulary, config.max_tokens).token_ids for report in reports])
    return StudyArrays(grid_images, token_ids.astype(np.int32), np.asarray(labels, np.int32))


def model_inputs(arrays: StudyArrays, modality: str) -> dict[str, np.ndarray]:
    """Inputs of a model of ``modality`` as a dict keyed by input name (images as float32 in [0, 1])."""
    inputs: dict[str, np.ndarray] = {}
    if modality in ("multimodal", "image"):
        gray = arrays.grid_images.astype(np.float32) / 255.0
        inputs["image"] = np.repeat(gray[..., None], 3, axis=-1)
    if modality in ("multimodal", "text"):
        inputs["report_tokens"] = arrays.token_ids
    return inputs


def _augment_images(gray_batch, seed: int):
    """Training-time augmentation of (batch, S, S) uint8 grids: small shifts and exposure changes.

    Radiographs differ in patient placement and exposure; shifting by up to 1/16 of the grid (edge pixels
    repeated) and jittering brightness/contrast keeps the model from memorising positions of a small set.
    """
    import tensorflow as tf  # noqa: PLC0415

    size = gray_batch.shape[1]
    margin = max(1, size // 16)
    images = tf.cast(gray_batch, tf.float32)[..., None] / 255.0
    padded = tf.pad(images, [[0, 0], [margin, margin], [margin, margin], [0, 0]], mode="SYMMETRIC")
    batch = tf.shape(images)[0]
    shifted = tf.image.random_crop(padded, tf.stack([batch, size, size, 1]), seed=seed)
    contrast = tf.random.uniform([batch, 1, 1, 1], 0.85, 1.15, seed=seed)
    brightness = tf.random.uniform([batch, 1, 1, 1], -0.06, 0.06, seed=seed)
    mean = tf.reduce_mean(shifted, axis=[1, 2, 3], keepdims=True)
    return tf.clip_by_value((shifted - mean) * contrast + mean + brightness, 0.0, 1.0)[..., 0]


def _dataset(arrays: StudyArrays, modality: str, batch_size: int, shuffle_seed: int | None, augment: bool = False):
    import tensorflow as tf  # noqa: PLC0415 - TensorFlow only when training

    features: dict[str, np.ndarray] = {}
    if modality in ("multimodal", "image"):
        features["image"] = arrays.grid_images
    if modality in ("multimodal", "text"):
        features["report_tokens"] = arrays.token_ids
    dataset = tf.data.Dataset.from_tensor_slices((features, arrays.labels.astype(np.float32)))
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(arrays), seed=shuffle_seed, reshuffle_each_iteration=True)

    def to_model_range(batch_features, batch_labels):
        if "image" in batch_features:
            if augment:
                gray = _augment_images(batch_features["image"], shuffle_seed or 0)
            else:
                gray = tf.cast(batch_features["image"], tf.float32) / 255.0
            batch_features = {**batch_features, "image": tf.repeat(gray[..., None], 3, axis=-1)}
        return batch_features, batch_labels

    return dataset.batch(batch_size).map(to_model_range, num_parallel_calls=tf.data.AUTOTUNE).prefetch(2)


def predict_probabilities(model, arrays: StudyArrays, modality: str, batch_size: int = 64) -> np.ndarray:
    """P(abnormal) of ``model`` on every study, (n,)."""
    dataset = _dataset(arrays, modality, batch_size, shuffle_seed=None)
    return np.asarray(model.predict(dataset, verbose=0), np.float64).reshape(-1)


def classification_metrics(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """Accuracy at P = 0.5 and ROC AUC (NaN when only one class is present)."""
    labels = np.asarray(labels)
    metrics = {"accuracy": float(accuracy_score(labels, probabilities >= 0.5))}
    metrics["auc"] = float(roc_auc_score(labels, probabilities)) if len(np.unique(labels)) == 2 else float("nan")
    return metrics


def fit_model(
    model,
    modality: str,
    train: StudyArrays,
    validation: StudyArrays,
    *,
    epochs: int,
    learning_rate: float,
    batch_size: int = 32,
    seed: int = 0,
    patience: int = 4,
    monitor: str = "val_auc",
    reduce_learning_rate_patience: int | None = None,
    progress_bar: bool = False,
    description: str | None = None,
) -> dict:
    """Compile and fit with Adam and binary cross-entropy, keeping the weights of the best validation epoch.

    Args:
        monitor: What "best" means for early stopping and the restored weights: ``"val_auc"`` (highest, the
            default) or ``"val_loss"`` (lowest validation cross-entropy — smoother than the AUC of a small
            validation set, and it also rewards calibrated probabilities).
        reduce_learning_rate_patience: When given, the learning rate is halved after this many epochs without
            a better ``monitor`` value (Keras ``ReduceLROnPlateau``); ``None`` keeps it constant.
        progress_bar: Also show Keras' per-batch progress bar (it prints on stdout; callers that keep stdout for
            a result redirect it). Every epoch is logged at INFO level either way, and counted by a bar on stderr
            (:func:`cxrmodel.progress.epoch_progress`).
        description: What the bar says is trained (e.g. ``"fold 2/5 text model"``); None = ``"<modality> model"``.

    Returns:
        The Keras history dict plus ``seconds`` (wall time).
    """
    import keras  # noqa: PLC0415

    if monitor not in ("val_auc", "val_loss"):
        raise ValueError(f"monitor must be 'val_auc' or 'val_loss', got {monitor!r}")
    mode = "max" if monitor == "val_auc" else "min"
    keras.utils.set_random_seed(seed)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="binary_crossentropy",
        metrics=["accuracy", keras.metrics.AUC(name="auc")],
    )
    early_stopping = keras.callbacks.EarlyStopping(
        monitor=monitor, mode=mode, patience=patience, restore_best_weights=True
    )
    schedule = []
    if reduce_learning_rate_patience is not None:
        schedule.append(keras.callbacks.ReduceLROnPlateau(
            monitor=monitor, mode=mode, factor=0.5, patience=reduce_learning_rate_patience, verbose=0
        ))
    description = description or f"{modality} model"
    progress = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: logger.info(
            "%s epoch %d/%d: %s", description, epoch + 1, epochs,
            ", ".join(f"{key} {value:.4f}" for key, value in sorted((logs or {}).items())),
        )
    )
    started = time.perf_counter()
    history = model.fit(
        _dataset(train, modality, batch_size, shuffle_seed=seed, augment=True),
        validation_data=_dataset(validation, modality, batch_size, shuffle_seed=None),
        epochs=epochs,
        callbacks=[early_stopping, *schedule, progress, epoch_progress(description, epochs)],
        shuffle=False,  # the tf.data pipeline shuffles
        verbose=1 if progress_bar else 0,
    )
    seconds = time.perf_counter() - started
    final = {key: round(float(values[-1]), 4) for key, values in history.history.items()}
    logger.info("%s model: %d epochs in %.0f s, last epoch %s", modality, len(history.epoch), seconds, final)
    return {**history.history, "seconds": seconds}


TRANSFERRED_LAYERS = ("image_encoder", "text_encoder", "word_embedding")
"""Sub-models of the multimodal copied from the trained single-modality models."""


def multimodal_from_encoders(config: ModelConfig, image_model, text_model):
    """A fresh multimodal holding copies of the trained encoders, frozen so that its new head trains first.

    Copies, so the image-only and text-only comparison models stay as they were.
    """
    multimodal = build_model("multimodal", config)
    for name in TRANSFERRED_LAYERS:
        source = image_model if name == "image_encoder" else text_model
        layer = multimodal.get_layer(name)
        layer.set_weights(source.get_layer(name).get_weights())
        layer.trainable = False
    return multimodal


def set_encoders_trainable(multimodal, trainable: bool) -> None:
    """Freeze or unfreeze the transferred sub-models (:data:`TRANSFERRED_LAYERS`) of a multimodal."""
    for name in TRANSFERRED_LAYERS:
        multimodal.get_layer(name).trainable = trainable


def held_out_metrics(models: dict, test: StudyArrays) -> dict[str, dict[str, float]]:
    """Accuracy and AUC (4 decimals) of each ``{modality: model}`` on ``test``, logged."""
    metrics = {}
    for modality, model in models.items():
        probabilities = predict_probabilities(model, test, modality)
        metrics[modality] = {key: round(value, 4)
                             for key, value in classification_metrics(test.labels, probabilities).items()}
        logger.info("held-out %s: %s", modality, metrics[modality])
    return metrics


def write_bundle_calibration(directory, model, validation: StudyArrays, test: StudyArrays,
                             fitted_on: str, modality: str = "multimodal") -> dict | None:
    """Decide the calibration of the bundle's model and write calibration.json either way.

    The rule of :mod:`cxrmodel.evaluation.calibration` (:func:`~cxrmodel.evaluation.calibration.calibration_decision`):
    a temperature fitted on ``validation`` is kept only with at least 50 validation studies (10 of each label), when
    it lowers their cross-validated ECE, and when it does not raise the ECE of ``test``. Otherwise calibration.json
    says ``"method": "none"`` with the reason, which the model card shows. Any older calibration.json is replaced
    first, so a bundle never keeps a calibration of another model.

    Returns:
        The document written (``document["method"]`` is ``"temperature"`` or ``"none"``), or None when it could not
        be computed (e.g. an empty test split; logged, and no calibration.json is left).
    """
    from pathlib import Path  # noqa: PLC0415 - kept with its only use

    from cxrmodel.evaluation.calibration import METHOD, CalibrationError, calibration_decision  # noqa: PLC0415
    from cxrmodel.modeling.bundle import CALIBRATION_FILE, write_calibration  # noqa: PLC0415

    stale = Path(directory) / CALIBRATION_FILE
    if stale.exists():
        stale.unlink()
    try:
        document = calibration_decision(
            predict_probabilities(model, validation, modality), validation.labels,
            predict_probabilities(model, test, modality), test.labels, fitted_on,
        )
    except CalibrationError as error:
        logger.warning("bundle %s: calibration could not be decided, it is not calibrated: %s", directory, error)
        return None
    write_calibration(directory, document)
    held_out = document.get("held_out")
    if document["method"] == METHOD:
        logger.info("calibration of %s kept: temperature %.3f fitted on %d studies; cross-validated ECE %.4f raw, "
                    "%.4f calibrated; held-out ECE %.4f raw, %.4f calibrated", directory, document["temperature"],
                    document["fitted_count"], document["decision"]["cross_validated"]["ece_raw"],
                    document["decision"]["cross_validated"]["ece_calibrated"], held_out["ece_raw"],
                    held_out["ece_calibrated"])
    else:
        logger.warning("bundle %s is not calibrated: %s", directory, document["reason"])
    return document


@dataclass(frozen=True)
class TrainingSchedule:
    """Epochs and learning rates of the three stages (the multimodal is fine-tuned at a low rate)."""

    image_epochs: int = 15
    text_epochs: int = 12
    head_epochs: int = 3
    multimodal_epochs: int = 4
    learning_rate: float = 1e-3
    fine_tune_learning_rate: float = 1e-4
    batch_size: int = 32
    patience: int = 5


@dataclass
class TrainedModels:
    """The three trained models and their held-out metrics."""

    multimodal: object
    image: object
    text: object
    metrics: dict[str, dict[str, float]]
    history: dict[str, dict]


def train_three_models(
    config: ModelConfig,
    train: StudyArrays,
    validation: StudyArrays,
    test: StudyArrays,
    schedule: TrainingSchedule | None = None,
    seed: int = 0,
) -> TrainedModels:
    """Train image-only, text-only, then the multimodal from their encoders; evaluate all on ``test``."""
    schedule = schedule or TrainingSchedule()
    image_model, text_model, history = train_single_modality_models(config, train, validation, schedule, seed)
    # 3. Multimodal: transfer both encoders (copies, so the comparison models stay as they were) and train a
    #    fresh decision head on the frozen encoders; then fine-tune end to end at a low learning rate.
    multimodal = multimodal_from_encoders(config, image_model, text_model)
    history["multimodal_head"] = fit_model(
        multimodal, "multimodal", train, validation, epochs=schedule.head_epochs,
        learning_rate=schedule.learning_rate, batch_size=schedule.batch_size, seed=seed, patience=schedule.patience,
        description="multimodal head",
    )
    set_encoders_trainable(multimodal, True)
    history["multimodal"] = fit_model(
        multimodal, "multimodal", train, validation, epochs=schedule.multimodal_epochs,
        learning_rate=schedule.fine_tune_learning_rate, batch_size=schedule.batch_size, seed=seed,
        patience=schedule.patience,
    )

    metrics = held_out_metrics({"multimodal": multimodal, "image": image_model, "text": text_model}, test)
    return TrainedModels(multimodal, image_model, text_model, metrics, history)


SINGLE_MODALITY_FOLDERS = {"text": "text-only", "image": "image-only"}
"""Sub-folders of a trained multimodal's bundle that hold its two single-modality comparison bundles."""


def write_single_modality_bundles(directory, models: dict, vocabulary: Vocabulary, config: ModelConfig, card: dict,
                                  image_baseline: np.ndarray | None, validation: StudyArrays, test: StudyArrays,
                                  fitted_on: str) -> dict[str, str]:
    """Write the text-only and image-only models as bundles of their own beside the multimodal's.

    Each goes to ``directory/<SINGLE_MODALITY_FOLDERS[modality]>`` with the multimodal card's provenance (same data,
    split and held-out metrics of all three), its own name and ``modality``, and its own calibration fitted on
    ``validation``. The image baseline is saved in both, so the config's default reference stays valid.

    Args:
        directory: The multimodal bundle's directory.
        models: ``{"text": model, "image": model}`` (either may be missing).

    Returns:
        ``{modality: bundle path}`` of the bundles written.
    """
    from pathlib import Path  # noqa: PLC0415 - kept with its only use

    from cxrmodel.modeling import MODALITY_LABELS, save_bundle  # noqa: PLC0415 - kept where used

    written = {}
    for modality, folder in SINGLE_MODALITY_FOLDERS.items():
        if modality not in models:
            continue
        target = Path(directory) / folder
        single_card = {**card, "name": f"{MODALITY_LABELS[modality].capitalize()} comparison model of: {card['name']}",
                       "comparison": f"the {MODALITY_LABELS[modality]} model trained on the same split as the "
                                     f"multimodal in {Path(directory).name or directory}; its encoder was transferred "
                                     "into that multimodal"}
        save_bundle(target, models[modality], vocabulary, config, single_card, image_baseline=image_baseline)
        write_bundle_calibration(target, models[modality], validation, test, fitted_on, modality)
        written[modality] = str(target)
    return written


def train_single_modality_models(config: ModelConfig, train: StudyArrays, validation: StudyArrays,
                                 schedule: TrainingSchedule | None = None, seed: int = 0):
    """Steps 1 and 2 of :func:`train_three_models`: the image-only and text-only models.

    Returns:
        ``(image_model, text_model, history)`` with ``history`` keyed ``"image"`` and ``"text"``.
    """
    schedule = schedule or TrainingSchedule()
    history: dict[str, dict] = {}
    # 1. Image-only model: its encoder is the multimodal's image submodel.
    image_model = build_model("image", config)
    history["image"] = fit_model(
        image_model, "image", train, validation, epochs=schedule.image_epochs,
        learning_rate=schedule.learning_rate, batch_size=schedule.batch_size, seed=seed, patience=schedule.patience,
    )
    # 2. Text-only model: its embedding and Conv1D encoder are the multimodal's text submodel.
    text_model = build_model("text", config)
    history["text"] = fit_model(
        text_model, "text", train, validation, epochs=schedule.text_epochs,
        learning_rate=schedule.learning_rate, batch_size=schedule.batch_size, seed=seed, patience=schedule.patience,
    )
    return image_model, text_model, history
