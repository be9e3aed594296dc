"""Synthetic radiology reports in the style of the Indiana University (IU/OpenI) chest X-ray collection.

:func:`write_report` turns the ground-truth findings of a synthetic study into COMPARISON, INDICATION,
FINDINGS and IMPRESSION sections plus the IU MeSH major terms. The text is deliberately imperfect in both
directions, because the product explains a model that reads both the image and the text:

* ``understate=True``: the abnormality is hedged or missed. A hedged finding (:data:`UNDERSTATED_HEDGE_RATE`)
  gets, instead of its sentence, an ambiguous-but-normal one ("Heart size upper limits of normal.", "Minimal
  streaky opacity, likely atelectasis.") that also appears in normal reports; a missed finding's structure is
  written exactly as in a normal report (so a missed effusion may sit next to a routine "No pleural
  effusion.", as when a reader overlooks it). The finding is never named un-negated, and the impression reads
  normal. ``mesh_major`` still lists the true findings, because labels come from ground truth.
* Normal reports carry such ambiguous phrases now and then (:data:`AMBIGUOUS_NORMAL_RATE`).

Phrase banks live in :mod:`cxrmodel.data.synthetic.reports.phrases`. All randomness comes from the ``rng`` argument, so
a report is a pure function of the findings, the flags and the generator state.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from cxrmodel.data.synthetic.findings import (
    CARDIOMEGALY,
    CONSOLIDATION,
    DEGENERATIVE_SPINE,
    EFFUSION,
    MASS,
    NODULE,
    PNEUMOTHORAX,
    Finding,
)
from cxrmodel.data.synthetic.reports import phrases

logger = logging.getLogger(__name__)

AMBIGUOUS_NORMAL_RATE = 0.08
"""Share of normal reports carrying one ambiguous-but-normal sentence."""
EMPTY_FINDINGS_RATE = 0.01
"""Share of reports with an empty FINDINGS section (IU: about 25 of 3,955)."""
PORTABLE_TECHNIQUE_RATE = 0.5
"""Share of portable-film reports that mention the technique."""
UNDERSTATED_HEDGE_RATE = 0.3
"""Share of understated findings hedged with an ambiguous sentence; the rest are missed (their structure reads
normal, as when a reader overlooks a finding)."""

SLOT_ORDER: tuple[str, ...] = ("heart", "mediastinum", "lungs", "pleura", "bones")
"""Canonical order of the FINDINGS paragraph (shuffled in some reports)."""

LUNG_KINDS = frozenset({NODULE, MASS, CONSOLIDATION})
_PLEURAL_BANKS = {
    EFFUSION: (phrases.EFFUSION_FINDINGS, phrases.EFFUSION_IMPRESSIONS, "Pleural Effusion"),
    PNEUMOTHORAX: (phrases.PNEUMOTHORAX_FINDINGS, phrases.PNEUMOTHORAX_IMPRESSIONS, "Pneumothorax"),
}
_HEDGE_SLOTS = {CARDIOMEGALY: "heart", EFFUSION: "pleura", PNEUMOTHORAX: "pleura", DEGENERATIVE_SPINE: "bones"}
_VOLUME_WORDS = re.compile(r"expanded|inflated|volumes")
MESH_ROOT_KINDS: dict[str, str] = {
    "cardiomegaly": CARDIOMEGALY,
    "nodule": NODULE,
    "mass": MASS,
    "pleural effusion": EFFUSION,
    "consolidation": CONSOLIDATION,
    "opacity": CONSOLIDATION,
    "pneumothorax": PNEUMOTHORAX,
    "thoracic vertebrae": DEGENERATIVE_SPINE,
    "spine": DEGENERATIVE_SPINE,
}
"""First component of a MeSH term written here (lower case) -> finding kind."""


@dataclass(frozen=True)
class Report:
    """One synthetic IU-style report.

    Attributes:
        comparison: COMPARISON section, e.g. ``"None."``, ``"XXXX, XXXX"`` or ``""``.
        indication: INDICATION section, e.g. ``"XXXX-year-old male with cough"``.
        findings: FINDINGS section; ``""`` in about 1% of reports (the impression is then still present).
        impression: IMPRESSION section.
        mesh_major: IU MeSH major terms of the TRUE findings (e.g. ``"Cardiomegaly/mild"``), or ``["normal"]``.
        understated: True when the text does not reveal the abnormality of an abnormal study.
    """

    comparison: str
    indication: str
    findings: str
    impression: str
    mesh_major: list[str] = field(default_factory=list)
    understated: bool = False

    @property
    def text(self) -> str:
        """FINDINGS then IMPRESSION separated by a blank line, empty sections omitted (what a text model reads)."""
        return "\n\n".join(section for section in (self.findings, self.impression) if section)


@dataclass
class _Description:
    """How one revealed finding is written: its FINDINGS sentence, IMPRESSION item and MeSH term."""

    slot: str
    sentence: str
    impression: str
    mesh: str


def mesh_kind(term: str) -> str | None:
    """The finding kind of a MeSH major term written by this module (``None`` for ``"normal"`` or unknown)."""
    return MESH_ROOT_KINDS.get(term.split("/")[0].strip().lower())


def _pick(bank: Sequence, rng: np.random.Generator):
    """One element of ``bank``, drawn uniformly."""
    return bank[int(rng.integers(len(bank)))]


def _pick_weighted(bank: Sequence[tuple], weights: Sequence[float], rng: np.random.Generator):
    """One element of ``bank`` drawn with the (unnormalised) ``weights``."""
    probabilities = np.asarray(weights, dtype=float)
    return bank[int(rng.choice(len(bank), p=probabilities / probabilities.sum()))]


def _sentence(template: str, **values: str) -> str:
    """Fill ``template``, collapse repeated spaces and capitalise the first letter."""
    text = " ".join(template.format(**values).split())
    return text[:1].upper() + text[1:]


def _band(severity: float, bands: Sequence[tuple[float, str]], last: str) -> str:
    """The name of the first band whose upper bound exceeds ``severity``, else ``last``."""
    for upper, name in bands:
        if severity < upper:
            return name
    return last


def _location(finding: Finding, rng: np.random.Generator) -> tuple[str, str]:
    """A lung location phrase containing the side word, and its MeSH location (``"upper lobe"``...)."""
    side = finding.side or "right"
    if finding.zone is None:
        return _pick(phrases.LOCATIONS["none"], rng).format(side=side), ""
    key = f"middle/{side}" if finding.zone == "middle" else finding.zone
    phrase = _pick(phrases.LOCATIONS[key], rng).format(side=side)
    if finding.zone == "lower" and finding.kind == CONSOLIDATION:
        return phrase, "base"
    return phrase, f"{finding.zone} lobe"


def _lung_mesh(root: str, mesh_location: str, side: str) -> str:
    return "/".join(part for part in (root, "lung", mesh_location, side) if part)


def _describe(finding: Finding, rng: np.random.Generator) -> _Description:
    """Write one finding as it is revealed in a report."""
    severity, side = finding.severity, finding.side or ""
    if finding.kind == CARDIOMEGALY:
        band = _band(severity, ((0.35, "borderline"), (0.7, "mild"), (0.85, "moderate")), "severe")
        adjective, adverb = _pick(phrases.CARDIOMEGALY_WORDS[band], rng)
        return _Description(
            "heart",
            _sentence(_pick(phrases.CARDIOMEGALY_FINDINGS, rng), adjective=adjective, adverb=adverb),
            _sentence(_pick(phrases.CARDIOMEGALY_IMPRESSIONS, rng), adjective=adjective),
            f"Cardiomegaly/{band}",
        )
    if finding.kind in (EFFUSION, PNEUMOTHORAX):
        size = _band(severity, ((0.4, "small"), (0.75, "moderate")), "large")
        findings_bank, impression_bank, root = _PLEURAL_BANKS[finding.kind]
        return _Description(
            "pleura",
            _sentence(_pick(findings_bank, rng), size=size, side=side),
            _sentence(_pick(impression_bank, rng), size=size, side=side),
            f"{root}/{side}/{size}",
        )
    if finding.kind == DEGENERATIVE_SPINE:
        band = _band(severity, ((0.5, "mild"), (0.85, "moderate")), "severe")
        adjective = _pick(phrases.DEGENERATIVE_ADJECTIVES[band], rng)
        spine = "thoracic spine" if rng.random() < 0.7 else "spine"
        root = "Thoracic Vertebrae" if spine == "thoracic spine" else "Spine"
        return _Description(
            "bones",
            _sentence(_pick(phrases.DEGENERATIVE_FINDINGS, rng), adjective=adjective, spine=spine),
            _sentence(_pick(phrases.DEGENERATIVE_IMPRESSIONS, rng), adjective=adjective, spine=spine),
            f"{root}/degenerative" + ("" if band == "moderate" else f"/{band}"),
        )
    location, mesh_location = _location(finding, rng)
    if finding.kind == NODULE:
        size = str(int(round(4 + 22 * severity)))
        bank = phrases.NODULE_SMALL_FINDINGS if severity < 0.4 else phrases.NODULE_LARGE_FINDINGS
        return _Description(
            "lungs",
            _sentence(_pick(bank, rng), size=size, location=location),
            _sentence(_pick(phrases.NODULE_IMPRESSIONS, rng), size=size, location=location),
            _lung_mesh("Nodule", mesh_location, side),
        )
    if finding.kind == MASS:
        size = f"{3.0 + 5.0 * severity:.1f}"
        adjective = _pick(phrases.MASS_ADJECTIVES["small" if severity < 0.5 else "large"], rng)
        return _Description(
            "lungs",
            _sentence(_pick(phrases.MASS_FINDINGS, rng), size=size, location=location, adjective=adjective),
            _sentence(_pick(phrases.MASS_IMPRESSIONS, rng), size=size, location=location),
            _lung_mesh("Mass", mesh_location, side),
        )
    band = _band(severity, ((0.35, "subtle"), (0.7, "moderate")), "dense")
    sentence = _sentence(_pick(phrases.CONSOLIDATION_FINDINGS[band], rng), location=location)
    root = "Opacity" if "opacity" in sentence.lower() else "Consolidation"
    return _Description(
        "lungs",
        sentence,
        _sentence(_pick(phrases.CONSOLIDATION_IMPRESSIONS, rng), location=location),
        _lung_mesh(root, mesh_location, side),
    )


def _mesh_for_understated(finding: Finding, rng: np.random.Generator) -> str:
    """The MeSH term of a finding the text does not reveal (ground truth still labels it)."""
    mesh = _describe(finding, rng).mesh
    return mesh.replace("Opacity/", "Consolidation/", 1)


def _pleura_negation(effusion_free: bool, pneumothorax_free: bool, rng: np.random.Generator) -> str | None:
    """A pleural sentence negating only what is really absent (``None`` when both are present)."""
    if effusion_free and pneumothorax_free:
        roll = rng.random()
        if roll < 0.1:
            return _pick(phrases.NO_EFFUSION, rng)
        if roll < 0.2:
            return _pick(phrases.NO_PNEUMOTHORAX, rng)
        return _pick(phrases.PLEURA_NORMAL, rng)
    if effusion_free:
        return _pick(phrases.NO_EFFUSION, rng)
    if pneumothorax_free:
        return _pick(phrases.NO_PNEUMOTHORAX, rng)
    return None


def _hedge(finding: Finding, rng: np.random.Generator) -> str:
    """An ambiguous-but-normal sentence standing in for an understated finding (never names the finding)."""
    if finding.kind == CARDIOMEGALY:
        return _pick(phrases.HEART_AMBIGUOUS, rng)
    if finding.kind in LUNG_KINDS:
        return _pick(phrases.LUNGS_AMBIGUOUS, rng)
    if finding.kind == EFFUSION:  # "No large pleural effusion." only hedges a small one
        return _pick(phrases.PLEURA_AMBIGUOUS if finding.severity < 0.4 else phrases.PLEURA_AMBIGUOUS[1:], rng)
    if finding.kind == PNEUMOTHORAX:
        return _pick(phrases.GENERAL_AMBIGUOUS, rng)
    return _pick(phrases.BONES_NOT_ACUTE, rng)


def _findings_slots(
    revealed: dict[str, list[str]], described_kinds: set[str], rng: np.random.Generator
) -> dict[str, list[str]]:
    """Sentences per slot: the given finding sentences, then normal text for the structures they leave free.

    Args:
        revealed: Finding sentences (revealed findings and hedges of understated ones) per slot.
        described_kinds: Kinds whose structure already has a sentence; normal text never denies them.
            A missed (understated, unhedged) finding is not among them: its structure reads normal.
        rng: Source of randomness.
    """
    slots: dict[str, list[str]] = {slot: list(revealed.get(slot, [])) for slot in SLOT_ORDER}
    if CARDIOMEGALY not in described_kinds and rng.random() < 0.35:
        slots["heart"].append(_pick(phrases.HEART_AND_MEDIASTINUM_NORMAL, rng))
    else:
        if CARDIOMEGALY not in described_kinds and rng.random() < 0.97:
            slots["heart"].append(_pick(phrases.HEART_NORMAL, rng))
        if rng.random() < 0.75:
            slots["mediastinum"].append(_pick(phrases.MEDIASTINUM_NORMAL, rng))
    lung_free = not (described_kinds & LUNG_KINDS)
    effusion_free, pneumothorax_free = EFFUSION not in described_kinds, PNEUMOTHORAX not in described_kinds
    if lung_free and effusion_free and pneumothorax_free and rng.random() < 0.2:
        slots["lungs"].append(_pick(phrases.LUNGS_AND_PLEURA_NORMAL, rng))
    else:
        if lung_free:
            slots["lungs"].append(_pick(phrases.LUNGS_NORMAL, rng))
        elif rng.random() < 0.7 and any(kind in described_kinds for kind in LUNG_KINDS):
            if not any(sentence in phrases.LUNGS_AMBIGUOUS for sentence in slots["lungs"]):
                slots["lungs"].append(_pick(phrases.LUNGS_OTHERWISE_CLEAR, rng))
        if rng.random() < 0.9:
            negation = _pleura_negation(effusion_free, pneumothorax_free, rng)
            if negation is not None:
                slots["pleura"].append(negation)
    if rng.random() < 0.08:
        slots["lungs"].append(_pick(phrases.LUNGS_NEUTRAL, rng))
    if DEGENERATIVE_SPINE not in described_kinds:
        if rng.random() < 0.7:
            slots["bones"].append(_pick(phrases.BONES_NORMAL, rng))
    elif not slots["bones"] or rng.random() < 0.3:
        slots["bones"].append(_pick(phrases.BONES_NOT_ACUTE, rng))
    return slots


def _add_ambiguity(slots: dict[str, list[str]], rng: np.random.Generator) -> None:
    """Give a normal report one ambiguous-but-normal sentence, replacing the matching slot's text."""
    slot = _pick(("heart", "lungs", "pleura", "general"), rng)
    if slot == "heart":
        slots["heart"] = [_pick(phrases.HEART_AMBIGUOUS, rng)]
        slots["mediastinum"] = slots["mediastinum"] or [_pick(phrases.MEDIASTINUM_NORMAL, rng)]
    elif slot == "lungs":
        slots["lungs"] = [_pick(phrases.LUNGS_AMBIGUOUS, rng)]
    elif slot == "pleura":
        slots["pleura"] = [_pick(phrases.PLEURA_AMBIGUOUS, rng), _pick(phrases.NO_PNEUMOTHORAX, rng)]
    else:
        slots["bones"].append(_pick(phrases.GENERAL_AMBIGUOUS, rng))


def _join_findings(slots: dict[str, list[str]], technique: str | None, rng: np.random.Generator) -> str:
    """The FINDINGS paragraph: slots in canonical order (60%) or shuffled, technique first, no repeats."""
    order = list(SLOT_ORDER)
    if rng.random() < 0.4:
        order = [order[index] for index in rng.permutation(len(order))]
    sentences = [sentence for slot in order for sentence in slots[slot]]
    if technique is not None:
        if "volumes" in technique:  # keep "Low lung volumes." from meeting "The lungs are well expanded."
            sentences = [sentence for sentence in sentences if not _VOLUME_WORDS.search(sentence)]
        sentences.insert(0, technique)
    return " ".join(dict.fromkeys(sentences))  # drop repeats, e.g. the same hedge for two findings


def _impression(items: Sequence[str], rng: np.random.Generator) -> str:
    """The IMPRESSION of an abnormal report: one item, or several (numbered half of the time)."""
    if len(items) == 1:
        if rng.random() < 0.25 and "acute" not in items[0]:
            return f"{items[0]} {_pick(phrases.IMPRESSION_OTHERWISE, rng)}"
        return items[0]
    if rng.random() < 0.5:
        return " ".join(f"{number}. {item}" for number, item in enumerate(items, start=1))
    return " ".join(items)


def _comparison(rng: np.random.Generator) -> str:
    texts, weights = zip(*phrases.COMPARISONS, strict=True)
    return _pick_weighted(texts, weights, rng)


def _indication(abnormal: bool, rng: np.random.Generator) -> str:
    reasons = [row[0] for row in phrases.INDICATION_REASONS]
    weights = [row[2] if abnormal else row[1] for row in phrases.INDICATION_REASONS]
    reason = _pick_weighted(reasons, weights, rng)
    templates, template_weights = zip(*phrases.INDICATION_TEMPLATES, strict=True)
    template = _pick_weighted(templates, template_weights, rng)
    sex = "male" if rng.random() < 0.5 else "female"
    return template.format(reason=reason, Reason=reason[:1].upper() + reason[1:], sex=sex, Sex=sex.capitalize())


def write_report(
    findings: Sequence[Finding],
    rng: np.random.Generator,
    *,
    understate: bool = False,
    portable: bool = False,
) -> Report:
    """Write an IU-style report for a synthetic study.

    Args:
        findings: The study's true findings; empty for a normal study.
        rng: Source of all randomness; the same generator state gives the same report.
        understate: Hedge or miss the abnormality in the text (ignored for a normal study): each finding's
            sentence is replaced by an ambiguous-but-normal one or its structure reads normal, the impression
            reads normal, and ``mesh_major`` still lists the true findings.
        portable: The film is a portable AP film: about half of such reports mention the technique.

    Returns:
        The report.
    """
    findings = list(findings)
    abnormal = bool(findings)
    understated = abnormal and understate
    comparison = _comparison(rng)
    indication = _indication(abnormal, rng)
    revealed: dict[str, list[str]] = {}
    described_kinds: set[str] = set()
    impression_items: list[str] = []
    mesh: list[str] = []
    for finding in findings:
        if understated:
            mesh.append(_mesh_for_understated(finding, rng))
            if rng.random() < UNDERSTATED_HEDGE_RATE:
                revealed.setdefault(_HEDGE_SLOTS.get(finding.kind, "lungs"), []).append(_hedge(finding, rng))
                described_kinds.add(finding.kind)
            continue
        description = _describe(finding, rng)
        revealed.setdefault(description.slot, []).append(description.sentence)
        described_kinds.add(finding.kind)
        mesh.append(description.mesh)
        if finding.kind != DEGENERATIVE_SPINE or len(findings) == 1 or rng.random() < 0.5:
            impression_items.append(description.impression)
    slots = _findings_slots(revealed, described_kinds, rng)
    if not abnormal and rng.random() < AMBIGUOUS_NORMAL_RATE:
        _add_ambiguity(slots, rng)
    technique = _pick(phrases.TECHNIQUE_PORTABLE, rng) if portable and rng.random() < PORTABLE_TECHNIQUE_RATE else None
    findings_text = _join_findings(slots, technique, rng)
    if rng.random() < EMPTY_FINDINGS_RATE:
        findings_text = ""
    if not impression_items:
        impression = _pick(phrases.IMPRESSION_NORMAL, rng)
    elif described_kinds == {DEGENERATIVE_SPINE} and rng.random() < 0.5 and findings_text:
        impression = _pick(phrases.IMPRESSION_NO_ACUTE, rng)  # IU often leaves a chronic spine out of it
    else:
        impression = _impression(impression_items, rng)
    report = Report(
        comparison=comparison,
        indication=indication,
        findings=findings_text,
        impression=impression,
        mesh_major=mesh or ["normal"],
        understated=understated,
    )
    logger.debug("wrote report: %d findings, understated=%s, portable=%s", len(findings), understated, portable)
    return report
