"""Model bundles: a directory holding a trained model with everything needed to use and trust it.

Layout::

    model.keras   the Keras model (built by cxrmodel.modeling.builders.build_model)
    vocab.json    the report vocabulary (cxrmodel.text.Vocabulary)
    config.json   cxrmodel.modeling.builders.ModelConfig: input size, backbone, preprocessing, max tokens, defaults
    card.json     the model card: what it was trained on, when, held-out metrics, ``synthetic`` flag
    image_baseline.png   optional: the reference image of the attribution path (mean normal training image)

:func:`load_bundle` validates every file and raises :class:`BundleError` naming the file and the problem.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cxrmodel.imaging import GridMapping, to_model_grid, to_model_input
from cxrmodel.modeling.config import ModelConfig
from cxrmodel.text import EncodedReport, Vocabulary, encode_report

if TYPE_CHECKING:  # pragma: no cover - typing only; keras is imported lazily to keep imports cheap
    import keras

logger = logging.getLogger(__name__)

MODEL_FILE = "model.keras"
VOCABULARY_FILE = "vocab.json"
CONFIG_FILE = "config.json"
CARD_FILE = "card.json"
IMAGE_BASELINE_FILE = "image_baseline.png"
BUNDLE_FILES = (MODEL_FILE, VOCABULARY_FILE, CONFIG_FILE, CARD_FILE)
REQUIRED_CARD_KEYS = ("name", "synthetic", "created", "trained_on", "metrics")


class BundleError(ValueError):
    """A model bundle is missing, incomplete or inconsistent; the message names the file and the fix."""


@dataclass(frozen=True)
class PreparedStudy:
    """One study turned into model inputs.

    Attributes:
        model_image: (S, S, 3) float32 in [0, 1], the image on the square model grid.
        mapping: Model-grid <-> original-image coordinate mapping.
        report: The encoded report (token ids (max_tokens,), all words with offsets, slot positions).
    """

    model_image: np.ndarray
    mapping: GridMapping
    report: EncodedReport


@dataclass
class Bundle:
    """A loaded, validated model bundle.

    The Keras model may be loaded lazily (``load_bundle(..., load_model=False)``): then :attr:`model` loads and
    validates it on first access, in whichever process touches it first. The dashboard relies on this — its
    web process never initialises TensorFlow, so the background-job processes it forks load their own model
    (TensorFlow's runtime is not fork-safe: a child forked after the parent ran the model hangs).
    """

    path: Path
    loaded_model: "keras.Model | None"
    vocabulary: Vocabulary
    config: ModelConfig
    card: dict
    fingerprint: str
    image_baseline: np.ndarray | None = None
    """(S, S, 3) float32 in [0, 1]: the bundle's reference image for integrated gradients, if it has one."""

    @property
    def model(self) -> "keras.Model":
        """The Keras model, loaded and validated on first access."""
        if self.loaded_model is None:
            self.loaded_model = _load_model(self.path / MODEL_FILE, self.config, self.vocabulary)
        return self.loaded_model

    @property
    def model_loaded(self) -> bool:
        """True once the Keras model is in this process's memory."""
        return self.loaded_model is not None

    @property
    def name(self) -> str:
        """Human-readable model name from the card."""
        return str(self.card.get("name", self.path.name))

    @property
    def synthetic(self) -> bool:
        """True when the model was trained on synthetic data (shown as a banner in the dashboard)."""
        return bool(self.card.get("synthetic"))

    def prepare(self, pixels: np.ndarray, report: str) -> PreparedStudy:
        """Put a decoded image (height, width) in [0, 1] and a report text into model-input form."""
        grid, mapping = to_model_grid(pixels, self.config.image_size)
        encoded = encode_report(report, self.vocabulary, max_tokens=self.config.max_tokens)
        return PreparedStudy(model_image=to_model_input(grid), mapping=mapping, report=encoded)

    def predict(self, model_images: np.ndarray, token_ids: np.ndarray, batch_size: int = 32) -> np.ndarray:
        """P(abnormal) for a batch.

        Args:
            model_images: (n, S, S, 3) float32 in [0, 1].
            token_ids: (n, max_tokens) int32.
            batch_size: Inference batch size.

        Returns:
            (n,) float64 probabilities.
        """
        probabilities = self.model.predict(
            {"image": np.asarray(model_images, np.float32), "report_tokens": np.asarray(token_ids, np.int32)},
            batch_size=batch_size,
            verbose=0,
        )
        return np.asarray(probabilities, np.float64).reshape(-1)

    def predict_studies(self, studies: list[PreparedStudy]) -> np.ndarray:
        """P(abnormal) for prepared studies, (n,)."""
        images = np.stack([study.model_image for study in studies])
        tokens = np.stack([study.report.token_ids for study in studies])
        return self.predict(images, tokens)


def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise BundleError(f"model bundle {path.parent} is missing {path.name}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BundleError(f"{path} is not valid JSON ({error}); restore it or rebuild the bundle") from error
    if not isinstance(data, dict):
        raise BundleError(f"{path} must hold a JSON object")
    return data


def bundle_fingerprint(path: str | os.PathLike) -> str:
    """Short sha256 over the model, vocabulary and config files: identifies the exact model for caches."""
    digest = hashlib.sha256()
    for name in (MODEL_FILE, VOCABULARY_FILE, CONFIG_FILE, IMAGE_BASELINE_FILE):
        file = Path(path) / name
        if file.is_file():
            digest.update(name.encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def save_bundle(
    path: str | os.PathLike,
    model: "keras.Model",
    vocabulary: Vocabulary,
    config: ModelConfig,
    card: dict,
    image_baseline: np.ndarray | None = None,
) -> Path:
    """Write a bundle directory (created if needed) and return its path.

    Args:
        image_baseline: Optional (S, S) or (S, S, 3) reference image in [0, 1], saved as image_baseline.png.
    """
    missing = [key for key in REQUIRED_CARD_KEYS if key not in card]
    if missing:
        raise BundleError(f"model card lacks {', '.join(missing)}")
    import keras  # noqa: PLC0415

    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    # Save an uncompiled copy: the optimizer's slots (Adam keeps two per weight) would triple the file and
    # are of no use for explaining studies; retraining starts a new optimizer anyway. (from_config, not
    # clone_model: Keras 3.15's clone_model copies the compiled optimizer, and it was saved with the model.)
    inference_copy = keras.Model.from_config(model.get_config())
    inference_copy.set_weights(model.get_weights())
    inference_copy.save(directory / MODEL_FILE)
    vocabulary.save(directory / VOCABULARY_FILE)
    (directory / CONFIG_FILE).write_text(json.dumps(config.to_dict(), indent=2) + "\n", encoding="utf-8")
    (directory / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    if image_baseline is not None:
        write_image_baseline(directory, image_baseline)
    logger.info("saved model bundle to %s", directory)
    return directory


def write_image_baseline(directory: str | os.PathLike, image_baseline: np.ndarray) -> None:
    """Save a reference image ((S, S) or (S, S, 3) in [0, 1]) as the bundle's image_baseline.png."""
    from PIL import Image  # noqa: PLC0415

    gray = np.asarray(image_baseline, np.float32)
    if gray.ndim == 3:
        gray = gray.mean(axis=-1)
    Image.fromarray(np.clip(np.rint(gray * 255.0), 0, 255).astype(np.uint8)).save(Path(directory) / IMAGE_BASELINE_FILE)


def _read_image_baseline(directory: Path, config: ModelConfig) -> np.ndarray | None:
    path = directory / IMAGE_BASELINE_FILE
    if not path.is_file():
        if config.default_image_baseline == "mean":
            raise BundleError(f"{directory / CONFIG_FILE} asks for the 'mean' image baseline but {path.name} "
                              "is missing")
        return None
    from PIL import Image, UnidentifiedImageError  # noqa: PLC0415

    try:
        with Image.open(path) as image:
            gray = np.asarray(image.convert("L"), np.float32) / 255.0
    except (OSError, UnidentifiedImageError) as error:
        raise BundleError(f"{path} is not a readable PNG ({error})") from error
    if gray.shape != (config.image_size, config.image_size):
        raise BundleError(f"{path} is {gray.shape[1]}x{gray.shape[0]} but the model grid is {config.image_size}")
    return np.repeat(gray[..., None], 3, axis=-1)


def _validate_model(model: "keras.Model", config: ModelConfig, vocabulary: Vocabulary, path: Path) -> None:
    from cxrmodel.modeling.builders import model_modality  # noqa: PLC0415 - builders loads Keras

    shapes = {tensor.name.split(":")[0]: tuple(tensor.shape[1:]) for tensor in model.inputs}
    try:
        modality = model_modality(model)
    except ValueError as error:
        raise BundleError(f"{path}: {error}") from error
    if modality != "multimodal":
        raise BundleError(f"{path} holds an {modality}-only model; the dashboard needs the multimodal")
    expected_image = (config.image_size, config.image_size, 3)
    if shapes["image"] != expected_image:
        raise BundleError(f"{path} expects images {shapes['image']} but config.json says {expected_image}")
    if shapes["report_tokens"] != (config.max_tokens,):
        raise BundleError(f"{path} expects {shapes['report_tokens']} tokens but config.json says {config.max_tokens}")
    embedding_rows = model.get_layer("word_embedding").input_dim
    if embedding_rows != len(vocabulary):
        raise BundleError(
            f"{path} embeds {embedding_rows} words but vocab.json has {len(vocabulary)}: the files come from "
            "different trainings"
        )


def load_bundle(path: str | os.PathLike, *, load_model: bool = True) -> Bundle:
    """Load and validate a model bundle directory.

    Args:
        path: The bundle directory.
        load_model: Load the Keras model now (True) or on first use of ``Bundle.model`` (False: no TensorFlow
            runtime in this process until then; the archive is still checked for integrity).

    Raises:
        BundleError: naming the missing or broken file and what to do.
    """
    directory = Path(path)
    if not directory.is_dir():
        raise BundleError(f"model bundle {directory} does not exist or is not a directory")
    missing = [name for name in BUNDLE_FILES if not (directory / name).is_file()]
    if missing:
        raise BundleError(f"model bundle {directory} is missing {', '.join(missing)}")
    try:
        config = ModelConfig.from_dict(_read_json(directory / CONFIG_FILE))
    except (TypeError, ValueError) as error:
        if isinstance(error, BundleError):
            raise
        raise BundleError(f"{directory / CONFIG_FILE}: {error}") from error
    try:
        vocabulary = Vocabulary.load(directory / VOCABULARY_FILE)
    except ValueError as error:
        raise BundleError(f"{directory / VOCABULARY_FILE}: {error}") from error
    card = _read_json(directory / CARD_FILE)
    missing_keys = [key for key in REQUIRED_CARD_KEYS if key not in card]
    if missing_keys:
        raise BundleError(f"{directory / CARD_FILE} lacks {', '.join(missing_keys)}")
    if not isinstance(card["synthetic"], bool):
        raise BundleError(f"{directory / CARD_FILE}: 'synthetic' must be true or false")

    model_path = directory / MODEL_FILE
    _check_model_archive(model_path)
    model = _load_model(model_path, config, vocabulary) if load_model else None
    image_baseline = _read_image_baseline(directory, config)
    fingerprint = bundle_fingerprint(directory)
    logger.info("loaded model bundle %s (%s)%s", directory, fingerprint, "" if load_model else ", model on first use")
    return Bundle(directory, model, vocabulary, config, card, fingerprint, image_baseline)


KERAS_ARCHIVE_MEMBERS = ("config.json", "model.weights.h5")
"""Files every Keras 3 ``.keras`` archive holds (a zip)."""


def _check_model_archive(model_path: Path) -> None:
    """Cheap, TensorFlow-free check that ``model.keras`` is an intact Keras archive (zip CRCs and members)."""
    try:
        with zipfile.ZipFile(model_path) as archive:
            names = set(archive.namelist())
            missing = [name for name in KERAS_ARCHIVE_MEMBERS if name not in names]
            if missing:
                raise BundleError(f"{model_path} is not a Keras model archive (no {', '.join(missing)} inside)")
            damaged = archive.testzip()
            if damaged is not None:
                raise BundleError(f"{model_path} is damaged ({damaged} fails its checksum); copy the bundle again")
            json.loads(archive.read("config.json"))
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        if isinstance(error, BundleError):
            raise
        raise BundleError(f"{model_path} could not be loaded ({type(error).__name__}: {error})") from error


def _load_model(model_path: Path, config: ModelConfig, vocabulary: Vocabulary) -> "keras.Model":
    import keras  # noqa: PLC0415 - TensorFlow only when a model is really loaded

    try:
        model = keras.saving.load_model(model_path, compile=False)
    except Exception as error:  # noqa: BLE001 - keras raises many types for a corrupt archive
        raise BundleError(f"{model_path} could not be loaded ({type(error).__name__}: {error})") from error
    _validate_model(model, config, vocabulary, model_path)
    return model
