"""Tests of the synthetic IU-style report writer."""

from __future__ import annotations

import re

import numpy as np
import pytest

from cxrmodel.data.synthetic.findings import (
    CARDIOMEGALY,
    CONSOLIDATION,
    DEGENERATIVE_SPINE,
    EFFUSION,
    FINDING_KINDS,
    LATERALISED_KINDS,
    LUNG_ZONES,
    MASS,
    NODULE,
    PNEUMOTHORAX,
    Finding,
)
from cxrmodel.data.synthetic.reports import phrases
from cxrmodel.data.synthetic.reports.writer import Report, mesh_kind, write_report

NEGATION = re.compile(r"\b(no|not|without|negative|or)\b", re.IGNORECASE)
SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+|\n+")

ABNORMAL_WORDS = re.compile(
    r"\b(cardiomegaly|enlarged|enlargement|effusions?|pneumothorax|pneumothoraces|consolidation|nodules?|nodular|"
    r"mass|masses|infiltrates?|airspace disease|pneumonia|degenerative|osteophytes?|spondylosis)\b",
    re.IGNORECASE,
)
"""Words that must never appear un-negated in a normal report."""

KIND_WORDS: dict[str, re.Pattern] = {
    CARDIOMEGALY: re.compile(r"\b(cardiomegaly|enlarged|enlargement)\b", re.IGNORECASE),
    NODULE: re.compile(r"\b(nodule|nodular)\b", re.IGNORECASE),
    MASS: re.compile(r"\bmass\b", re.IGNORECASE),
    EFFUSION: re.compile(r"\beffusion\b", re.IGNORECASE),
    CONSOLIDATION: re.compile(r"\b(consolidation|airspace|opacity|infiltrate)\b", re.IGNORECASE),
    PNEUMOTHORAX: re.compile(r"\bpneumothorax\b", re.IGNORECASE),
    DEGENERATIVE_SPINE: re.compile(r"\b(degenerative|osteophyte|spondylosis)\b", re.IGNORECASE),
}
"""Words that reveal each kind (the test of a revealed finding)."""

EXPLICIT_NAMES: dict[str, re.Pattern] = {
    CARDIOMEGALY: re.compile(r"\b(cardiomegaly|enlarged|enlargement)\b", re.IGNORECASE),
    NODULE: re.compile(r"\b(nodule|nodular)\b", re.IGNORECASE),
    MASS: re.compile(r"\bmass\b", re.IGNORECASE),
    EFFUSION: re.compile(r"\beffusion\b", re.IGNORECASE),
    CONSOLIDATION: re.compile(r"\b(consolidation|airspace disease|infiltrate|pneumonia)\b", re.IGNORECASE),
    PNEUMOTHORAX: re.compile(r"\bpneumothorax\b", re.IGNORECASE),
    DEGENERATIVE_SPINE: re.compile(r"\b(degenerative|osteophyte|spondylosis)\b", re.IGNORECASE),
}
"""Names an understated report must not use un-negated ("opacity" is allowed: normal reports use it too)."""

MESH_SHAPES: dict[str, re.Pattern] = {
    CARDIOMEGALY: re.compile(r"^Cardiomegaly/(borderline|mild|moderate|severe)$"),
    NODULE: re.compile(r"^Nodule/lung/(upper lobe|middle lobe|lower lobe)/(left|right)$"),
    MASS: re.compile(r"^Mass/lung/(upper lobe|middle lobe|lower lobe)/(left|right)$"),
    EFFUSION: re.compile(r"^Pleural Effusion/(left|right)/(small|moderate|large)$"),
    CONSOLIDATION: re.compile(r"^(Consolidation|Opacity)/lung/(upper lobe|middle lobe|base)/(left|right)$"),
    PNEUMOTHORAX: re.compile(r"^Pneumothorax/(left|right)/(small|moderate|large)$"),
    DEGENERATIVE_SPINE: re.compile(r"^(Thoracic Vertebrae|Spine)/degenerative(/mild|/severe)?$"),
}

SEVERITY_WORDS: dict[tuple[str, float], str] = {
    (CARDIOMEGALY, 0.1): "borderline",
    (CARDIOMEGALY, 0.5): "mild",
    (CARDIOMEGALY, 0.95): "marked|severe",
    (EFFUSION, 0.1): "small",
    (EFFUSION, 0.6): "moderate",
    (EFFUSION, 0.95): "large",
    (PNEUMOTHORAX, 0.1): "small",
    (PNEUMOTHORAX, 0.6): "moderate",
    (PNEUMOTHORAX, 0.95): "large",
}

SEVERITIES = (0.1, 0.5, 0.95)


def make_finding(kind: str, severity: float, side: str = "right", zone: str = "upper") -> Finding:
    """A valid finding of ``kind`` (side and zone only where the kind takes them)."""
    return Finding(
        kind=kind,
        severity=severity,
        side=side if kind in LATERALISED_KINDS else None,
        zone=zone if kind in (NODULE, MASS, CONSOLIDATION) else None,
    )


def sentences(report: Report) -> list[str]:
    """The sentences of FINDINGS and IMPRESSION."""
    return [part for part in SENTENCE_BREAK.split(report.text) if part.strip()]


def unnegated(pattern: re.Pattern, sentence: str) -> bool:
    """True when ``pattern`` occurs in ``sentence`` with no negation word before it."""
    return any(not NEGATION.search(sentence[: match.start()]) for match in pattern.finditer(sentence))


def random_study(rng: np.random.Generator) -> tuple[list[Finding], bool, bool]:
    """Half normal; abnormal studies have one or two findings, 20% understated; sicker patients go portable."""
    if rng.random() < 0.5:
        return [], False, bool(rng.random() < 0.15)
    kinds = [FINDING_KINDS[int(rng.integers(len(FINDING_KINDS)))]]
    if rng.random() < 0.25:
        kinds.append(FINDING_KINDS[int(rng.integers(len(FINDING_KINDS)))])
    findings = [
        make_finding(kind, float(rng.uniform()), ("left", "right")[int(rng.integers(2))], str(rng.choice(LUNG_ZONES)))
        for kind in dict.fromkeys(kinds)
    ]
    return findings, bool(rng.random() < 0.2), bool(rng.random() < 0.5)


def test_same_seed_gives_same_report() -> None:
    findings = [make_finding(EFFUSION, 0.6, "left"), make_finding(NODULE, 0.3, "right", "lower")]
    first = write_report(findings, np.random.default_rng(7), portable=True)
    second = write_report(findings, np.random.default_rng(7), portable=True)
    assert first == second
    others = {write_report(findings, np.random.default_rng(seed)).findings for seed in range(10)}
    assert len(others) > 1


def test_normal_reports_are_normal_and_negate_every_abnormal_word() -> None:
    for seed in range(300):
        report = write_report([], np.random.default_rng(seed), portable=seed % 3 == 0, understate=seed % 5 == 0)
        assert report.mesh_major == ["normal"]
        assert not report.understated
        assert report.impression
        for sentence in sentences(report):
            assert not unnegated(ABNORMAL_WORDS, sentence), f"seed {seed}: {sentence!r}"
        assert not re.search(r"\b(left|right)\b", report.text, re.IGNORECASE)


def test_normal_reports_are_varied() -> None:
    reports = [write_report([], np.random.default_rng(seed)) for seed in range(100)]
    assert len({report.findings for report in reports}) >= 30
    assert len({report.impression for report in reports}) >= 6
    assert len({report.indication for report in reports}) >= 15
    assert len({report.comparison for report in reports}) >= 5


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("severity", SEVERITIES)
@pytest.mark.parametrize("kind", FINDING_KINDS)
def test_revealed_finding_is_named_with_side_severity_and_mesh(kind: str, severity: float, side: str) -> None:
    other_side = "left" if side == "right" else "right"
    for seed in range(15):
        finding = make_finding(kind, severity, side, LUNG_ZONES[seed % 3])
        report = write_report([finding], np.random.default_rng(seed), portable=seed % 2 == 0)
        revealing = [sentence for sentence in sentences(report) if unnegated(KIND_WORDS[kind], sentence)]
        assert revealing, f"{kind} not named in {report.text!r}"
        assert not report.understated
        assert len(report.mesh_major) == 1
        term = report.mesh_major[0]
        assert MESH_SHAPES[kind].match(term), term
        assert mesh_kind(term) == kind
        if kind in LATERALISED_KINDS:
            assert any(re.search(rf"\b{side}\b", sentence, re.IGNORECASE) for sentence in revealing), report.text
            assert not re.search(rf"\b{other_side}\b", report.text, re.IGNORECASE), report.text
            assert term.endswith(f"/{side}") or f"/{side}/" in term
        if (kind, severity) in SEVERITY_WORDS:
            word = SEVERITY_WORDS[(kind, severity)]
            assert re.search(rf"\b({word})\b", report.text, re.IGNORECASE), report.text
            assert re.search(rf"/({word})$", term.replace("marked", "severe"))


@pytest.mark.parametrize(
    ("zone", "side", "mesh_location", "text_words"),
    [
        ("upper", "right", "upper lobe", r"upper|apex"),
        ("middle", "left", "middle lobe", r"midlung|lingular|perihilar"),
        ("middle", "right", "middle lobe", r"middle lobe|midlung|perihilar"),
        ("lower", "left", "lower lobe", r"lower|base"),
    ],
)
def test_lung_locations(zone: str, side: str, mesh_location: str, text_words: str) -> None:
    for seed in range(10):
        report = write_report([Finding(NODULE, 0.6, side, zone)], np.random.default_rng(seed))
        assert report.mesh_major == [f"Nodule/lung/{mesh_location}/{side}"]
        assert re.search(text_words, report.text), report.text
    consolidation = write_report([Finding(CONSOLIDATION, 0.6, "left", "lower")], np.random.default_rng(0))
    assert re.match(r"^(Consolidation|Opacity)/lung/base/left$", consolidation.mesh_major[0])


def test_other_findings_are_negated_next_to_a_finding() -> None:
    texts = [
        write_report([make_finding(EFFUSION, 0.6, "right")], np.random.default_rng(seed)).text for seed in range(40)
    ]
    assert any(re.search(r"\bno (visible |evidence of )?pneumothorax\b", text, re.IGNORECASE) for text in texts)
    for text in texts:
        assert not re.search(r"\bno (\w+ )?(of )?pleural effusions?\b", text, re.IGNORECASE), text


def test_two_findings_are_both_reported() -> None:
    findings = [make_finding(CARDIOMEGALY, 0.6), make_finding(PNEUMOTHORAX, 0.9, "left")]
    numbered = 0
    for seed in range(30):
        report = write_report(findings, np.random.default_rng(seed))
        assert [mesh_kind(term) for term in report.mesh_major] == [CARDIOMEGALY, PNEUMOTHORAX]
        assert re.search(r"cardiomegaly|enlarged|enlargement", report.text, re.IGNORECASE)
        pneumothorax = [sentence for sentence in sentences(report) if unnegated(KIND_WORDS[PNEUMOTHORAX], sentence)]
        assert any(re.search(r"\bleft\b", sentence) and "large" in sentence.lower() for sentence in pneumothorax)
        numbered += report.impression.startswith("1. ")
    assert 0 < numbered < 30


@pytest.mark.parametrize("kind", FINDING_KINDS)
def test_understated_reports_do_not_reveal_the_finding(kind: str) -> None:
    for seed in range(60):
        finding = make_finding(kind, SEVERITIES[seed % 3], ("left", "right")[seed % 2], LUNG_ZONES[seed % 3])
        report = write_report([finding], np.random.default_rng(seed), understate=True, portable=seed % 4 == 0)
        assert report.understated
        assert len(report.mesh_major) == 1 and MESH_SHAPES[kind].match(report.mesh_major[0])
        assert report.impression in phrases.IMPRESSION_NORMAL
        for sentence in sentences(report):
            assert not unnegated(EXPLICIT_NAMES[kind], sentence), f"seed {seed}: {sentence!r}"
        assert not re.search(r"\b(left|right)\b", report.text, re.IGNORECASE)


def test_understated_reports_use_phrases_that_normal_reports_also_use() -> None:
    ambiguous = set(
        phrases.HEART_AMBIGUOUS + phrases.LUNGS_AMBIGUOUS + phrases.PLEURA_AMBIGUOUS + phrases.GENERAL_AMBIGUOUS
    )
    normal = [write_report([], np.random.default_rng(seed)) for seed in range(1000)]
    hedged_normals = sum(any(phrase in report.findings for phrase in ambiguous) for report in normal)
    assert 40 <= hedged_normals <= 130  # about 8%
    understated = [
        write_report([make_finding(CARDIOMEGALY, 0.2)], np.random.default_rng(seed), understate=True)
        for seed in range(200)
    ]
    hedged = [report for report in understated if any(phrase in report.findings for phrase in phrases.HEART_AMBIGUOUS)]
    assert 20 <= len(hedged) <= 120
    assert any("upper limits of normal" in report.findings for report in normal)


def test_understate_is_ignored_for_normal_studies() -> None:
    assert not write_report([], np.random.default_rng(3), understate=True).understated


def test_portable_reports_often_mention_technique() -> None:
    def mentions(report: Report) -> bool:
        return any(report.findings.startswith(technique) for technique in phrases.TECHNIQUE_PORTABLE)

    portable = sum(mentions(write_report([], np.random.default_rng(seed), portable=True)) for seed in range(400))
    fixed = sum(mentions(write_report([], np.random.default_rng(seed))) for seed in range(400))
    assert 150 <= portable <= 250
    assert fixed == 0


def test_some_reports_have_empty_findings_but_never_an_empty_impression() -> None:
    rng = np.random.default_rng(11)
    empty = 0
    for _ in range(3000):
        findings, understate, portable = random_study(rng)
        report = write_report(findings, rng, understate=understate, portable=portable)
        assert report.impression
        if not report.findings:
            empty += 1
            if findings and not understate:
                assert any(unnegated(KIND_WORDS[finding.kind], report.impression) for finding in findings)
    assert 10 <= empty <= 60


def test_deidentified_words_appear() -> None:
    reports = [write_report([], np.random.default_rng(seed)) for seed in range(100)]
    sections = [" ".join((r.comparison, r.indication, r.findings, r.impression)) for r in reports]
    assert 20 <= sum("XXXX" in section for section in sections) < 100
    assert any("XXXX" in report.findings for report in reports)


def test_phrase_banks_are_rich_enough() -> None:
    for bank in (
        phrases.HEART_NORMAL,
        phrases.MEDIASTINUM_NORMAL,
        phrases.LUNGS_NORMAL,
        phrases.PLEURA_NORMAL,
        phrases.BONES_NORMAL,
        phrases.IMPRESSION_NORMAL,
    ):
        assert len(set(bank)) >= 8
    for kind in FINDING_KINDS:
        for severity in (0.1, 0.45, 0.6, 0.8, 0.95):
            written = set()
            for seed in range(60):
                report = write_report([make_finding(kind, severity)], np.random.default_rng(seed))
                written.update(sentence for sentence in sentences(report) if unnegated(KIND_WORDS[kind], sentence))
            assert len(written) >= 4, (kind, severity, written)


def test_indication_does_not_leak_the_label() -> None:
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(5)
    studies = [random_study(rng) for _ in range(1500)]
    reports = [write_report(f, rng, understate=u, portable=p) for f, u, p in studies]
    labels = np.array([int(bool(findings)) for findings, _, _ in studies])
    features = CountVectorizer().fit_transform([report.indication for report in reports])
    model = LogisticRegression(max_iter=2000).fit(features[:1000], labels[:1000])
    assert roc_auc_score(labels[1000:], model.predict_proba(features[1000:])[:, 1]) < 0.65


def test_bag_of_words_separates_normal_from_abnormal_well_but_not_perfectly() -> None:
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(2024)
    studies = [random_study(rng) for _ in range(900)]
    reports = [write_report(f, rng, understate=u, portable=p) for f, u, p in studies]
    labels = np.array([int(bool(findings)) for findings, _, _ in studies])
    assert 0.1 < np.mean([report.understated for report in reports]) < 0.15
    features = CountVectorizer().fit_transform([report.text for report in reports])
    model = LogisticRegression(max_iter=2000).fit(features[:600], labels[:600])
    auc = roc_auc_score(labels[600:], model.predict_proba(features[600:])[:, 1])
    assert 0.80 <= auc <= 0.97, auc


def test_low_lung_volumes_are_not_contradicted() -> None:
    low_volume_reports = 0
    for seed in range(400):
        report = write_report([], np.random.default_rng(seed), portable=True)
        if report.findings.startswith("Low lung volumes."):
            low_volume_reports += 1
            assert not re.search(r"expanded|inflated|normal lung volumes", report.findings, re.IGNORECASE)
    assert low_volume_reports > 0
