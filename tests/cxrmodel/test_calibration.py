"""Calibration of P(abnormal) (issue #18, item 5): temperature scaling, reliability bins, ECE, calibration.json.

The math (cxrmodel.evaluation.calibration) is checked on synthetic logits of a known temperature and on cases
computed by hand; the bundle side (cxrmodel.modeling.bundle) on copies of the demo bundle, without TensorFlow.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cxrmodel.evaluation import (
    CalibrationError,
    apply_temperature,
    calibration_decision,
    calibration_document,
    calibration_shortfall,
    cross_validated_ece,
    expected_calibration_error,
    fit_temperature,
    negative_log_likelihood,
    reliability_bins,
)
from cxrmodel.modeling.bundle import (
    CALIBRATION_FILE,
    BundleCalibration,
    BundleError,
    NotCalibrated,
    bundle_fingerprint,
    load_bundle,
    read_calibration,
    write_calibration,
)

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "models" / "demo"


def _miscalibrated(temperature: float, n: int = 20_000, seed: int = 0):
    """Labels drawn from sigmoid(z) and a model that reports sigmoid(z * temperature): T recovers ``temperature``."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 2.5, n)
    labels = (rng.random(n) < 1.0 / (1.0 + np.exp(-z))).astype(int)
    return 1.0 / (1.0 + np.exp(-z * temperature)), labels


@pytest.mark.parametrize("true_temperature", [0.6, 1.0, 2.5])
def test_the_fit_recovers_a_known_temperature(true_temperature):
    probabilities, labels = _miscalibrated(true_temperature)
    fitted = fit_temperature(probabilities, labels)
    assert fitted == pytest.approx(true_temperature, rel=0.05)
    # The fitted temperature is the likelihood's minimum, and it lowers the NLL and the ECE of new studies.
    assert negative_log_likelihood(probabilities, labels, fitted) <= min(
        negative_log_likelihood(probabilities, labels, fitted * factor) for factor in (0.9, 1.1))
    fresh, fresh_labels = _miscalibrated(true_temperature, seed=1)
    if true_temperature != 1.0:
        assert (expected_calibration_error(apply_temperature(fresh, fitted), fresh_labels)
                < expected_calibration_error(fresh, fresh_labels))


def test_temperature_scaling_keeps_the_label_and_one_is_the_identity():
    p = np.array([0.0, 1e-9, 0.2, 0.5, 0.7, 0.999, 1.0])
    np.testing.assert_allclose(apply_temperature(p[2:-2], 1.0), p[2:-2], rtol=1e-12)
    for temperature in (0.3, 2.0):
        scaled = apply_temperature(p, temperature)
        assert np.all((scaled >= 0.5) == (p >= 0.5)) and np.all((scaled >= 0) & (scaled <= 1))
    assert np.all((apply_temperature(p, 2.0) > 0) & (apply_temperature(p, 2.0) < 1))  # 0 and 1 are clipped first
    assert apply_temperature([0.9], 2.0)[0] == pytest.approx(1 / (1 + math.exp(-math.log(9) / 2)))
    with pytest.raises(CalibrationError, match="positive"):
        apply_temperature(p, 0.0)


def test_ece_of_a_case_computed_by_hand():
    # bin 0: P 0.05, 0 of 1 abnormal -> gap 0.05; bin 1: P 0.15, 1 of 2 -> 0.35; bin 9: P 0.95, 1 of 1 -> 0.05.
    p, y = [0.05, 0.15, 0.15, 0.95], [0, 1, 0, 1]
    assert expected_calibration_error(p, y) == pytest.approx((0.05 + 2 * 0.35 + 0.05) / 4)
    rows = reliability_bins(p, y)
    assert [row["count"] for row in rows] == [1, 2, 0, 0, 0, 0, 0, 0, 0, 1]
    assert rows[1] == {"lower": 0.1, "upper": 0.2, "count": 2, "mean_confidence": pytest.approx(0.15),
                       "observed_frequency": 0.5}
    assert rows[2]["mean_confidence"] is None and rows[2]["observed_frequency"] is None
    assert expected_calibration_error([0.0, 1.0, 0.0], [0, 1, 0]) == 0.0
    # Two bins: [0, 0.5) and [0.5, 1]; P = 0.5 and P = 1 fall in the upper one.
    assert [row["count"] for row in reliability_bins([0.1, 0.5, 1.0], [0, 0, 1], bins=2)] == [1, 2]
    assert expected_calibration_error([0.1, 0.5, 1.0], [0, 0, 1], bins=2) == pytest.approx((0.1 + 2 * 0.25) / 3)


def test_bins_agree_with_scikit_learns_calibration_curve():
    from sklearn.calibration import calibration_curve

    rng = np.random.default_rng(3)
    p = rng.random(500)
    y = (rng.random(500) < p ** 2).astype(int)
    observed, predicted = calibration_curve(y, p, n_bins=10, strategy="uniform")
    rows = [row for row in reliability_bins(p, y) if row["count"]]
    np.testing.assert_allclose([row["observed_frequency"] for row in rows], observed)
    np.testing.assert_allclose([row["mean_confidence"] for row in rows], predicted)


@pytest.mark.parametrize(("p", "y", "message"), [
    ([0.2, 0.7], [1, 1], "both labels"),
    ([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1], "perfectly separated"),
    ([0.2, 0.7], [0, 1, 1], "2 probabilities but 3 labels"),
    ([0.2, 1.5], [0, 1], "between 0 and 1"),
    ([0.2, 0.7], [0, 2], "0 \\(normal\\) or 1"),
])
def test_what_cannot_be_calibrated_says_why(p, y, message):
    with pytest.raises(CalibrationError, match=message):
        fit_temperature(p, y)


def _document() -> dict:
    fit_p, fit_y = _miscalibrated(2.0, n=2000, seed=4)
    test_p, test_y = _miscalibrated(2.0, n=500, seed=5)
    return calibration_document(fit_p, fit_y, test_p, test_y, "2000 studies of a test",
                                created="2026-12-01T00:00:00+00:00")


def test_the_document_holds_raw_and_calibrated_figures():
    document = _document()
    held_out = document["held_out"]
    assert document["method"] == "temperature" and document["fitted_count"] == 2000
    assert document["temperature"] == pytest.approx(2.0, rel=0.1)
    assert held_out["count"] == 500 and sum(row["count"] for row in held_out["bins_calibrated"]) == 500
    assert held_out["ece_calibrated"] < held_out["ece_raw"] and held_out["nll_calibrated"] < held_out["nll_raw"]
    assert held_out["accuracy_calibrated"] == held_out["accuracy_raw"]  # temperature keeps the side of 0.5


@pytest.fixture
def bundle_copy(tmp_path) -> Path:
    directory = tmp_path / "bundle"
    shutil.copytree(DEMO, directory, ignore=shutil.ignore_patterns(CALIBRATION_FILE))
    return directory


def test_calibration_json_round_trips_through_the_bundle(bundle_copy):
    before = load_bundle(bundle_copy, load_model=False)
    assert before.calibration is None and not before.calibrated and before.calibrated_probability(0.9) is None
    document = _document()
    path = write_calibration(bundle_copy, document)
    assert path == bundle_copy / CALIBRATION_FILE and json.loads(path.read_text()) == document
    bundle = load_bundle(bundle_copy, load_model=False)
    calibration = bundle.calibration
    assert calibration.temperature == document["temperature"] and calibration.fitted_on == "2000 studies of a test"
    assert calibration.held_out.ece_raw == document["held_out"]["ece_raw"]
    assert [row.count for row in calibration.held_out.bins_raw] == [row["count"]
                                                                    for row in document["held_out"]["bins_raw"]]
    assert not bundle.model_loaded
    # The bundle's scalar formula is the evaluation package's, at the clipped ends too.
    grid = np.array([0.0, 1e-12, 1e-4, 0.1, 0.5, 0.77, 0.9999, 1.0])
    np.testing.assert_allclose([bundle.calibrated_probability(p) for p in grid],
                               apply_temperature(grid, calibration.temperature), rtol=1e-12, atol=0)


def test_calibrating_keeps_the_fingerprint_and_so_the_explanation_caches(bundle_copy):
    before = bundle_fingerprint(bundle_copy)
    write_calibration(bundle_copy, _document())
    assert bundle_fingerprint(bundle_copy) == before == load_bundle(bundle_copy, load_model=False).fingerprint


def _broken(document: dict, change) -> dict:
    document = json.loads(json.dumps(document))
    change(document)
    return document


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d.pop("temperature"), "'temperature' must be a number"),
    (lambda d: d.update(temperature=-1.0), "'temperature' must be > 0"),
    (lambda d: d.update(method="platt"), "'method' must be \"temperature\""),
    (lambda d: d.update(fitted_on=""), "'fitted_on' must be a non-empty text"),
    (lambda d: d["held_out"].update(ece_raw=1.5), "held_out 'ece_raw' must be between 0 and 1"),
    (lambda d: d["held_out"]["bins_raw"][0].update(count=-1), r"held_out bins_raw\[0\] 'count' must be a whole"),
    (lambda d: d["held_out"].update(count=7), "hold 500 studies but 'count' is 7"),
    (lambda d: d.update(held_out=[]), "'held_out' must be an object"),
])
def test_a_malformed_calibration_file_names_the_file_and_the_field(bundle_copy, change, message):
    path = bundle_copy / CALIBRATION_FILE
    path.write_text(json.dumps(_broken(_document(), change)))
    with pytest.raises(BundleError, match=message) as raised:
        load_bundle(bundle_copy, load_model=False)
    assert str(path) in str(raised.value) and "not calibrated" in str(raised.value)
    with pytest.raises(BundleError, match=message):
        write_calibration(bundle_copy, _broken(_document(), change))  # never written in the first place


def test_a_calibration_file_that_is_not_json_is_a_bundle_error(bundle_copy):
    (bundle_copy / CALIBRATION_FILE).write_text("{ not json")
    with pytest.raises(BundleError, match="calibration.json: is not readable JSON"):
        read_calibration(bundle_copy)


def test_the_demo_bundle_ships_calibrated_on_its_validation_studies():
    bundle = load_bundle(DEMO, load_model=False)
    calibration = bundle.calibration
    assert calibration is not None and calibration.fitted_count == bundle.card["recipe"]["validation_studies"]
    assert calibration.held_out.count == bundle.card["recipe"]["test_studies"]
    # Regenerated exactly: the held-out accuracy is the card's.
    assert calibration.held_out.accuracy_raw == bundle.card["metrics"]["multimodal"]["accuracy"]
    assert 0.0 <= calibration.held_out.ece_calibrated <= calibration.held_out.ece_raw
    assert "validation" in calibration.fitted_on
    # Kept by the rule: the cross-validated ECE on the validation studies went down too.
    assert calibration.cross_validated.ece_calibrated < calibration.cross_validated.ece_raw


def test_a_calibrated_bundle_loads_without_tensorflow(bundle_copy):
    write_calibration(bundle_copy, _document())
    script = ("import sys; from cxrmodel.modeling.bundle import load_bundle; "
              f"b = load_bundle({str(bundle_copy)!r}, load_model=False); print(b.calibrated_probability(0.9)); "
              "print(sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras'}))")
    completed = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr[-2000:]
    probability, heavy = completed.stdout.strip().splitlines()
    assert 0.5 < float(probability) < 0.9 and heavy == "[]"


# The keep-or-not rule (calibration_decision): enough studies, a lower cross-validated ECE, no higher held-out ECE.

CREATED = "2026-12-01T00:00:00+00:00"


def _exactly_calibrated(n_per_value: int = 50):
    """P 0.3 and 0.7, with exactly 30 % and 70 % of their studies abnormal: raw ECE 0, nothing to improve."""
    p = np.repeat([0.3, 0.7], n_per_value * 10)
    labels = np.concatenate([np.arange(n_per_value * 10) % 10 < 3, np.arange(n_per_value * 10) % 10 < 7])
    return p, labels.astype(int)


def test_enough_studies_means_50_with_10_of_each_label():
    assert calibration_shortfall([1] * 40 + [0] * 10) is None
    assert calibration_shortfall([1] * 39 + [0] * 10) == ("49 studies (39 abnormal, 10 normal) are too few to fit a "
                                                          "temperature on: the rule needs at least 50, with 10 of "
                                                          "each label")
    assert calibration_shortfall([1] * 291 + [0] * 9) == ("300 studies with only 9 normal are too few to fit a "
                                                          "temperature on: the rule needs at least 50, with 10 of "
                                                          "each label")
    assert calibration_shortfall([1] * 9 + [0] * 41).startswith("50 studies with only 9 abnormal")


def test_a_temperature_that_lowers_the_cross_validated_ece_is_kept():
    fit_p, fit_y = _miscalibrated(2.0, n=300, seed=6)
    test_p, test_y = _miscalibrated(2.0, n=400, seed=7)
    document = calibration_decision(fit_p, fit_y, test_p, test_y, "300 studies", created=CREATED)
    cross = document["decision"]["cross_validated"]
    assert document["method"] == "temperature" and document["temperature"] == pytest.approx(2.0, rel=0.2)
    assert cross["count"] == 300 and cross["folds"] == 5 and cross["repeats"] == 5
    assert cross["ece_calibrated"] < cross["ece_raw"] and len(cross["ece_calibrated_per_repeat"]) == 5
    assert document["held_out"]["ece_calibrated"] <= document["held_out"]["ece_raw"]
    assert document["decision"]["minimum_studies"] == 50 and document["decision"]["minimum_per_label"] == 10
    # Seeded and deterministic; and the kept document is calibration_document's plus the decision.
    assert calibration_decision(fit_p, fit_y, test_p, test_y, "300 studies", created=CREATED) == document
    plain = calibration_document(fit_p, fit_y, test_p, test_y, "300 studies", created=CREATED)
    assert {key: value for key, value in document.items() if key != "decision"} == plain


def test_a_temperature_that_does_not_lower_the_cross_validated_ece_is_refused():
    """Raw ECE 0: the temperature fitted on all of them is 1 (in-sample it would look harmless), but fitted on four
    folds and applied to the fifth it can only move the probabilities away from their observed frequencies."""
    p, y = _exactly_calibrated()
    assert fit_temperature(p, y) == pytest.approx(1.0, abs=1e-3)
    test_p, test_y = _miscalibrated(1.0, n=400, seed=8)
    document = calibration_decision(p, y, test_p, test_y, "1000 studies", created=CREATED)
    cross = document["decision"]["cross_validated"]
    assert document["method"] == "none" and "temperature" not in document
    assert cross["ece_raw"] == 0.0 and cross["ece_calibrated"] > 0.0
    assert document["reason"] == ("temperature scaling does not lower the ECE of studies the temperature was not "
                                  "fitted on: cross-validated on the 1000 fitting studies (5 folds, 5 repeats) it is "
                                  f"{cross['ece_calibrated']:.4g} scaled against 0 raw")
    # What the refused temperature would have done is still measured on the held-out split, for the card.
    assert document["rejected_temperature"] == pytest.approx(1.0, abs=1e-3)
    assert document["held_out"]["count"] == 400


def test_a_temperature_that_raises_the_held_out_ece_is_refused():
    """Fitted on over-confident studies (T ≈ 2, cross-validation agrees) but measured on exactly calibrated ones,
    whose ECE it can only raise: the held-out split vetoes."""
    fit_p, fit_y = _miscalibrated(2.0, n=300, seed=6)
    held_p, held_y = _exactly_calibrated(20)
    document = calibration_decision(fit_p, fit_y, held_p, held_y, "300 studies", created=CREATED)
    cross, held_out = document["decision"]["cross_validated"], document["held_out"]
    assert cross["ece_calibrated"] < cross["ece_raw"]
    assert document["method"] == "none" and held_out["ece_raw"] == 0.0 and held_out["ece_calibrated"] > 0.0
    assert document["reason"].startswith(f"the temperature T={document['rejected_temperature']:.3f} raises the ECE "
                                         f"of the 400 held-out studies from 0 to {held_out['ece_calibrated']:.4g}")


@pytest.mark.parametrize(("fit", "message"), [
    (([0.6] * 40 + [0.4] * 9, [1] * 40 + [0] * 9), "49 studies (40 abnormal, 9 normal) are too few"),
    (([0.2] * 30 + [0.8] * 30, [0] * 30 + [1] * 30), "perfectly separated"),
])
def test_what_cannot_be_decided_on_is_not_calibrated_with_the_reason(fit, message):
    document = calibration_decision(*fit, [0.3, 0.7], [0, 1], "a split", created=CREATED)
    assert document["method"] == "none" and message in document["reason"]
    assert "rejected_temperature" not in document and "held_out" not in document
    assert "cross_validated" not in document["decision"]


def test_a_fold_with_one_label_cannot_be_cross_validated():
    with pytest.raises(CalibrationError, match="5-fold cross-validation needs at least 5 studies of each label"):
        cross_validated_ece([0.2, 0.3, 0.4, 0.6, 0.7, 0.8], [0, 0, 0, 1, 1, 1])


def test_an_empty_held_out_split_is_a_mistake_not_a_decision():
    fit_p, fit_y = _miscalibrated(2.0, n=300, seed=6)
    with pytest.raises(CalibrationError, match="held-out split is empty"):
        calibration_decision(fit_p, fit_y, [], [], "300 studies")


def test_a_not_calibrated_record_loads_as_an_uncalibrated_bundle(bundle_copy):
    before = bundle_fingerprint(bundle_copy)
    p, y = _exactly_calibrated()
    document = calibration_decision(p, y, *_miscalibrated(1.0, n=400, seed=8), "1000 studies", created=CREATED)
    write_calibration(bundle_copy, document)
    bundle = load_bundle(bundle_copy, load_model=False)
    assert bundle.calibration is None and not bundle.calibrated and bundle.calibrated_probability(0.9) is None
    record = bundle.not_calibrated
    assert isinstance(record, NotCalibrated) and bundle.calibration_record is record
    assert record.reason == document["reason"] and record.fitted_count == 1000 and record.created == CREATED
    assert record.rejected_temperature == document["rejected_temperature"]
    assert record.held_out.ece_calibrated == document["held_out"]["ece_calibrated"]
    assert record.cross_validated.ece_raw == 0.0 and record.cross_validated.folds == 5
    assert bundle.fingerprint == before
    # A record without a fitted temperature (too few studies) loads too.
    few = calibration_decision([0.6] * 20, [1] * 10 + [0] * 10, [0.5], [1], "20 studies", created=CREATED)
    write_calibration(bundle_copy, few)
    record = read_calibration(bundle_copy)
    assert isinstance(record, NotCalibrated) and record.held_out is None and record.cross_validated is None


def test_a_calibration_file_written_before_the_rule_still_loads(bundle_copy):
    """No ``decision``: the format ``train`` and ``calibrate`` wrote before the keep-or-not rule (the demo's
    calibration.json as first shipped)."""
    document = _document()
    assert "decision" not in document
    (bundle_copy / CALIBRATION_FILE).write_text(json.dumps(document))
    bundle = load_bundle(bundle_copy, load_model=False)
    assert isinstance(bundle.calibration, BundleCalibration) and bundle.not_calibrated is None
    assert bundle.calibration.temperature == document["temperature"] and bundle.calibration.cross_validated is None
    assert bundle.calibration_record is bundle.calibration and bundle.calibrated_probability(0.9) != 0.9


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d.pop("reason"), "'reason' must be a non-empty text"),
    (lambda d: d.pop("held_out"), "'rejected_temperature' and 'held_out' go together"),
    (lambda d: d.update(rejected_temperature=0), "'rejected_temperature' must be > 0"),
    (lambda d: d["decision"]["cross_validated"].update(ece_raw=2), "decision cross_validated 'ece_raw' must be"),
    (lambda d: d.update(decision=[]), "'decision' must be an object"),
])
def test_a_malformed_not_calibrated_record_names_the_field(bundle_copy, change, message):
    p, y = _exactly_calibrated()
    document = calibration_decision(p, y, *_miscalibrated(1.0, n=400, seed=8), "1000 studies", created=CREATED)
    with pytest.raises(BundleError, match=message):
        write_calibration(bundle_copy, _broken(document, change))
    assert not (bundle_copy / CALIBRATION_FILE).exists()


@pytest.mark.parametrize("folder", ["text-only", "image-only"])
def test_the_demo_single_modality_bundles_ship_not_calibrated_with_the_measured_reason(folder):
    """Their temperatures, fitted on the 300 validation studies, made the 400 held-out studies' ECE worse (text
    only 0.0288 -> 0.0311, image only 0.0743 -> 0.0769); by the rule neither is kept."""
    bundle = load_bundle(DEMO / folder, load_model=False)
    record = bundle.not_calibrated
    assert bundle.calibration is None and record is not None and bundle.calibrated_probability(0.9) is None
    assert record.fitted_count == bundle.card["recipe"]["validation_studies"] == 300
    assert record.held_out.count == bundle.card["recipe"]["test_studies"] == 400
    assert record.held_out.accuracy_raw == bundle.card["metrics"][bundle.modality]["accuracy"]
    assert record.held_out.ece_calibrated > record.held_out.ece_raw  # what keeping it would have done
    assert record.reason and record.cross_validated.count == 300
