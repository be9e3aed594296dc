"""Transfer learning for the target training: pre-trained starting points and the resumable three-model schedule.

Sources (:class:`TransferSources`, the ``train``/``evaluate-models`` options):

* ``--image-encoder DIR`` — the output of ``python -m cxrmodel pretrain-image`` (image encoder pre-trained on a
  ChestX-ray14-format set, :func:`cxrmodel.training.pretrain.load_pretrained_image_encoder`); its image settings (grid
  size, backbone, preprocessing, feature units, compact widths) become the target model's.
* ``--image-weights FILE.h5`` — CheXNet Keras weights (DenseNet-121,
  :func:`cxrmodel.modeling.chexnet.load_chexnet_weights`) loaded into a ``densenet121`` encoder with ImageNet
  preprocessing.
* ``--word-vectors FILE`` — word2vec/GloVe text vectors (:func:`cxrmodel.training.embeddings.load_word_vectors`) that
  initialise the word embedding (rows in vocabulary order, :func:`cxrmodel.training.embeddings.embedding_matrix`); the
  embedding stays trainable, as in the paper. The embedding dimension becomes the vectors'.

Schedule (:func:`train_transfer_models`, the paper's recipe):

1. image-only model. With a pre-trained encoder: a fresh decision head is trained on the frozen encoder
   (``head_epochs`` at ``learning_rate``), then the whole model is fine-tuned at ``fine_tune_learning_rate``
   (``image_epochs``). Without one, it is trained from scratch at ``learning_rate`` (as
   :func:`cxrmodel.training.fit.train_three_models`);
2. text-only model, its embedding initialised from the word vectors when given (``text_epochs`` at ``learning_rate``);
3. multimodal from copies of both encoders: head on the frozen encoders, then end-to-end fine-tuning at the low
   learning rate (as :func:`cxrmodel.training.fit.train_three_models`).

With ``checkpoint_directory`` each finished sub-model is saved there (``image.keras``, ``text.keras``,
``multimodal.keras`` + ``<name>.history.json``, written atomically) and a later call with the same directory
reuses it, saying so in the log; the caller keys the directory by settings and data (:func:`settings_key`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cxrmodel.data.fetch import file_sha256
from cxrmodel.modeling import LEGACY_COMPACT_FIELDS, ModelConfig
from cxrmodel.training.fit import (
    StudyArrays,
    TrainedModels,
    TrainingSchedule,
    fit_model,
    held_out_metrics,
    multimodal_from_encoders,
    set_encoders_trainable,
)

logger = logging.getLogger(__name__)

IMAGE_FIELDS = ("image_size", "backbone", "preprocessing", "image_feature_units", "compact_widths", "compact_pooling")
"""ModelConfig fields that a pre-trained image encoder fixes."""

SUB_MODELS = ("image", "text", "multimodal")


@dataclass(frozen=True)
class TransferSources:
    """Where the pre-trained starting points come from (each optional).

    Attributes:
        image_encoder: Output folder of ``python -m cxrmodel pretrain-image``.
        image_weights: CheXNet-layout Keras ``.h5`` weights (DenseNet-121).
        word_vectors: word2vec or GloVe text file (plain or ``.gz``).
        word2vec_on_training_split: Train word2vec on the reports of the training split only (of each fold in
            ``evaluate-models``) and initialise the embedding from it: no held-out report shapes the vectors, as a
            corpus of every report of the folder would (``--word-vectors word2vec``).
    """

    image_encoder: Path | None = None
    image_weights: Path | None = None
    word_vectors: Path | None = None
    word2vec_on_training_split: bool = False

    def __post_init__(self) -> None:
        if self.image_encoder is not None and self.image_weights is not None:
            raise ValueError("give either --image-encoder (a pre-training output) or --image-weights (CheXNet .h5), "
                             "not both; to start pre-training from CheXNet weights use pretrain-image --image-weights")
        if self.image_encoder is not None and not Path(self.image_encoder).is_dir():
            raise FileNotFoundError(f"image encoder folder {self.image_encoder} does not exist "
                                    "(make one with 'python -m cxrmodel pretrain-image')")
        if self.word_vectors is not None and self.word2vec_on_training_split:
            raise ValueError("give either a word vectors file or 'word2vec' (trained on the training split), not both")
        for name in ("image_weights", "word_vectors"):
            value = getattr(self, name)
            if value is not None and not Path(value).is_file():
                raise FileNotFoundError(f"{name.replace('_', ' ')} file {value} does not exist")

    def fingerprint(self) -> dict:
        """Content hashes of the sources (part of the resume key: other weights, other models)."""
        record: dict = {}
        if self.image_encoder is not None:
            from cxrmodel.training.pretrain import CONFIG_FILE, ENCODER_WEIGHTS  # noqa: PLC0415 - only with an encoder

            record["image_encoder"] = {name: file_sha256(Path(self.image_encoder) / name)
                                       for name in (CONFIG_FILE, ENCODER_WEIGHTS)
                                       if (Path(self.image_encoder) / name).is_file()}
        if self.image_weights is not None:
            record["image_weights"] = file_sha256(Path(self.image_weights))
        if self.word_vectors is not None:
            record["word_vectors"] = file_sha256(Path(self.word_vectors))
        if self.word2vec_on_training_split:
            record["word_vectors"] = "word2vec on the training split"
        return record

    def describe(self) -> dict:
        """Plain-JSON description for the model card."""
        description: dict = {"image_encoder": "trained from scratch on the target set (random initialisation)",
                             "word_embedding": "random initialisation"}
        if self.image_encoder is not None:
            result_path = Path(self.image_encoder) / "pretrain.json"
            detail = ""
            if result_path.is_file():
                try:
                    result = json.loads(result_path.read_text(encoding="utf-8"))
                    detail = (f" ({result.get('n_train')} training images from {result.get('dataset')}, "
                              f"validation AUC mean {result.get('val_auc_mean')})")
                except (OSError, json.JSONDecodeError):
                    detail = ""
            description["image_encoder"] = f"pre-trained on a ChestX-ray14-format set: {self.image_encoder}{detail}"
        if self.image_weights is not None:
            description["image_encoder"] = f"CheXNet Keras weights {self.image_weights}"
        if self.word_vectors is not None:
            description["word_embedding"] = f"initialised from word vectors {self.word_vectors} (trainable)"
        if self.word2vec_on_training_split:
            description["word_embedding"] = ("initialised from word2vec trained on the training split's reports only "
                                              "(trainable)")
        return description


@dataclass
class TransferWeights:
    """Pre-trained weights, loaded once and copied into every freshly built model.

    Attributes:
        image_encoder: Weights of an ``image_encoder`` sub-model (``get_weights()`` order), or None.
        image_config: The image fields of :class:`ModelConfig` those weights need (empty when none).
        word_vectors: The loaded :class:`cxrmodel.training.embeddings.WordVectors`, or None.
    """

    image_encoder: list[np.ndarray] | None = None
    image_config: dict = dataclasses.field(default_factory=dict)
    word_vectors: object | None = None

    @property
    def embedding_dimension(self) -> int | None:
        """The word vectors' dimension, or None without vectors."""
        return None if self.word_vectors is None else int(self.word_vectors.dimension)


def source_image_fields(sources: TransferSources, image_size: int | None = None) -> dict:
    """The :class:`ModelConfig` image fields a pre-trained source fixes, read without loading any weights.

    Args:
        sources: The transfer sources.
        image_size: Requested grid size; for CheXNet weights the default is 224 (CheXNet's own).

    Returns:
        ``{}`` without a pre-trained image source; else the :data:`IMAGE_FIELDS` (``compact_widths`` a tuple;
        a pre-training config written before ``compact_pooling`` existed gets the
        compact backbone of that time, :data:`~cxrmodel.modeling.builders.LEGACY_COMPACT_FIELDS`).

    Raises:
        FileNotFoundError: The pre-training folder has no ``config.json``.
        ValueError: Its ``config.json`` is unreadable.
    """
    if sources.image_encoder is not None:
        from cxrmodel.training.pretrain import CONFIG_FILE  # noqa: PLC0415 - pretrain only with an encoder folder

        path = Path(sources.image_encoder) / CONFIG_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{sources.image_encoder} is not a finished image pre-training output (no "
                                    f"{CONFIG_FILE}); run 'python -m cxrmodel pretrain-image' to make one")
        try:
            stored = {**LEGACY_COMPACT_FIELDS, **json.loads(path.read_text(encoding="utf-8"))}
            fields = {name: stored[name] for name in IMAGE_FIELDS}
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as error:
            raise ValueError(f"{path}: not a model config ({error})") from None
    elif sources.image_weights is not None:
        default = ModelConfig()
        chexnet = {"image_size": image_size or 224, "backbone": "densenet121", "preprocessing": "imagenet"}
        fields = {name: chexnet.get(name, getattr(default, name)) for name in IMAGE_FIELDS}
    else:
        return {}
    fields["compact_widths"] = tuple(int(width) for width in fields["compact_widths"])
    return fields


def load_transfer_weights(sources: TransferSources, image_fields: dict | None = None) -> TransferWeights:
    """Load the pre-trained encoder / CheXNet weights and the word vectors named in ``sources``.

    Args:
        sources: What to load.
        image_fields: The image fields the encoder is built with (:func:`source_image_fields`).

    Raises:
        FileNotFoundError / ValueError: Unreadable or incompatible files (the message names them).
    """
    image_fields = dict(image_fields or source_image_fields(sources))
    weights = TransferWeights()
    if sources.image_encoder is not None:
        from cxrmodel.training.pretrain import load_pretrained_image_encoder  # noqa: PLC0415 - only with an encoder

        encoder, encoder_config = load_pretrained_image_encoder(sources.image_encoder)
        loaded = {name: getattr(encoder_config, name) for name in IMAGE_FIELDS}
        if loaded != image_fields:
            raise ValueError(f"{sources.image_encoder}: the encoder's settings {loaded} changed while loading")
        weights.image_encoder = encoder.get_weights()
        weights.image_config = loaded
        logger.info("image encoder pre-trained in %s: %s", sources.image_encoder, loaded)
    elif sources.image_weights is not None:
        from cxrmodel.modeling.builders import build_image_encoder  # noqa: PLC0415 - builders loads Keras
        from cxrmodel.modeling.chexnet import load_chexnet_weights  # noqa: PLC0415 - same; only with CheXNet weights

        config = ModelConfig(**image_fields)
        encoder = build_image_encoder(config)
        load_chexnet_weights(encoder, sources.image_weights)
        weights.image_encoder = encoder.get_weights()
        weights.image_config = image_fields
        logger.info("CheXNet weights %s loaded into a %d px DenseNet-121 encoder", sources.image_weights,
                    config.image_size)
    if sources.word_vectors is not None:
        from cxrmodel.training.embeddings import load_word_vectors  # noqa: PLC0415 - only with word vectors

        weights.word_vectors = load_word_vectors(sources.word_vectors)
        logger.info("word vectors %s: %d words, dimension %d", sources.word_vectors, len(weights.word_vectors),
                    weights.word_vectors.dimension)
    return weights


def settings_key(document: dict) -> str:
    """Short sha256 of a plain-JSON document (settings + data + sources): names a resumable work folder."""
    return hashlib.sha256(json.dumps(document, sort_keys=True, default=str).encode()).hexdigest()[:16]


@contextlib.contextmanager
def _progress_to_stderr(enabled: bool):
    """Keras prints its progress bar on stdout, which commands keep for their JSON result."""
    if enabled:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    else:
        yield


@contextlib.contextmanager
def eager_execution(enabled: bool):
    """While inside, Keras runs its train/test/predict steps eagerly instead of as traced graphs.

    Tracing and optimising a graph costs seconds per model and phase; on a few dozen studies (``pipeline --quick``)
    that is most of the time, so running eagerly is several times faster there (and slower on real data sets).
    Uses :func:`tf.config.run_functions_eagerly`; the previous setting is restored on exit.
    """
    if not enabled:
        yield
        return
    import tensorflow as tf  # noqa: PLC0415 - TensorFlow only when eager is asked for

    previous = tf.config.functions_run_eagerly()
    tf.config.run_functions_eagerly(True)
    try:
        with warnings.catch_warnings():
            # tf.data's own functions stay traced; TensorFlow warns about that on every dataset map.
            warnings.filterwarnings("ignore", message="Even though the `tf.config.experimental_run_functions_eagerly`")
            yield
    finally:
        tf.config.run_functions_eagerly(previous)


def _fit(model, modality, train, validation, *, epochs, learning_rate, schedule, seed, progress_bar):
    with _progress_to_stderr(progress_bar):
        return fit_model(model, modality, train, validation, epochs=epochs, learning_rate=learning_rate,
                         batch_size=schedule.batch_size, seed=seed, patience=schedule.patience,
                         progress_bar=progress_bar)


def _json_history(history: dict) -> dict:
    return {key: ([float(value) for value in values] if isinstance(values, (list, tuple)) else float(values))
            for key, values in history.items()}


class _Checkpoints:
    """Finished sub-models in a folder: ``<name>.keras`` + ``<name>.history.json``, each written atomically."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = Path(directory) if directory is not None else None
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
        self.reused: list[str] = []

    def load(self, name: str):
        if self.directory is None:
            return None, None
        model_path, history_path = self.directory / f"{name}.keras", self.directory / f"{name}.history.json"
        if not (model_path.is_file() and history_path.is_file()):
            return None, None
        import keras  # noqa: PLC0415 - Keras only when a checkpoint exists

        try:
            model = keras.saving.load_model(model_path, compile=False)
            history = json.loads(history_path.read_text(encoding="utf-8"))
        except Exception as error:  # noqa: BLE001 - a damaged checkpoint is retrained, never fatal
            logger.warning("checkpoint %s is unreadable (%s): training %s again", model_path, error, name)
            return None, None
        logger.info("reusing the finished %s model from %s (same settings and data)", name, model_path)
        self.reused.append(name)
        return model, history

    def save(self, name: str, model, history: dict) -> None:
        if self.directory is None:
            return
        model_path = self.directory / f"{name}.keras"
        temporary = self.directory / f".partial-{name}.keras"  # Keras needs the .keras suffix
        model.save(temporary)
        os.replace(temporary, model_path)
        history_path = self.directory / f"{name}.history.json"
        temporary_history = history_path.with_name(f".{history_path.name}.partial")
        temporary_history.write_text(json.dumps(history) + "\n", encoding="utf-8")
        os.replace(temporary_history, history_path)
        logger.info("saved the finished %s model to %s", name, model_path)


def accuracy_curves(history: dict[str, dict]) -> dict[str, dict[str, list[float]]]:
    """Per model, training and validation accuracy per epoch, the phases of a model joined in order.

    The image model's curve is its head phase (when it had one) then its fine-tuning; the multimodal's is its
    head phase then its end-to-end fine-tuning.
    """
    phases = {"image": ("image_head", "image"), "text": ("text",), "multimodal": ("multimodal_head", "multimodal")}
    curves = {}
    for model, names in phases.items():
        train, validation = [], []
        for name in names:
            record = history.get(name, {})
            train += [round(float(value), 4) for value in record.get("accuracy", [])]
            validation += [round(float(value), 4) for value in record.get("val_accuracy", [])]
        curves[model] = {"train_accuracy": train, "validation_accuracy": validation}
    return curves


def train_transfer_models(
    config: ModelConfig,
    train: StudyArrays,
    validation: StudyArrays,
    test: StudyArrays,
    vocabulary,
    schedule: TrainingSchedule | None = None,
    seed: int = 0,
    *,
    transfer: TransferWeights | None = None,
    checkpoint_directory: Path | None = None,
    progress_bar: bool = False,
    eager: bool = False,
) -> tuple[TrainedModels, list[str]]:
    """Train image-only, text-only and the multimodal with the transferred starting points; evaluate on ``test``.

    Args:
        config: The target model's architecture (image fields matching ``transfer.image_config`` when the
            encoder is pre-trained; ``embedding_dimension`` matching the word vectors).
        train, validation, test: The split (validation drives early stopping and the restored weights).
        vocabulary: The vocabulary ``train`` was encoded with (word-vector rows are laid out in its order).
        schedule: Epochs and learning rates.
        seed: Seeds the weights and the shuffling.
        transfer: Pre-trained weights (None = train from scratch, as :func:`cxrmodel.training.fit.train_three_models`).
        checkpoint_directory: Where finished sub-models are saved and reused from (None = not saved).
        progress_bar: Show Keras' per-batch bar (on stderr) besides the per-epoch log lines.
        eager: Run the steps eagerly (:func:`eager_execution`; for tiny data sets only).

    Returns:
        The trained models with held-out metrics and histories, and the names of the sub-models that were reused
        from ``checkpoint_directory`` instead of trained.

    Raises:
        ValueError: When the transferred weights do not fit ``config``.
    """
    with eager_execution(eager):
        return _train_transfer_models(config, train, validation, test, vocabulary, schedule, seed, transfer,
                                      checkpoint_directory, progress_bar)


def _train_transfer_models(config, train, validation, test, vocabulary, schedule, seed, transfer,
                           checkpoint_directory, progress_bar):
    import keras  # noqa: PLC0415 - Keras only when training

    from cxrmodel.modeling.builders import build_model  # noqa: PLC0415 - builders loads Keras

    schedule = schedule or TrainingSchedule()
    transfer = transfer or TransferWeights()
    for name, value in transfer.image_config.items():
        if getattr(config, name) != (tuple(value) if isinstance(value, list) else value):
            raise ValueError(f"the pre-trained image encoder needs {name}={value}, the model config has "
                             f"{getattr(config, name)}")
    checkpoints = _Checkpoints(checkpoint_directory)
    history: dict[str, dict] = {}
    fit = {"schedule": schedule, "seed": seed, "progress_bar": progress_bar}

    # 1. Image-only model.
    image_model, saved = checkpoints.load("image")
    if image_model is None:
        keras.utils.set_random_seed(seed)
        image_model = build_model("image", config)
        if transfer.image_encoder is not None:
            encoder = image_model.get_layer("image_encoder")
            encoder.set_weights(transfer.image_encoder)
            encoder.trainable = False
            history["image_head"] = _fit(image_model, "image", train, validation, epochs=schedule.head_epochs,
                                         learning_rate=schedule.learning_rate, **fit)
            encoder.trainable = True
            history["image"] = _fit(image_model, "image", train, validation, epochs=schedule.image_epochs,
                                    learning_rate=schedule.fine_tune_learning_rate, **fit)
        else:
            history["image"] = _fit(image_model, "image", train, validation, epochs=schedule.image_epochs,
                                    learning_rate=schedule.learning_rate, **fit)
        saved = {name: _json_history(history[name]) for name in ("image_head", "image") if name in history}
        checkpoints.save("image", image_model, saved)
    history.update(saved)

    # 2. Text-only model.
    text_model, saved = checkpoints.load("text")
    if text_model is None:
        keras.utils.set_random_seed(seed)
        text_model = build_model("text", config)
        if transfer.word_vectors is not None:
            from cxrmodel.training.embeddings import (  # noqa: PLC0415 - only with word vectors
                embedding_matrix,
                initialise_word_embedding,
            )

            matrix = embedding_matrix(transfer.word_vectors, vocabulary, config.embedding_dimension, seed)
            initialise_word_embedding(text_model, matrix)
        history["text"] = _fit(text_model, "text", train, validation, epochs=schedule.text_epochs,
                               learning_rate=schedule.learning_rate, **fit)
        saved = {"text": _json_history(history["text"])}
        checkpoints.save("text", text_model, saved)
    history.update(saved)

    # 3. Multimodal from copies of both trained encoders: head on frozen encoders, then low-rate fine-tuning.
    multimodal, saved = checkpoints.load("multimodal")
    if multimodal is None:
        keras.utils.set_random_seed(seed)
        multimodal = multimodal_from_encoders(config, image_model, text_model)
        history["multimodal_head"] = _fit(multimodal, "multimodal", train, validation, epochs=schedule.head_epochs,
                                          learning_rate=schedule.learning_rate, **fit)
        set_encoders_trainable(multimodal, True)
        history["multimodal"] = _fit(multimodal, "multimodal", train, validation, epochs=schedule.multimodal_epochs,
                                     learning_rate=schedule.fine_tune_learning_rate, **fit)
        saved = {name: _json_history(history[name]) for name in ("multimodal_head", "multimodal")}
        checkpoints.save("multimodal", multimodal, saved)
    history.update(saved)

    metrics = held_out_metrics({"multimodal": multimodal, "image": image_model, "text": text_model}, test)
    return TrainedModels(multimodal, image_model, text_model, metrics, history), checkpoints.reused
