"""Image encoder pre-training on a ChestX-ray14-format dataset (14 findings, sigmoid) — transfer-learning stage 1.

Public API (``python -m cxrmodel pretrain-image`` is a thin wrapper)::

    pretrain_image_encoder(dataset: str | PathLike, output: str | PathLike,
                           settings: PretrainSettings = PretrainSettings(), *, verbose: bool = False,
                           callbacks: list[keras.callbacks.Callback] | None = None) -> dict
    load_pretrained_image_encoder(directory: str | PathLike) -> tuple[keras.Model, ModelConfig]

The model is ``build_image_encoder(config)`` (the same ``image_encoder`` sub-model every bundle uses, named
``"image_encoder"``) followed by ``Dense(14, sigmoid, name="findings")`` in
:data:`~cxrmodel.data.chestxray14.CHESTXRAY14_FINDINGS` order, trained with binary cross-entropy (Adam). The
validation split is by patient (no patient in both parts). After each epoch the per-label ROC AUC on the
validation split is computed (labels with both classes there) and their mean logged. The encoder written is the
one of the best validation epoch (highest mean AUC; lowest validation loss when no label has both classes), not
the last: a later epoch that overfits never replaces it (``best_epoch`` in ``pretrain.json``).

Output directory (written atomically: ``pretrain.json`` is written last and is the completion marker)::

    OUTPUT/image_encoder.weights.h5   weights of the image_encoder sub-model at the best validation epoch (Keras 3)
    OUTPUT/config.json                its ModelConfig (only the image fields matter: image_size, backbone,
                                      preprocessing, image_feature_units and the compact_* fields)
    OUTPUT/pretrain.json              settings, dataset fingerprint, per-epoch history, per-label AUC

Resumable: a finished output with the same settings and dataset is reused (logged, ``"reused": true``); an
interrupted run keeps ``OUTPUT/.partial/`` (the decoded image grid cache and a checkpoint after every epoch)
and the next run with the same settings resumes after the last finished epoch; different settings start over.

Transfer (what the training pipeline does)::

    encoder, image_config = load_pretrained_image_encoder("runs/pretrain")
    config = dataclasses.replace(target_config, **{name: getattr(image_config, name)
                                                   for name in cxrmodel.training.transfer.IMAGE_FIELDS})
    model = build_model("image", config, image_encoder=encoder)
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cxrmodel.data.chestxray14 import CHESTXRAY14_FINDINGS, ChestXray14Dataset, find_labels_file
from cxrmodel.data.fetch import file_sha256
from cxrmodel.modeling import BACKBONES, ModelConfig
from cxrmodel.progress import epoch_progress, progress_meter

logger = logging.getLogger(__name__)

ENCODER_WEIGHTS = "image_encoder.weights.h5"
CONFIG_FILE = "config.json"
RESULT_FILE = "pretrain.json"
PARTIAL_FOLDER = ".partial"
_CHECKPOINT = "checkpoint.keras"
_STATE = "state.json"
_BEST_ENCODER = "best-" + ENCODER_WEIGHTS
_GRIDS = "grids.npy"
_GRID_NAMES = "grids.json"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class PretrainSettings:
    """Everything that determines a pre-training run (a finished output is reused only when these match).

    Attributes:
        backbone: One of :data:`cxrmodel.modeling.builders.BACKBONES`
            (``"densenet121"`` as in the paper, ``"compact"`` on CPU).
        image_size: Model grid side in pixels (CheXNet weights need 224).
        epochs: Training epochs.
        batch_size: Images per step.
        seed: Seed of the split, the shuffling and the initial weights.
        learning_rate: Adam learning rate.
        validation_fraction: Share of patients held out for the per-label AUC.
        limit: Use only the first ``limit`` entries (after the frontal filter), ``None`` = all.
        frontal_only: Keep only PA/AP films.
        image_weights: Optional CheXNet-layout ``.h5`` loaded into the backbone before training
            (:func:`cxrmodel.modeling.chexnet.load_chexnet_weights`).
        image_feature_units: Units of the encoder's feature layer (:class:`ModelConfig`).
    """

    backbone: str = "compact"
    image_size: int = 224
    epochs: int = 5
    batch_size: int = 32
    seed: int = 2019
    learning_rate: float = 1e-3
    validation_fraction: float = 0.2
    limit: int | None = None
    frontal_only: bool = False
    image_weights: str | None = None
    image_feature_units: int = 64

    def __post_init__(self) -> None:
        if self.backbone not in BACKBONES:
            raise ValueError(f"unknown backbone {self.backbone!r}; choose one of {', '.join(BACKBONES)}")
        for name in ("epochs", "batch_size", "image_feature_units"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.limit is not None and self.limit < 2:
            raise ValueError(f"limit must be at least 2 images, got {self.limit}")
        if not 0.0 < self.validation_fraction < 1.0:
            raise ValueError(f"validation_fraction must be between 0 and 1, got {self.validation_fraction}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")
        if self.image_weights and (self.backbone != "densenet121" or self.image_size != 224):
            raise ValueError("CheXNet image weights need backbone densenet121 at image size 224, "
                             f"got {self.backbone} at {self.image_size}")
        self.model_config()  # image_size and the other architecture fields are checked by ModelConfig

    def model_config(self) -> ModelConfig:
        """The encoder's :class:`ModelConfig` (ImageNet normalisation for keras.applications backbones)."""
        preprocessing = "unit" if self.backbone == "compact" else "imagenet"
        return ModelConfig(image_size=self.image_size, backbone=self.backbone, preprocessing=preprocessing,
                           image_feature_units=self.image_feature_units)


def _write_json_atomically(path: Path, document: dict) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def _patient_split(dataset: ChestXray14Dataset, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of (training, validation) entries; every patient's images fall on one side."""
    patients = np.array(sorted({entry.patient_id for entry in dataset.entries}))
    if len(patients) < 2:
        raise ValueError(f"{dataset.root}: pre-training needs images of at least 2 patients for a validation split")
    order = np.random.default_rng([seed, 11]).permutation(patients)
    held_out = set(order[: max(1, min(len(patients) - 1, round(fraction * len(patients))))].tolist())
    validation = np.array([i for i, entry in enumerate(dataset.entries) if entry.patient_id in held_out], np.int64)
    training = np.array([i for i, entry in enumerate(dataset.entries) if entry.patient_id not in held_out], np.int64)
    return training, validation


def _grid_cache(dataset: ChestXray14Dataset, size: int, folder: Path) -> np.ndarray:
    """(n, size, size) uint8 model-grid images, decoded once into a memory-mapped ``.npy`` and reused on resume."""
    from cxrmodel.imaging import decode_image_file, pixels_to_uint8, to_model_grid  # noqa: PLC0415 - decoders on use

    path, names_path = folder / _GRIDS, folder / _GRID_NAMES
    names = [entry.image_index for entry in dataset.entries]
    if path.is_file() and names_path.is_file():
        stored = json.loads(names_path.read_text(encoding="utf-8"))
        if stored.get("names") == names and stored.get("size") == size and stored.get("complete"):
            logger.info("reusing %d decoded images from %s", len(names), path)
            return np.load(path, mmap_mode="r")
    grids = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(len(names), size, size))
    started = time.monotonic()
    for index, image_path in enumerate(progress_meter(dataset.image_paths, description="decoding images",
                                                      unit="image")):
        try:
            pixels = decode_image_file(image_path).pixels
        except ValueError as error:
            raise ValueError(f"{image_path}: cannot read image ({error})") from None
        grids[index] = pixels_to_uint8(to_model_grid(pixels, size)[0])
        if (index + 1) % 1000 == 0:
            logger.info("decoded %d/%d images (%.0f s)", index + 1, len(names), time.monotonic() - started)
    grids.flush()
    _write_json_atomically(names_path, {"names": names, "size": size, "complete": True})
    return np.load(path, mmap_mode="r")


def _batches(grids: np.ndarray, labels: np.ndarray, indices: np.ndarray, batch_size: int, seed: int | None):
    """A ``keras.utils.PyDataset`` of (images (b, S, S, 3) float32 in [0, 1], labels (b, 14)).

    With a ``seed`` (training) the order is reshuffled every epoch and only full batches are served (the few
    images left over fall in other batches in other epochs; one batch shape means one traced training step);
    without (validation) every image is served once, in order.
    """
    import keras  # noqa: PLC0415 - Keras only when training

    class Batches(keras.utils.PyDataset):
        def __init__(self) -> None:
            super().__init__()
            self.epoch = 0
            self.order = indices

        def set_epoch(self, epoch: int) -> None:
            self.epoch = epoch
            if seed is not None:
                self.order = np.random.default_rng([seed, 12, epoch]).permutation(indices)

        def __len__(self) -> int:
            if seed is not None:
                return max(1, len(indices) // batch_size)
            return math.ceil(len(indices) / batch_size)

        def __getitem__(self, index: int):
            chosen = np.sort(self.order[index * batch_size : (index + 1) * batch_size])  # sorted: faster memmap reads
            gray = grids[chosen].astype(np.float32) / 255.0
            return np.repeat(gray[..., None], 3, axis=-1), labels[chosen]

        def on_epoch_end(self) -> None:
            self.set_epoch(self.epoch + 1)

    batches = Batches()
    batches.set_epoch(0)
    return batches


def per_label_auc(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """ROC AUC of each finding that has both classes in ``labels`` ((n, 14) each); others are left out."""
    from sklearn.metrics import roc_auc_score  # noqa: PLC0415 - sklearn only when scoring

    result = {}
    for column, name in enumerate(CHESTXRAY14_FINDINGS):
        truth = labels[:, column]
        if 0 < truth.sum() < len(truth):
            result[name] = round(float(roc_auc_score(truth, probabilities[:, column])), 4)
    return result


def _build_classifier(settings: PretrainSettings, config: ModelConfig):
    import keras  # noqa: PLC0415 - Keras only when training

    from cxrmodel.modeling.builders import build_image_encoder  # noqa: PLC0415 - builders loads Keras

    keras.utils.set_random_seed(settings.seed)
    encoder = build_image_encoder(config)
    if settings.image_weights:
        from cxrmodel.modeling.chexnet import load_chexnet_weights  # noqa: PLC0415 - only with CheXNet weights

        load_chexnet_weights(encoder, settings.image_weights)
    image = keras.Input((config.image_size, config.image_size, 3), name="image")
    findings = keras.layers.Dense(len(CHESTXRAY14_FINDINGS), activation="sigmoid", name="findings")(encoder(image))
    model = keras.Model(image, findings, name="chestxray14_pretraining")
    # No XLA: on a CPU its compile time outweighs what it saves for a few epochs.
    model.compile(optimizer=keras.optimizers.Adam(settings.learning_rate), loss="binary_crossentropy",
                  jit_compile=False)
    return model


def _fingerprint(dataset: ChestXray14Dataset, labels_path: Path, settings: PretrainSettings) -> dict:
    return {
        "format": FORMAT_VERSION,
        "settings": dataclasses.asdict(settings),
        "labels_sha256": file_sha256(labels_path),
        "images": len(dataset),
        "image_weights_sha256": file_sha256(Path(settings.image_weights)) if settings.image_weights else None,
    }


def _finished_result(output: Path, fingerprint: dict) -> dict | None:
    path = output / RESULT_FILE
    if not (path.is_file() and (output / ENCODER_WEIGHTS).is_file() and (output / CONFIG_FILE).is_file()):
        return None
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return result if result.get("fingerprint") == fingerprint else None


def _validation_score(record: dict) -> float:
    """Higher is better: the epoch's mean validation AUC, or minus its validation loss when no AUC is defined."""
    return record["val_auc_mean"] if record["val_auc_mean"] is not None else -record["val_loss"]


def pretrain_image_encoder(
    dataset: str | os.PathLike,
    output: str | os.PathLike,
    settings: PretrainSettings = PretrainSettings(),
    *,
    verbose: bool = False,
    callbacks: list | None = None,
) -> dict:
    """Pre-train the image encoder on a ChestX-ray14-format folder and save it to ``output``.

    Args:
        dataset: Folder read by :meth:`ChestXray14Dataset.from_folder` (``Data_Entry_2017.csv`` or the v2020
            file, images under ``images/`` or ``images_NNN/images/``).
        output: Output folder (created); see the module docstring for its files.
        settings: The run's settings.
        verbose: Also show Keras' per-batch progress bar (on stderr); the epochs are always counted by a bar there.
        callbacks: Extra Keras callbacks, run after the per-epoch checkpoint has been written.

    Returns:
        The ``pretrain.json`` document: ``settings``, ``fingerprint``, ``history`` (per epoch: ``loss``,
        ``val_loss``, ``val_auc_mean``, ``val_auc``), ``best_epoch`` (whose encoder is written) with its
        ``val_auc_mean`` and ``val_auc`` (per label), ``n_train``, ``n_validation``, ``wall_seconds``,
        ``resumed_from_epoch``, ``reused``.

    Raises:
        FileNotFoundError: Missing dataset folder, label file or images.
        ValueError: Malformed files, unreadable images, fewer than 2 patients, incompatible image weights.
    """
    import keras  # noqa: PLC0415 - Keras only when training

    started = time.monotonic()
    dataset_root = Path(dataset)
    output = Path(output)
    loaded = ChestXray14Dataset.from_folder(dataset_root, frontal_only=settings.frontal_only)
    if settings.limit is not None and settings.limit < len(loaded):
        loaded = dataclasses.replace(loaded, entries=loaded.entries[: settings.limit],
                                     image_paths=loaded.image_paths[: settings.limit])
    config = settings.model_config()
    fingerprint = _fingerprint(loaded, find_labels_file(dataset_root), settings)
    finished = _finished_result(output, fingerprint)
    if finished is not None:
        logger.info("%s already holds a finished pre-training with the same settings and dataset: reused", output)
        return {**finished, "reused": True}

    output.mkdir(parents=True, exist_ok=True)
    (output / RESULT_FILE).unlink(missing_ok=True)  # the old marker no longer describes what will be written
    partial = output / PARTIAL_FOLDER
    partial.mkdir(exist_ok=True)
    state_path, checkpoint, best_encoder = partial / _STATE, partial / _CHECKPOINT, partial / _BEST_ENCODER
    state = json.loads(state_path.read_text(encoding="utf-8")) if state_path.is_file() else {}
    # A partial run without its best encoder so far (written before the best epoch was kept) starts over.
    if state.get("fingerprint") != fingerprint or not checkpoint.is_file() or not best_encoder.is_file():
        state = {"fingerprint": fingerprint, "epochs_done": 0, "history": []}
        checkpoint.unlink(missing_ok=True)

    training, validation = _patient_split(loaded, settings.validation_fraction, settings.seed)
    labels = loaded.labels
    grids = _grid_cache(loaded, settings.image_size, partial)
    logger.info("pre-training %s at %d px on %d images (%d validation) from %s", settings.backbone,
                settings.image_size, len(training), len(validation), dataset_root)

    resumed_from = int(state["epochs_done"])
    if resumed_from:
        logger.info("resuming after epoch %d/%d from %s", resumed_from, settings.epochs, checkpoint)
        model = keras.models.load_model(checkpoint)
    else:
        model = _build_classifier(settings, config)
    train_batches = _batches(grids, labels, training, settings.batch_size, settings.seed)
    train_batches.set_epoch(resumed_from)
    validation_batches = _batches(grids, labels, validation, settings.batch_size, None)

    class EpochEnd(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            probabilities = np.asarray(self.model.predict(validation_batches, verbose=0))
            aucs = per_label_auc(labels[validation], probabilities)
            record = {
                "epoch": epoch + 1,
                "loss": round(float((logs or {}).get("loss", float("nan"))), 5),
                "val_loss": round(float(np.mean(keras.losses.binary_crossentropy(labels[validation],
                                                                                 probabilities))), 5),
                "val_auc_mean": round(float(np.mean(list(aucs.values()))), 4) if aucs else None,
                "val_auc": aucs,
            }
            state["history"].append(record)
            state["epochs_done"] = epoch + 1
            best = state.get("best_epoch")
            if best is None or _validation_score(record) > _validation_score(state["history"][best - 1]):
                temporary = partial / f".tmp-{_BEST_ENCODER}"
                self.model.get_layer("image_encoder").save_weights(temporary)
                os.replace(temporary, best_encoder)
                state["best_epoch"] = epoch + 1
            temporary = partial / f".tmp-{_CHECKPOINT}"  # Keras needs the .keras suffix
            self.model.save(temporary)
            os.replace(temporary, checkpoint)
            _write_json_atomically(state_path, state)
            logger.info("epoch %d/%d: loss %.4f, val_loss %.4f, validation AUC mean %s over %d labels",
                        epoch + 1, settings.epochs, record["loss"], record["val_loss"], record["val_auc_mean"],
                        len(aucs))

    if resumed_from < settings.epochs:
        epochs = epoch_progress("image pre-training", settings.epochs, initial_epoch=resumed_from)
        with contextlib.redirect_stdout(sys.stderr):  # stdout is kept for the command's JSON result
            model.fit(train_batches, epochs=settings.epochs, initial_epoch=resumed_from,
                      callbacks=[EpochEnd(), epochs, *(callbacks or [])],
                      verbose=1 if verbose else 0, shuffle=False)

    # The encoder of the best validation epoch, not the last one's.
    best = state["history"][state["best_epoch"] - 1]
    shutil.copyfile(best_encoder, output / f".tmp-{ENCODER_WEIGHTS}")
    os.replace(output / f".tmp-{ENCODER_WEIGHTS}", output / ENCODER_WEIGHTS)
    _write_json_atomically(output / CONFIG_FILE, config.to_dict())
    logger.info("kept the encoder of epoch %d of %d (validation AUC mean %s, last epoch %s)", best["epoch"],
                len(state["history"]), best["val_auc_mean"], state["history"][-1]["val_auc_mean"])
    result = {
        "settings": dataclasses.asdict(settings),
        "fingerprint": fingerprint,
        "findings": list(CHESTXRAY14_FINDINGS),
        "history": state["history"],
        "best_epoch": best["epoch"],
        "val_auc_mean": best["val_auc_mean"],
        "val_auc": best["val_auc"],
        "n_train": int(len(training)),
        "n_validation": int(len(validation)),
        "dataset": str(dataset_root),
        "resumed_from_epoch": resumed_from,
        "wall_seconds": round(time.monotonic() - started, 1),
    }
    _write_json_atomically(output / RESULT_FILE, result)
    shutil.rmtree(partial, ignore_errors=True)
    logger.info("pre-trained image encoder written to %s (validation AUC mean %s)", output, result["val_auc_mean"])
    return {**result, "reused": False}


def load_pretrained_image_encoder(directory: str | os.PathLike):
    """The pre-trained ``image_encoder`` sub-model and its :class:`ModelConfig` from a finished output.

    Args:
        directory: An output folder of :func:`pretrain_image_encoder`.

    Returns:
        ``(encoder, config)``: a ``keras.Model`` named ``"image_encoder"`` mapping (batch, S, S, 3) float32 in
        [0, 1] to (batch, ``config.image_feature_units``) features (S = ``config.image_size``), ready to pass as
        ``build_model(..., image_encoder=encoder)``; and the config it was built with.

    Raises:
        FileNotFoundError: Not a finished pre-training output (the message names the missing file).
        ValueError: An unreadable config or weights file.
    """
    from cxrmodel.modeling.builders import build_image_encoder  # noqa: PLC0415 - builders loads Keras

    directory = Path(directory)
    for name in (RESULT_FILE, CONFIG_FILE, ENCODER_WEIGHTS):
        if not (directory / name).is_file():
            raise FileNotFoundError(
                f"{directory} is not a finished image pre-training output (no {name}); "
                "run 'python -m cxrmodel pretrain-image' to make one"
            )
    try:
        config = ModelConfig.from_dict(json.loads((directory / CONFIG_FILE).read_text(encoding="utf-8")))
    except (json.JSONDecodeError, TypeError) as error:
        raise ValueError(f"{directory / CONFIG_FILE}: not a model config ({error})") from None
    encoder = build_image_encoder(config)
    try:
        encoder.load_weights(directory / ENCODER_WEIGHTS)
    except (OSError, ValueError) as error:
        raise ValueError(f"{directory / ENCODER_WEIGHTS}: cannot load the encoder weights ({error})") from None
    return encoder, config
