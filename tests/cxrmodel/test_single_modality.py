"""Text-only and image-only bundles are first-class (issue #20 item 2): bundle, integrated gradients, the cache,
the deletion evidence, StudyExplainer and ``explain --json`` work for them as for the multimodal."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("keras")

from cxrmodel.cli.main import main  # noqa: E402
from cxrmodel.data.openi import load_openi  # noqa: E402
from cxrmodel.data.synthetic import IMAGES_FOLDER  # noqa: E402
from cxrmodel.explain import ExplanationCache, ExplanationSettings, StudyExplainer, explanation_document  # noqa: E402
from cxrmodel.explain.cache import decode_attribution, encode_attribution  # noqa: E402
from cxrmodel.explain.results import DIFFERENCE_FLOOR  # noqa: E402
from cxrmodel.modeling import BundleError, load_bundle  # noqa: E402

REPOSITORY = Path(__file__).resolve().parents[2]
DEMO_MODELS = REPOSITORY / "models" / "demo"
DEMO_STUDIES = REPOSITORY / "studies" / "demo"


def _first_study(studies_directory: Path):
    study = load_openi(studies_directory, studies_directory / IMAGES_FOLDER)[0]
    return study.image_paths[0].read_bytes(), study.report_text


def test_the_card_says_which_model_the_bundle_holds_and_a_mismatch_is_refused(tiny_text_bundle_directory,
                                                                              tiny_image_bundle_directory, tmp_path):
    text = load_bundle(tiny_text_bundle_directory, load_model=False)  # no TensorFlow needed to know the modality
    image = load_bundle(tiny_image_bundle_directory, load_model=False)
    assert (text.modality, text.reads_image, text.reads_report) == ("text", False, True)
    assert (image.modality, image.reads_image, image.reads_report) == ("image", True, False)
    # A card that claims the wrong model is caught when the model loads, with the fix in the message.
    copy = tmp_path / "bundle"
    shutil.copytree(tiny_text_bundle_directory, copy)
    card = json.loads((copy / "card.json").read_text())
    (copy / "card.json").write_text(json.dumps({**card, "modality": "multimodal"}))
    with pytest.raises(BundleError, match="holds the text only model but card.json says multimodal"):
        load_bundle(copy)
    (copy / "card.json").write_text(json.dumps({**card, "modality": "both"}))
    with pytest.raises(BundleError, match="'modality' must be one of"):
        load_bundle(copy, load_model=False)


@pytest.mark.parametrize("modality", ["text", "image"])
def test_integrated_gradients_of_a_single_modality_model_are_complete_and_only_in_its_half(
        modality, tiny_text_bundle_directory, tiny_image_bundle_directory, tiny_studies_directory):
    bundle = load_bundle(tiny_text_bundle_directory if modality == "text" else tiny_image_bundle_directory)
    explainer = StudyExplainer(bundle, with_evidence=False)
    image_bytes, report = _first_study(tiny_studies_directory)
    explanation = explainer.explain(image_bytes if modality == "image" else None, report, ExplanationSettings())
    attribution = explanation.attribution
    assert attribution.modality == modality
    assert attribution.completeness.relative_error <= 0.01
    # The probability is the model's own, on exactly the inputs it reads.
    prepared = explanation.prepared
    assert attribution.probability == pytest.approx(float(bundle.predict_studies([prepared])[0]), abs=1e-5)
    if modality == "text":
        assert attribution.image_attribution is None and prepared.model_image is None and explanation.circles == []
        assert math.isnan(attribution.modality_share["image"])
        if abs(attribution.completeness.expected) >= DIFFERENCE_FLOOR:
            assert attribution.modality_share["text"] == pytest.approx(1.0, abs=0.01)
        assert np.any(attribution.token_attribution != 0)
    else:
        assert attribution.token_attribution is None and attribution.token_share is None
        assert math.isnan(attribution.modality_share["text"])
        if abs(attribution.completeness.expected) >= DIFFERENCE_FLOOR:
            assert attribution.modality_share["image"] == pytest.approx(1.0, abs=0.01)
        assert attribution.image_attribution.shape == (32, 32)


def test_a_text_only_explanation_does_not_depend_on_the_image_and_is_cached_once(tiny_text_bundle_directory,
                                                                                  tiny_studies_directory, tmp_path):
    bundle = load_bundle(tiny_text_bundle_directory)
    studies = load_openi(tiny_studies_directory, tiny_studies_directory / IMAGES_FOLDER)
    report = studies[0].report_text
    with ExplanationCache(tmp_path / "cache") as cache:
        explainer = StudyExplainer(bundle, cache)
        settings = ExplanationSettings(steps=16)
        first = explainer.explain(None, report, settings)
        # Any film (or none) with the same report is the same text-only explanation: one entry, served from disk.
        again = explainer.explain(studies[1].image_paths[0].read_bytes(), report, settings)
        assert not first.cached and again.cached and len(cache) == 1
        np.testing.assert_array_equal(first.attribution.token_attribution, again.attribution.token_attribution)
        # The deletion evidence removes words, never regions.
        evidence = first.attribution.evidence
        assert evidence["regions"] == [] and evidence["words"]
        assert evidence["modality"]["image_removed"] == pytest.approx(evidence["probability"], abs=1e-6)


def test_an_image_only_explanation_keeps_its_map_through_the_cache_and_removes_no_words(
        tiny_image_bundle_directory, tiny_studies_directory, tmp_path):
    bundle = load_bundle(tiny_image_bundle_directory)
    image_bytes, report = _first_study(tiny_studies_directory)
    explanation = StudyExplainer(bundle).explain(image_bytes, report, ExplanationSettings(steps=16))
    stored = decode_attribution(encode_attribution(explanation.attribution))
    assert stored.token_attribution is None and stored.token_share is None
    np.testing.assert_array_equal(stored.image_attribution, explanation.attribution.image_attribution)
    evidence = explanation.attribution.evidence
    assert evidence["words"] == [] and len(evidence["regions"]) > 0
    assert evidence["modality"]["report_removed"] == pytest.approx(evidence["probability"], abs=1e-6)
    document = explanation_document(bundle, explanation, ExplanationSettings(steps=16))
    assert document["modality"] == "image" and document["words"] == []
    assert document["modality_share"]["text"] is None and document["distribution"] is not None


def test_an_image_only_bundle_needs_the_image(tiny_image_bundle_directory, tiny_studies_directory, capsys):
    _, report = _first_study(tiny_studies_directory)
    with pytest.raises(ValueError, match="image only model needs the study's image"):
        StudyExplainer(load_bundle(tiny_image_bundle_directory)).explain(None, report, ExplanationSettings())
    status = main(["explain", "--model", str(tiny_image_bundle_directory), "--report-text", report])
    error = capsys.readouterr().err.strip()
    assert status == 2 and "reads the radiograph: give it with --image FILE" in error and "\n" not in error


def test_explain_json_for_a_text_only_bundle_needs_no_image(tiny_text_bundle_directory, tiny_studies_directory,
                                                             capsys):
    _, report = _first_study(tiny_studies_directory)
    assert main(["explain", "--model", str(tiny_text_bundle_directory), "--report-text", report, "--json"]) == 0
    document = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert document["modality"] == "text" and document["model"]["modality"] == "text"
    assert document["image"] is None and document["distribution"] is None and document["circles"] == []
    assert document["completeness"]["relative_error"] <= 0.01
    seen = [word for word in document["words"] if word["seen"]]
    assert seen and sum(word["score"] for word in seen) == pytest.approx(document["completeness"]["sum"], abs=1e-5)
    assert main(["explain", "--model", str(tiny_text_bundle_directory), "--report-text", report, "--steps", "16"]) == 0
    assert "text-only model: it reads the report alone" in capsys.readouterr().out


@pytest.mark.parametrize("folder", ["text-only", "image-only"])
def test_the_demo_comparison_models_explain_every_demo_study_to_within_one_percent(folder):
    directory = DEMO_MODELS / folder
    if not (directory / "model.keras").is_file():
        pytest.fail(f"{directory} is missing: run 'python -m cxrmodel demo build-single-modality'")
    bundle = load_bundle(directory)
    explainer = StudyExplainer(bundle, with_evidence=False)
    studies = load_openi(DEMO_STUDIES, DEMO_STUDIES / IMAGES_FOLDER)
    assert len(studies) == 32
    errors = []
    for study in studies:
        attribution = explainer.integrated_gradients.explain(
            *_model_inputs(bundle, study), image_baseline=bundle.config.default_image_baseline)
        errors.append(attribution.completeness.relative_error)
    assert max(errors) <= 0.01, f"completeness errors above 1 %: {[e for e in errors if e > 0.01]}"


def _model_inputs(bundle, study):
    from cxrmodel.imaging import decode_image_file

    pixels = decode_image_file(study.image_paths[0]).pixels if bundle.reads_image else None
    prepared = bundle.prepare(pixels, study.report_text)
    return prepared.model_image, prepared.report.token_ids
