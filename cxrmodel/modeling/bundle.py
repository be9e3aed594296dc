"""Model bundles: a directory holding a trained model with everything needed to use and trust it.

Layout::

    model.keras   the Keras model (built by cxrmodel.modeling.builders.build_model)
    vocab.json    the report vocabulary (cxrmodel.text.Vocabulary)
    config.json   cxrmodel.modeling.builders.ModelConfig: input size, backbone, preprocessing, max tokens, defaults
    card.json     the model card: what it was trained on, when, held-out metrics, ``synthetic`` flag, and
                  ``modality``: "multimodal" (the default when absent), "text" (report only) or "image" (film only)
    image_baseline.png   optional: the reference image of the attribution path (mean normal training image)
    calibration.json     optional: the temperature that calibrates P(abnormal) and its held-out reliability, or
                         ``"method": "none"`` and the reason the bundle is not calibrated (written by ``train`` and
                         ``calibrate`` by the rule of cxrmodel.evaluation.calibration; no file: not calibrated)

:func:`load_bundle` validates every file and raises :class:`BundleError` naming the file and the problem.
Neither card.json nor calibration.json is part of :func:`bundle_fingerprint`: they describe the model and do not
change what it computes, so (re)calibrating a bundle keeps its cached explanations.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cxrmodel.imaging import (
    DistributionCheck,
    GridMapping,
    TrustProfile,
    TrustProfileError,
    check_distribution,
    read_trust_profile,
    to_model_grid,
    to_model_input,
)
from cxrmodel.modeling.config import MODALITIES, MODALITY_LABELS, ModelConfig
from cxrmodel.text import EncodedReport, Vocabulary, encode_report

if TYPE_CHECKING:  # pragma: no cover - typing only; keras is imported lazily to keep imports cheap
    import keras

logger = logging.getLogger(__name__)

MODEL_FILE = "model.keras"
VOCABULARY_FILE = "vocab.json"
CONFIG_FILE = "config.json"
CARD_FILE = "card.json"
IMAGE_BASELINE_FILE = "image_baseline.png"
CALIBRATION_FILE = "calibration.json"
CALIBRATION_EPSILON = 1e-7
"""Probabilities are clipped to [ε, 1 - ε] before their logit (= cxrmodel.evaluation.calibration.EPSILON)."""
BUNDLE_FILES = (MODEL_FILE, VOCABULARY_FILE, CONFIG_FILE, CARD_FILE)
REQUIRED_CARD_KEYS = ("name", "synthetic", "created", "trained_on", "metrics")


class BundleError(ValueError):
    """A model bundle is missing, incomplete or inconsistent; the message names the file and the fix."""


@dataclass(frozen=True)
class PreparedStudy:
    """One study turned into model inputs.

    Attributes:
        model_image: (S, S, 3) float32 in [0, 1], the image on the square model grid; None for a report-only
            study (a text-only bundle never reads a film).
        mapping: Model-grid <-> original-image coordinate mapping; None with ``model_image``.
        report: The encoded report (token ids (max_tokens,), all words with offsets, slot positions).
    """

    model_image: np.ndarray | None
    mapping: GridMapping | None
    report: EncodedReport


@dataclass(frozen=True)
class CalibrationBin:
    """One equal-width reliability bin: ``lower <= P < upper``, its study count, mean P and abnormal share.

    ``mean_confidence`` and ``observed_frequency`` are None for an empty bin.
    """

    lower: float
    upper: float
    count: int
    mean_confidence: float | None
    observed_frequency: float | None


@dataclass(frozen=True)
class HeldOutCalibration:
    """How calibrated the model is on the bundle's held-out split, before (raw) and after temperature scaling."""

    count: int
    ece_raw: float
    ece_calibrated: float
    bins_raw: tuple[CalibrationBin, ...]
    bins_calibrated: tuple[CalibrationBin, ...]
    accuracy_raw: float
    accuracy_calibrated: float
    nll_raw: float
    nll_calibrated: float


@dataclass(frozen=True)
class CrossValidatedCalibration:
    """ECE of the fitting studies raw and scaled by temperatures fitted on the other folds (the keep-or-not check)."""

    count: int
    folds: int
    repeats: int
    ece_raw: float
    ece_calibrated: float


@dataclass(frozen=True)
class BundleCalibration:
    """A bundle's ``calibration.json``: temperature scaling of P(abnormal), where it was fitted, how it does.

    Attributes:
        temperature: T > 0; the calibrated probability is ``sigmoid(logit(p) / T)``.
        fitted_on: In words, the studies T was fitted on (a validation split, never the held-out one).
        fitted_count: How many studies that was.
        held_out: Reliability on the held-out split (ECE, bins, accuracy, NLL; raw and calibrated).
        created: ISO 8601 time of the fit.
        cross_validated: The cross-validated ECE that kept T; None in files written before that check.
    """

    method: str
    temperature: float
    fitted_on: str
    fitted_count: int
    held_out: HeldOutCalibration
    created: str
    cross_validated: CrossValidatedCalibration | None = None

    def apply(self, probability: float) -> float:
        """The calibrated P(abnormal) of a model output ``probability`` in [0, 1].

        The formula of :func:`cxrmodel.evaluation.calibration.apply_temperature` (the layering keeps this
        package from importing that one; a test checks that both agree).
        """
        p = min(max(float(probability), CALIBRATION_EPSILON), 1.0 - CALIBRATION_EPSILON)
        scaled = (math.log(p) - math.log1p(-p)) / self.temperature
        return 0.5 * (1.0 + math.tanh(0.5 * scaled))


@dataclass(frozen=True)
class NotCalibrated:
    """A bundle's ``calibration.json`` with ``"method": "none"``: why P(abnormal) is left as the model gives it.

    Attributes:
        reason: In words, which part of the rule refused a temperature and with what figures.
        fitted_on: In words, the studies the temperature would have been fitted on.
        fitted_count: How many studies that was.
        created: ISO 8601 time of the decision.
        rejected_temperature: The temperature fitted and not kept; None when none was fitted.
        held_out: What ``rejected_temperature`` did on the held-out split; None when none was fitted.
        cross_validated: The cross-validated ECE, when the check got that far.
    """

    reason: str
    fitted_on: str
    fitted_count: int
    created: str
    rejected_temperature: float | None = None
    held_out: HeldOutCalibration | None = None
    cross_validated: CrossValidatedCalibration | None = None


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
    calibration: BundleCalibration | None = None
    """The bundle's temperature scaling (``calibration.json``), or None: the bundle is not calibrated."""
    not_calibrated: NotCalibrated | None = None
    """Why the bundle is not calibrated, when its ``calibration.json`` records it (``"method": "none"``)."""
    trust_profile: TrustProfile | None = None
    """The limits that judge whether a film looks like this model's training films (``trust_profile.json`` or an
    override, :mod:`cxrmodel.imaging.trust_profile`); None = the built-in limits, or none when the card says the
    profile could not be fitted (:attr:`unprofiled_reason`)."""

    @property
    def model(self) -> "keras.Model":
        """The Keras model, loaded and validated on first access."""
        if self.loaded_model is None:
            self.loaded_model = _load_model(self.path / MODEL_FILE, self.config, self.vocabulary, self.modality)
        return self.loaded_model

    @property
    def model_loaded(self) -> bool:
        """True once the Keras model is in this process's memory."""
        return self.loaded_model is not None

    @property
    def modality(self) -> str:
        """Which model the bundle holds: ``"multimodal"``, ``"text"`` (report only) or ``"image"`` (film only)."""
        return str(self.card.get("modality", "multimodal"))

    @property
    def reads_image(self) -> bool:
        """True when the model's decision depends on the radiograph (multimodal or image-only)."""
        return self.modality in ("multimodal", "image")

    @property
    def reads_report(self) -> bool:
        """True when the model's decision depends on the report (multimodal or text-only)."""
        return self.modality in ("multimodal", "text")

    @property
    def modality_label(self) -> str:
        """The modality in words for tables and the card ("multimodal", "image only", "text only")."""
        return MODALITY_LABELS[self.modality]

    @property
    def name(self) -> str:
        """Human-readable model name from the card."""
        return str(self.card.get("name", self.path.name))

    @property
    def synthetic(self) -> bool:
        """True when the model was trained on synthetic data (shown as a banner in the dashboard)."""
        return bool(self.card.get("synthetic"))

    @property
    def calibrated(self) -> bool:
        """True when the bundle's ``calibration.json`` keeps a temperature."""
        return self.calibration is not None

    @property
    def calibration_record(self) -> BundleCalibration | NotCalibrated | None:
        """What ``calibration.json`` says: the temperature kept, the reason none was, or None without the file."""
        return self.calibration if self.calibration is not None else self.not_calibrated

    def calibrated_probability(self, probability: float) -> float | None:
        """The calibrated P(abnormal) of a model output, or None when the bundle is not calibrated.

        The model output stays what the attributions and evidence refer to; this is the figure to show as a
        probability.
        """
        if self.calibration is None:
            return None
        return self.calibration.apply(probability)

    @property
    def unprofiled_reason(self) -> str | None:
        """Why no limits can judge this bundle's films: the card records that its trust profile could not be
        fitted (e.g. too few training films) and no override was given; None otherwise."""
        record = self.card.get("trust_profile")
        if self.trust_profile is not None or not isinstance(record, dict) or record.get("fitted") is not False:
            return None
        return (f"this model's trust profile could not be fitted ({record.get('reason', 'no reason recorded')}), so "
                "no limits say which films it can judge")

    def check_distribution(self, prepared: PreparedStudy) -> DistributionCheck:
        """The distribution and view check of a prepared study against this bundle's reference and profile."""
        return check_distribution(prepared.model_image, prepared.mapping, self.image_baseline,
                                  profile=self.trust_profile, unjudged_reason=self.unprofiled_reason)

    def prepare(self, pixels: np.ndarray | None, report: str) -> PreparedStudy:
        """Put a decoded image (height, width) in [0, 1] and a report text into model-input form.

        ``pixels`` may be None only for a text-only bundle: the study is then the report alone.
        """
        encoded = encode_report(report, self.vocabulary, max_tokens=self.config.max_tokens)
        if pixels is None:
            if self.reads_image:
                raise ValueError(f"the {self.modality_label} model needs the study's image")
            return PreparedStudy(model_image=None, mapping=None, report=encoded)
        grid, mapping = to_model_grid(pixels, self.config.image_size)
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
        inputs = {}
        if self.reads_image:
            inputs["image"] = np.asarray(model_images, np.float32)
        if self.reads_report:
            inputs["report_tokens"] = np.asarray(token_ids, np.int32)
        probabilities = self.model.predict(inputs, batch_size=batch_size, verbose=0)
        return np.asarray(probabilities, np.float64).reshape(-1)

    def predict_studies(self, studies: list[PreparedStudy]) -> np.ndarray:
        """P(abnormal) for prepared studies, (n,)."""
        images = np.stack([study.model_image for study in studies]) if self.reads_image else None
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
    """Short sha256 over the model, vocabulary, config and image baseline: identifies the exact model for caches.

    card.json and calibration.json are left out: they describe the model's outputs without changing them.
    """
    digest = hashlib.sha256()
    for name in (MODEL_FILE, VOCABULARY_FILE, CONFIG_FILE, IMAGE_BASELINE_FILE):
        file = Path(path) / name
        if file.is_file():
            digest.update(name.encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def _calibration_error(path: Path, problem: str) -> BundleError:
    return BundleError(f"{path}: {problem}; fix it, delete it (the bundle is then not calibrated) or rerun "
                       "'python -m cxrmodel calibrate'")


def _number(path: Path, record: dict, key: str, where: str, *, low: float = 0.0, high: float = math.inf,
            positive: bool = False, nullable: bool = False) -> float | None:
    value = record.get(key) if isinstance(record, dict) else None
    if value is None and nullable and isinstance(record, dict) and key in record:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _calibration_error(path, f"{where}'{key}' must be a number, got {value!r}")
    if value < low or value > high or (positive and value <= 0):
        bound = "> 0" if positive else f"between {low:g} and {high:g}"
        raise _calibration_error(path, f"{where}'{key}' must be {bound}, got {value!r}")
    return float(value)


def _count(path: Path, record: dict, key: str, where: str, *, minimum: int = 0) -> int:
    value = record.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _calibration_error(path, f"{where}'{key}' must be a whole number of at least {minimum}, got {value!r}")
    return value


def _bins(path: Path, record: dict, key: str) -> tuple[CalibrationBin, ...]:
    rows = record.get(key)
    if not isinstance(rows, list) or not rows:
        raise _calibration_error(path, f"held_out '{key}' must be a non-empty list of bins")
    bins = []
    for index, row in enumerate(rows):
        where = f"held_out {key}[{index}] "
        if not isinstance(row, dict):
            raise _calibration_error(path, f"{where}must be an object")
        count = _count(path, row, "count", where)
        bins.append(CalibrationBin(
            lower=_number(path, row, "lower", where, high=1.0),
            upper=_number(path, row, "upper", where, high=1.0),
            count=count,
            mean_confidence=_number(path, row, "mean_confidence", where, high=1.0, nullable=count == 0),
            observed_frequency=_number(path, row, "observed_frequency", where, high=1.0, nullable=count == 0),
        ))
    return tuple(bins)


def _text(path: Path, document: dict, key: str) -> str:
    if not isinstance(document.get(key), str) or not document[key].strip():
        raise _calibration_error(path, f"'{key}' must be a non-empty text, got {document.get(key)!r}")
    return document[key]


def _cross_validated(path: Path, document: dict) -> CrossValidatedCalibration | None:
    decision = document.get("decision")
    if decision is None:
        return None  # written before the keep-or-not rule
    if not isinstance(decision, dict):
        raise _calibration_error(path, f"'decision' must be an object, got {decision!r}")
    record = decision.get("cross_validated")
    if record is None:
        return None  # the rule stopped before cross-validating (too few studies, no temperature fits)
    if not isinstance(record, dict):
        raise _calibration_error(path, f"decision 'cross_validated' must be an object, got {record!r}")
    where = "decision cross_validated "
    return CrossValidatedCalibration(
        count=_count(path, record, "count", where, minimum=1),
        folds=_count(path, record, "folds", where, minimum=2),
        repeats=_count(path, record, "repeats", where, minimum=1),
        ece_raw=_number(path, record, "ece_raw", where, high=1.0),
        ece_calibrated=_number(path, record, "ece_calibrated", where, high=1.0),
    )


def _not_calibrated(path: Path, document: dict) -> NotCalibrated:
    has_temperature = document.get("rejected_temperature") is not None
    if has_temperature != (document.get("held_out") is not None):
        raise _calibration_error(path, "'rejected_temperature' and 'held_out' go together: both or neither")
    return NotCalibrated(
        reason=_text(path, document, "reason"),
        fitted_on=_text(path, document, "fitted_on"),
        fitted_count=_count(path, document, "fitted_count", ""),
        created=_text(path, document, "created"),
        rejected_temperature=(_number(path, document, "rejected_temperature", "", positive=True)
                              if has_temperature else None),
        held_out=_held_out(path, document) if has_temperature else None,
        cross_validated=_cross_validated(path, document),
    )


def calibration_from_dict(document: dict,
                          path: str | os.PathLike = CALIBRATION_FILE) -> BundleCalibration | NotCalibrated:
    """Validate a ``calibration.json`` document: a kept temperature, or (``"method": "none"``) why there is none.

    Files written before the keep-or-not rule (no ``decision``) load as they always did.

    Raises:
        BundleError: naming ``path``, the field and the problem.
    """
    path = Path(path)
    if not isinstance(document, dict):
        raise _calibration_error(path, "must hold a JSON object")
    if document.get("method") == "none":
        return _not_calibrated(path, document)
    if document.get("method") != "temperature":
        raise _calibration_error(path, f"'method' must be \"temperature\" or \"none\", got {document.get('method')!r}")
    for key in ("fitted_on", "created"):
        _text(path, document, key)
    return BundleCalibration(
        method="temperature",
        temperature=_number(path, document, "temperature", "", positive=True),
        fitted_on=document["fitted_on"],
        fitted_count=_count(path, document, "fitted_count", "", minimum=1),
        held_out=_held_out(path, document),
        created=document["created"],
        cross_validated=_cross_validated(path, document),
    )


def _held_out(path: Path, document: dict) -> HeldOutCalibration:
    held_out = document.get("held_out")
    if not isinstance(held_out, dict):
        raise _calibration_error(path, f"'held_out' must be an object, got {held_out!r}")
    where = "held_out "
    summary = HeldOutCalibration(
        count=_count(path, held_out, "count", where, minimum=1),
        ece_raw=_number(path, held_out, "ece_raw", where, high=1.0),
        ece_calibrated=_number(path, held_out, "ece_calibrated", where, high=1.0),
        bins_raw=_bins(path, held_out, "bins_raw"),
        bins_calibrated=_bins(path, held_out, "bins_calibrated"),
        accuracy_raw=_number(path, held_out, "accuracy_raw", where, high=1.0),
        accuracy_calibrated=_number(path, held_out, "accuracy_calibrated", where, high=1.0),
        nll_raw=_number(path, held_out, "nll_raw", where),
        nll_calibrated=_number(path, held_out, "nll_calibrated", where),
    )
    for key in ("bins_raw", "bins_calibrated"):
        counted = sum(row.count for row in getattr(summary, key))
        if counted != summary.count:
            raise _calibration_error(path, f"held_out '{key}' hold {counted} studies but 'count' is {summary.count}")
    return summary


def read_calibration(directory: str | os.PathLike) -> BundleCalibration | NotCalibrated | None:
    """The bundle's ``calibration.json``, validated; None when the bundle has none.

    Either a kept temperature (:class:`BundleCalibration`) or the recorded reason there is none
    (:class:`NotCalibrated`); both None and :class:`NotCalibrated` mean the bundle is not calibrated.

    Raises:
        BundleError: The file is there but unreadable or malformed.
    """
    path = Path(directory) / CALIBRATION_FILE
    if not path.exists():
        return None
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise _calibration_error(path, f"is not readable JSON ({error})") from error
    return calibration_from_dict(document, path)


def write_calibration(directory: str | os.PathLike, document: dict) -> Path:
    """Validate ``document`` (see :func:`cxrmodel.evaluation.calibration.calibration_decision`: a kept temperature
    or why there is none) and write it as the bundle's ``calibration.json`` (atomically; the fingerprint does not
    change). Returns the file's path."""
    path = Path(directory) / CALIBRATION_FILE
    record = calibration_from_dict(document, path)
    temporary = path.with_name(f".{CALIBRATION_FILE}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)
    logger.info("wrote %s (%s)", path, f"temperature {record.temperature:.4g}" if isinstance(record, BundleCalibration)
                else f"not calibrated: {record.reason}")
    return path


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

    from cxrmodel.modeling.builders import model_modality  # noqa: PLC0415 - builders loads Keras

    # The card always says which model the bundle holds, so a TensorFlow-free reader (the dashboard) knows.
    card = {**card, "modality": model_modality(model)}
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


def _card_modality(card: dict, path: Path) -> str:
    modality = card.get("modality", "multimodal")
    if modality not in MODALITIES:
        raise BundleError(f"{path}: 'modality' must be one of {', '.join(MODALITIES)}, got {modality!r}")
    return modality


def _validate_model(model: "keras.Model", config: ModelConfig, vocabulary: Vocabulary, path: Path,
                    card_modality: str = "multimodal") -> None:
    from cxrmodel.modeling.builders import model_modality  # noqa: PLC0415 - builders loads Keras

    shapes = {tensor.name.split(":")[0]: tuple(tensor.shape[1:]) for tensor in model.inputs}
    try:
        modality = model_modality(model)
    except ValueError as error:
        raise BundleError(f"{path}: {error}") from error
    if modality != card_modality:
        raise BundleError(f"{path} holds the {MODALITY_LABELS[modality]} model but {CARD_FILE} says "
                          f"{MODALITY_LABELS[card_modality]}: set 'modality' to {modality!r} in {CARD_FILE}")
    expected_image = (config.image_size, config.image_size, 3)
    if "image" in shapes and shapes["image"] != expected_image:
        raise BundleError(f"{path} expects images {shapes['image']} but config.json says {expected_image}")
    if "report_tokens" not in shapes:
        return
    if shapes["report_tokens"] != (config.max_tokens,):
        raise BundleError(f"{path} expects {shapes['report_tokens']} tokens but config.json says {config.max_tokens}")
    embedding_rows = model.get_layer("word_embedding").input_dim
    if embedding_rows != len(vocabulary):
        raise BundleError(
            f"{path} embeds {embedding_rows} words but vocab.json has {len(vocabulary)}: the files come from "
            "different trainings"
        )


def load_bundle(path: str | os.PathLike, *, load_model: bool = True,
                trust_profile: str | os.PathLike | None = None) -> Bundle:
    """Load and validate a model bundle directory.

    Args:
        path: The bundle directory.
        load_model: Load the Keras model now (True) or on first use of ``Bundle.model`` (False: no TensorFlow
            runtime in this process until then; the archive is still checked for integrity).
        trust_profile: A trust profile to judge films with instead of the bundle's own (``--trust-profile``:
            a folder holding ``trust_profile.json``); None = the bundle's own, if it has one.

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
    _card_modality(card, directory / CARD_FILE)

    model_path = directory / MODEL_FILE
    _check_model_archive(model_path)
    model = _load_model(model_path, config, vocabulary, card.get("modality", "multimodal")) if load_model else None
    image_baseline = _read_image_baseline(directory, config)
    record = read_calibration(directory)
    calibration = record if isinstance(record, BundleCalibration) else None
    fingerprint = bundle_fingerprint(directory)
    try:
        profile = (read_trust_profile(trust_profile, override=True) if trust_profile is not None
                   else read_trust_profile(directory))
    except TrustProfileError as error:
        raise BundleError(str(error)) from error
    logger.info("loaded model bundle %s (%s)%s%s", directory, fingerprint, "" if load_model else ", model on first use",
                "" if calibration is None else f", calibrated (T={calibration.temperature:.3g})")
    return Bundle(directory, model, vocabulary, config, card, fingerprint, image_baseline, calibration,
                  record if isinstance(record, NotCalibrated) else None, profile)


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


def _load_model(model_path: Path, config: ModelConfig, vocabulary: Vocabulary,
                card_modality: str = "multimodal") -> "keras.Model":
    import keras  # noqa: PLC0415 - TensorFlow only when a model is really loaded

    try:
        model = keras.saving.load_model(model_path, compile=False)
    except Exception as error:  # noqa: BLE001 - keras raises many types for a corrupt archive
        raise BundleError(f"{model_path} could not be loaded ({type(error).__name__}: {error})") from error
    _validate_model(model, config, vocabulary, model_path, card_modality)
    return model
