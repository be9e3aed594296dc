"""The model card's calibration part: the reliability diagram and ECE line, or "not calibrated" and why."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from dash import dcc

from components import model_card
from cxrmodel.modeling.bundle import CALIBRATION_FILE, NotCalibrated, calibration_from_dict, load_bundle

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "models" / "demo"


def _walk(component):
    yield component
    children = getattr(component, "children", None)
    if children is None or isinstance(children, str):
        return
    for child in children if isinstance(children, (list, tuple)) else [children]:
        if not isinstance(child, (str, int, float)):
            yield from _walk(child)


def _by_id(layout) -> dict:
    return {getattr(item, "id", None): item for item in _walk(layout) if getattr(item, "id", None)}


def _calibration():
    bins = [{"lower": b / 10, "upper": (b + 1) / 10, "count": 0, "mean_confidence": None, "observed_frequency": None}
            for b in range(10)]
    raw = [dict(row) for row in bins]
    raw[0].update(count=30, mean_confidence=0.08, observed_frequency=0.02)
    raw[9].update(count=70, mean_confidence=0.93, observed_frequency=0.99)
    calibrated = [dict(row) for row in bins]
    calibrated[0].update(count=30, mean_confidence=0.03, observed_frequency=0.02)
    calibrated[9].update(count=70, mean_confidence=0.98, observed_frequency=0.99)
    return calibration_from_dict({
        "method": "temperature", "temperature": 0.8323, "fitted_on": "the 300 validation studies", "fitted_count": 300,
        "held_out": {"count": 100, "ece_raw": 0.0564, "ece_calibrated": 0.0073, "bins_raw": raw,
                     "bins_calibrated": calibrated, "accuracy_raw": 0.99, "accuracy_calibrated": 0.99,
                     "nll_raw": 0.08, "nll_calibrated": 0.05},
        "created": "2026-12-01T00:00:00+00:00"})


def test_an_uncalibrated_bundle_says_not_calibrated_and_draws_no_diagram(tmp_path):
    directory = tmp_path / "bundle"
    shutil.copytree(DEMO, directory, ignore=shutil.ignore_patterns(CALIBRATION_FILE))
    bundle = load_bundle(directory, load_model=False)
    found = _by_id(model_card.layout(bundle.card, bundle.fingerprint, bundle.calibration))
    assert "not calibrated" in found[model_card.CALIBRATION_SUMMARY_ID].children
    assert model_card.CALIBRATION_DIAGRAM_ID not in found
    # The old two-argument call (app.py before it passes the calibration) keeps working the same way.
    assert "not calibrated" in _by_id(model_card.layout(bundle.card, bundle.fingerprint))[
        model_card.CALIBRATION_SUMMARY_ID].children


def test_a_calibrated_bundle_shows_the_diagram_and_both_eces():
    calibration = _calibration()
    found = _by_id(model_card.layout({"name": "m", "metrics": {}}, "abc", calibration))
    text = found[model_card.CALIBRATION_SUMMARY_ID].children
    assert text.startswith("ECE on the held-out split: raw 0.056, calibrated 0.007 (temperature T=0.832, fitted "
                           "on the 300 validation studies)")
    graph = found[model_card.CALIBRATION_DIAGRAM_ID]
    assert isinstance(graph, dcc.Graph)
    diagonal, raw, calibrated = graph.figure.data
    assert list(diagonal.x) == [0, 1] and list(diagonal.y) == [0, 1]
    assert list(raw.x) == [0.08, 0.93] and list(raw.y) == [0.02, 0.99]  # empty bins are not drawn
    assert list(calibrated.x) == [0.03, 0.98] and [row[0] for row in calibrated.customdata] == [30, 70]
    assert "studies" in raw.hovertemplate and "ECE 0.056" in raw.name and "T=0.83" in calibrated.name


def test_the_figure_is_a_pure_function_of_the_calibration():
    assert model_card.reliability_figure(_calibration()).to_dict() == model_card.reliability_figure(
        _calibration()).to_dict()


def test_the_shipped_demo_bundle_is_shown_calibrated():
    bundle = load_bundle(DEMO, load_model=False)
    found = _by_id(model_card.layout(bundle.card, bundle.fingerprint, bundle.calibration))
    assert model_card.CALIBRATION_DIAGRAM_ID in found
    assert f"T={bundle.calibration.temperature:.3f}" in found[model_card.CALIBRATION_SUMMARY_ID].children


def _not_calibrated() -> NotCalibrated:
    return calibration_from_dict({
        "method": "none", "fitted_on": "the 9 validation studies of this training", "fitted_count": 9,
        "reason": ("9 studies (4 abnormal, 5 normal) are too few to fit a temperature on: the rule needs at least 50, "
                   "with 10 of each label"),
        "bins": 10, "decision": {"minimum_studies": 50, "minimum_per_label": 10},
        "created": "2026-12-01T00:00:00+00:00"})


def test_a_bundle_the_rule_left_uncalibrated_says_not_calibrated_and_why():
    found = _by_id(model_card.layout({"name": "m", "metrics": {}}, "abc", _not_calibrated()))
    assert found[model_card.CALIBRATION_SUMMARY_ID].children == (
        "P(abnormal) is not calibrated: 9 studies (4 abnormal, 5 normal) are too few to fit a temperature on: the rule "
        "needs at least 50, with 10 of each label (checked on the 9 validation studies of this training). The "
        "probability shown is the model's raw output.")
    assert model_card.CALIBRATION_DIAGRAM_ID not in found


def test_a_kept_temperature_says_why_it_was_kept():
    bundle = load_bundle(DEMO, load_model=False)
    text = model_card.calibration_text(bundle.calibration_record)
    cross = bundle.calibration.cross_validated
    assert (f"It is kept because it lowered the cross-validated ECE of the studies it was fitted on from "
            f"{cross.ece_raw:.3f} to {cross.ece_calibrated:.3f}.") in text
    # A file written before the rule has no cross-validated figures and says nothing about why it was kept.
    assert "kept because" not in model_card.calibration_text(_calibration())


def test_the_page_of_a_demo_single_modality_bundle_says_not_calibrated_and_why(tmp_path):
    """Through the served page: app.py hands the card the bundle's calibration record, not just the temperature."""
    import app as dashboard

    bundle = load_bundle(DEMO / "image-only", load_model=False)
    client = dashboard.create_app(dashboard.AppConfig(DEMO / "image-only", ROOT / "studies" / "demo",
                                                      tmp_path)).server.test_client()
    page = json.dumps(json.loads(client.get("/_dash-layout").data))
    assert json.dumps(f"P(abnormal) is not calibrated: {bundle.not_calibrated.reason}")[1:-1] in page
    assert model_card.CALIBRATION_DIAGRAM_ID not in page
