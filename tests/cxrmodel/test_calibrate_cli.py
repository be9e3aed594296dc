"""The ``calibrate`` command (cxrmodel.cli.calibrate): writes calibration.json of a demo-recipe bundle; one-line errors.

The prediction step is replaced by fixed probabilities in the fast tests; one slow test regenerates a small split
with the real demo model end to end.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from cxrmodel.cli import calibrate
from cxrmodel.cli.main import main
from cxrmodel.modeling.bundle import CALIBRATION_FILE, bundle_fingerprint, load_bundle

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "models" / "demo"


@pytest.fixture
def bundle_copy(tmp_path) -> Path:
    directory = tmp_path / "demo"
    shutil.copytree(DEMO, directory, ignore=shutil.ignore_patterns(CALIBRATION_FILE))
    return directory


def _edit_card(directory: Path, change) -> None:
    path = directory / "card.json"
    card = json.loads(path.read_text())
    change(card)
    path.write_text(json.dumps(card))


def _fake_splits(accuracy_errors: int = 2):
    """Over-confident probabilities: labels from sigmoid(z), the model says sigmoid(2 z); test errors as asked."""
    rng = np.random.default_rng(0)

    def split(n):
        z = rng.normal(0, 2.0, n)
        labels = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(np.int32)
        return 1 / (1 + np.exp(-2 * z)), labels

    validation = split(300)
    test_p = np.where(np.arange(400) < 200, 0.02, 0.98)
    test_labels = (np.arange(400) >= 200).astype(np.int32)
    test_labels[:accuracy_errors] = 1  # the first studies are called normal but are abnormal
    return {"validation": validation, "test": (test_p, test_labels)}


def _error_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in captured.err, captured.err
    return lines[0]


def test_writes_calibration_json_and_keeps_the_fingerprint(bundle_copy, monkeypatch, capsys):
    seen = {}

    def fake(bundle, recipe):
        seen["recipe"] = recipe
        return _fake_splits()

    monkeypatch.setattr(calibrate, "_split_probabilities", fake)
    before = bundle_fingerprint(bundle_copy)
    assert main(["calibrate", "--model", str(bundle_copy), "--bins", "5"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert seen["recipe"].seed == 2019 and seen["recipe"].validation_studies == 300
    assert seen["recipe"].test_studies == 400
    assert result["temperature"] == pytest.approx(2.0, rel=0.25) and result["fitted_count"] == 300
    assert result["held_out"]["count"] == 400 and result["held_out"]["accuracy"] == 0.995
    bundle = load_bundle(bundle_copy, load_model=False)
    assert bundle.calibration.temperature == result["temperature"] and len(bundle.calibration.held_out.bins_raw) == 5
    assert "seed 2019" in bundle.calibration.fitted_on and bundle.fingerprint == before


def test_a_regenerated_split_unlike_the_card_is_refused(bundle_copy, monkeypatch, capsys):
    monkeypatch.setattr(calibrate, "_split_probabilities", lambda bundle, recipe: _fake_splits(accuracy_errors=9))
    assert main(["calibrate", "--model", str(bundle_copy)]) == 2
    assert "not the split the bundle was measured on" in _error_line(capsys)
    assert not (bundle_copy / CALIBRATION_FILE).exists()


def test_a_missing_folder_is_one_line(tmp_path, capsys):
    assert main(["calibrate", "--model", str(tmp_path / "nowhere")]) == 2
    assert "is not a folder" in _error_line(capsys)


def test_a_bundle_without_a_recipe_is_one_line(bundle_copy, capsys):
    _edit_card(bundle_copy, lambda card: card.pop("recipe"))
    assert main(["calibrate", "--model", str(bundle_copy)]) == 2
    assert "has no 'recipe'" in _error_line(capsys)


def test_a_bad_recipe_field_is_one_line(bundle_copy, capsys):
    _edit_card(bundle_copy, lambda card: card["recipe"].update(test_studies="many"))
    assert main(["calibrate", "--model", str(bundle_copy)]) == 2
    assert "recipe 'test_studies' must be a positive whole number" in _error_line(capsys)


def test_a_broken_bundle_is_one_line(bundle_copy, capsys):
    (bundle_copy / "vocab.json").unlink()
    assert main(["calibrate", "--model", str(bundle_copy)]) == 2
    assert "is missing vocab.json" in _error_line(capsys)


def test_bins_must_be_positive(bundle_copy, capsys):
    with pytest.raises(SystemExit) as raised:
        main(["calibrate", "--model", str(bundle_copy), "--bins", "0"])
    assert raised.value.code == 2 and "expected a positive number" in capsys.readouterr().err


@pytest.mark.slow
def test_a_split_the_demo_model_separates_perfectly_cannot_be_calibrated(bundle_copy, capsys):
    """End to end with the real model on 40 + 40 regenerated studies: all right, so no finite temperature."""
    pytest.importorskip("keras")

    def small(card):
        card["recipe"].update(validation_studies=40, test_studies=40)
        card["metrics"] = {}

    _edit_card(bundle_copy, small)
    assert main(["calibrate", "--model", str(bundle_copy)]) == 2
    assert "perfectly separated" in _error_line(capsys)
    assert not (bundle_copy / CALIBRATION_FILE).exists()
