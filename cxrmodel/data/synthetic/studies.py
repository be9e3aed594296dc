"""Synthetic chest X-ray studies with ground truth, written in the OpenI (IU X-ray) layout.

A study is sampled as a :class:`StudySpec` (findings, film markers, whether the report understates), then
rendered into a phantom radiograph (``cxrmodel.data.synthetic.phantom.render``) and an IU-style report
(``cxrmodel.data.synthetic.reports.writer``). The distribution is built so that the product's central phenomena happen:

* findings are localised and each has a ground-truth mask;
* portable/supine film markers are *structured noise*: they appear on most abnormal films and few normal ones,
  so a trained model learns some false-positive signal on them;
* neither modality alone is perfect: some findings are subtle on the image (low severity) and, independently,
  some reports understate the abnormality.

Everything is seeded: study ``n`` of a dataset with seed ``s`` uses ``numpy.random.default_rng([s, n])``, so
any single study can be regenerated on its own.
"""

from __future__ import annotations

import json
import logging
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence
from xml.sax.saxutils import escape, quoteattr

import numpy as np
from PIL import Image

from cxrmodel.data.synthetic.findings import (
    FINDING_KINDS,
    LATERALISED_KINDS,
    LUNG_ZONES,
    PORTABLE_MARKERS,
    SIDE_MARKERS,
    Finding,
)
from cxrmodel.data.synthetic.layout import IMAGES_FOLDER, MASKS_FOLDER, REPORTS_FOLDER, TRUTH_FILE
from cxrmodel.data.synthetic.phantom.render import Phantom, render_phantom
from cxrmodel.data.synthetic.reports.writer import Report, write_report
from cxrmodel.progress import progress_meter

logger = logging.getLogger(__name__)

ZONED_KINDS = frozenset({"nodule", "mass", "consolidation"})


@dataclass(frozen=True)
class SyntheticDistribution:
    """How synthetic studies are drawn.

    Attributes:
        abnormal_fraction: Share of abnormal studies (IU X-ray: about 0.65).
        second_finding_fraction: Share of abnormal studies with a second, different finding.
        understated_fraction: Share of abnormal studies whose report does not reveal the abnormality.
        portable_given_abnormal: P(portable/supine marker | abnormal) — the structured-noise shortcut.
        portable_given_normal: P(portable/supine marker | normal).
        side_marker_fraction: P(an "R"/"L" side marker), independent of the label.
        subtle_fraction: Share of findings drawn with low severity (0 .. 0.25): hard to see on the image.
    """

    abnormal_fraction: float = 0.6
    second_finding_fraction: float = 0.25
    understated_fraction: float = 0.22
    portable_given_abnormal: float = 0.5
    portable_given_normal: float = 0.15
    side_marker_fraction: float = 0.85
    subtle_fraction: float = 0.2


@dataclass(frozen=True)
class StudySpec:
    """What one synthetic study contains, before rendering."""

    number: int
    findings: tuple[Finding, ...]
    markers: tuple[str, ...]
    understated: bool

    @property
    def study_id(self) -> str:
        """OpenI uId, e.g. ``CXR12``."""
        return f"CXR{self.number}"

    @property
    def image_id(self) -> str:
        """OpenI parentImage id, shaped like the real ones (``CXR10_IM-0002-1001``)."""
        return f"CXR{self.number}_IM-{self.number:04d}-1001"

    @property
    def label(self) -> int:
        """1 = abnormal, 0 = normal."""
        return int(bool(self.findings))

    @property
    def portable(self) -> bool:
        """True when a portable/supine marker is burnt into the film."""
        return any(marker in PORTABLE_MARKERS for marker in self.markers)


@dataclass(frozen=True)
class SyntheticStudy:
    """A rendered synthetic study."""

    spec: StudySpec
    phantom: Phantom
    report: Report


def _draw_finding(kind: str, rng: np.random.Generator, distribution: SyntheticDistribution) -> Finding:
    if rng.random() < distribution.subtle_fraction:
        severity = float(rng.uniform(0.0, 0.25))
    else:
        severity = float(rng.uniform(0.25, 1.0))
    side = str(rng.choice(["left", "right"])) if kind in LATERALISED_KINDS else None
    zone = str(rng.choice(LUNG_ZONES)) if kind in ZONED_KINDS else None
    return Finding(kind=kind, severity=severity, side=side, zone=zone)


def sample_study_spec(
    number: int,
    seed: int,
    distribution: SyntheticDistribution | None = None,
    *,
    findings: Sequence[Finding] | None = None,
) -> StudySpec:
    """Draw study ``number`` of the dataset with ``seed``.

    Args:
        number: Study number (the ``n`` of ``CXR<n>``).
        seed: Dataset seed.
        distribution: Sampling distribution (defaults to :class:`SyntheticDistribution`).
        findings: Force these findings (``[]`` forces a normal study) instead of drawing them.
    """
    distribution = distribution or SyntheticDistribution()
    rng = np.random.default_rng([seed, number, 1])
    if findings is None:
        chosen: list[Finding] = []
        if rng.random() < distribution.abnormal_fraction:
            kinds = [str(rng.choice(FINDING_KINDS))]
            if rng.random() < distribution.second_finding_fraction:
                kinds.append(str(rng.choice([kind for kind in FINDING_KINDS if kind != kinds[0]])))
            chosen = [_draw_finding(kind, rng, distribution) for kind in kinds]
    else:
        chosen = list(findings)
    abnormal = bool(chosen)
    markers: list[str] = []
    if rng.random() < distribution.side_marker_fraction:
        markers.append(str(rng.choice(SIDE_MARKERS)))
    portable_probability = distribution.portable_given_abnormal if abnormal else distribution.portable_given_normal
    if rng.random() < portable_probability:
        markers.append(str(rng.choice(PORTABLE_MARKERS)))
    understated = abnormal and rng.random() < distribution.understated_fraction
    return StudySpec(number=number, findings=tuple(chosen), markers=tuple(markers), understated=understated)


def render_study(spec: StudySpec, seed: int, width: int = 480, height: int = 512) -> SyntheticStudy:
    """Render the phantom and write the report of a spec (deterministic for ``seed``)."""
    image_rng = np.random.default_rng([seed, spec.number, 2])
    report_rng = np.random.default_rng([seed, spec.number, 3])
    phantom = render_phantom(spec.findings, spec.markers, image_rng, width=width, height=height)
    report = write_report(spec.findings, report_rng, understate=spec.understated, portable=spec.portable)
    return SyntheticStudy(spec=spec, phantom=phantom, report=report)


def _render_task(arguments: tuple[StudySpec, int, int, int]) -> SyntheticStudy:
    spec, seed, width, height = arguments
    return render_study(spec, seed, width, height)


def render_studies(
    specs: Sequence[StudySpec], seed: int, width: int = 480, height: int = 512, workers: int | None = None
) -> Iterator[SyntheticStudy]:
    """Render many studies, in order, over ``workers`` processes (default: the CPU count)."""
    workers = workers or os.cpu_count() or 1
    tasks = [(spec, seed, width, height) for spec in specs]
    with progress_meter(total=len(tasks), description="rendering studies", unit="study") as meter:
        if workers <= 1 or len(tasks) < 8:
            for task in tasks:
                yield _render_task(task)
                meter.update(1)
            return
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for study in pool.map(_render_task, tasks, chunksize=16):
                yield study
                meter.update(1)


def openi_xml(spec: StudySpec, report: Report) -> str:
    """The study's report as an OpenI ``ecgen-radiology`` XML document (the real layout, trimmed)."""
    sections = (
        ("COMPARISON", report.comparison),
        ("INDICATION", report.indication),
        ("FINDINGS", report.findings),
        ("IMPRESSION", report.impression),
    )
    abstract = "\n".join(
        f'            <AbstractText Label="{label}">{escape(text)}</AbstractText>'
        if text
        else f'            <AbstractText Label="{label}"/>'
        for label, text in sections
    )
    mesh = "\n".join(f"      <major>{escape(term)}</major>" for term in report.mesh_major)
    return f"""<?xml version="1.0" encoding="utf-8"?>
<eCitation>
   <meta type="rr"/>
   <uId id="{spec.study_id}"/>
   <pmcId id="{spec.number}"/>
   <docSource>CXR</docSource>
   <IUXRId id="{spec.number}"/>
   <licenseType>synthetic</licenseType>
   <note>Synthetic study generated by cxrmodel (not a real patient, not for clinical use).</note>
   <MedlineCitation Owner="cxrmodel" Status="synthetic">
      <Article PubModel="Electronic">
         <ArticleTitle>Synthetic chest X-ray study</ArticleTitle>
         <Abstract>
{abstract}
         </Abstract>
      </Article>
   </MedlineCitation>
   <MeSH>
{mesh}
   </MeSH>
   <parentImage id={quoteattr(spec.image_id)}>
      <figureId>F1</figureId>
      <caption>Xray Chest PA (synthetic phantom)</caption>
      <panel type="single">
         <url>/synthetic/{spec.image_id}.png</url>
      </panel>
   </parentImage>
</eCitation>
"""


def study_truth(study: SyntheticStudy) -> dict:
    """The generator's truth for one study (plain JSON)."""
    spec = study.spec
    return {
        "study_id": spec.study_id,
        "image_id": spec.image_id,
        "label": spec.label,
        "findings": [finding.to_dict() for finding in spec.findings],
        "markers": list(spec.markers),
        "portable": spec.portable,
        "understated": spec.understated,
        "cardiothoracic_ratio": round(float(study.phantom.cardiothoracic_ratio), 4),
        "masks": {kind: f"{MASKS_FOLDER}/{spec.image_id}/{kind}.png" for kind in study.phantom.masks},
        "marker_mask": f"{MASKS_FOLDER}/{spec.image_id}/markers.png" if spec.markers else None,
    }


def write_openi_study(root: Path, study: SyntheticStudy) -> dict:
    """Write one study under ``root`` in the OpenI layout plus masks; returns its truth record."""
    spec = study.spec
    (root / REPORTS_FOLDER / f"{spec.number}.xml").write_text(openi_xml(spec, study.report), encoding="utf-8")
    Image.fromarray(study.phantom.image).save(root / IMAGES_FOLDER / f"{spec.image_id}.png", optimize=True)
    mask_folder = root / MASKS_FOLDER / spec.image_id
    mask_folder.mkdir(parents=True, exist_ok=True)
    for kind, mask in study.phantom.masks.items():
        Image.fromarray(mask.astype(bool)).save(mask_folder / f"{kind}.png", optimize=True)
    if spec.markers:
        Image.fromarray(study.phantom.marker_mask.astype(bool)).save(mask_folder / "markers.png", optimize=True)
    return study_truth(study)


def write_openi_dataset(
    root: str | os.PathLike,
    specs: Sequence[StudySpec],
    seed: int,
    width: int = 480,
    height: int = 512,
    workers: int | None = None,
) -> list[dict]:
    """Render and write studies in the OpenI layout::

        root/ecgen-radiology/<n>.xml
        root/NLMCXR_png/<parentImage id>.png
        root/masks/<parentImage id>/<finding kind>.png   (and markers.png)
        root/truth.json                                  (generator truth for every study)
    """
    root = Path(root)
    for folder in (REPORTS_FOLDER, IMAGES_FOLDER, MASKS_FOLDER):
        (root / folder).mkdir(parents=True, exist_ok=True)
    truth = [write_openi_study(root, study) for study in render_studies(specs, seed, width, height, workers)]
    document = {
        "generator": "cxrmodel.data.synthetic",
        "seed": seed,
        "synthetic": True,
        "note": "Synthetic phantoms and reports; not real patients; not for clinical use.",
        "studies": truth,
    }
    (root / TRUTH_FILE).write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    logger.info("wrote %d synthetic studies to %s", len(truth), root)
    return truth
