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
    calibration_document,
    expected_calibration_error,
    fit_temperature,
    negative_log_likelihood,
    reliability_bins,
)
from cxrmodel.modeling.bundle import (
    CALIBRATION_FILE,
    BundleError,
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


def test_a_calibrated_bundle_loads_without_tensorflow(bundle_copy):
    write_calibration(bundle_copy, _document())
    script = ("import sys; from cxrmodel.modeling.bundle import load_bundle; "
              f"b = load_bundle({str(bundle_copy)!r}, load_model=False); print(b.calibrated_probability(0.9)); "
              "print(sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras'}))")
    completed = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr[-2000:]
    probability, heavy = completed.stdout.strip().splitlines()
    assert 0.5 < float(probability) < 0.9 and heavy == "[]"
