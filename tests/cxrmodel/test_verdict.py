"""The one-line verdict's rule (cxrmodel.explain.verdict): every sentence reachable, its boundaries, its refusals."""

from __future__ import annotations

import pytest

from cxrmodel.explain import verdict
from cxrmodel.explain.verdict import (
    CANNOT_TELL,
    CIRCLES_CARRY,
    CIRCLES_NO_BETTER,
    CONTROL_NOISE,
    DECISIVE_LOG_ODDS,
    FILM_CARRIES,
    NO_SINGLE_PART,
    REPORT_CARRIES,
    VOCABULARY,
    explanation_verdict,
)

TAU = 0.7


def _document(log_odds=9.0, circles=2, circles_log_odds=9.0, random_log_odds=9.0, image_removed=8.8,
              report_removed=8.8, both_removed=-1.8, modality="multimodal", stability=None, tau=TAU) -> dict:
    """An explanation document with only what the rule reads; log-odds of the intact study ``log_odds``."""
    return {
        "modality": modality,
        "settings": {"sight_sensitivity": tau},
        "evidence": {
            "probability": 0.9999, "log_odds": log_odds, "stability": stability,
            "regions": [{"threshold": TAU, "circles": circles, "log_odds": circles_log_odds,
                         "random_log_odds": random_log_odds}],
            "modality": {"log_odds": {"image_removed": image_removed, "report_removed": report_removed,
                                      "both_removed": both_removed}},
        },
    }


def test_circles_that_take_a_log_odds_more_than_random_regions_carry_the_decision():
    # Saturated (P 1.00 either way), yet 4.1 of 9.3 log-odds go with the circles and 0.2 with random regions.
    found = explanation_verdict(_document(log_odds=9.3, circles_log_odds=5.2, random_log_odds=9.1))
    assert found.sentence == CIRCLES_CARRY and found.sight_sensitivity == TAU
    assert "lowers it by 4.1, same-size random regions by 0.2" in found.reason


def test_the_circles_boundary_is_one_log_odds_more_than_the_control():
    at = explanation_verdict(_document(circles_log_odds=9.0 - 0.2 - DECISIVE_LOG_ODDS, random_log_odds=8.8))
    below = explanation_verdict(_document(circles_log_odds=9.0 - 0.2 - DECISIVE_LOG_ODDS + 0.01,
                                          random_log_odds=8.8))
    assert at.sentence == CIRCLES_CARRY and below.sentence != CIRCLES_CARRY


def test_circles_within_the_controls_noise_matter_no_more_than_random_regions():
    assert explanation_verdict(_document(circles_log_odds=8.8, random_log_odds=8.7)).sentence == CIRCLES_NO_BETTER
    # Removing the circles raises the log-odds: no support at all.
    assert explanation_verdict(_document(circles_log_odds=10.5, random_log_odds=9.0)).sentence == CIRCLES_NO_BETTER
    edge = explanation_verdict(_document(circles_log_odds=9.0 - CONTROL_NOISE, random_log_odds=9.0))
    assert edge.sentence != CIRCLES_NO_BETTER


def test_circles_that_matter_a_little_leave_the_verdict_to_the_halves():
    # 0.5 more than random: neither decisive nor noise; the report costs more than the film.
    little = dict(circles_log_odds=8.3, random_log_odds=8.8)
    assert explanation_verdict(_document(**little, report_removed=4.4, image_removed=7.0)).sentence == REPORT_CARRIES
    assert explanation_verdict(_document(**little, report_removed=7.0, image_removed=3.8)).sentence == FILM_CARRIES
    # Either half alone still gives the call (the demo's saturated studies): nothing alone carries it.
    assert explanation_verdict(_document(**little, report_removed=8.5, image_removed=8.2)).sentence == NO_SINGLE_PART


def test_a_half_carries_the_decision_from_one_log_odds_on():
    assert explanation_verdict(_document(circles=0, report_removed=9.0 - DECISIVE_LOG_ODDS,
                                         image_removed=9.0)).sentence == REPORT_CARRIES
    assert explanation_verdict(_document(circles=0, report_removed=9.0 - DECISIVE_LOG_ODDS + 0.01,
                                         image_removed=9.0)).sentence == NO_SINGLE_PART


def test_a_normal_call_is_judged_by_its_halves_never_by_its_circles():
    # Circles mark evidence toward abnormal; on a normal study removing them lowers the log-odds further.
    normal = _document(log_odds=-3.0, circles_log_odds=-6.0, random_log_odds=-3.0, image_removed=-2.8,
                       report_removed=-0.5)
    found = explanation_verdict(normal)
    assert found.sentence == REPORT_CARRIES and "away from normal" in found.reason and found.sight_sensitivity == TAU


@pytest.mark.parametrize("document, why", [
    (dict(_document(), evidence=None), "not computed"),
    (_document(stability={"converged": False, "verdict": None}), "did not converge"),
    (_document(tau=0.5), "0.50 are not checked"),
])
def test_cannot_tell_yet_without_evidence_at_this_tau_or_with_a_check_that_did_not_converge(document, why):
    found = explanation_verdict(document)
    assert found.sentence == CANNOT_TELL and why in found.reason and found.sight_sensitivity is None


def test_a_converged_stability_check_does_not_hold_the_verdict_back():
    stable = _document(circles_log_odds=5.0, stability={"converged": True, "verdict": "unstable"})
    assert explanation_verdict(stable).sentence == CIRCLES_CARRY


def test_single_modality_models_are_judged_by_their_own_half():
    text = _document(modality="text", both_removed=-1.8)
    del text["evidence"]["regions"][:]  # a report-only model has no circles, and needs none for a verdict
    assert explanation_verdict(text).sentence == REPORT_CARRIES
    assert explanation_verdict(_document(modality="text", both_removed=8.5)).sentence == NO_SINGLE_PART
    image = _document(modality="image", circles_log_odds=8.5, random_log_odds=8.8, both_removed=-1.8)
    assert explanation_verdict(image).sentence == FILM_CARRIES
    assert explanation_verdict(_document(modality="image", circles_log_odds=4.0)).sentence == CIRCLES_CARRY


def test_every_sentence_of_the_vocabulary_is_reachable_and_no_other():
    documents = [_document(circles_log_odds=5.0), _document(), _document(circles=0, report_removed=1.0),
                 _document(circles=0, image_removed=1.0), _document(circles=0), dict(_document(), evidence=None)]
    assert {explanation_verdict(document).sentence for document in documents} == set(VOCABULARY)
    assert len(set(VOCABULARY)) == len(VOCABULARY) == len([name for name in dir(verdict) if name.isupper()
                                                           and isinstance(getattr(verdict, name), str)])
