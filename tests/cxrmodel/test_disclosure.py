"""The one disclosure decision per study (cxrmodel.explain.disclosure): decided from the gate's verdict and the
reader's Show anyway, and applied alike to every JSON output."""

from __future__ import annotations

import json

import pytest

from cxrmodel.explain import COVERED_PARTS, REFUSE, SHOW, WITHHOLD, Disclosure
from cxrmodel.explain.disclosure import SHOWN_ANYWAY_TEXT, WITHHELD_TEXT

UNLIKE = ("does not look like the films this model was trained on (its layout and shading match their mean image "
          "at 0.81, threshold 0.88): the model's output on this image has not been validated")
LATERAL = {"frontal": False, "score": 0.12, "reason": "This looks like a lateral view; upload the frontal film."}


def distribution(in_distribution=True, reasons=(), refuse=False, view=None, profile=None) -> dict:
    checked = {"in_distribution": in_distribution, "score": 0.81, "reasons": list(reasons), "refuse": refuse,
               "view": view}
    if profile is not None:
        checked["profile"] = profile
    return checked


def document(checked: dict | None) -> dict:
    """An explanation document with numbers no other field repeats (so a leak is found by its digits)."""
    return {
        "model": {"name": "demo", "synthetic": True}, "modality": "multimodal",
        "probability": 0.873152, "calibrated_probability": 0.861234, "label": "abnormal",
        "completeness": {"expected": 0.412345, "sum": 0.409876, "relative_error": 0.006, "converged": True,
                         "steps": 64, "method": "riemann_trapezoid", "baseline_probability": 0.460807},
        "modality_share": {"image": 0.7123, "text": 0.2877},
        "image": {"width": 64, "height": 64}, "distribution": checked,
        "circles": [{"x": 10.0, "y": 12.0, "r": 3.0, "points": 5, "mass": 0.4}], "signals": 17,
        "words": [{"text": "effusion", "start": 0, "end": 8, "score": 0.3, "share": 0.2, "seen": True}],
        "settings": {"sight_sensitivity": 0.7},
        "evidence": {"probability": 0.873152, "regions": [{"threshold": 0.7, "circles": 1, "probability": 0.5432,
                                                           "random_probability": 0.8612, "area_fraction": 0.01}],
                     "words": [], "modality": {"image_removed": 0.1357, "report_removed": 0.8642,
                                               "both_removed": 0.460807}, "stability": None},
    }


NUMBERS = ("0.873", "0.861", "0.412", "0.409", "0.460", "0.7123", "0.5432", "0.1357")


def test_the_decision_follows_the_check_and_the_view():
    assert Disclosure.from_distribution(distribution()).decision == SHOW
    assert Disclosure.from_distribution(None).decision == SHOW  # a model that reads no film
    assert Disclosure.from_distribution(distribution(in_distribution=None)).decision == SHOW  # no reference film
    withheld = Disclosure.from_distribution(distribution(False, [UNLIKE, "contrast harsher"]))
    assert withheld.decision == WITHHOLD and withheld.not_judged_reason == f"{UNLIKE}; contrast harsher"
    assert withheld.reasons == (UNLIKE, "contrast harsher") and not withheld.judged and withheld.can_show_anyway
    refused = Disclosure.from_distribution(distribution(False, ["x"], refuse=True, view=LATERAL))
    assert refused.decision == REFUSE and refused.not_judged_reason == LATERAL["reason"]
    # A view check alone (no refuse flag) refuses too, and a top-level "view" of the document counts.
    assert Disclosure.from_distribution(distribution(), view=LATERAL).decision == REFUSE
    assert Disclosure.of({"distribution": distribution(), "view": LATERAL}).decision == REFUSE
    assert Disclosure.from_distribution(distribution(refuse=True)).not_judged_reason.startswith("The model was not")


def test_show_anyway_applies_to_a_withheld_study_only():
    withheld = Disclosure.from_distribution(distribution(False, [UNLIKE]), shown_anyway=True)
    assert withheld.shown_anyway and withheld.shows_numbers and not withheld.judged
    assert not withheld.can_show_anyway
    for checked in (distribution(), distribution(False, ["x"], refuse=True, view=LATERAL)):
        assert Disclosure.from_distribution(checked, shown_anyway=True).shown_anyway is False
    assert Disclosure(REFUSE, False, "lateral").with_shown_anyway(True).shown_anyway is False
    with pytest.raises(ValueError, match="only a withheld study"):
        Disclosure(SHOW, shown_anyway=True)
    with pytest.raises(ValueError, match="decision"):
        Disclosure("maybe")


def test_every_covered_part_follows_the_decision_and_an_unknown_part_is_an_error():
    withheld = Disclosure.from_distribution(distribution(False, [UNLIKE]))
    assert set(COVERED_PARTS) >= {"probability", "verdict", "circles", "region_evidence", "word_evidence", "ledger",
                                  "what_if", "model_comparison", "stability"}
    assert not any(withheld.shows(part) for part in COVERED_PARTS)
    assert all(withheld.with_shown_anyway(True).shows(part) for part in COVERED_PARTS)
    assert all(Disclosure().shows(part) for part in COVERED_PARTS)
    with pytest.raises(ValueError, match="not one of the disclosed parts"):
        withheld.shows("circle")


def test_the_notice_and_the_stamp_follow_the_state():
    withheld = Disclosure.from_distribution(distribution(False, [UNLIKE]))
    assert withheld.notice() == WITHHELD_TEXT and "hidden" in withheld.notice()
    assert withheld.stamp() == f"not judged: {UNLIKE}"
    shown = withheld.with_shown_anyway(True)
    assert shown.notice() == SHOWN_ANYWAY_TEXT and "hidden" not in shown.notice()
    assert shown.stamp() == f"shown anyway — not judged: {UNLIKE}"
    assert Disclosure().notice() is None and Disclosure().stamp() is None
    refused = Disclosure.from_distribution(distribution(False, ["x"], refuse=True, view=LATERAL))
    assert refused.notice() == LATERAL["reason"] and refused.stamp() == f"not judged: {LATERAL['reason']}"


def test_the_profile_that_judged_the_film_is_named():
    profile = {"description": "fitted on 35 training films (runs/bundle)", "similarity": 0.61}
    decided = Disclosure.from_distribution(distribution(False, [UNLIKE], profile=profile))
    assert decided.judged_by == "fitted on 35 training films (runs/bundle)"
    assert Disclosure.from_distribution(distribution()).judged_by is None


def test_a_withheld_document_is_redacted_of_every_number_of_the_model():
    original = document(distribution(False, [UNLIKE]))
    kept = json.dumps(original)
    redacted = Disclosure.of(original).redact(original)
    assert json.dumps(original) == kept  # a copy: the document itself is unchanged
    assert redacted["judged"] is False and redacted["not_judged_reason"] == UNLIKE
    assert redacted["shown_anyway"] is False
    assert redacted["probability"] is None and redacted["calibrated_probability"] is None
    assert redacted["label"] is None and redacted["circles"] == [] and redacted["evidence"] is None
    assert redacted["signals"] is None and redacted["modality_share"] == {"image": None, "text": None}
    assert redacted["completeness"]["relative_error"] == 0.006 and redacted["completeness"]["expected"] is None
    assert redacted["words"] == original["words"]  # the word heatmap stays, as on the page
    text = json.dumps({key: value for key, value in redacted.items() if key != "distribution"})
    assert not any(number in text for number in NUMBERS), text
    assert Disclosure.of(redacted).redact(redacted) == redacted  # redacting twice changes nothing


def test_shown_anyway_keeps_the_numbers_and_says_so():
    original = document(distribution(False, [UNLIKE]))
    shown = Disclosure.of(original, shown_anyway=True).redact(original)
    assert shown["shown_anyway"] is True and shown["judged"] is False and shown["not_judged_reason"] == UNLIKE
    assert {key: shown[key] for key in original} == original
    assert Disclosure.of(shown).shown_anyway  # a redacted document keeps its state


def test_a_judged_document_keeps_everything_and_a_refused_one_loses_its_words():
    judged = document(distribution())
    assert Disclosure.of(judged).redact(judged) == {**judged, "judged": True, "not_judged_reason": None,
                                                    "shown_anyway": False}
    refused = document(distribution(False, ["x"], refuse=True, view=LATERAL))
    redacted = Disclosure.of(refused, shown_anyway=True).redact(refused)
    assert redacted["probability"] is None and redacted["words"] == [] and redacted["shown_anyway"] is False


def test_a_prediction_answer_is_redacted_with_the_same_keys():
    answer = {"label": "abnormal", "probability": 0.873152, "calibrated_probability": None}
    withheld = Disclosure.from_distribution(distribution(False, [UNLIKE]))
    assert withheld.redact(answer) == {"label": None, "probability": None, "calibrated_probability": None,
                                       "judged": False, "not_judged_reason": UNLIKE, "shown_anyway": False}
    assert withheld.with_shown_anyway(True).redact(answer)["probability"] == 0.873152
