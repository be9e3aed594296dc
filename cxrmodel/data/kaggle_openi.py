"""Loader for the Kaggle CSV variant of the OpenI Indiana University chest X-ray collection.

Layout of the Kaggle copy ("Chest X-rays (Indiana University)")::

    ROOT/indiana_reports.csv       uid,MeSH,Problems,image,indication,comparison,findings,impression
    ROOT/indiana_projections.csv   uid,filename,projection          (projection: Frontal or Lateral)
    ROOT/images/images_normalized/<uid>_IM-<nnnn>-<nnnn>.dcm.png

``MeSH`` and ``Problems`` hold ``;``-separated terms (``normal`` for a normal study); empty sections are
empty cells. Each report becomes the same :class:`cxrmodel.data.openi.Study` the XML loader returns:

* ``study_id`` = ``CXR<uid>`` (the XML collection's ``uId``), ``mesh_major`` = the MeSH terms;
* label by :func:`cxrmodel.data.openi.openi_label` on the MeSH terms (normal exactly when the only term is
  ``normal``), or on the Problems terms when the MeSH cell is empty;
* ``report_text`` = FINDINGS then IMPRESSION (:func:`cxrmodel.data.openi.compose_report_text`);
* one frontal image: the first ``Frontal`` file of the study by file name; ``image_ids`` lists that file's
  name (without ``.png``) first, then the study's other files; ``image_paths`` holds the frontal file only.

Studies with no frontal projection, or whose frontal file is not on disk, are skipped and counted in the log.
"""

from __future__ import annotations

import csv
import logging
import os
from pathlib import Path

from cxrmodel.data.openi import Study, openi_label

logger = logging.getLogger(__name__)

REPORTS_CSV = "indiana_reports.csv"
PROJECTIONS_CSV = "indiana_projections.csv"
IMAGES_FOLDER = Path("images") / "images_normalized"
REPORT_COLUMNS = ("uid", "MeSH", "Problems", "image", "indication", "comparison", "findings", "impression")
PROJECTION_COLUMNS = ("uid", "filename", "projection")
PROJECTIONS = ("Frontal", "Lateral")


def is_kaggle_openi_folder(root: str | os.PathLike) -> bool:
    """True when ``root`` holds ``indiana_reports.csv`` (the Kaggle layout)."""
    return (Path(root) / REPORTS_CSV).is_file()


def _read_csv(path: Path, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) pairs; the header must contain ``columns`` (extra columns are ignored)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist (expected the Kaggle OpenI layout: {REPORTS_CSV}, "
                                f"{PROJECTIONS_CSV}, {IMAGES_FOLDER}/)")
    try:
        with open(path, encoding="utf-8-sig", newline="") as stream:
            reader = csv.DictReader(stream)
            missing = [column for column in columns if column not in (reader.fieldnames or [])]
            if missing:
                raise ValueError(f"{path}: missing column(s) {', '.join(missing)}; expected {','.join(columns)}")
            # csv counts physical lines: a quoted report may span several, so the row's first line is reported.
            rows = []
            start = 2
            for row in reader:
                rows.append((start, {key: (value or "").strip() for key, value in row.items() if key}))
                start = reader.line_num + 1
            return rows
    except (UnicodeDecodeError, csv.Error) as error:
        raise ValueError(f"{path}: not a readable CSV ({error})") from None


def _terms(cell: str) -> list[str]:
    return [term.strip() for term in cell.split(";") if term.strip()]


def _uid(value: str, path: Path, line: int) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{path}: line {line}: uid {value!r} is not a number") from None


def load_kaggle_openi(root: str | os.PathLike) -> list[Study]:
    """Load the studies of a Kaggle-layout OpenI folder that have a frontal image on disk.

    Args:
        root: Folder with ``indiana_reports.csv``, ``indiana_projections.csv`` and ``images/images_normalized/``.

    Returns:
        Studies sorted by uid, each with exactly one image path (its frontal film).

    Raises:
        FileNotFoundError: A CSV or the image folder is missing.
        ValueError: No study has a frontal image on disk; a missing column, a non-numeric or duplicate uid, or
            an unknown projection (naming the file and line).
    """
    root = Path(root)
    reports_path, projections_path, images = root / REPORTS_CSV, root / PROJECTIONS_CSV, root / IMAGES_FOLDER
    reports = _read_csv(reports_path, REPORT_COLUMNS)
    projections = _read_csv(projections_path, PROJECTION_COLUMNS)
    if not images.is_dir():
        raise FileNotFoundError(f"image folder {images} does not exist (Kaggle OpenI layout)")
    on_disk = set(os.listdir(images))

    files: dict[int, list[tuple[str, str]]] = {}
    for line, row in projections:
        if row["projection"] not in PROJECTIONS:
            raise ValueError(f"{projections_path}: line {line}: projection {row['projection']!r} is neither "
                             f"{' nor '.join(PROJECTIONS)}")
        files.setdefault(_uid(row["uid"], projections_path, line), []).append((row["filename"], row["projection"]))

    studies: dict[int, Study] = {}
    without_frontal = frontal_missing = 0
    for line, row in reports:
        uid = _uid(row["uid"], reports_path, line)
        if uid in studies:
            raise ValueError(f"{reports_path}: line {line}: uid {uid} appears twice")
        study_files = sorted(files.get(uid, []))
        frontal = next((name for name, projection in study_files if projection == "Frontal"), None)
        if frontal is None:
            without_frontal += 1
            continue
        if frontal not in on_disk:
            frontal_missing += 1
            continue
        mesh = _terms(row["MeSH"])
        others = [name for name, _ in study_files if name != frontal]
        studies[uid] = Study(
            study_id=f"CXR{uid}",
            comparison=row["comparison"],
            indication=row["indication"],
            findings=row["findings"],
            impression=row["impression"],
            mesh_major=mesh,
            image_ids=[name.removesuffix(".png") for name in (frontal, *others)],
            image_paths=[images / frontal],
            label=openi_label(mesh or _terms(row["Problems"])),
        )
    if without_frontal or frontal_missing:
        logger.info("%s: skipped %d studies without a frontal projection and %d whose frontal file is not in %s",
                    root, without_frontal, frontal_missing, images)
    if not studies:
        raise ValueError(f"no study of {reports_path} has a frontal image in {images}")
    ordered = [studies[uid] for uid in sorted(studies)]
    logger.info("loaded %d Kaggle OpenI studies from %s (%d normal)", len(ordered), root,
                sum(study.label == 0 for study in ordered))
    return ordered
