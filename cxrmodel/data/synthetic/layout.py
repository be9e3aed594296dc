"""The folder layout of a synthetic study collection and its ground truth, without the generator.

A synthetic collection is an OpenI folder (reports in ``ecgen-radiology/``, films in ``NLMCXR_png/``) plus the
generator's ``truth.json`` and lesion masks. Reading them needs only this module, so the dashboard and the
detection-quality figures never import the phantom renderer.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from PIL import Image

TRUTH_FILE = "truth.json"
REPORTS_FOLDER = "ecgen-radiology"
IMAGES_FOLDER = "NLMCXR_png"
MASKS_FOLDER = "masks"


def load_truth(root: str | os.PathLike) -> dict[str, dict]:
    """Truth records of a synthetic OpenI folder keyed by study id ({} when the folder has none)."""
    path = Path(root) / TRUTH_FILE
    if not path.is_file():
        return {}
    document = json.loads(path.read_text(encoding="utf-8"))
    return {record["study_id"]: record for record in document.get("studies", [])}


def load_mask(root: str | os.PathLike, relative_path: str) -> np.ndarray:
    """A truth mask as a (height, width) bool array."""
    with Image.open(Path(root) / relative_path) as image:
        return np.asarray(image.convert("L")) > 0
