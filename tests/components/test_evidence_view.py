"""The evidence shown beside an explanation (components.evidence_view): texts, the sweep payload, the JS mirror."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from components import evidence_view, presenter, research_tools
from cxrmodel.explain.evidence_text import RAISED_TEXT

SCRIPT = Path(__file__).resolve().parents[2] / "assets" / "threshold.js"
THRESHOLDS = [0.0, 0.5, 1.0]


def _logit(probability: float) -> float:
    return float(np.log(probability / (1.0 - probability)))


def _evidence(image_removed=0.991, report_removed=0.082, both_removed=0.138) -> dict:
    return {
        "removal": "imputation", "reference": "mean", "probability": 0.987, "log_odds": 4.33, "placements": 5,
        "regions": [{"threshold": 0.0, "circles": 3, "probability": 0.41, "random_probability": 0.97,
                     "log_odds": -0.36, "random_log_odds": 3.48, "area_fraction": 0.2},
                    {"threshold": 0.5, "circles": 1, "probability": 0.978, "random_probability": 0.987,
                     "log_odds": 3.79, "random_log_odds": 4.33, "area_fraction": 0.01},
                    {"threshold": 1.0, "circles": 0, "probability": 0.987, "random_probability": 0.987,
                     "log_odds": 4.33, "random_log_odds": 4.33, "area_fraction": 0.0}],
        "words": [{"k": 1, "probability": 0.986, "random_probability": 0.987, "log_odds": 4.25,
                   "random_log_odds": 4.33, "words": ["right"], "starts": [3]},
                  {"k": 2, "probability": 0.245, "random_probability": 0.987, "log_odds": -1.13,
                   "random_log_odds": 4.3, "words": ["right", "right"], "starts": [3, 30]}],
        "modality": {"image_removed": image_removed, "report_removed": report_removed, "both_removed": both_removed,
                     "log_odds": {"image_removed": _logit(image_removed), "report_removed": _logit(report_removed),
                                  "both_removed": _logit(both_removed)}},
        "stability": None,
    }


def _saturated() -> dict:
    """A study whose P is 1.000 with and without its circles (float32 P rounds to 1), yet its log-odds move."""
    return dict(_evidence(), probability=1.0, log_odds=9.3, regions=[
        {"threshold": 0.0, "circles": 2, "probability": 0.9945, "random_probability": 0.99991, "log_odds": 5.2,
         "random_log_odds": 9.1, "area_fraction": 0.02},
        {"threshold": 0.5, "circles": 2, "probability": 0.99999, "random_probability": 1.0, "log_odds": 11.5,
         "random_log_odds": 9.25, "area_fraction": 0.02},
        {"threshold": 1.0, "circles": 1, "probability": 1.0, "random_probability": 1.0, "log_odds": 9.32,
         "random_log_odds": 9.29, "area_fraction": 0.01}])


def _text(component) -> str:
    return json.dumps(component.to_plotly_json() if hasattr(component, "to_plotly_json") else component,
                      default=lambda value: value.to_plotly_json(), ensure_ascii=False)


def test_the_deletion_line_says_in_log_odds_what_removing_the_circles_does_against_random_regions():
    shipped = evidence_view.sweep_evidence(_evidence(), THRESHOLDS)
    assert evidence_view.region_evidence_text(shipped, 0, 0.0) == (
        "P 0.99 → 0.41: removing the 3 circled regions lowers the log-odds from 4.3 to -0.4; same-size random "
        "regions take 0.9 (regions filled in from the pixels around them).")
    assert evidence_view.region_evidence_text(shipped, 1, 0.5) == (
        "P 0.99 → 0.98: removing the circled region takes away 0.5 of the study's 4.3 log-odds; same-size random "
        "regions leave them as they are (regions filled in from the pixels around them).")
    assert evidence_view.region_evidence_text(shipped, 2, 1.0) == "No circle at τ = 1.00: nothing to remove."
    assert evidence_view.region_evidence_text(None, 1, 0.5) == evidence_view.NOT_COMPUTED_TEXT
    # A threshold the evidence has no row for is shipped as "not computed", never as another tau's circles.
    partial = evidence_view.sweep_evidence(_evidence(), [0.0, 0.4, 1.0])
    assert partial["regions"][1] is None and partial["regions"][0][0] == 3
    assert evidence_view.region_evidence_text(partial, 1, 0.4) == evidence_view.NOT_COMPUTED_TEXT
    assert evidence_view.sweep_evidence(_evidence(), [0.2, 0.4]) is None


def test_a_saturated_study_still_gets_an_answer_in_log_odds_and_a_raise_is_said():
    shipped = evidence_view.sweep_evidence(_saturated(), THRESHOLDS)
    # P hardly moves, yet the log-odds fall from 9.3 to 5.2 while random regions take 0.2.
    assert evidence_view.region_evidence_text(shipped, 0, 0.0) == (
        "P 1.00 → 0.99: removing the 2 circled regions takes away 4.1 of the study's 9.3 log-odds; same-size "
        "random regions take 0.2 (regions filled in from the pixels around them).")
    raised = evidence_view.region_evidence_text(shipped, 1, 0.5)
    assert raised.startswith("P stays 1.00, but removing the 2 circled regions raises the log-odds from 9.3 to 11.5")
    assert raised.endswith(RAISED_TEXT)
    assert evidence_view.region_evidence_text(shipped, 2, 1.0).startswith(
        "P stays 1.00; removing the circled region leaves the log-odds at 9.3")
    # The removal is named where the line is, with the reference image as the named alternative.
    reference = evidence_view.sweep_evidence(dict(_saturated(), removal="reference"), THRESHOLDS)
    assert "(regions pasted over with the reference image)" in evidence_view.region_evidence_text(reference, 0, 0.0)
    assert "removal: imputation" in evidence_view.region_evidence(shipped, 0, 0.0).title


def test_the_word_table_and_the_ledger_show_the_models_numbers_and_their_log_odds_changes():
    words = _text(evidence_view.word_evidence(_evidence()))
    assert "right, right" in words and "0.245" in words and "as many random words" in words
    assert "log-odds 4.3" in words and "−5.5" in words and "−0.1" in words and "log-odds change" in words
    ledger = _text(evidence_view.modality_ledger({"evidence": _evidence(), "modality_share": {"image": -0.15,
                                                                                                "text": 1.15}}))
    assert "image 0.991 (+0.4)" in ledger and "report 0.082 (−6.7)" in ledger and "both 0.138 (−6.2)" in ledger
    assert "disagree" not in ledger  # removing the image hardly moves P, and IG gives it little: no flag
    flagged = _text(evidence_view.modality_ledger({"evidence": _evidence(image_removed=0.62, report_removed=0.06),
                                                   "modality_share": {"image": -0.15, "text": 1.15}}))
    assert "Integrated gradients give the image -15 %, yet removing the image lowers P from 0.99 to 0.62" in flagged
    redundant = _text(evidence_view.modality_ledger({
        "evidence": dict(_evidence(image_removed=0.99, report_removed=0.995), probability=1.0),
        "modality_share": {"image": 0.2, "text": 0.8}}))
    assert "removing the report leaves P at 0.99" in redundant and "the image alone is enough" in redundant


def test_the_sweep_chart_draws_the_deletion_curve_when_the_sweep_carries_evidence():
    sweep = {"thresholds": THRESHOLDS, "circles": [[], [], []], "positive_mass": 1.0,
             "evidence": evidence_view.sweep_evidence(_evidence(), THRESHOLDS)}
    figure = research_tools.sweep_chart_figure(sweep, None, 0.5)
    names = [trace.name for trace in figure.data]
    assert research_tools.DELETION_TRACE_NAME in names and research_tools.RANDOM_DELETION_TRACE_NAME in names
    removed = next(trace for trace in figure.data if trace.name == research_tools.DELETION_TRACE_NAME)
    assert list(removed.y) == pytest.approx([41.0, 97.8, 98.7])
    assert research_tools.DELETION_TRACE_NAME not in [t.name for t in research_tools.sweep_chart_figure(
        {"thresholds": THRESHOLDS, "circles": [[], [], []]}, None, 0.5).data]


def test_the_deletion_curve_has_a_gap_where_a_tau_is_not_computed_yet():
    thresholds = [0.0, 0.4, 1.0]
    sweep = {"thresholds": thresholds, "circles": [[], [], []], "positive_mass": 1.0,
             "evidence": evidence_view.sweep_evidence(_evidence(), thresholds)}
    removed = next(trace for trace in research_tools.sweep_chart_figure(sweep, None, 0.5).data
                   if trace.name == research_tools.DELETION_TRACE_NAME)
    assert list(removed.y) == [pytest.approx(41.0), None, pytest.approx(98.7)]


def test_the_prediction_card_has_the_deletion_line_at_the_sliders_tau():
    document = {"probability": 0.987, "label": "abnormal", "modality_share": {"image": -0.15, "text": 1.15},
                "completeness": {"relative_error": 0.003, "baseline_probability": 0.138},
                "settings": {"sight_sensitivity": 0.5}, "evidence": _evidence(), "distribution": {}}
    sweep = {"thresholds": THRESHOLDS, "evidence": evidence_view.sweep_evidence(_evidence(), THRESHOLDS)}
    card = _text(presenter.prediction_children(document, "abnormal", sweep, 0.0))
    assert "removing the 3 circled regions lowers the log-odds" in card and evidence_view.REGION_EVIDENCE_ID in card
    assert "image 0.991" in card


NODE_RUNNER = """
const fs = require("fs");
const vm = require("vm");
const sandbox = {window: {dash_clientside: {no_update: {"__no_update__": true}}}};
vm.createContext(sandbox);
vm.runInContext(fs.readFileSync(process.env.CXR_SCRIPT, "utf8"), sandbox);
const cxr = sandbox.window.dash_clientside.cxr;
const calls = JSON.parse(fs.readFileSync(0, "utf8"));
process.stdout.write(JSON.stringify(calls.map((call) => cxr.regionEvidenceText.apply(null, call))));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_javascript_deletion_line_and_its_python_mirror_agree():
    shipped = evidence_view.sweep_evidence(_evidence(), THRESHOLDS)
    saturated = evidence_view.sweep_evidence(_saturated(), THRESHOLDS)
    partial = evidence_view.sweep_evidence(_evidence(), [0.0, 0.4, 1.0])
    reference = evidence_view.sweep_evidence(dict(_saturated(), removal="reference"), THRESHOLDS)
    cases = [(shipped, 0, 0.0), (shipped, 1, 0.5), (shipped, 2, 1.0), (None, 1, 0.5), (shipped, 7, 0.5),
             (shipped, -1, 0.5), (saturated, 0, 0.0), (saturated, 1, 0.5), (saturated, 2, 1.0), (partial, 1, 0.4),
             (reference, 0, 0.0)]
    # What a tau without a row says is the server's (being computed, or not computed): shipped in the sweep.
    cases = [(*case, evidence_view.missing_text(pending)) for case in cases for pending in (False, True)]
    calls = [[{"thresholds": THRESHOLDS, "evidence": evidence, evidence_view.MISSING_TEXT_KEY: missing}, index, tau]
             for evidence, index, tau, missing in cases]
    result = subprocess.run(["node", "-e", NODE_RUNNER], input=json.dumps(calls), capture_output=True, text=True,
                            timeout=60, check=True, env={**os.environ, "CXR_SCRIPT": str(SCRIPT)})
    said = json.loads(result.stdout)
    assert said == [evidence_view.region_evidence_text(*case) for case in cases]
    assert evidence_view.COMPUTING_TEXT in said and evidence_view.NOT_COMPUTED_TEXT in said
