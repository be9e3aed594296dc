"""`pipeline --quick`: every transfer-learning stage runs on synthetic data, and its bundle works in the product.

One quick run (module fixture, about 1.5 minutes on 2 idle cores) is shared by the tests: they check the stage
outputs, the Table 3 analogue, the bundle (loads, explains a study through the CLI, serves the dashboard),
resuming, and then the argument checks of `train`, `evaluate-models` and `pipeline`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("keras")

from cxrmodel.cli.main import main  # noqa: E402


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory) -> tuple[Path, dict]:
    output = tmp_path_factory.mktemp("pipeline") / "run"
    status = main(["pipeline", "--output", str(output), "--quick", "--seed", "5"])
    assert status == 0
    return output, json.loads((output / "pipeline.json").read_text())


def _last_json(text: str) -> dict:
    return json.loads([line for line in text.splitlines() if line.startswith("{")][-1])


def test_quick_pipeline_runs_every_stage_and_writes_table3(quick_run):
    output, summary = quick_run
    assert summary["mode"] == "quick" and "not meaningful" in summary["note"]
    assert list(summary["stages"]) == ["pretraining_data", "pretraining", "word_vectors", "target_data", "evaluation",
                                       "bundle"]
    # a. ChestX-ray14-format pre-training set, larger than the target set; b. encoder pre-trained on it.
    entries = (output / "pretraining-data" / "Data_Entry_2017.csv").read_text().splitlines()
    assert (entries[0].startswith("Image Index,Finding Labels,")
            and len(entries) - 1 > summary["recipe"]["target_studies"])
    pretrained = json.loads((output / "pretrained-encoder" / "pretrain.json").read_text())
    assert len(pretrained["findings"]) == 14
    # c. word2vec in the standard text format; d. OpenI-format target set.
    count, dimension = map(int, (output / "word-vectors.txt").read_text().splitlines()[0].split())
    assert count > 20 and dimension == summary["recipe"]["embedding_dimension"]
    assert len(list((output / "target" / "ecgen-radiology").glob("*.xml"))) == summary["recipe"]["target_studies"]
    # e. Table 3 analogue over 3 stratified folds, with per-epoch curves, as JSON and PNG.
    table = json.loads((output / "evaluation" / "table3.json").read_text())
    assert table["folds"] == 3 and len(table["per_fold"]) == 3
    assert sum(fold["n_test"] for fold in table["per_fold"]) == table["n_studies"]
    for model in ("multimodal", "image", "text"):
        row = table["models"][model]
        assert 0.0 <= row["accuracy_mean"] <= 1.0 and row["accuracy_sd"] >= 0.0 and len(row["accuracy_per_fold"]) == 3
        assert table["curves"][model]["validation_accuracy"]
    assert table["transfer"]["image_encoder"].startswith("pre-trained on a ChestX-ray14-format set")
    assert (output / "evaluation" / "table3.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_quick_bundle_loads_and_says_it_is_synthetic(quick_run):
    from cxrmodel.modeling import load_bundle

    output, _ = quick_run
    bundle = load_bundle(output / "bundle")
    assert bundle.synthetic is True
    assert set(bundle.card["metrics"]) == {"multimodal", "image", "text"}
    assert "synthetic studies" in bundle.card["trained_on"]
    assert bundle.card["transfer"]["word_embedding"].startswith("initialised from word vectors")
    assert bundle.image_baseline is not None and bundle.config.default_image_baseline == "mean"


def test_train_fits_a_trust_profile_on_the_training_films_for_each_bundle_that_reads_films(quick_run):
    from cxrmodel.imaging.trust_profile import PROFILE_FILE
    from cxrmodel.modeling import load_bundle

    output, _ = quick_run
    bundle = load_bundle(output / "bundle", load_model=False)
    record = bundle.card["trust_profile"]
    assert record["fitted"] is True and bundle.trust_profile is not None
    # Fitted on the training films (70 % of the 96 studies), checked on the validation films it never saw.
    assert record["counts"]["training"] == bundle.trust_profile.counts["training"] >= 50
    assert 0 < record["counts"]["validation"] < record["counts"]["training"]
    assert (output / "bundle" / "image-only" / PROFILE_FILE).is_file()
    assert not (output / "bundle" / "text-only" / PROFILE_FILE).exists()
    # Its own studies are judged by its own profile, and most pass it.
    films = sorted((output / "target" / "NLMCXR_png").glob("*.png"))
    from cxrmodel.imaging import decode_image

    checks = [bundle.check_distribution(bundle.prepare(decode_image(film.read_bytes()).pixels, "")) for film in films]
    assert all(check.to_dict()["profile"]["source"] == "bundle" for check in checks)
    assert sum(check.in_distribution is True for check in checks) >= 0.9 * len(checks)


def test_quick_bundle_explains_one_of_its_studies(quick_run, capsys):
    output, _ = quick_run
    image = sorted((output / "target" / "NLMCXR_png").glob("*.png"))[0]
    number = image.name.split("_")[0].removeprefix("CXR")
    status = main(["explain", "--model", str(output / "bundle"), "--image", str(image),
                   "--report", str(output / "target" / "ecgen-radiology" / f"{number}.xml"), "--json",
                   "--threshold", "0.1", "--steps", "16"])
    assert status == 0
    document = _last_json(capsys.readouterr().out)
    assert 0.0 <= document["probability"] <= 1.0
    assert document["circles"], "no circle even at sight sensitivity 0.1"
    assert any(word["seen"] for word in document["words"])


@pytest.mark.parametrize(("folder", "modality"), [("text-only", "text"), ("image-only", "image")])
def test_train_writes_the_single_modality_bundles_it_trains_and_explain_reads_them(quick_run, capsys, folder,
                                                                                   modality):
    from cxrmodel.modeling import load_bundle

    output, _ = quick_run
    bundle = load_bundle(output / "bundle" / folder)
    multimodal = load_bundle(output / "bundle", load_model=False)
    assert bundle.modality == modality and bundle.card["modality"] == modality
    assert multimodal.modality == "multimodal" and bundle.fingerprint != multimodal.fingerprint
    # Same data and split as the multimodal: the card carries the held-out metrics of all three models.
    assert bundle.card["metrics"] == multimodal.card["metrics"]
    image = sorted((output / "target" / "NLMCXR_png").glob("*.png"))[0]
    number = image.name.split("_")[0].removeprefix("CXR")
    report = output / "target" / "ecgen-radiology" / f"{number}.xml"
    arguments = ["explain", "--model", str(bundle.path), "--report", str(report), "--json", "--steps", "16"]
    if modality == "image":
        arguments += ["--image", str(image)]
    assert main(arguments) == 0
    document = _last_json(capsys.readouterr().out)
    assert document["modality"] == modality
    if modality == "text":
        assert document["image"] is None and document["circles"] == [] and document["modality_share"]["image"] is None
        assert any(word["seen"] for word in document["words"])
    else:
        assert document["words"] == [] and document["modality_share"]["text"] is None
        assert document["image"]["width"] > 0


@pytest.mark.parametrize("folder", ["", "text-only", "image-only"])
def test_a_bundle_trained_on_a_tiny_folder_ends_not_calibrated_with_its_reason(quick_run, folder):
    """96 studies, 10 % for early stopping: too few validation studies for a temperature, said on the card."""
    from components import model_card
    from cxrmodel.modeling import load_bundle

    output, _ = quick_run
    bundle = load_bundle(output / "bundle" / folder, load_model=False)
    validation = bundle.card["label_counts"]["validation"]
    count = validation["abnormal"] + validation["normal"]
    assert count < 50 and bundle.calibration is None and bundle.calibrated_probability(0.9) is None
    assert bundle.not_calibrated.reason == (f"{count} studies ({validation['abnormal']} abnormal, "
                                            f"{validation['normal']} normal) are too few to fit a temperature on: "
                                            "the rule needs at least 50, with 10 of each label")
    assert bundle.not_calibrated.fitted_on.startswith(f"the {count} validation studies of this training")
    assert f"not calibrated: {bundle.not_calibrated.reason}" in model_card.calibration_text(bundle.calibration_record)


def test_dashboard_starts_on_the_quick_bundle(quick_run, tmp_path):
    from app import AppConfig, create_app

    output, _ = quick_run
    client = create_app(AppConfig(output / "bundle", output / "target", tmp_path)).server.test_client()
    response = client.get("/_dash-layout")
    assert response.status_code == 200
    layout = response.get_data(as_text=True)
    assert "CXR1" in layout and "not for clinical use" in layout


def test_rerun_reuses_every_stage_and_train_reuses_its_sub_models(quick_run, capsys):
    from cxrmodel.training.pipeline import QUICK
    from cxrmodel.training.target import TargetSettings, train_target_bundle
    from cxrmodel.training.transfer import TransferSources

    output, first = quick_run
    assert main(["pipeline", "--output", str(output), "--quick", "--seed", "5"]) == 0
    again = json.loads((output / "pipeline.json").read_text())
    assert all(stage["reused"] for stage in again["stages"].values())
    assert again["table3"] == first["table3"]
    capsys.readouterr()

    # The train stage kept its finished sub-models: the same training again trains nothing.
    settings = TargetSettings(seed=5, schedule=QUICK.schedule, model_overrides=dict(QUICK.model_overrides), eager=True)
    sources = TransferSources(image_encoder=output / "pretrained-encoder", word_vectors=output / "word-vectors.txt")
    card = train_target_bundle(output / "target", output / "bundle", settings, sources)
    assert card["reused"] == ["image", "text", "multimodal"]
    assert card["metrics"] == first["bundle_metrics"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["train", "--studies", "{missing}", "--output", "{tmp}/b"], "is not a folder"),
        (["train", "--studies", "{target}", "--output", "{tmp}/b", "--word-vectors", "{tmp}/none.txt"],
         "word vectors file"),
        (["train", "--studies", "{target}", "--output", "{tmp}/b", "--image-encoder", "{encoder}",
          "--image-size", "64"], "does not match the pre-trained image encoder"),
        (["train", "--studies", "{target}", "--output", "{tmp}/b", "--backbone", "vgg"], "unknown backbone"),
        (["train", "--studies", "{tmp}", "--output", "{tmp}/b"], "is neither an OpenI folder"),
        (["evaluate-models", "--studies", "{target}", "--folds", "1"], "--folds must be at least 2"),
        (["evaluate-models", "--studies", "{target}", "--folds", "3", "--chart", "{tmp}/chart.jpg"],
         "must end in .png"),
        (["evaluate-models", "--studies", "{target}", "--folds", "90"], "90 folds need at least 90 studies"),
        (["pipeline", "--output", "{file}"], "exists and is not a folder"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(quick_run, tmp_path, capsys, arguments, message):
    output, _ = quick_run
    (tmp_path / "file").write_text("x")
    values = {"missing": str(tmp_path / "missing"), "tmp": str(tmp_path), "target": str(output / "target"),
              "encoder": str(output / "pretrained-encoder"), "file": str(tmp_path / "file")}
    status = main([argument.format(**values) for argument in arguments])
    error = capsys.readouterr().err.strip()
    assert status == 2
    assert message in error and "\n" not in error and "Traceback" not in error


def test_image_encoder_and_chexnet_weights_are_exclusive(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--studies", str(tmp_path), "--output", str(tmp_path / "b"), "--image-encoder", str(tmp_path),
              "--image-weights", str(tmp_path / "w.h5")])
    assert exit_info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
