"""The "How to read this" legend and the prediction card's plain-language lines (issue #17)."""

from __future__ import annotations

import json

import numpy as np

from components import presenter, reading_guide
from cxrmodel.detection import detect_circles


def _text(component) -> str:
    items = component if isinstance(component, list) else [component]
    return json.dumps([item.to_plotly_json() for item in items], default=str, ensure_ascii=False)


def _document(probability: float, image: float, text: float, baseline: float | None = 0.138) -> dict:
    completeness = {"relative_error": 0.003}
    if baseline is not None:
        completeness["baseline_probability"] = baseline
    return {"probability": probability, "label": "abnormal" if probability >= 0.5 else "normal",
            "modality_share": {"image": image, "text": text}, "completeness": completeness}


def test_a_share_that_rounds_to_zero_is_0_percent_never_minus_0():
    assert reading_guide.share_percent(-0.004) == "0 %"
    assert reading_guide.share_percent(0.004) == "0 %"
    assert reading_guide.share_percent(-0.149) == "−15 %" and reading_guide.share_percent(1.1517) == "115 %"
    assert reading_guide.share_percent(None) == "n/a" and reading_guide.share_percent(float("nan")) == "n/a"
    card = _text(presenter.prediction_children(_document(0.014, 1.004, -0.004), "normal"))
    assert "Report 0 %" in card and "Report -0" not in card and "Report −0" not in card


def test_the_heading_follows_the_prediction():
    normal = _text(presenter.prediction_children(_document(0.063, 0.956, 0.037), "normal"))
    abnormal = _text(presenter.prediction_children(_document(0.987, -0.149, 1.152), "abnormal"))
    assert reading_guide.NORMAL_HEADING in normal and "Why" not in normal
    assert reading_guide.ABNORMAL_HEADING in abnormal


def test_a_negative_image_share_on_an_abnormal_study_is_said_in_words():
    # CXR90015: P 0.987 from a reference at 0.138; Image -15 %, Report 115 %.
    sentence = reading_guide.modality_sentence(_document(0.987, -0.149, 1.152))
    assert "the report moved it by +0.98 (toward abnormal)" in sentence
    assert "the image moved it by −0.13 (toward normal)" in sentence
    assert "P 0.14" in sentence and "add to 100 %" in sentence
    card = _text(presenter.prediction_children(_document(0.987, -0.149, 1.152), "abnormal"))
    assert "Image −15 %" in card and "Report 115 %" in card and "toward normal" in card


def test_below_the_reference_the_signs_of_the_shares_flip_meaning():
    # A normal study under the reference: P fell, so a NEGATIVE report share means the report pushed toward abnormal.
    contributions = reading_guide.modality_contributions(_document(0.026, 1.04, -0.034))
    assert contributions["image"] < 0 < contributions["text"]
    sentence = reading_guide.modality_sentence(_document(0.026, 1.04, -0.4))
    assert "the image moved it by −0.12 (toward normal)" in sentence
    assert "the report moved it by +0.04 (toward abnormal)" in sentence
    assert "barely moved it" in reading_guide.modality_sentence(_document(0.026, 1.04, -0.034))


def test_a_normal_study_says_why_it_can_still_show_a_circle():
    note = reading_guide.normal_study_note(_document(0.063, 0.956, 0.037))
    assert "P 0.06" in note and "strongest" in note and "not a finding" in note
    assert reading_guide.normal_study_note(_document(0.987, -0.149, 1.152)) is None
    # ... and it is true: a map whose only positive pixels are faint still has its strongest region circled.
    faint = np.full((32, 32), -1.0)
    faint[10:13, 10:13] = 1e-4
    assert len(detect_circles(faint, 0.7, link_distance=2.0, min_points=2).circles) == 1


def test_without_a_reference_probability_the_card_still_draws():
    card = _text(presenter.prediction_children(_document(0.91, 0.6, 0.4, baseline=None), None))
    assert "Image 60 %" in card and "From the reference" not in card


def test_the_legend_is_collapsed_short_and_carries_its_numbers():
    legend = reading_guide.layout(0.7, 7.143, 2, 140)
    assert legend.id == reading_guide.READING_GUIDE_ID and legend.open is False
    text = _text(legend)
    for needle in ("How to read this", "TOWARD abnormal", "τ × the strongest", "τ 0.70", "7.1 model-grid",
                   "at least 2", "mass %", "grey italic", "stop words", "section headers", "first 140",
                   "score", "share", "rank words", "Image −15 %", "Report 115 %", "add to 100 %", "P 0.06",
                   "strongest region", "from circle 7 the outline is dashed"):
        assert needle in text, needle
    assert len(text) < 6000  # short


def test_circles_mark_only_evidence_toward_abnormal():
    """The legend's first line, checked against the detection definition."""
    attribution = np.zeros((40, 40))
    attribution[5:8, 5:8] = -5.0  # strong evidence toward normal: never circled
    attribution[30:33, 30:33] = 1.0
    circles = detect_circles(attribution, 0.7, link_distance=2.0, min_points=2).circles
    assert len(circles) == 1 and circles[0].x > 20 and circles[0].mass == 1.0
