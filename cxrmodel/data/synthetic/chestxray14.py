"""Synthetic pre-training set in the exact NIH ChestX-ray14 layout (``python -m cxrmodel synthetic-chestxray14``).

The phantom radiographs of :mod:`cxrmodel.data.synthetic.studies` (same sampling, same seeding: image ``n`` of seed
``s`` is study ``n`` of ``sample_study_spec(n, s)``) are written as a ChestX-ray14 folder::

    DIR/Data_Entry_2017.csv     original NIH format, trailing comma on every line
    DIR/BBox_List_2017.csv      one box per localised finding (original header with its ",,," tail)
    DIR/images/<Image Index>    8-bit grayscale PNG, <patient:08d>_000.png

Phantom finding kinds map to ChestX-ray14 labels (:data:`PHANTOM_TO_CHESTXRAY14`): cardiomegaly -> Cardiomegaly,
nodule -> Nodule, mass -> Mass, effusion -> Effusion, consolidation -> Consolidation, pneumothorax ->
Pneumothorax. ``degenerative_spine`` has no ChestX-ray14 label: a study whose only finding it is is written
as ``No Finding``. The other eight labels (Atelectasis, Edema, Emphysema, Fibrosis, Hernia, Infiltration,
Pleural_Thickening, Pneumonia) have no phantom counterpart and never occur; the label vectors still have all 14
columns, so a model pre-trained here has the ChestX-ray14 head shape. A study with two findings gets both labels
(``|``-joined, in :data:`~cxrmodel.data.chestxray14.CHESTXRAY14_FINDINGS` order).

Other columns: one patient per study (follow-up 0), age 20-89 and gender drawn from the study's own seeded
generator, ``View Position`` AP when a portable/supine marker is burnt in (portable films are AP) else PA,
original size = the written size, pixel spacing 0.143 mm (the commonest value in the real file).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
from PIL import Image

from cxrmodel.data.chestxray14 import BOXES_HEADER, CHESTXRAY14_FINDINGS, LABELS_HEADER, NO_FINDING
from cxrmodel.data.synthetic.studies import StudySpec, SyntheticStudy, render_studies, sample_study_spec

logger = logging.getLogger(__name__)

PHANTOM_TO_CHESTXRAY14 = {
    "cardiomegaly": "Cardiomegaly",
    "nodule": "Nodule",
    "mass": "Mass",
    "effusion": "Effusion",
    "consolidation": "Consolidation",
    "pneumothorax": "Pneumothorax",
}
"""Phantom finding kind -> ChestX-ray14 finding name (``degenerative_spine`` has none)."""

PIXEL_SPACING_MM = 0.143
IMAGES_FOLDER = "images"
LABELS_FILENAME = "Data_Entry_2017.csv"
BOXES_FILENAME = "BBox_List_2017.csv"


def image_index(spec: StudySpec) -> str:
    """ChestX-ray14 file name of a synthetic study: patient = study number, follow-up 0."""
    return f"{spec.number:08d}_000.png"


def chestxray14_findings(spec: StudySpec) -> tuple[str, ...]:
    """The study's ChestX-ray14 labels in :data:`CHESTXRAY14_FINDINGS` order (``()`` = No Finding)."""
    names = {PHANTOM_TO_CHESTXRAY14[finding.kind] for finding in spec.findings
             if finding.kind in PHANTOM_TO_CHESTXRAY14}
    return tuple(name for name in CHESTXRAY14_FINDINGS if name in names)


def _box(mask: np.ndarray) -> tuple[float, float, float, float] | None:
    rows = np.flatnonzero(mask.any(axis=1))
    columns = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return float(columns[0]), float(rows[0]), float(columns[-1] - columns[0] + 1), float(rows[-1] - rows[0] + 1)


def _entry_line(study: SyntheticStudy, seed: int) -> str:
    spec = study.spec
    rng = np.random.default_rng([seed, spec.number, 4])
    age = int(rng.integers(20, 90))
    gender = "M" if rng.random() < 0.56 else "F"  # the real file: 56 % male
    view = "AP" if spec.portable else "PA"
    height, width = study.phantom.image.shape
    labels = "|".join(chestxray14_findings(spec)) or NO_FINDING
    return (f"{image_index(spec)},{labels},0,{spec.number},{age},{gender},{view},{width},{height},"
            f"{PIXEL_SPACING_MM},{PIXEL_SPACING_MM},")


def _box_lines(study: SyntheticStudy) -> list[str]:
    lines = []
    for kind, name in PHANTOM_TO_CHESTXRAY14.items():
        mask = study.phantom.masks.get(kind)
        box = _box(mask) if mask is not None else None
        if box is not None:
            lines.append(f"{image_index(study.spec)},{name}," + ",".join(f"{value:g}" for value in box))
    return lines


def write_chestxray14_dataset(
    root: str | os.PathLike,
    count: int,
    seed: int,
    *,
    width: int = 256,
    height: int = 256,
    first_number: int = 1,
    workers: int | None = None,
) -> dict:
    """Render ``count`` phantom studies and write them as a ChestX-ray14 folder (see the module docstring).

    The CSVs are written to temporary names and renamed last, so a folder with a label file is complete.

    Args:
        root: Folder to write (created).
        count: Number of images.
        seed: Dataset seed (same studies as ``python -m cxrmodel synthetic`` with this seed).
        width: Image width in pixels.
        height: Image height in pixels.
        first_number: Study number of the first image.
        workers: Rendering processes (default: the CPU count).

    Returns:
        Summary: ``images``, ``boxes``, ``no_finding`` and ``per_label`` counts (14 names).
    """
    root = Path(root)
    (root / IMAGES_FOLDER).mkdir(parents=True, exist_ok=True)
    specs = [sample_study_spec(first_number + index, seed) for index in range(count)]
    entry_lines = [LABELS_HEADER + ","]
    box_lines = [BOXES_HEADER + ",,,"]
    per_label = dict.fromkeys(CHESTXRAY14_FINDINGS, 0)
    no_finding = 0
    for study in render_studies(specs, seed, width, height, workers):
        Image.fromarray(study.phantom.image).save(root / IMAGES_FOLDER / image_index(study.spec), optimize=True)
        entry_lines.append(_entry_line(study, seed))
        box_lines.extend(_box_lines(study))
        names = chestxray14_findings(study.spec)
        no_finding += not names
        for name in names:
            per_label[name] += 1
    for name, lines in ((LABELS_FILENAME, entry_lines), (BOXES_FILENAME, box_lines)):
        temporary = root / f".{name}.partial"
        # NIH's files use Unix line ends.
        temporary.write_text("\n".join(lines) + "\n", encoding="utf-8")
        os.replace(temporary, root / name)
    summary = {"images": count, "boxes": len(box_lines) - 1, "no_finding": no_finding, "per_label": per_label,
               "output": str(root)}
    logger.info("wrote %d synthetic ChestX-ray14 images (%d boxes) to %s", count, summary["boxes"], root)
    return summary

