"""Loaders for NIH ChestX-ray14 (Wang et al. 2017): label file, bounding boxes, image folders. TensorFlow-free.

Formats (checked against the real files):

* ``Data_Entry_2017.csv`` (the original NIH release), one row per image::

      Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y],
      00000001_000.png,Cardiomegaly,000,00000001,058Y,M,PA,2682,2749,0.143,0.143,

  The bracketed headers hold an unquoted comma, so the header splits into 11 names for 11 values; the original
  ends the header and every row with a trailing comma (an empty twelfth column). Ages appear as ``58`` or, in
  some copies, ``058Y``.
* ``Data_Entry_2017_v2020.csv`` (NIH's 2020 revision, shipped gzipped by torchxrayvision): the same 11 columns
  *without* the trailing comma; 112,120 rows; ages are plain numbers.
* ``BBox_List_2017.csv``: header ``Image Index,Finding Label,Bbox [x,y,w,h],,,`` (three empty trailing
  names), rows of 6 values ``image,label,x,y,w,h`` in pixels of the 1024 x 1024 images; 984 boxes on 880 images.
  It spells ``Infiltrate`` where the label file says ``Infiltration``.
* Images: ``images/<Image Index>`` (NIH's own archives unpacked into one folder) or
  ``images_001/images/`` ... ``images_012/images/`` (the Kaggle copy).

Every file may be plain or gzip-compressed (``.csv.gz``). The CSV module is used rather than pandas: pandas is
not a dependency, and the files are small (the 112,120 rows of the v2020 file parse in about 2 s).
"""  # noqa: E501 - quotes the real CSV header, one 150-character line

from __future__ import annotations

import csv
import gzip
import io
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

logger = logging.getLogger(__name__)

CHESTXRAY14_FINDINGS: tuple[str, ...] = (
    "Atelectasis",
    "Cardiomegaly",
    "Consolidation",
    "Edema",
    "Effusion",
    "Emphysema",
    "Fibrosis",
    "Hernia",
    "Infiltration",
    "Mass",
    "Nodule",
    "Pleural_Thickening",
    "Pneumonia",
    "Pneumothorax",
)
"""The 14 finding names in the order of every label vector (alphabetical, as NIH lists them)."""

NO_FINDING = "No Finding"
"""``Finding Labels`` value of an image with none of the 14 findings."""

FRONTAL_VIEWS = frozenset({"PA", "AP"})
"""``View Position`` values of frontal films (ChestX-ray14 holds only these two)."""

LABELS_FILENAMES = ("Data_Entry_2017.csv", "Data_Entry_2017_v2020.csv", "Data_Entry_2017.csv.gz",
                    "Data_Entry_2017_v2020.csv.gz")
"""Names :func:`find_labels_file` looks for in a dataset folder, in this order."""

BOXES_FILENAMES = ("BBox_List_2017.csv", "BBox_List_2017.csv.gz")

LABELS_HEADER = ("Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
                 "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y]")
"""Header of the label file without its trailing comma(s), exactly as NIH wrote it."""

BOXES_HEADER = "Image Index,Finding Label,Bbox [x,y,w,h]"
"""Header of the box file without its trailing commas."""

_LABEL_COLUMNS = ("Image Index", "Finding Labels", "Follow-up #", "Patient ID", "Patient Age", "Patient Gender",
                  "View Position", "OriginalImage[Width,Height]", "OriginalImagePixelSpacing[x,y]")
_LABEL_VALUES = 11  # the two bracketed columns hold two values each
_BOX_VALUES = 6
_BOX_LABEL_ALIASES = {"Infiltrate": "Infiltration"}
_AGE_PATTERN = re.compile(r"^(\d{1,3})\s*Y?$", re.IGNORECASE)
_IMAGE_FOLDER_PATTERN = re.compile(r"^images_\d{3}$")
_FINDING_INDEX = {name: index for index, name in enumerate(CHESTXRAY14_FINDINGS)}


class ChestXray14FormatError(ValueError):
    """A ChestX-ray14 file does not have the expected format; the message names the file (and line)."""


@dataclass(frozen=True)
class ChestXray14Entry:
    """One row of ``Data_Entry_2017.csv``.

    Attributes:
        image_index: File name of the image, e.g. ``"00000001_000.png"``.
        findings: Finding names from :data:`CHESTXRAY14_FINDINGS` in file order; ``()`` for ``No Finding``.
        follow_up: Follow-up number of the patient's visit (0 = first).
        patient_id: Patient number.
        patient_age: Age in years.
        patient_gender: ``"M"`` or ``"F"``.
        view_position: ``"PA"`` or ``"AP"``.
        original_width: Width of the original image in pixels.
        original_height: Height of the original image in pixels.
        pixel_spacing_x: Original horizontal pixel spacing in mm.
        pixel_spacing_y: Original vertical pixel spacing in mm.
    """

    image_index: str
    findings: tuple[str, ...]
    follow_up: int
    patient_id: int
    patient_age: int
    patient_gender: str
    view_position: str
    original_width: int
    original_height: int
    pixel_spacing_x: float
    pixel_spacing_y: float

    @property
    def frontal(self) -> bool:
        """True for PA and AP films."""
        return self.view_position in FRONTAL_VIEWS

    def label_vector(self) -> np.ndarray:
        """(14,) float32 multi-hot vector in :data:`CHESTXRAY14_FINDINGS` order (all zeros for No Finding)."""
        vector = np.zeros(len(CHESTXRAY14_FINDINGS), np.float32)
        for finding in self.findings:
            vector[_FINDING_INDEX[finding]] = 1.0
        return vector


@dataclass(frozen=True)
class BoundingBox:
    """One box of ``BBox_List_2017.csv``, in pixels of the original 1024 x 1024 image.

    Attributes:
        finding: The finding, named as in :data:`CHESTXRAY14_FINDINGS` (the file's ``Infiltrate`` becomes
            ``Infiltration``).
        x: Left edge.
        y: Top edge.
        width: Box width.
        height: Box height.
    """

    finding: str
    x: float
    y: float
    width: float
    height: float


def label_matrix(entries: Sequence[ChestXray14Entry]) -> np.ndarray:
    """(n, 14) float32 multi-hot labels of ``entries`` in :data:`CHESTXRAY14_FINDINGS` order."""
    if not entries:
        return np.zeros((0, len(CHESTXRAY14_FINDINGS)), np.float32)
    return np.stack([entry.label_vector() for entry in entries])


def _open_text(path: Path) -> io.TextIOBase:
    """A text stream over a plain or gzip-compressed CSV (by magic bytes, not by name); BOM stripped."""
    with open(path, "rb") as stream:
        magic = stream.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def _rows(path: Path, what: str) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of every non-blank line; format errors name ``path``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist")
    try:
        with _open_text(path) as stream:
            for number, fields in enumerate(csv.reader(stream), 1):
                if any(value.strip() for value in fields):
                    yield number, fields
    except (UnicodeDecodeError, gzip.BadGzipFile, EOFError, csv.Error) as error:
        raise ChestXray14FormatError(f"{path}: not a readable CSV {what} ({error})") from None


def _without_trailing_empties(fields: list[str]) -> list[str]:
    end = len(fields)
    while end and not fields[end - 1].strip():
        end -= 1
    return [value.strip() for value in fields[:end]]


def _check_header(path: Path, fields: list[str], expected: str, columns: Sequence[str], what: str) -> None:
    header = ",".join(_without_trailing_empties(fields))
    if header == expected:
        return
    missing = [column for column in columns if column not in header]
    detail = f"missing column(s) {', '.join(repr(c) for c in missing)}" if missing else f"found {header!r}"
    raise ChestXray14FormatError(f"{path}: line 1 is not the {what} header ({detail}); expected {expected!r}")


def _parse_findings(text: str, path: Path, line: int) -> tuple[str, ...]:
    names = [name.strip() for name in text.split("|")]
    if names == [NO_FINDING]:
        return ()
    unknown = [name for name in names if name not in _FINDING_INDEX]
    if unknown:
        raise ChestXray14FormatError(
            f"{path}: line {line}: unknown finding label {unknown[0]!r}; expected {NO_FINDING!r} or "
            f"'|'-joined names from {', '.join(CHESTXRAY14_FINDINGS)}"
        )
    return tuple(dict.fromkeys(names))  # a repeated name counts once


def _parse_entry(fields: list[str], path: Path, line: int) -> ChestXray14Entry:
    values = _without_trailing_empties(fields)
    if len(values) != _LABEL_VALUES:
        raise ChestXray14FormatError(
            f"{path}: line {line}: expected {_LABEL_VALUES} values (image, labels, follow-up, patient, age, gender, "
            f"view, width, height, spacing x, spacing y), found {len(values)}"
        )
    image, labels, follow_up, patient, age, gender, view, width, height, spacing_x, spacing_y = values
    if not image:
        raise ChestXray14FormatError(f"{path}: line {line}: empty Image Index")
    age_match = _AGE_PATTERN.match(age)
    try:
        if age_match is None:
            raise ValueError(f"Patient Age {age!r}")
        return ChestXray14Entry(
            image_index=image,
            findings=_parse_findings(labels, path, line),
            follow_up=int(follow_up),
            patient_id=int(patient),
            patient_age=int(age_match.group(1)),
            patient_gender=gender,
            view_position=view,
            original_width=int(width),
            original_height=int(height),
            pixel_spacing_x=float(spacing_x),
            pixel_spacing_y=float(spacing_y),
        )
    except ValueError as error:
        if isinstance(error, ChestXray14FormatError):
            raise
        raise ChestXray14FormatError(f"{path}: line {line}: unparsable row ({error})") from None


def load_chestxray14_labels(path: str | os.PathLike) -> list[ChestXray14Entry]:
    """Read ``Data_Entry_2017.csv`` or ``Data_Entry_2017_v2020.csv``, plain or ``.gz``.

    Args:
        path: The label file.

    Returns:
        One entry per row, in file order.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ChestXray14FormatError: (a ``ValueError``) wrong header or columns, an unknown finding label, an
            unparsable value or a duplicate image; the message names the file and the line.
    """
    path = Path(path)
    rows = _rows(path, "ChestX-ray14 label file")
    first = next(rows, None)
    if first is None:
        raise ChestXray14FormatError(f"{path}: empty file; expected the ChestX-ray14 header {LABELS_HEADER!r}")
    _check_header(path, first[1], LABELS_HEADER, _LABEL_COLUMNS, "ChestX-ray14 Data_Entry_2017")
    entries: list[ChestXray14Entry] = []
    lines: dict[str, int] = {}
    for line, fields in rows:
        entry = _parse_entry(fields, path, line)
        if entry.image_index in lines:
            raise ChestXray14FormatError(
                f"{path}: line {line}: image {entry.image_index!r} already listed on line {lines[entry.image_index]}"
            )
        lines[entry.image_index] = line
        entries.append(entry)
    logger.info("read %d ChestX-ray14 entries from %s", len(entries), path)
    return entries


def load_bounding_boxes(path: str | os.PathLike) -> dict[str, list[BoundingBox]]:
    """Read ``BBox_List_2017.csv`` (plain or ``.gz``).

    Returns:
        Boxes per image index, in file order (an image may have several).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ChestXray14FormatError: Wrong header, unknown finding, wrong number of values or unparsable numbers
            (naming the file and line).
    """
    path = Path(path)
    rows = _rows(path, "ChestX-ray14 box file")
    first = next(rows, None)
    if first is None:
        raise ChestXray14FormatError(f"{path}: empty file; expected the header {BOXES_HEADER!r}")
    _check_header(path, first[1], BOXES_HEADER, ("Image Index", "Finding Label", "Bbox [x,y,w,h]"),
                  "ChestX-ray14 BBox_List_2017")
    boxes: dict[str, list[BoundingBox]] = {}
    for line, fields in rows:
        values = _without_trailing_empties(fields)
        if len(values) != _BOX_VALUES:
            raise ChestXray14FormatError(
                f"{path}: line {line}: expected {_BOX_VALUES} values (image, finding, x, y, w, h), found {len(values)}"
            )
        image, label = values[0], values[1]
        finding = _BOX_LABEL_ALIASES.get(label, label)
        if finding not in _FINDING_INDEX:
            raise ChestXray14FormatError(f"{path}: line {line}: unknown finding label {label!r}")
        try:
            x, y, width, height = (float(value) for value in values[2:])
        except ValueError:
            raise ChestXray14FormatError(f"{path}: line {line}: box {values[2:]} is not four numbers") from None
        if width <= 0 or height <= 0:
            raise ChestXray14FormatError(f"{path}: line {line}: box width and height must be positive")
        boxes.setdefault(image, []).append(BoundingBox(finding, x, y, width, height))
    logger.info("read %d boxes on %d images from %s", sum(map(len, boxes.values())), len(boxes), path)
    return boxes


def find_chestxray14_images(root: str | os.PathLike) -> dict[str, Path]:
    """Map image index -> file for the NIH folder layouts under ``root``.

    Looks in ``root/images/`` and ``root/images_NNN/images/`` (also ``root/images_NNN/`` directly) for
    ``.png`` files. An image found twice keeps its first location (folders in sorted order) with a warning.

    Raises:
        FileNotFoundError: ``root`` is not a folder.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"ChestX-ray14 folder {root} does not exist")
    folders = [root / "images"]
    for child in sorted(os.scandir(root), key=lambda item: item.name):
        if child.is_dir() and _IMAGE_FOLDER_PATTERN.match(child.name):
            inner = Path(child.path) / "images"
            folders.append(inner if inner.is_dir() else Path(child.path))
    images: dict[str, Path] = {}
    duplicates = 0
    for folder in folders:
        if not folder.is_dir():
            continue
        for item in os.scandir(folder):
            if item.name.lower().endswith(".png") and item.is_file():
                if item.name in images:
                    duplicates += 1
                    continue
                images[item.name] = Path(item.path)
    if duplicates:
        logger.warning("%d images found in more than one folder under %s; the first copy is used", duplicates, root)
    return images


def find_labels_file(root: str | os.PathLike) -> Path:
    """The label file of a dataset folder (first of :data:`LABELS_FILENAMES` that exists).

    Raises:
        FileNotFoundError: None of them is there.
    """
    root = Path(root)
    for name in LABELS_FILENAMES:
        if (root / name).is_file():
            return root / name
    raise FileNotFoundError(
        f"no ChestX-ray14 label file in {root} (expected {' or '.join(LABELS_FILENAMES[:2])}; "
        "'python -m cxrmodel data fetch-chestxray14-labels' fetches the v2020 file)"
    )


@dataclass
class ChestXray14Dataset:
    """Entries of a ChestX-ray14 folder paired with their image files.

    Attributes:
        root: The dataset folder.
        entries: Entries that have an image (after the optional frontal filter), in label-file order.
        image_paths: The image of each entry, same order.
        boxes: Boxes per image index (empty when the folder has no ``BBox_List_2017.csv``).
        missing_images: Number of (filtered) entries whose image was not found.
    """

    root: Path
    entries: list[ChestXray14Entry]
    image_paths: list[Path]
    boxes: dict[str, list[BoundingBox]] = field(default_factory=dict)
    missing_images: int = 0

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def labels(self) -> np.ndarray:
        """(n, 14) float32 multi-hot labels in :data:`CHESTXRAY14_FINDINGS` order."""
        return label_matrix(self.entries)

    @classmethod
    def from_folder(
        cls,
        root: str | os.PathLike,
        *,
        labels: str | os.PathLike | None = None,
        frontal_only: bool = False,
        require_all_images: bool = False,
    ) -> "ChestXray14Dataset":
        """Load a ChestX-ray14 folder: label file, optional box file, images.

        Args:
            root: Folder with ``Data_Entry_2017.csv`` (or the v2020 file, see :data:`LABELS_FILENAMES`), an
                optional ``BBox_List_2017.csv`` and the images in one of the NIH layouts
                (:func:`find_chestxray14_images`).
            labels: Use this label file instead of looking in ``root``.
            frontal_only: Keep only PA/AP entries.
            require_all_images: Fail when any (filtered) entry has no image; otherwise such entries are
                dropped and counted in :attr:`missing_images` (logged).

        Raises:
            FileNotFoundError: No folder, no label file, no image for any entry, or (with
                ``require_all_images``) some image missing; the message names what is missing and where.
            ChestXray14FormatError: A malformed label or box file.
        """
        root = Path(root)
        if not root.is_dir():
            raise FileNotFoundError(f"ChestX-ray14 folder {root} does not exist")
        labels_path = Path(labels) if labels is not None else find_labels_file(root)
        entries = load_chestxray14_labels(labels_path)
        if frontal_only:
            entries = [entry for entry in entries if entry.frontal]
        found = find_chestxray14_images(root)
        paired = [(entry, found[entry.image_index]) for entry in entries if entry.image_index in found]
        missing = len(entries) - len(paired)
        if not paired:
            raise FileNotFoundError(
                f"none of the {len(entries)} images listed in {labels_path.name} was found under {root} "
                f"(expected {root / 'images'}/<Image Index> or {root}/images_001/images/...)"
            )
        if missing:
            absent = next(entry.image_index for entry in entries if entry.image_index not in found)
            if require_all_images:
                raise FileNotFoundError(
                    f"{missing} of the {len(entries)} images listed in {labels_path.name} are missing under {root} "
                    f"(first: {absent})"
                )
            logger.warning("%d of %d listed images missing under %s (first: %s); those entries are skipped",
                           missing, len(entries), root, absent)
        boxes: dict[str, list[BoundingBox]] = {}
        for name in BOXES_FILENAMES:
            if (root / name).is_file():
                boxes = load_bounding_boxes(root / name)
                break
        return cls(
            root=root,
            entries=[entry for entry, _ in paired],
            image_paths=[path for _, path in paired],
            boxes=boxes,
            missing_images=missing,
        )
