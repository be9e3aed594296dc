"""The prediction card's top (components.verdict_view via components.presenter): one verdict, one P, the rest folded."""

from __future__ import annotations

import json
import re

from dash import html

from components import distribution_gate, evidence_view, presenter, verdict_view
from cxrmodel.explain.verdict import CANNOT_TELL, CIRCLES_CARRY, REPORT_CARRIES, VOCABULARY
from tests.components.test_evidence_view import THRESHOLDS, _evidence, _saturated

PROBABILITY = re.compile(r"\b[01]\.\d{2,3}\b")


def _document(evidence=None, calibrated=0.999, modality="multimodal", in_distribution=True) -> dict:
    return {"probability": 0.987 if evidence is None else evidence["probability"], "calibrated_probability": calibrated,
            "label": "abnormal", "modality": modality, "modality_share": {"image": -0.15, "text": 1.15},
            "completeness": {"relative_error": 0.003, "baseline_probability": 0.138},
            "settings": {"sight_sensitivity": 0.0}, "evidence": evidence,
            "distribution": {"in_distribution": in_distribution, "score": 0.5,
                             "reasons": [] if in_distribution else ["unlike the training films"]},
            "model": {"name": "demo", "fingerprint": "f", "synthetic": True}, "circles": []}


def _card(document: dict) -> list:
    sweep = {"thresholds": THRESHOLDS, "evidence": evidence_view.sweep_evidence(document["evidence"], THRESHOLDS)}
    return presenter.prediction_children(document, "abnormal", sweep, 0.0)


def _visible_text(component) -> list[str]:
    """The texts a reader sees without opening anything: everything but a closed Details' content."""
    if isinstance(component, str):
        return [component]
    if isinstance(component, (list, tuple)):
        return [text for child in component for text in _visible_text(child)]
    if isinstance(component, html.Details) and not getattr(component, "open", False):
        return _visible_text([child for child in component.children if isinstance(child, html.Summary)])
    children = getattr(component, "children", None)
    return [] if children is None else _visible_text(children)


def _by_id(component, wanted: str):
    if isinstance(component, (list, tuple)):
        return next((found for child in component if (found := _by_id(child, wanted)) is not None), None)
    if getattr(component, "id", None) == wanted:
        return component
    children = getattr(component, "children", None)
    return None if children is None or isinstance(children, str) else _by_id(children, wanted)


def test_the_card_opens_with_the_verdict_and_shows_one_calibrated_p():
    card = _card(_document(_saturated()))  # 9.3 log-odds; the circles at tau 0 take 4.1, random regions 0.2
    assert card[0].id == verdict_view.VERDICT_ID
    verdict = " ".join(_visible_text(card[0]))
    assert verdict.startswith(CIRCLES_CARRY) and "circles at sight sensitivity 0.00" in verdict
    assert "lowers it by 4.1, same-size random regions by 0.2" in card[0].title  # the numbers on hover
    seen = " ".join(_visible_text(card))
    assert PROBABILITY.findall(seen.replace("sight sensitivity 0.00", "")) == ["0.999"], seen
    assert seen.count("P(abnormal)") == 1 and "P(abnormal), calibrated" in seen and "model output" not in seen
    # The model output, the ledger and the region line are folded under the numbers, with their ids kept.
    numbers = _by_id(card, verdict_view.NUMBERS_ID)
    folded = json.dumps(numbers.to_plotly_json(), default=lambda value: value.to_plotly_json(), ensure_ascii=False)
    assert "model output 1.000" in folded and evidence_view.REGION_EVIDENCE_ID in folded
    assert evidence_view.MODALITY_LEDGER_ID in folded and not getattr(numbers, "open", False)


def test_an_uncalibrated_bundle_says_its_one_p_is_the_model_output():
    card = _card(_document(_evidence(), calibrated=None))
    seen = " ".join(_visible_text(card))
    assert "P(abnormal), model output" in seen and "calibrated" not in seen
    assert PROBABILITY.findall(seen.replace("sight sensitivity 0.00", "")) == ["0.987"], seen
    assert verdict_view.model_output_line(_document(_evidence(), calibrated=None)) is None


def test_without_evidence_the_verdict_is_cannot_tell_yet_and_names_no_tau():
    card = _card(_document(None))
    assert _visible_text(card[0]) == [CANNOT_TELL]
    assert all(sentence in VOCABULARY for sentence in (_visible_text(_card(_document(_evidence())))[0],))


def test_a_report_only_model_gets_a_verdict_about_its_report_and_no_circles():
    evidence = dict(_evidence(), regions=[])  # a report-only model removes no region
    card = _card(_document(evidence, modality="text"))
    assert _visible_text(card[0]) == [REPORT_CARRIES]
    assert _by_id(card, evidence_view.REGION_EVIDENCE_ID) is None


def test_a_study_the_model_cannot_judge_gets_no_verdict_and_no_p():
    document = _document(_saturated(), in_distribution=False)
    panel = presenter.StudyPanel.unchanged(prediction_children=_card(document))
    withheld = distribution_gate.gate_panel(panel, document, "CXR7", False)
    text = json.dumps([child.to_plotly_json() for child in withheld.prediction_children], default=str)
    # "Cannot judge" is the verdict: the notice's heading carries the verdict's id, and no number is anywhere.
    assert _visible_text(_by_id(withheld.prediction_children, verdict_view.VERDICT_ID)) == [
        distribution_gate.WITHHELD_HEADING]
    assert text.count(verdict_view.VERDICT_ID) == 1 and CIRCLES_CARRY not in text
    assert PROBABILITY.findall(text) == [], text
    # Show anyway draws the card's own verdict line under the notice: still one element with the id.
    shown = distribution_gate.gate_panel(panel, document, "CXR7", False, distribution_gate.disclosure(document, True))
    text = json.dumps([child.to_plotly_json() for child in shown.prediction_children], default=str)
    assert text.count(verdict_view.VERDICT_ID) == 1 and CIRCLES_CARRY in text
    refused = distribution_gate.refused_children("This looks like a lateral view.")
    assert _visible_text(_by_id(refused, verdict_view.VERDICT_ID)) == [distribution_gate.REFUSED_HEADING]
