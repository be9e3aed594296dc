"""Target datasets for the training stage: an OpenI (IU X-ray) folder, in its XML or Kaggle CSV layout.

:func:`load_target_dataset` reads a folder the way the rest of the product reads studies and keeps the studies
that have a frontal image:

* **OpenI XML layout** — ``ecgen-radiology/<n>.xml`` + ``NLMCXR_png/<parentImage id>.png``
  (:func:`cxrmodel.data.openi.load_openi`, the layout ``python app.py --studies DIR`` shows); the first image a
  report lists is used, as the dashboard does.
* **Kaggle CSV layout** — ``indiana_reports.csv`` + ``indiana_projections.csv`` + ``images/images_normalized/``
  (:mod:`cxrmodel.data.kaggle_openi`); the frontal projection is used.

The model reads FINDINGS + IMPRESSION (:attr:`cxrmodel.data.openi.Study.report_text`); the label is 1 (abnormal)
unless the MeSH major term is exactly ``normal``. A folder with a ``truth.json`` written by the synthetic generator
(``"synthetic": true``) is synthetic; the bundle's card says so.

:func:`decode_target_images` turns the images into the uint8 model-grid arrays :mod:`cxrmodel.training.fit` trains on.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cxrmodel.progress import progress_meter

logger = logging.getLogger(__name__)

KAGGLE_REPORTS_FILE = "indiana_reports.csv"  # cxrmodel.data.kaggle_openi.REPORTS_CSV
OPENI_REPORTS_FOLDER = "ecgen-radiology"
OPENI_IMAGES_FOLDER = "NLMCXR_png"


@dataclass(frozen=True)
class TargetStudy:
    """One study of a target dataset, ready to be decoded and encoded.

    Attributes:
        study_id: e.g. ``"CXR12"``.
        image_path: The frontal radiograph (PNG, JPEG or DICOM).
        report_text: FINDINGS + IMPRESSION.
        label: 1 = abnormal, 0 = normal.
    """

    study_id: str
    image_path: Path
    report_text: str
    label: int


@dataclass(frozen=True)
class TargetDataset:
    """The usable studies of a target folder and what the folder is.

    Attributes:
        root: The folder given.
        layout: ``"openi-xml"`` or ``"kaggle-csv"``.
        studies: Studies with a frontal image, in the loader's order.
        skipped: Studies left out because they have no (frontal) image.
        synthetic: True when the folder was written by the synthetic generator (its ``truth.json`` says so).
        selection: What was kept and dropped, by reason (the model card's ``selection``): ``{"loaded", "kept",
            "dropped": {reason: count}, "unreadable": [{"study", "file", "error"}]}``; the reasons are
            :data:`SELECTION_REASONS`.
    """

    root: Path
    layout: str
    studies: tuple[TargetStudy, ...]
    skipped: int
    synthetic: bool
    selection: dict = field(default_factory=dict)

    @property
    def labels(self) -> np.ndarray:
        """(n,) int32 labels."""
        return np.asarray([study.label for study in self.studies], np.int32)

    @property
    def reports(self) -> list[str]:
        """The report texts, in study order."""
        return [study.report_text for study in self.studies]

    def describe(self) -> str:
        """One line for the model card: where the studies came from and how many of each label."""
        abnormal = int(self.labels.sum())
        kind = "synthetic " if self.synthetic else ""
        return (f"{len(self.studies)} {kind}studies ({abnormal} abnormal, {len(self.studies) - abnormal} normal) "
                f"from {self.root} ({self.layout} layout; frontal image + FINDINGS/IMPRESSION report; label abnormal "
                "unless MeSH major is 'normal')")


def _is_synthetic(root: Path) -> bool:
    path = root / "truth.json"
    if not path.is_file():
        return False
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(document, dict) and document.get("synthetic") is True


CORRUPT_IMAGE = "corrupt_image"
"""The reason a study whose image file cannot be decoded is dropped (the training goes on without it)."""

SELECTION_REASONS = ("no_image", "empty_report", "no_indexing", CORRUPT_IMAGE)
"""Why a study of a target folder is left out: the OpenI label rules' reasons
(:data:`cxrmodel.data.openi.EXCLUSION_REASONS`: no image file, FINDINGS and IMPRESSION both empty, only the MeSH
term "No Indexing"), then an image file that cannot be decoded."""


def _selection(loaded: int, kept: int, dropped: dict[str, int]) -> dict:
    return {"loaded": loaded, "kept": kept,
            "dropped": {reason: int(dropped.get(reason, 0)) for reason in SELECTION_REASONS}, "unreadable": []}


def _load_openi_xml(root: Path) -> tuple[list[TargetStudy], int, dict]:
    from cxrmodel.data.openi import LabelRules, load_openi, select_studies  # noqa: PLC0415 - that layout only

    images = root / OPENI_IMAGES_FOLDER
    if not images.is_dir():
        raise FileNotFoundError(f"{root} has reports but no {OPENI_IMAGES_FOLDER}/ image folder: the training needs "
                                "the radiographs (OpenI layout: ecgen-radiology/*.xml + NLMCXR_png/*.png)")
    loaded = load_openi(root, images)
    # The OpenI label rules of every image task (issue #20): no image, an empty report or a "No Indexing"-only
    # MeSH list leave the study out (counted and logged by reason).
    selection = select_studies(loaded, LabelRules(require_image=True))
    studies = [TargetStudy(study.study_id, study.image_paths[0], study.report_text, int(study.label))
               for study in selection.studies]
    return studies, len(loaded) - len(studies), _selection(len(loaded), len(studies), selection.dropped)


def _load_kaggle_csv(root: Path) -> tuple[list[TargetStudy], int, dict]:
    from cxrmodel.data.kaggle_openi import load_kaggle_openi  # noqa: PLC0415 - the CSV reader only for that layout
    from cxrmodel.data.openi import LabelRules, select_studies  # noqa: PLC0415

    # The loader keeps only studies whose frontal film is on disk (it logs how many it skipped); the OpenI label
    # rules then leave out empty reports and "No Indexing"-only studies, as for the XML layout.
    every = load_kaggle_openi(root)
    loaded = [study for study in every if study.image_paths]
    selection = select_studies(loaded, LabelRules(require_image=True))
    studies = [TargetStudy(study.study_id, Path(study.image_paths[0]), study.report_text, int(study.label))
               for study in selection.studies]
    dropped = {**selection.dropped, "no_image": selection.dropped.get("no_image", 0) + len(every) - len(loaded)}
    return studies, len(loaded) - len(studies), _selection(len(every), len(studies), dropped)


def load_target_dataset(root: str | os.PathLike) -> TargetDataset:
    """Load the studies of a target folder (OpenI XML or Kaggle CSV layout) that have a frontal image.

    Raises:
        FileNotFoundError: The folder does not exist or holds neither layout.
        ValueError: A malformed report file (named), or fewer than 2 studies of each label with an image.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"studies folder {root} does not exist")
    from cxrmodel.data.kaggle_openi import is_kaggle_openi_folder  # noqa: PLC0415 - CSV layout check only when loading

    if is_kaggle_openi_folder(root):
        layout = "kaggle-csv"
        studies, skipped, selection = _load_kaggle_csv(root)
    elif (root / OPENI_REPORTS_FOLDER).is_dir():
        layout = "openi-xml"
        studies, skipped, selection = _load_openi_xml(root)
    else:
        raise FileNotFoundError(
            f"{root} is neither an OpenI folder ({OPENI_REPORTS_FOLDER}/*.xml + {OPENI_IMAGES_FOLDER}/*.png) nor the "
            f"Kaggle layout ({KAGGLE_REPORTS_FILE} + indiana_projections.csv + images/)"
        )
    dataset = TargetDataset(root, layout, tuple(studies), skipped, _is_synthetic(root), selection)
    check_label_counts(dataset)
    if skipped:
        logger.info("%s: %d studies have no frontal image and are left out", root, skipped)
    logger.info("target dataset: %s", dataset.describe())
    return dataset


def check_label_counts(dataset: TargetDataset) -> None:
    """Raises ValueError unless the dataset keeps at least 2 studies of each label."""
    counts = np.bincount(dataset.labels, minlength=2) if dataset.studies else np.zeros(2, int)
    if counts.min() < 2:
        raise ValueError(f"{dataset.root}: training needs at least 2 studies of each label with an image, found "
                         f"{int(counts[0])} normal and {int(counts[1])} abnormal")


def selection_summary(selection: dict) -> str:
    """The selection in one line, e.g. ``"kept 13 of 16 studies; dropped 1 no_image, 1 empty_report, ..."``."""
    dropped = ", ".join(f"{count} {reason}" for reason, count in selection["dropped"].items() if count)
    unreadable = "; unreadable: " + ", ".join(f"{entry['file']} ({entry['study']})"
                                              for entry in selection["unreadable"]) if selection["unreadable"] else ""
    return (f"kept {selection['kept']} of {selection['loaded']} studies; dropped "
            + (dropped or "none") + unreadable)


def _decode_one(arguments: tuple[Path, int]) -> np.ndarray:
    from cxrmodel.imaging import decode_image_file  # noqa: PLC0415 - the image decoders only when decoding
    from cxrmodel.training.fit import grid_image_uint8  # noqa: PLC0415 - fit loads Keras

    path, image_size = arguments
    try:
        pixels = decode_image_file(path).pixels
    except ValueError as error:
        raise ValueError(f"{path}: cannot read image ({error})") from None
    return grid_image_uint8(pixels, image_size)


def decode_target_images(dataset: TargetDataset, image_size: int, workers: int | None = None) -> np.ndarray:
    """(n, S, S) uint8 model-grid images of every study (the same path as at inference).

    Decoded in threads (Pillow and numpy release the GIL for most of the work; threads, unlike a process pool,
    are safe once TensorFlow has started).
    """
    started = time.perf_counter()
    workers = workers or min(4, os.cpu_count() or 1)
    tasks = [(study.image_path, image_size) for study in dataset.studies]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        grids = np.stack(list(progress_meter(pool.map(_decode_one, tasks), total=len(tasks),
                                             description="decoding images", unit="image")))
    logger.info("decoded %d images onto the %d px grid in %.1f s", len(grids), image_size,
                time.perf_counter() - started)
    return grids


def _decode_or_error(arguments: tuple[Path, int]) -> np.ndarray | str:
    try:
        return _decode_one(arguments)
    except (ValueError, OSError) as error:  # a corrupt, truncated or unreadable file
        return " ".join(str(error).split())


def decode_readable_images(dataset: TargetDataset, image_size: int,
                           workers: int | None = None) -> tuple[TargetDataset, np.ndarray]:
    """Decode every study's image as :func:`decode_target_images`, leaving out the studies whose file cannot be read.

    A corrupt image file is logged, counted in the selection (:data:`CORRUPT_IMAGE`, with the study, file and
    error under ``"unreadable"``) and skipped: one bad file does not end a training.

    Returns:
        ``(dataset, grids)``: the dataset without those studies (its ``selection`` updated) and their (n, S, S) uint8
        model-grid images, in the same order.

    Raises:
        ValueError: when fewer than 2 studies of each label are left.
    """
    started = time.perf_counter()
    workers = workers or min(4, os.cpu_count() or 1)
    tasks = [(study.image_path, image_size) for study in dataset.studies]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        decoded = list(progress_meter(pool.map(_decode_or_error, tasks), total=len(tasks),
                                      description="decoding images", unit="image"))
    kept = [index for index, result in enumerate(decoded) if not isinstance(result, str)]
    unreadable = [{"study": dataset.studies[index].study_id, "file": dataset.studies[index].image_path.name,
                   "error": result} for index, result in enumerate(decoded) if isinstance(result, str)]
    for entry in unreadable:
        logger.warning("%s: image %s cannot be read, the study is left out (%s)", entry["study"], entry["file"],
                       entry["error"])
    if unreadable:
        selection = dataset.selection or _selection(len(dataset.studies), len(dataset.studies), {})
        selection = {**selection, "kept": selection["kept"] - len(unreadable),
                     "dropped": {**selection["dropped"],
                                 CORRUPT_IMAGE: selection["dropped"].get(CORRUPT_IMAGE, 0) + len(unreadable)},
                     "unreadable": [*selection.get("unreadable", []), *unreadable]}
        dataset = dataclasses.replace(dataset, studies=tuple(dataset.studies[index] for index in kept),
                                      selection=selection)
        check_label_counts(dataset)
    grids = np.stack([decoded[index] for index in kept])
    logger.info("decoded %d images onto the %d px grid in %.1f s (%d unreadable, left out)", len(grids), image_size,
                time.perf_counter() - started, len(unreadable))
    return dataset, grids


def data_fingerprint(dataset: TargetDataset, grid_images: np.ndarray) -> str:
    """sha256 (first 16 hex digits) of what the models are trained on: study ids, reports, labels, grid images."""
    digest = hashlib.sha256()
    for study in dataset.studies:
        digest.update(json.dumps([study.study_id, study.report_text, study.label]).encode())
    grid_images = np.ascontiguousarray(grid_images)
    digest.update(str((grid_images.dtype.str, grid_images.shape)).encode())
    digest.update(grid_images.tobytes())
    return digest.hexdigest()[:16]
