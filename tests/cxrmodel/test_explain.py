"""`python -m cxrmodel explain`: the stable JSON contract, words on the original report, clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("keras")

from cxrmodel.cli.main import main  # noqa: E402
from cxrmodel.data.openi import load_openi  # noqa: E402
from cxrmodel.data.synthetic import IMAGES_FOLDER  # noqa: E402
from cxrmodel.detection import (
    Circle,  # noqa: E402
    circles_to_image,  # noqa: E402
)
from cxrmodel.explain.evidence_text import region_sentence, signed_change  # noqa: E402
from cxrmodel.explain.verdict import VOCABULARY  # noqa: E402
from cxrmodel.imaging import GridMapping  # noqa: E402

REPORT = "No pneumothorax or pleural effusion.  Mild cardiomegaly, XXXX stable!"


@pytest.fixture(scope="module")
def study(tiny_studies_directory):
    return next(s for s in load_openi(tiny_studies_directory, tiny_studies_directory / IMAGES_FOLDER)
                if s.study_id == "CXR2")


def test_explain_prints_the_documented_json(tiny_bundle_directory, study, tmp_path, capsys):
    saved = tmp_path / "maps.npz"
    status = main(["explain", "--model", str(tiny_bundle_directory), "--image", str(study.image_paths[0]),
                   "--report-text", REPORT, "--threshold", "0.3", "--steps", "auto",
                   "--save-attributions", str(saved), "--json"])
    assert status == 0
    document = json.loads(capsys.readouterr().out)
    assert set(document) >= {"model", "probability", "label", "completeness", "modality_share", "image", "circles",
                             "words", "timing_ms"}
    assert document["image"] == {"width": 160, "height": 176}
    assert document["label"] == ("abnormal" if document["probability"] >= 0.5 else "normal")
    completeness = document["completeness"]
    assert completeness["relative_error"] <= 0.01 or not completeness["converged"]
    shares = document["modality_share"]
    assert shares["image"] + shares["text"] == pytest.approx(1.0, abs=max(0.02, 2 * completeness["relative_error"]))
    # Every word of the report as written, in order, offsets into the given text.
    words = document["words"]
    assert [w["text"] for w in words] == ["No", "pneumothorax", "or", "pleural", "effusion", "Mild", "cardiomegaly",
                                          "XXXX", "stable"]
    assert all(REPORT[w["start"]:w["end"]] == w["text"] for w in words)
    assert next(w for w in words if w["text"] == "or")["seen"] is False
    assert next(w for w in words if w["text"] == "or")["score"] == 0
    assert next(w for w in words if w["text"] == "No")["seen"] is True
    for circle in document["circles"]:
        assert 0 <= circle["x"] < 160 and 0 <= circle["y"] < 176 and circle["points"] >= 2
    arrays = np.load(saved)
    assert arrays["image_attribution"].shape == (32, 32)


def test_explain_reads_an_openi_xml_report(tiny_bundle_directory, tiny_studies_directory, study, capsys):
    xml = tiny_studies_directory / "ecgen-radiology" / "2.xml"
    assert main(["explain", "--model", str(tiny_bundle_directory), "--image", str(study.image_paths[0]),
                 "--report", str(xml), "--steps", "8", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert "".join(w["text"] for w in document["words"]) == "".join(
        w for w in study.report_text.replace(".", " ").replace(",", " ").split())


def test_section_headers_of_a_txt_report_are_shown_unseen_and_not_fed_to_the_model(
        tiny_bundle_directory, study, tmp_path, capsys):
    headed = tmp_path / "report.txt"
    headed.write_text(f"FINDINGS: {study.findings}\r\n\r\nIMPRESSION:\r\n{study.impression}\r\n", encoding="utf-8")
    runs = {}
    for name, report in (("headed", ["--report", str(headed)]), ("plain", ["--report-text", study.report_text])):
        saved = tmp_path / f"{name}.npz"
        assert main(["explain", "--model", str(tiny_bundle_directory), "--image", str(study.image_paths[0]), *report,
                     "--steps", "8", "--save-attributions", str(saved), "--json"]) == 0
        runs[name] = (json.loads(capsys.readouterr().out), dict(np.load(saved)))
    (document, arrays), (plain_document, plain_arrays) = runs["headed"], runs["plain"]
    np.testing.assert_array_equal(arrays["token_ids"], plain_arrays["token_ids"])
    assert document["probability"] == plain_document["probability"]
    text = f"FINDINGS: {study.findings}\n\nIMPRESSION:\n{study.impression}\n"  # line ends as the upload makes them
    headers = [w for w in document["words"] if w["text"] in ("FINDINGS", "IMPRESSION")]
    assert [(w["start"], w["end"], w["seen"], w["score"]) for w in headers] == [
        (0, 8, False, 0), (text.index("IMPRESSION"), text.index("IMPRESSION") + 10, False, 0)]
    assert all(text[w["start"]:w["end"]] == w["text"] for w in document["words"])
    assert [w["text"] for w in document["words"] if w["seen"]] == [w["text"] for w in plain_document["words"]
                                                                   if w["seen"]]


def test_saved_attributions_carry_the_grid_mapping_and_detect_repeats_the_explained_circles(
        tiny_bundle_directory, study, tmp_path, capsys):
    saved = tmp_path / "maps.npz"
    assert main(["explain", "--model", str(tiny_bundle_directory), "--image", str(study.image_paths[0]),
                 "--report-text", REPORT, "--threshold", "0.3", "--steps", "8", "--save-attributions", str(saved),
                 "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    arrays = np.load(saved)
    expected = GridMapping.for_image(image_width=160, image_height=176, grid_size=32)
    for field in ("scale", "offset_x", "offset_y", "image_width", "image_height", "grid_size"):
        assert arrays[f"mapping_{field}"].shape == ()
        assert arrays[f"mapping_{field}"].item() == getattr(expected, field)
    assert arrays["mapping_grid_size"].dtype == np.int64 and arrays["mapping_scale"].dtype == np.float64
    assert document["circles"], "the tiny model at tau 0.3 draws circles"
    link_distance = str(document["settings"]["link_distance_model_grid"])
    assert main(["detect", "--attributions", str(saved), "--threshold", "0.3", "--distance", link_distance,
                 "--json"]) == 0
    detected = json.loads(capsys.readouterr().out)
    assert detected["coordinates"] == "image" and detected["signals"] == document["signals"]
    assert len(detected["circles"]) == len(document["circles"])
    for mine, theirs in zip(detected["circles"], document["circles"], strict=True):
        assert {key: round(mine[key], 3) for key in ("x", "y", "r")} == {key: theirs[key] for key in ("x", "y", "r")}
        assert mine["points"] == theirs["points"] and round(mine["mass"], 6) == theirs["mass"]


def test_readable_output_rounds_and_carries_the_distribution_warning(tiny_bundle_directory, study, capsys):
    arguments = ["explain", "--model", str(tiny_bundle_directory), "--image", str(study.image_paths[0]),
                 "--report-text", REPORT, "--threshold", "0.3", "--steps", "8"]
    assert main([*arguments, "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert main(arguments) == 0
    lines = capsys.readouterr().out.splitlines()
    share = document["modality_share"]
    assert document["distribution"]["in_distribution"] is None  # the tiny bundle has no reference image
    # The verdict first (the document's, at its tau), then the one P.
    assert document["verdict"]["sentence"] in VOCABULARY and document["verdict"]["reason"]
    assert lines[0] == f"verdict: {document['verdict']['sentence']}"
    assert lines[1] == f"P(abnormal) = {document['probability']:.3f} ({document['label']})"
    assert lines[2] == ("warning: not checked whether this image looks like the model's training images: "
                        + "; ".join(document["distribution"]["reasons"]))
    def percent(share: float) -> str:
        return f"{round(100 * share, 1) + 0.0:.1f}%"

    assert lines[3] == (f"image share {percent(share['image'])}, report share {percent(share['text'])}; "
                        f"completeness error {document['completeness']['relative_error']:.2%}")
    circles = lines[4 : 4 + len(document["circles"])]
    assert [line.rsplit("mass=", 1)[1] for line in circles] == [percent(c["mass"]) for c in document["circles"]]
    after = lines[4 + len(document["circles"]):]
    assert after[0] == "calibrated P(abnormal) = n/a (the bundle is not calibrated)"
    evidence = document["evidence"]
    ledger, log_odds = evidence["modality"], evidence["log_odds"]
    assert after[1] == f"log-odds of abnormal = {log_odds:.2f} (the model output before its sigmoid)"
    region = evidence["regions"][0]
    assert region["threshold"] == 0.3  # --evidence current: the circles drawn
    assert after[2] == "at tau 0.30: " + region_sentence(
        region["circles"], 0.3, evidence["probability"], log_odds, region["probability"], region["log_odds"],
        region["random_log_odds"], "imputation")
    assert ("removed -> P (log-odds change): " + ", ".join(
        f"{half} {ledger[name]:.3f} ({signed_change(log_odds, ledger['log_odds'][name])})"
        for half, name in (("image", "image_removed"), ("report", "report_removed"), ("both", "both_removed")))
        in after)


def test_explain_evidence_none_current_all(tiny_bundle_directory, study, tmp_path, capsys):
    from cxrmodel.detection import SLIDER_THRESHOLDS

    def explain(*extra: str) -> dict:
        assert main(["explain", "--model", str(tiny_bundle_directory), "--image", str(study.image_paths[0]),
                     "--report-text", REPORT, "--threshold", "0.3", "--steps", "8", "--json", *extra]) == 0
        return json.loads(capsys.readouterr().out)

    none = explain("--evidence", "none")
    assert none["evidence"] is None and "evidence" not in none["timing_ms"]  # no forward pass spent on it
    current = explain()  # the default: the circles drawn at --threshold
    assert [row["threshold"] for row in current["evidence"]["regions"]] == [0.3]
    every = explain("--evidence", "all", "--cache-dir", str(tmp_path))
    rows = every["evidence"]["regions"]
    assert [row["threshold"] for row in rows] == list(SLIDER_THRESHOLDS)
    assert all({"log_odds", "random_log_odds"} <= set(row) for row in rows + every["evidence"]["words"])
    assert set(every["evidence"]["modality"]["log_odds"]) == {"image_removed", "report_removed", "both_removed"}
    # The row at tau is the same whichever scope computed it (the page computes all of them).
    same = next(row for row in rows if row["threshold"] == 0.3)
    assert same == pytest.approx(current["evidence"]["regions"][0], abs=2e-4)
    assert every["evidence"]["words"] == current["evidence"]["words"]
    cached_current = explain("--cache-dir", str(tmp_path))  # from the cache: still only the current row
    assert cached_current["evidence"]["regions"] == [same]
    reference = explain("--removal", "reference")
    assert reference["evidence"]["removal"] == "reference" and current["evidence"]["removal"] == "imputation"


def test_readable_lines_of_a_film_the_model_cannot_judge_carry_no_numbers_unless_shown_anyway():
    from cxrmodel.cli.explain import readable_explanation
    from cxrmodel.explain import Disclosure

    document = {"probability": 0.98765, "label": "abnormal", "modality_share": {"image": 1.0005553158007359,
                "text": -0.0004}, "completeness": {"relative_error": 0.0051}, "circles": [
                {"x": 10.4, "y": 20.6, "r": 3.0, "points": 4, "mass": 0.25}],
                "distribution": {"in_distribution": False, "score": 0.5, "reasons": ["upside down", "too dark"]}}
    withheld = readable_explanation(document)
    assert withheld[0] == "not judged: upside down; too dark"
    assert not any("0.988" in line or "circle at" in line or "share" in line for line in withheld)
    shown = readable_explanation(document, Disclosure.of(document, shown_anyway=True))
    assert shown == [
        "shown anyway — not judged: upside down; too dark",
        "Shown anyway: the model cannot judge this image; these numbers are not a judgement of it.",
        "P(abnormal) = 0.988 (abnormal)",
        "image share 100.1%, report share 0.0%; completeness error 0.51%",
        "circle at (10, 21) r=3 mass=25.0%",
    ]
    document["distribution"] = {"in_distribution": True, "score": 0.97, "reasons": []}
    judged = readable_explanation(document)
    assert judged[0] == "P(abnormal) = 0.988 (abnormal)" and not any("judged" in line or line.startswith("warning")
                                                                      for line in judged)


@pytest.mark.parametrize(
    ("make_image", "message"),
    [(lambda p: p.write_bytes(b""), "empty"), (lambda p: p.write_bytes(b"GIF89a not an x-ray"), "PNG, JPEG or DICOM")],
    ids=["empty-file", "unknown-format"],
)
def test_unreadable_image_exits_2_with_one_line(tiny_bundle_directory, tmp_path, capsys, make_image, message):
    image = tmp_path / "bad.png"
    make_image(image)
    status = main(["explain", "--model", str(tiny_bundle_directory), "--image", str(image), "--report-text", "x"])
    error = capsys.readouterr().err.strip()
    assert status == 2
    assert message in error and "\n" not in error and "Traceback" not in error


@pytest.mark.parametrize("where", ["{folder}", "{folder}/missing/maps.npz", "{file}/maps.npz"])
def test_save_attributions_needs_a_file_in_an_existing_folder(tiny_bundle_directory, study, tmp_path, capsys,
                                                              where):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep me")
    status = main(["explain", "--model", str(tiny_bundle_directory), "--image", str(study.image_paths[0]),
                   "--report-text", study.report_text,
                   "--save-attributions", where.format(folder=tmp_path, file=a_file)])
    error = capsys.readouterr().err.strip()
    assert status == 2
    assert "--save-attributions" in error and "\n" not in error and "Traceback" not in error
    assert a_file.read_text() == "keep me"


def test_missing_model_directory_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["explain", "--model", str(tmp_path / "nope"), "--image", "x.png", "--report-text", "x"])
    assert exit_info.value.code == 2
    assert "does not exist" in capsys.readouterr().err


def test_circles_land_on_the_original_image_pixels():
    mapping = GridMapping.for_image(image_width=400, image_height=200, grid_size=100)  # scale 0.25, pad 25 rows
    grid_circle = Circle(x=49.5, y=49.5, r=4.0, points=3, mass=0.5)  # the grid centre
    (image_circle,) = circles_to_image([grid_circle], mapping)
    assert image_circle.x == pytest.approx(199.5) and image_circle.y == pytest.approx(99.5)
    assert image_circle.r == pytest.approx(16.0)


def test_evaluate_detection_writes_json_and_chart(tiny_bundle_directory, tiny_studies_directory, tmp_path, capsys):
    status = main(["evaluate-detection", "--model", str(tiny_bundle_directory),
                   "--studies", str(tiny_studies_directory),
                   "--output", str(tmp_path), "--steps", "8", "--counterfactual"])
    assert status == 0
    document = json.loads((tmp_path / "detection-quality.json").read_text())
    thresholds = document["thresholds"]
    assert thresholds[0]["lesions"] == 3  # cardiomegaly, effusion, nodule in the tiny set
    assert all(0.0 <= row["lesion_hit_rate"] <= 1.0 for row in thresholds)
    for row in thresholds:  # the per-kind rates break the overall rate down, lesion by lesion
        assert row["lesions_by_kind"] == {"cardiomegaly": 1, "effusion": 1, "nodule": 1}
        assert set(row["hit_rate_by_kind"].values()) <= {0.0, 1.0}
        assert sum(row["hit_rate_by_kind"].values()) / 3 == pytest.approx(row["lesion_hit_rate"])
        # Three normal studies in the tiny set: each lesion mask scored against their circles.
        assert set(row["chance_hit_rate_by_kind"]) == {"cardiomegaly", "effusion", "nodule"}
        assert 0.0 <= row["chance_hit_rate"] <= 1.0
        # --counterfactual: each of the 3 lesions scored once more on its study re-rendered without the finding.
        assert row["counterfactual_hit_rate"] in (0.0, 1 / 3, 2 / 3, 1.0)
        assert set(row["counterfactual_hit_rate_by_kind"]) == {"cardiomegaly", "effusion", "nodule"}
    assert [row["sight_sensitivity"] for row in thresholds] == sorted(row["sight_sensitivity"] for row in thresholds)
    # Lesion by lesion, the outcomes the rates were counted from (which study missed, at which tau).
    lesions = document["lesions"]
    assert [(o["study_id"], o["kind"], o["severity"]) for o in lesions] == [
        ("CXR2", "cardiomegaly", 0.9), ("CXR4", "effusion", 0.8), ("CXR5", "nodule", 0.9)]
    # Issue #18: every abnormal study's deletion evidence per tau, the per-tau medians and the summary at tau 0.7.
    deletions = document["deletions"]
    assert {d["study_id"] for d in deletions} == {"CXR2", "CXR4", "CXR5"}
    for index, row in enumerate(thresholds):
        with_circles = [d for d in deletions if d["circles"][index] > 0]
        assert row["deletion_studies"] == len(with_circles)
        if with_circles:
            assert row["circles_beat_random_share"] == pytest.approx(
                sum(d["removed"][index] < d["random"][index] for d in with_circles) / len(with_circles))
            assert row["deletion_drop_median"] == pytest.approx(
                float(np.median([d["probability"] - d["removed"][index] for d in with_circles])))
    summary = document["deletion_at_default"]
    assert summary["sight_sensitivity"] == document["default_sight_sensitivity"]
    assert summary["abnormal_studies"] == 3 and summary["correctly_classified"] <= 3
    for index, row in enumerate(thresholds):
        assert sum(o["hits"][index] for o in lesions) / 3 == pytest.approx(row["lesion_hit_rate"])
        assert sum(o["hits_without_finding"][index] for o in lesions) / 3 == pytest.approx(
            row["counterfactual_hit_rate"])
    assert (tmp_path / "detection-quality.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("command", [
    ["evaluate-detection", "--model", "MODEL", "--studies", "STUDIES", "--output", "{file}"],
    ["evaluate-detection", "--model", "MODEL", "--studies", "STUDIES", "--output", "{file}/inside"],
    ["demo", "selection", "--output", "{file}"],
    ["synthetic", "--output", "{file}/inside", "--count", "1"],
])
def test_an_output_folder_that_is_a_file_is_refused_before_any_work(command, tiny_bundle_directory,
                                                                     tiny_studies_directory, tmp_path, capsys):
    existing_file = tmp_path / "notes.txt"
    existing_file.write_text("keep me")
    arguments = [part.format(file=existing_file).replace("MODEL", str(tiny_bundle_directory))
                 .replace("STUDIES", str(tiny_studies_directory)) for part in command]
    with pytest.raises(SystemExit) as exit_info:
        main(arguments)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--output" in error and "not a folder" in error and "Traceback" not in error
    assert existing_file.read_text() == "keep me"


def test_circle_sweep_matches_single_threshold_detection_in_image_coordinates():
    from cxrmodel.detection import circle_sweep, detect_circles

    rng = np.random.default_rng(3)
    attribution = rng.normal(size=(32, 32)).astype(np.float32)
    attribution[5:9, 20:25] += 6.0
    mapping = GridMapping.for_image(image_width=200, image_height=300, grid_size=32)
    sweep = circle_sweep(attribution, mapping, link_distance=2.0, min_points=2, thresholds=(0.3, 0.7))
    expected = circles_to_image(detect_circles(attribution, 0.7, 2.0, 2).circles, mapping)
    assert [c["points"] for c in sweep["circles"][1]] == [c.points for c in expected]
    assert sweep["circles"][1][0]["x"] == pytest.approx(expected[0].x, abs=0.01)
    assert sweep["image"] == {"width": 200, "height": 300}
    assert len(sweep["circles"][0]) >= 1 and sweep["signals"][0] >= sweep["signals"][1]


def test_circle_sweep_reports_the_positive_attribution_its_circle_masses_are_shares_of():
    from cxrmodel.detection import circle_sweep

    attribution = np.full((32, 32), -0.5, dtype=np.float32)  # negative evidence never counts
    attribution[5:9, 20:25] = 2.0  # one 20-pixel cluster: 40 units
    attribution[28, 2] = 1.0  # a lone positive pixel, below min_points: counted in the total, never circled
    mapping = GridMapping.for_image(image_width=200, image_height=300, grid_size=32)
    sweep = circle_sweep(attribution, mapping, link_distance=2.0, min_points=2, thresholds=(0.3, 1.0))
    assert sweep["positive_mass"] == pytest.approx(41.0)
    (circle,) = sweep["circles"][0]
    assert circle["mass"] * sweep["positive_mass"] == pytest.approx(40.0, abs=0.01)
    assert json.loads(json.dumps(sweep))["positive_mass"] == pytest.approx(41.0)  # plain JSON for the browser
    empty = circle_sweep(np.full((32, 32), -1.0), mapping, link_distance=2.0, min_points=2, thresholds=(0.5,))
    assert empty["positive_mass"] == 0.0 and empty["circles"] == [[]]


def test_smoothing_changes_the_circles_map_but_not_the_completeness(tiny_bundle_directory, study, tmp_path, capsys):
    from cxrmodel.detection import detect_circles, smooth_attribution_map

    documents, maps = {}, {}
    for sigma in ("0", "1.5"):
        saved = tmp_path / f"maps-{sigma}.npz"
        assert main(["explain", "--model", str(tiny_bundle_directory), "--image", str(study.image_paths[0]),
                     "--report-text", REPORT, "--threshold", "0.5", "--steps", "16", "--smoothing", sigma,
                     "--save-attributions", str(saved), "--json"]) == 0
        documents[sigma] = json.loads(capsys.readouterr().out)
        maps[sigma] = dict(np.load(saved))
    raw, smoothed = maps["0"], maps["1.5"]
    assert "image_attribution_raw" not in raw
    np.testing.assert_array_equal(smoothed["image_attribution_raw"], raw["image_attribution"])
    np.testing.assert_allclose(smoothed["image_attribution"], smooth_attribution_map(raw["image_attribution"], 1.5))
    assert not np.allclose(smoothed["image_attribution"], raw["image_attribution"])
    # Same attributions in total: the completeness figures and modality shares do not move.
    assert documents["1.5"]["completeness"] == documents["0"]["completeness"]
    for modality in ("image", "text"):
        assert documents["1.5"]["modality_share"][modality] == pytest.approx(documents["0"]["modality_share"][modality])
    assert documents["1.5"]["settings"]["attribution_smoothing"] == 1.5
    # The saved map is the one the circles were found on.
    detection = detect_circles(smoothed["image_attribution"], 0.5,
                               documents["1.5"]["settings"]["link_distance_model_grid"], 2)
    assert len(detection.circles) == len(documents["1.5"]["circles"])
    assert detection.signals == documents["1.5"]["signals"]
