"""A browsable collection of studies (an OpenI folder such as ``studies/demo``) for the dashboard and CLI.

Reads the reports once at start-up (cheap), resolves each study's frontal image, and joins the synthetic
generator's truth (findings, markers, mask paths) when the folder has a ``truth.json``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from cxrmodel.data.kaggle_openi import is_kaggle_openi_folder, load_kaggle_openi
from cxrmodel.data.openi import Study, load_openi
from cxrmodel.data.synthetic import IMAGES_FOLDER, load_truth

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StudySummary:
    """What the study list shows for one study."""

    study_id: str
    label_name: str
    mesh_terms: tuple[str, ...]
    has_image: bool


@dataclass
class StudyCollection:
    """Studies of one folder, keyed by study id, in the folder's order."""

    root: Path
    studies: dict[str, Study]
    truth: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def from_folder(cls, root: str | os.PathLike) -> "StudyCollection":
        """Load an OpenI folder (``ecgen-radiology/`` + ``NLMCXR_png/``) or its Kaggle CSV variant.

        A folder holding ``indiana_reports.csv`` is read by :func:`cxrmodel.data.kaggle_openi.load_kaggle_openi`
        (``indiana_projections.csv``, ``images/images_normalized/``; one frontal image per study).

        Raises:
            FileNotFoundError: when the folder does not exist.
            ValueError: when it holds no study with an image.
        """
        root = Path(root)
        if not root.is_dir():
            raise FileNotFoundError(f"studies folder {root} does not exist")
        if is_kaggle_openi_folder(root):
            return cls(root=root, studies={study.study_id: study for study in load_kaggle_openi(root)})
        images = root / IMAGES_FOLDER
        loaded = load_openi(root, images if images.is_dir() else None)
        usable = {study.study_id: study for study in loaded if study.image_paths}
        if not usable:
            raise ValueError(f"studies folder {root} holds no study with an image (expected {IMAGES_FOLDER}/*.png)")
        skipped = len(loaded) - len(usable)
        if skipped:
            logger.info("skipped %d studies without an image in %s", skipped, root)
        return cls(root=root, studies=usable, truth=load_truth(root))

    def __len__(self) -> int:
        return len(self.studies)

    def __contains__(self, study_id: object) -> bool:
        return study_id in self.studies

    def get(self, study_id: str) -> Study:
        """The study with ``study_id``; KeyError with a readable message when unknown."""
        try:
            return self.studies[study_id]
        except KeyError:
            raise KeyError(f"unknown study {study_id!r}") from None

    def summaries(self) -> list[StudySummary]:
        """One summary per study, in folder order."""
        return [
            StudySummary(
                study_id=study.study_id,
                label_name=study.label_name,
                mesh_terms=tuple(study.mesh_major),
                has_image=bool(study.image_paths),
            )
            for study in self.studies.values()
        ]

    def image_path(self, study_id: str) -> Path:
        """The frontal image of a study (the first image listed)."""
        return self.get(study_id).image_paths[0]
