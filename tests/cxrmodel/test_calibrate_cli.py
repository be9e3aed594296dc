"""The ``calibrate`` command (cxrmodel.cli.calibrate): decides calibration.json of a demo-recipe bundle or, given
``--studies``, of any bundle; one-line errors.

The prediction step is replaced by fixed probabilities in most tests; one test runs the real demo model on a studies
folder end to end, and one slow test regenerates a small recipe split with it.
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


def _over_confident(n: int, rng):
    """Labels from sigmoid(z), the model says sigmoid(2 z): a temperature of about 2 calibrates it."""
    z = rng.normal(0, 2.0, n)
    labels = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(np.int32)
    return 1 / (1 + np.exp(-2 * z)), labels


def _fake_splits(accuracy_errors: int | None = None):
    """Validation and test both over-confident; or (``accuracy_errors``) a test split of sure calls, 0.02 and 0.98,
    with that many wrong: the card's 0.995 at 2, and a temperature then only raises its ECE."""
    rng = np.random.default_rng(0)
    validation = _over_confident(300, rng)
    if accuracy_errors is None:
        return {"validation": validation, "test": _over_confident(400, rng)}
    test_p = np.where(np.arange(400) < 200, 0.02, 0.98)
    test_labels = (np.arange(400) >= 200).astype(np.int32)
    test_labels[:accuracy_errors] = 1  # the first studies are called normal but are abnormal
    return {"validation": validation, "test": (test_p, test_labels)}


def _accuracy(split) -> float:
    p, labels = split
    return float(np.mean((p >= 0.5) == (labels == 1)))


def _error_line(capsys) -> str:
    captured = capsys.readouterr()
    # Progress bars of the work done before the error (decoding the folder's images) may come first.
    lines = [line for line in captured.err.strip().splitlines() if "%|" not in line]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in captured.err, captured.err
    return lines[0]


def test_writes_calibration_json_and_keeps_the_fingerprint(bundle_copy, monkeypatch, capsys):
    seen = {}

    def fake(bundle, recipe):
        seen["recipe"] = recipe
        return _fake_splits()

    monkeypatch.setattr(calibrate, "_split_probabilities", fake)
    accuracy = _accuracy(_fake_splits()["test"])
    _edit_card(bundle_copy, lambda card: card["metrics"]["multimodal"].update(accuracy=accuracy))
    before = bundle_fingerprint(bundle_copy)
    assert main(["calibrate", "--model", str(bundle_copy), "--bins", "5"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert seen["recipe"].seed == 2019 and seen["recipe"].validation_studies == 300
    assert seen["recipe"].test_studies == 400
    assert result["calibrated"] is True and result["fitted_count"] == 300
    assert result["temperature"] == pytest.approx(2.0, rel=0.25)
    assert result["cross_validated"]["ece_calibrated"] < result["cross_validated"]["ece_raw"]
    assert result["held_out"]["count"] == 400 and result["held_out"]["accuracy"] == accuracy
    assert result["held_out"]["ece_calibrated"] <= result["held_out"]["ece_raw"]
    bundle = load_bundle(bundle_copy, load_model=False)
    assert bundle.calibration.temperature == result["temperature"] and len(bundle.calibration.held_out.bins_raw) == 5
    assert "seed 2019" in bundle.calibration.fitted_on and bundle.fingerprint == before
    assert bundle.calibration.cross_validated.ece_calibrated == result["cross_validated"]["ece_calibrated"]


def test_a_temperature_that_raises_the_held_out_ece_leaves_the_bundle_not_calibrated(bundle_copy, monkeypatch,
                                                                                     capsys):
    """Cross-validation on the validation studies keeps T ≈ 2, but it turns the sure, right test calls into
    hesitant ones: the held-out split vetoes it and the card will say why."""
    monkeypatch.setattr(calibrate, "_split_probabilities", lambda bundle, recipe: _fake_splits(accuracy_errors=2))
    before = bundle_fingerprint(bundle_copy)
    assert main(["calibrate", "--model", str(bundle_copy)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["calibrated"] is False and "temperature" not in result
    assert result["reason"].startswith(f"the temperature T={result['rejected_temperature']:.3f} raises the ECE of "
                                       "the 400 held-out studies")
    assert result["held_out"]["ece_calibrated"] > result["held_out"]["ece_raw"]
    assert result["cross_validated"]["ece_calibrated"] < result["cross_validated"]["ece_raw"]
    bundle = load_bundle(bundle_copy, load_model=False)
    assert bundle.calibration is None and not bundle.calibrated and bundle.calibrated_probability(0.9) is None
    assert bundle.not_calibrated.reason == result["reason"] and bundle.calibration_record is bundle.not_calibrated
    assert bundle.not_calibrated.rejected_temperature == result["rejected_temperature"]
    assert bundle.fingerprint == before


def test_a_single_modality_demo_bundle_is_measured_with_its_own_model_and_metric(tmp_path, monkeypatch, capsys):
    """The text-only bundle: its own modality predicts, and the regenerated test accuracy is compared with the
    card's text-only figure (0.8875 = 355 of 400), not the multimodal's 0.995."""
    directory = tmp_path / "text-only"
    shutil.copytree(DEMO / "text-only", directory)
    seen = {}

    def fake(bundle, recipe):
        seen["modality"] = bundle.modality
        return _fake_splits(accuracy_errors=45)

    monkeypatch.setattr(calibrate, "_split_probabilities", fake)
    assert main(["calibrate", "--model", str(directory)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert seen["modality"] == "text" and result["held_out"]["accuracy"] == 0.8875


def test_a_regenerated_split_unlike_the_card_is_refused(bundle_copy, monkeypatch, capsys):
    monkeypatch.setattr(calibrate, "_split_probabilities", lambda bundle, recipe: _fake_splits(accuracy_errors=9))
    assert main(["calibrate", "--model", str(bundle_copy)]) == 2
    assert "not the split the bundle was measured on" in _error_line(capsys)
    assert not (bundle_copy / CALIBRATION_FILE).exists()


def test_a_missing_folder_is_one_line(tmp_path, capsys):
    assert main(["calibrate", "--model", str(tmp_path / "nowhere")]) == 2
    assert "is not a folder" in _error_line(capsys)


def test_a_bundle_without_a_recipe_needs_studies_in_one_line(bundle_copy, capsys):
    _edit_card(bundle_copy, lambda card: card.pop("recipe"))
    assert main(["calibrate", "--model", str(bundle_copy)]) == 2
    line = _error_line(capsys)
    assert "has no 'recipe'" in line and "--studies DIR" in line


def test_a_recipe_too_small_for_the_rule_is_refused_before_rendering(bundle_copy, monkeypatch, capsys):
    shutil.copy(DEMO / CALIBRATION_FILE, bundle_copy / CALIBRATION_FILE)
    _edit_card(bundle_copy, lambda card: card["recipe"].update(validation_studies=40))

    def never(bundle, recipe):
        raise AssertionError("the studies were rendered although the rule's minimum could not be met")

    monkeypatch.setattr(calibrate, "_split_probabilities", never)
    assert main(["calibrate", "--model", str(bundle_copy)]) == 2
    line = _error_line(capsys)
    assert "the recipe's 40 validation studies: 40 studies" in line and "at least 50" in line
    assert (bundle_copy / CALIBRATION_FILE).read_text() == (DEMO / CALIBRATION_FILE).read_text()


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
def test_a_split_the_demo_model_separates_perfectly_is_not_calibrated(bundle_copy, capsys):
    """End to end with the real model on 60 + 40 regenerated studies: all right, so no finite temperature."""
    pytest.importorskip("keras")

    def small(card):
        card["recipe"].update(validation_studies=60, test_studies=40)
        card["metrics"] = {}

    _edit_card(bundle_copy, small)
    assert main(["calibrate", "--model", str(bundle_copy)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["calibrated"] is False and "perfectly separated" in result["reason"]
    assert load_bundle(bundle_copy, load_model=False).not_calibrated.reason == result["reason"]


# --studies: any bundle, calibrated on a folder in the OpenI layout, split into a fitting and a held-out part.

STUDIES_SEED = 11


@pytest.fixture(scope="module")
def studies_folder(tmp_path_factory) -> Path:
    """80 small synthetic studies (48 abnormal) in the OpenI layout: enough for the rule at 30 % held out."""
    from cxrmodel.data.synthetic.studies import sample_study_spec, write_openi_dataset

    root = tmp_path_factory.mktemp("calibration-studies")
    specs = [sample_study_spec(number, STUDIES_SEED) for number in range(1, 81)]
    write_openi_dataset(root, specs, STUDIES_SEED, workers=1, width=160, height=176)
    return root


@pytest.fixture
def trained_bundle(tmp_path) -> Path:
    """A copy of the demo bundle as ``train`` would have written it: no recipe, a data fingerprint, calibrated."""
    directory = tmp_path / "bundle"
    shutil.copytree(DEMO, directory, ignore=shutil.ignore_patterns("text-only", "image-only"))
    _edit_card(directory, lambda card: (card.pop("recipe"), card.update(data_fingerprint="0123456789abcdef")))
    return directory


def _over_confident_on(labels, seed: int = 0):
    """P(abnormal) for given labels, four times as sure as the labels warrant (z ~ N(+-1, 1.5²) by label)."""
    rng = np.random.default_rng(seed)
    z = np.where(np.asarray(labels) == 1, 1.0, -1.0) + rng.normal(0, 1.5, len(labels))
    return 1 / (1 + np.exp(-4 * z))


def test_studies_calibrate_a_bundle_without_a_recipe(trained_bundle, studies_folder, monkeypatch, capsys):
    seen = {}

    def fake(bundle, arrays):
        seen.setdefault("calls", []).append(len(arrays))
        seen["shape"] = arrays.grid_images.shape[1:]
        return _over_confident_on(arrays.labels)

    monkeypatch.setattr(calibrate, "_studies_probabilities", fake)
    before = bundle_fingerprint(trained_bundle)
    assert main(["calibrate", "--model", str(trained_bundle), "--studies", str(studies_folder)]) == 0
    result = json.loads(capsys.readouterr().out)
    # The whole folder is predicted once, on the bundle's own grid; 56 fit and 24 are held out (30 %, stratified).
    assert seen["calls"] == [80] and seen["shape"] == (160, 160)
    assert result["fitted_count"] == 56 and result["held_out"]["count"] == 24
    assert result["calibrated"] is True and result["temperature"] > 2.0
    assert result["cross_validated"]["count"] == 56
    assert result["cross_validated"]["ece_calibrated"] < result["cross_validated"]["ece_raw"]
    assert result["held_out"]["ece_calibrated"] <= result["held_out"]["ece_raw"]
    bundle = load_bundle(trained_bundle, load_model=False)
    assert bundle.calibration.temperature == result["temperature"] and bundle.fingerprint == before
    assert bundle.calibration.fitted_on == (f"the 56 studies of a stratified 70% of {studies_folder.name} (seed 2019); "
                                            "its other 24 studies are the held-out split")
    # Seeded: the same command decides the same; another seed splits the folder differently.
    document = json.loads((trained_bundle / CALIBRATION_FILE).read_text())
    assert main(["calibrate", "--model", str(trained_bundle), "--studies", str(studies_folder)]) == 0
    again = json.loads((trained_bundle / CALIBRATION_FILE).read_text())
    assert {**again, "created": None} == {**document, "created": None}
    assert main(["calibrate", "--model", str(trained_bundle), "--studies", str(studies_folder), "--seed", "7"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["temperature"] != result["temperature"]


def test_studies_that_make_no_temperature_worth_keeping_are_recorded(trained_bundle, studies_folder, monkeypatch,
                                                                      capsys):
    """Probabilities that are already calibrated (the share of abnormal studies at each of two values is that
    value): the raw ECE of the fitting part is near 0 and no temperature lowers it out of fold."""

    def calibrated(bundle, arrays):
        labels = np.asarray(arrays.labels)
        p = np.empty(len(labels))
        # 48 abnormal, 32 normal: 0.8 for 40 abnormal + 10 normal, 0.273 for 8 abnormal + 22 normal (about 8/30).
        abnormal, normal = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
        p[abnormal[:40]], p[normal[:10]] = 0.8, 0.8
        p[abnormal[40:]], p[normal[10:]] = 8 / 30, 8 / 30
        return p

    monkeypatch.setattr(calibrate, "_studies_probabilities", calibrated)
    assert main(["calibrate", "--model", str(trained_bundle), "--studies", str(studies_folder)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["calibrated"] is False and result["reason"].startswith(
        "temperature scaling does not lower the ECE of studies the temperature was not fitted on")
    bundle = load_bundle(trained_bundle, load_model=False)
    assert bundle.calibration is None and bundle.not_calibrated.reason == result["reason"]


def test_studies_with_the_real_model_end_to_end(trained_bundle, studies_folder, capsys):
    """No stand-in: the folder is decoded and encoded for the demo model, which predicts it; whatever the rule
    decides is written, read back and consistent with what was printed."""
    pytest.importorskip("keras")
    assert main(["calibrate", "--model", str(trained_bundle), "--studies", str(studies_folder)]) == 0
    result = json.loads(capsys.readouterr().out)
    bundle = load_bundle(trained_bundle, load_model=False)
    assert result["fitted_count"] == 56 and bundle.calibration_record.fitted_count == 56
    if result["calibrated"]:
        assert bundle.calibration.temperature == result["temperature"]
        assert result["held_out"]["ece_calibrated"] <= result["held_out"]["ece_raw"]
    else:
        assert bundle.calibration is None and bundle.not_calibrated.reason == result["reason"]
    # The demo model calls these synthetic studies as its card says: held-out accuracy well above chance.
    assert result["held_out"] is None or result["held_out"]["accuracy"] > 0.9


def test_too_few_studies_are_one_line_and_leave_the_calibration(trained_bundle, tiny_studies_directory, capsys):
    before = (trained_bundle / CALIBRATION_FILE).read_text()
    assert main(["calibrate", "--model", str(trained_bundle), "--studies", str(tiny_studies_directory)]) == 2
    line = _error_line(capsys)
    assert "are too few to fit a temperature on: the rule needs at least 50, with 10 of each label" in line
    assert "the folder needs at least 72 studies with 15 of each label" in line
    assert (trained_bundle / CALIBRATION_FILE).read_text() == before


def test_the_folder_the_bundle_was_trained_on_is_refused(trained_bundle, studies_folder, capsys, monkeypatch):
    from cxrmodel.training import target_data

    monkeypatch.setattr(target_data, "data_fingerprint", lambda dataset, grids: "0123456789abcdef")
    assert main(["calibrate", "--model", str(trained_bundle), "--studies", str(studies_folder)]) == 2
    assert "is the folder this bundle was trained on" in _error_line(capsys)


@pytest.mark.parametrize(("arguments", "message"), [
    (["--studies", "{missing}"], "is not a folder"),
    (["--studies", "{empty}"], "is neither an OpenI folder"),
    (["--studies", "{studies}", "--seed", "-1"], "--seed must be 0 or more"),
])
def test_bad_studies_arguments_are_one_line(trained_bundle, studies_folder, tmp_path, capsys, arguments, message):
    (tmp_path / "empty").mkdir()
    values = {"missing": tmp_path / "nowhere", "empty": tmp_path / "empty", "studies": studies_folder}
    assert main(["calibrate", "--model", str(trained_bundle),
                 *[part.format(**values) for part in arguments]]) == 2
    assert message in _error_line(capsys)


def test_held_out_fraction_must_be_below_half(trained_bundle, studies_folder, capsys):
    with pytest.raises(SystemExit) as raised:
        main(["calibrate", "--model", str(trained_bundle), "--studies", str(studies_folder),
              "--held-out-fraction", "0.6"])
    assert raised.value.code == 2 and "between 0 and 0.5" in capsys.readouterr().err
