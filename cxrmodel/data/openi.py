"""Loader for the OpenI Indiana University chest X-ray collection (IU X-ray).

Layout (as in the published archives):

* Reports: ``NLMCXR_reports.tgz`` holding ``ecgen-radiology/<n>.xml``, one ``eCitation`` document per study
  with the report sections in ``MedlineCitation/Article/Abstract/AbstractText[@Label]`` (COMPARISON,
  INDICATION, FINDINGS, IMPRESSION; any may be empty), the MeSH terms in ``MeSH/major`` and
  ``MeSH/automatic``, and one ``parentImage[@id]`` per image (some studies have none).
* Images: ``NLMCXR_png/<parentImage id>.png``.

Labels follow the usual convention for this dataset: a study is normal (0) exactly when its MeSH major terms
are the single term ``normal``; anything else is abnormal (1) (:func:`openi_label`, kept as :attr:`Study.label`).

Which studies a normal/abnormal task keeps is explicit (:class:`LabelRules`, :func:`label_decision`,
:func:`select_studies`); each dropped study is counted once, under the first reason that applies, in the order of
:data:`EXCLUSION_REASONS`:

* ``"no_image"`` — image tasks only (``require_image``): the study has no image (no ``parentImage``, or, when it
  was loaded with an image folder, none of its images is there);
* ``"empty_report"`` — FINDINGS and IMPRESSION are both empty (:attr:`Study.report_text` is ``""``): there is
  nothing to read, and the real archive's 28 such studies are all MeSH ``normal`` (a report-free label);
* ``"no_indexing"`` — the MeSH major terms are the single term ``No Indexing``: the indexer gave no finding,
  which is *not* a finding (of the real archive's 95 such reports most read "No active disease"), yet the
  ``normal``-only convention would make them abnormal. ``include_no_indexing`` keeps them with the label
  ``no_indexing_label`` (default 1, abnormal: the old convention, so earlier numbers can be reproduced).

By default (``LabelRules()``) empty reports and No-Indexing-only studies are dropped and image presence is not
required (text tasks). On the real archive (3,955 reports): 28 empty, 95 No Indexing, 104 without a
``parentImage``.

The text the model reads, :attr:`Study.report_text` (:func:`compose_report_text`), is the FINDINGS section then the
IMPRESSION section, separated by a blank line, with empty sections omitted and no section headings (headings would be
the same words in every report: they carry no information but would still receive attributions).

XML safety: parsed with :mod:`xml.etree.ElementTree` (``defusedxml`` is not installed). A document with a
DOCTYPE (entity declarations) is refused before parsing (OpenI reports have none), so neither entity-expansion
blow-up ("billion laughs") nor external entities apply; besides, Python 3.11's expat parser does not fetch
external entities, so reading an untrusted report file cannot read local files or reach the network.
"""

from __future__ import annotations

import logging
import os
import re
import tarfile
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from xml.parsers import expat

logger = logging.getLogger(__name__)

OPENI_NORMAL = "normal"
"""The MeSH major term of a normal study (a study is normal when it is its only major term)."""

REPORTS_FOLDER = "ecgen-radiology"
"""Folder holding the report XML files, inside the reports archive or a folder it was extracted to."""

IMAGE_SUFFIX = ".png"

SECTION_LABELS = ("COMPARISON", "INDICATION", "FINDINGS", "IMPRESSION")

OPENI_NO_INDEXING = "no indexing"
"""The MeSH major term of a study the indexer gave no term (dropped by default, see :class:`LabelRules`)."""

EXCLUSION_REASONS = ("no_image", "empty_report", "no_indexing")
"""Why :func:`label_decision` drops a study, in the order the rules are applied (first match counts)."""

_NUMBER_PATTERN = re.compile(r"\d+")


def _normalised_terms(mesh_major: Iterable[str]) -> list[str]:
    return [term.strip().lower() for term in mesh_major if term.strip()]


def is_no_indexing(mesh_major: Iterable[str]) -> bool:
    """True when the MeSH major terms are exactly ``["No Indexing"]`` (case and surrounding space ignored)."""
    return _normalised_terms(mesh_major) == [OPENI_NO_INDEXING]


def openi_label(mesh_major: Iterable[str]) -> int:
    """Label of a study from its MeSH major terms.

    Args:
        mesh_major: The ``<major>`` terms in any order.

    Returns:
        0 (normal) when the terms are exactly ``["normal"]`` (case and surrounding space ignored), else 1.
    """
    return 0 if _normalised_terms(mesh_major) == [OPENI_NORMAL] else 1


def compose_report_text(findings: str, impression: str) -> str:
    """The text the model reads: FINDINGS then IMPRESSION, separated by a blank line.

    Empty sections (after stripping surrounding whitespace) are omitted, so there is never a leading or
    trailing blank line; no section headings are added.

    Args:
        findings: The FINDINGS section ("" when empty).
        impression: The IMPRESSION section ("" when empty).

    Returns:
        The composed report, ``""`` when both sections are empty.
    """
    return "\n\n".join(section for section in (findings.strip(), impression.strip()) if section)


@dataclass
class Study:
    """One IU X-ray study: report sections, MeSH terms, images and label.

    Attributes:
        study_id: The ``uId`` (e.g. ``"CXR1"``).
        comparison: COMPARISON section, ``""`` when empty.
        indication: INDICATION section, ``""`` when empty.
        findings: FINDINGS section, ``""`` when empty.
        impression: IMPRESSION section, ``""`` when empty.
        mesh_major: MeSH major terms in file order (e.g. ``"Cardiomegaly/mild"``).
        mesh_automatic: MeSH automatic terms in file order.
        image_ids: ``parentImage`` ids in file order (may be empty).
        image_paths: The image files that exist, ``<images>/<image id>.png``, in the order of ``image_ids``;
            empty when no image folder was given.
        label: 1 = abnormal, 0 = normal (see :func:`openi_label`; :func:`label_decision` says whether a task
            keeps the study and with which label).
        images_checked: True when :func:`load_openi` looked the images up in an image folder (then
            ``image_paths`` says which exist); not part of equality.
    """

    study_id: str
    comparison: str = ""
    indication: str = ""
    findings: str = ""
    impression: str = ""
    mesh_major: list[str] = field(default_factory=list)
    mesh_automatic: list[str] = field(default_factory=list)
    image_ids: list[str] = field(default_factory=list)
    image_paths: list[Path] = field(default_factory=list)
    label: int = 1
    images_checked: bool = field(default=False, compare=False, repr=False)

    @property
    def has_image(self) -> bool:
        """Whether an image task can use the study: an image on disk, or, when no folder was checked, one listed."""
        return bool(self.image_paths) if self.images_checked else bool(self.image_paths or self.image_ids)

    @property
    def report_text(self) -> str:
        """FINDINGS then IMPRESSION, separated by a blank line (see :func:`compose_report_text`)."""
        return compose_report_text(self.findings, self.impression)

    @property
    def label_name(self) -> str:
        """``"normal"`` or ``"abnormal"``."""
        return "normal" if self.label == 0 else "abnormal"

    @property
    def number(self) -> int | None:
        """The numeric part of the study id (``"CXR10"`` -> 10), or ``None`` if it has none."""
        match = _NUMBER_PATTERN.search(self.study_id)
        return int(match.group()) if match else None


def _element_text(element: ElementTree.Element | None) -> str:
    if element is None:
        return ""
    return "".join(element.itertext()).strip()


class _PrologChecked(Exception):
    """Raised by the prolog scan when the root element starts (no DOCTYPE came before it)."""


def _reject_doctype(data: bytes | str, source: str) -> None:
    """Refuse a document with a DOCTYPE (entity declarations): OpenI reports have none.

    Only the prolog is scanned (expat stops at the root element), so this costs nothing for a real report. It
    makes entity-expansion attacks ("billion laughs", external entities) fail with a clear message whatever
    the expat version, instead of relying on expat's amplification limits.
    """
    def doctype(*_arguments: object) -> None:
        raise ValueError(
            f"{source}: XML with a DOCTYPE or entity declarations is not accepted (OpenI reports have none)"
        )

    def root(*_arguments: object) -> None:
        raise _PrologChecked

    scanner = expat.ParserCreate()
    scanner.StartDoctypeDeclHandler = doctype
    scanner.EntityDeclHandler = doctype
    scanner.StartElementHandler = root
    try:
        scanner.Parse(data, True)
    except (_PrologChecked, expat.ExpatError):
        pass  # no DOCTYPE before the root element; syntax errors are reported by the real parse below


def parse_openi_xml(data: bytes | str, source: str) -> Study:
    """Parse one ``ecgen-radiology/<n>.xml`` document.

    Args:
        data: The file's content.
        source: Where it came from (file path or archive member), used in error messages.

    Returns:
        The study, with ``image_paths`` empty (they are resolved by :func:`load_openi`).

    Raises:
        ValueError: Naming ``source`` when the XML is malformed, has a DOCTYPE, is not an ``eCitation``
            document, or has no ``uId``.
    """
    _reject_doctype(data, source)
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as error:
        raise ValueError(f"{source}: malformed XML ({error})") from error
    if root.tag != "eCitation":
        raise ValueError(f"{source}: expected an <eCitation> document, found <{root.tag}>")
    uid_element = root.find("uId")
    study_id = (uid_element.get("id") or "").strip() if uid_element is not None else ""
    if not study_id:
        raise ValueError(f"{source}: missing <uId id=...> (the study id)")

    sections: dict[str, list[str]] = {label: [] for label in SECTION_LABELS}
    for abstract_text in root.iter("AbstractText"):
        label = (abstract_text.get("Label") or "").strip().upper()
        text = _element_text(abstract_text)
        if label in sections and text:
            sections[label].append(text)
        elif label not in sections:
            logger.debug("%s: ignoring AbstractText with label %r", source, label)

    mesh = root.find("MeSH")
    mesh_terms: dict[str, list[str]] = {"major": [], "automatic": []}
    if mesh is not None:
        for kind, terms in mesh_terms.items():
            terms.extend(text for text in (_element_text(element) for element in mesh.findall(kind)) if text)
    mesh_major, mesh_automatic = mesh_terms["major"], mesh_terms["automatic"]

    image_ids = []
    for parent_image in root.findall("parentImage"):
        image_id = (parent_image.get("id") or "").strip()
        if image_id:
            image_ids.append(image_id)
        else:
            logger.warning("%s: <parentImage> without an id ignored", source)

    return Study(
        study_id=study_id,
        comparison=" ".join(sections["COMPARISON"]),
        indication=" ".join(sections["INDICATION"]),
        findings=" ".join(sections["FINDINGS"]),
        impression=" ".join(sections["IMPRESSION"]),
        mesh_major=mesh_major,
        mesh_automatic=mesh_automatic,
        image_ids=image_ids,
        label=openi_label(mesh_major),
    )


def _is_unsafe_member_name(name: str) -> bool:
    path = PurePosixPath(name)
    return name.startswith(("/", "\\")) or path.is_absolute() or ".." in path.parts or ".." in name.split("\\")


def _is_report_name(name: str) -> bool:
    base = PurePosixPath(name).name
    return base.lower().endswith(".xml") and not base.startswith("._")  # skip macOS AppleDouble files


def _iterate_archive(archive_path: Path) -> Iterator[tuple[str, bytes]]:
    if not tarfile.is_tarfile(archive_path):
        raise ValueError(f"{archive_path}: not a folder, .xml file or tar archive (.tgz) of OpenI reports")
    with tarfile.open(archive_path, mode="r:*") as archive:
        for member in archive:
            if _is_unsafe_member_name(member.name):
                raise ValueError(f"{archive_path}: refusing archive member with unsafe name {member.name!r}")
            if not member.isfile() or not _is_report_name(member.name):
                continue
            stream = archive.extractfile(member)
            if stream is None:
                continue
            with stream:
                yield f"{archive_path}:{member.name}", stream.read()


def _iterate_folder(folder: Path) -> Iterator[tuple[str, bytes]]:
    reports_folder = folder / REPORTS_FOLDER
    if reports_folder.is_dir():
        folder = reports_folder
    for path in sorted(folder.iterdir()):
        if path.is_file() and _is_report_name(path.name):
            yield str(path), path.read_bytes()


def _study_sort_key(study: Study) -> tuple[int, int, str]:
    number = study.number
    return (0, number, study.study_id) if number is not None else (1, 0, study.study_id)


def load_openi(reports: str | Path, images: str | Path | None = None) -> list[Study]:
    """Load every study of an OpenI report collection.

    Args:
        reports: A folder holding ``ecgen-radiology/`` (or the XML files directly), a ``.tgz``/``.tar``
            archive such as ``NLMCXR_reports.tgz`` (read in memory, never extracted), or a single ``.xml`` file.
        images: Optional folder of ``<parentImage id>.png`` files (``NLMCXR_png``); when given, each study's
            ``image_paths`` lists the images that exist there.

    Returns:
        The studies sorted by the number in their id (``CXR2`` before ``CXR10``).

    Raises:
        FileNotFoundError: If ``reports`` or ``images`` does not exist, or no report XML was found.
        ValueError: For a malformed report (naming the file), a duplicate study id, an unreadable archive or
            an archive member with an absolute or ``..`` name.
    """
    reports = Path(reports)
    if not reports.exists():
        raise FileNotFoundError(f"OpenI reports not found: {reports}")
    image_names: set[str] | None = None
    if images is not None:
        images = Path(images)
        if not images.is_dir():
            raise FileNotFoundError(f"OpenI image folder not found: {images}")
        image_names = set(os.listdir(images))

    if reports.is_dir():
        documents: Iterable[tuple[str, bytes]] = _iterate_folder(reports)
    elif reports.suffix.lower() == ".xml":
        documents = [(str(reports), reports.read_bytes())]
    else:
        documents = _iterate_archive(reports)

    studies: dict[str, Study] = {}
    sources: dict[str, str] = {}
    for source, data in documents:
        study = parse_openi_xml(data, source)
        if study.study_id in studies:
            raise ValueError(f"duplicate study id {study.study_id!r} in {sources[study.study_id]} and {source}")
        if image_names is not None:
            study.image_paths = [
                images / f"{image_id}{IMAGE_SUFFIX}"
                for image_id in study.image_ids
                if f"{image_id}{IMAGE_SUFFIX}" in image_names
            ]
            study.images_checked = True
        studies[study.study_id] = study
        sources[study.study_id] = source
    if not studies:
        raise FileNotFoundError(f"no OpenI report XML files found in {reports}")

    ordered = sorted(studies.values(), key=_study_sort_key)
    normal = sum(1 for study in ordered if study.label == 0)
    logger.info(
        "loaded %d OpenI studies from %s (%d normal, %d abnormal)", len(ordered), reports, normal, len(ordered) - normal
    )
    if image_names is not None:
        missing = sum(1 for study in ordered if len(study.image_paths) < len(study.image_ids))
        without = sum(1 for study in ordered if not study.image_paths)
        logger.info("images from %s: %d studies miss some listed image, %d have none", images, missing, without)
    return ordered


def label_counts(studies: Sequence[Study]) -> dict[str, int]:
    """Number of studies per label name (``{"normal": n0, "abnormal": n1}``)."""
    counts = {"normal": 0, "abnormal": 0}
    for study in studies:
        counts[study.label_name] += 1
    return counts


@dataclass(frozen=True)
class LabelRules:
    """Which studies a normal/abnormal task keeps (see the module docstring for the reasons).

    Attributes:
        include_no_indexing: Keep No-Indexing-only studies (default: drop them as ``"no_indexing"``).
        no_indexing_label: Their label when kept: 1 (abnormal, the old ``normal``-only convention) or 0.
        include_empty_reports: Keep studies with empty FINDINGS and IMPRESSION (default: drop as ``"empty_report"``),
            labelled by their MeSH terms.
        require_image: Drop studies without an image (``"no_image"``): on for image and multimodal tasks.
    """

    include_no_indexing: bool = False
    no_indexing_label: int = 1
    include_empty_reports: bool = False
    require_image: bool = False

    def __post_init__(self) -> None:
        if self.no_indexing_label not in (0, 1):
            raise ValueError(f"no_indexing_label must be 0 or 1, got {self.no_indexing_label!r}")

    def to_dict(self) -> dict:
        """The rules as plain JSON."""
        return {"include_no_indexing": self.include_no_indexing,
                "no_indexing_label": self.no_indexing_label if self.include_no_indexing else None,
                "include_empty_reports": self.include_empty_reports, "require_image": self.require_image}


@dataclass(frozen=True)
class LabelDecision:
    """What a task does with one study: its ``label`` when kept, else ``None`` and the exclusion ``reason``."""

    label: int | None
    reason: str | None = None

    @property
    def kept(self) -> bool:
        """True when the study is kept."""
        return self.reason is None


def label_decision(study: Study, rules: LabelRules | None = None) -> LabelDecision:
    """Keep or drop one study under ``rules`` (default :class:`LabelRules`), reasons tried in
    :data:`EXCLUSION_REASONS` order.
    """
    rules = rules or LabelRules()
    if rules.require_image and not study.has_image:
        return LabelDecision(None, "no_image")
    if not rules.include_empty_reports and not study.report_text:
        return LabelDecision(None, "empty_report")
    if is_no_indexing(study.mesh_major):
        if not rules.include_no_indexing:
            return LabelDecision(None, "no_indexing")
        return LabelDecision(rules.no_indexing_label)
    return LabelDecision(openi_label(study.mesh_major))


@dataclass(frozen=True)
class Selection:
    """The studies a task kept (labels set by the rules) and what was dropped, by reason.

    Attributes:
        studies: The kept studies, in input order (copies whose ``label`` is the rules' label).
        dropped: Number of dropped studies per reason of :data:`EXCLUSION_REASONS` (each study counted once).
        dropped_ids: The dropped study ids per reason.
        included_no_indexing: No-Indexing-only studies kept because ``include_no_indexing`` is set.
        rules: The rules applied.
    """

    studies: list[Study]
    dropped: dict[str, int]
    dropped_ids: dict[str, list[str]]
    included_no_indexing: int
    rules: LabelRules

    def to_dict(self) -> dict:
        """``{"kept", "kept_normal", "kept_abnormal", "dropped": {reason: n}, "included_no_indexing", "rules"}``."""
        normal = sum(1 for study in self.studies if study.label == 0)
        return {"kept": len(self.studies), "kept_normal": normal, "kept_abnormal": len(self.studies) - normal,
                "dropped": dict(self.dropped), "included_no_indexing": self.included_no_indexing,
                "rules": self.rules.to_dict()}


def select_studies(studies: Sequence[Study], rules: LabelRules | None = None) -> Selection:
    """Apply :func:`label_decision` to every study; log the counts kept and dropped (and any No Indexing kept).

    The input studies are not modified: a kept study whose rule label differs from ``study.label`` (a No-Indexing
    study kept as normal) is a copy with the new label.
    """
    from dataclasses import replace  # noqa: PLC0415 - only here

    rules = rules or LabelRules()
    kept: list[Study] = []
    dropped_ids: dict[str, list[str]] = {reason: [] for reason in EXCLUSION_REASONS}
    included = 0
    for study in studies:
        decision = label_decision(study, rules)
        if not decision.kept:
            dropped_ids[decision.reason].append(study.study_id)
            continue
        included += is_no_indexing(study.mesh_major)
        kept.append(study if decision.label == study.label else replace(study, label=decision.label))
    selection = Selection(kept, {reason: len(ids) for reason, ids in dropped_ids.items()}, dropped_ids, included,
                          rules)
    logger.info("OpenI label rules %s: kept %d studies, dropped %s", rules.to_dict(), len(kept),
                ", ".join(f"{count} {reason}" for reason, count in selection.dropped.items()))
    if included:
        logger.info("included %d No-Indexing-only studies as %s", included,
                    "abnormal" if rules.no_indexing_label == 1 else "normal")
    return selection
