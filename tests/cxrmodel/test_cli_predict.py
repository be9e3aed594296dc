"""`python -m cxrmodel predict`: P(abnormal) per study of a folder, in either OpenI layout."""

from __future__ import annotations

import json

from cxrmodel.cli import main
from cxrmodel.cli._common import USER_ERROR_STATUS
from cxrmodel.data.openi import load_openi


def predictions(capsys, model, studies) -> dict[str, dict]:
    assert main(["predict", "--model", str(model), "--studies", str(studies), "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    return {line["study"]: line for line in lines}


def test_predict_reads_the_kaggle_layout_like_the_xml_layout(
    capsys, tiny_bundle_directory, tiny_studies_directory, tiny_kaggle_studies_directory
):
    from_xml = predictions(capsys, tiny_bundle_directory, tiny_studies_directory)
    from_kaggle = predictions(capsys, tiny_bundle_directory, tiny_kaggle_studies_directory)

    assert len(from_xml) >= 2
    assert from_kaggle.keys() == from_xml.keys()
    for study_id, line in from_xml.items():
        assert 0.0 <= line["probability"] <= 1.0
        assert from_kaggle[study_id]["label"] == line["label"]
        assert abs(from_kaggle[study_id]["probability"] - line["probability"]) < 1e-3


def test_label_is_the_prediction_and_truth_label_the_studys_own(capsys, tiny_bundle_directory, tiny_studies_directory):
    lines = predictions(capsys, tiny_bundle_directory, tiny_studies_directory)
    truth = {study.study_id: study.label_name for study in load_openi(tiny_studies_directory)}
    for study_id, line in lines.items():
        # Each line carries the study's disclosure decision beside its numbers (judged by the same check as
        # explain; the tiny bundle has no reference film, so nothing is withheld).
        assert list(line) == ["study", "label", "probability", "calibrated_probability", "judged",
                              "not_judged_reason", "shown_anyway", "truth_label"]
        assert line["judged"] is True and line["not_judged_reason"] is None
        if abs(line["probability"] - 0.5) > 1e-6:  # "probability" is rounded to 6 decimals, the label is not
            assert line["label"] == ("abnormal" if line["probability"] >= 0.5 else "normal")  # as explain --json's
        assert line["label"] in ("abnormal", "normal")
        assert line["truth_label"] == truth[study_id]
    assert set(truth.values()) == {"normal", "abnormal"}


def test_predict_on_a_folder_without_studies_is_one_line_exit_2(capsys, tiny_bundle_directory, tmp_path):
    assert main(["predict", "--model", str(tiny_bundle_directory), "--studies", str(tmp_path)]) == USER_ERROR_STATUS
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and error.startswith("error: no ") and str(tmp_path) in error


def test_predict_one_study_gives_the_probability_explain_gives(capsys, tiny_bundle_directory, tiny_studies_directory):
    # Issue #19 item 5: one study, no folder; the same P(abnormal) as explain for the same image and report text.
    from cxrmodel.data.synthetic import IMAGES_FOLDER

    study = load_openi(tiny_studies_directory, tiny_studies_directory / IMAGES_FOLDER)[0]
    report = "FINDINGS: Large right pleural effusion. IMPRESSION: Effusion."
    common = ["--model", str(tiny_bundle_directory), "--image", str(study.image_paths[0]), "--report-text", report,
              "--json"]
    assert main(["predict", *common]) == 0
    predicted = json.loads(capsys.readouterr().out)
    assert main(["explain", *common, "--steps", "8"]) == 0
    explained = json.loads(capsys.readouterr().out)
    assert predicted == {"study": str(study.image_paths[0]), "label": explained["label"],
                         "probability": explained["probability"],
                         "calibrated_probability": explained["calibrated_probability"],
                         "judged": explained["judged"], "not_judged_reason": explained["not_judged_reason"],
                         "shown_anyway": explained["shown_anyway"], "truth_label": None}


def test_predict_one_study_says_what_is_missing(capsys, tiny_bundle_directory, tmp_path):
    image = tmp_path / "film.png"
    assert main(["predict", "--model", str(tiny_bundle_directory), "--image", str(image),
                 "--report-text", "x"]) == USER_ERROR_STATUS
    assert "does not exist" in capsys.readouterr().err
    image.write_bytes(b"not an image")
    assert main(["predict", "--model", str(tiny_bundle_directory), "--image", str(image)]) == USER_ERROR_STATUS
    assert "--report" in capsys.readouterr().err
    assert main(["predict", "--model", str(tiny_bundle_directory), "--image", str(image),
                 "--report-text", "x"]) == USER_ERROR_STATUS
    assert "Traceback" not in capsys.readouterr().err
