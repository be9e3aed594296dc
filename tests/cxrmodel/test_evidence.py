"""Deletion evidence (cxrmodel.explain.evidence): every number is what the model gives for the input it names.

The central test rebuilds the inputs from the ``explain --json`` document alone — the circles in image pixels
mapped back to the model grid and imputed, the removed words by their offsets, the reference image of the bundle
— runs the demo model on them and gets the reported probabilities and log-odds. Others pin the log-odds (from the
pre-sigmoid output: finite where float32 P is exactly 1, and moving where P does not), the controls (same shapes
inside the chest, seeded), the disagreement flag, the cache round trip, old stored evidence computed again, the
clustering match and ``--evidence none|current|all``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest

from cxrmodel.detection import SLIDER_THRESHOLDS, Circle
from cxrmodel.explain import evidence as evidence_module
from cxrmodel.explain.evidence import (
    Evidence,
    ModalityAblation,
    chest_mask,
    circles_mask,
    modality_disagreements,
    random_circles_mask,
    scope_thresholds,
)
from cxrmodel.explain.removal import linear_imputation

ROOT = Path(__file__).resolve().parents[2]
DEMO_MODEL = ROOT / "models" / "demo"
DEMO_STUDIES = ROOT / "studies" / "demo"


def _film(size: int = 64) -> np.ndarray:
    """A dark border, a bright body and two dark lungs inside it (S, S, 3)."""
    image = np.zeros((size, size, 3), np.float32)
    image[8:60, 10:54] = 0.7
    image[14:44, 14:28] = 0.2  # lungs: darker than the body but enclosed by it
    image[14:44, 36:50] = 0.2
    return image


def test_the_chest_mask_is_the_body_with_the_lungs_inside_and_not_the_border():
    chest = chest_mask(_film())
    assert chest[30, 20] and chest[30, 40]  # lungs
    assert chest[10, 30]
    assert not chest[2, 2] and not chest[62, 30] and not chest[30, 5]


def test_random_disks_keep_their_shapes_and_stay_inside_the_chest():
    film = _film()
    chest = chest_mask(film)
    circles = [Circle(x=20.0, y=20.0, r=3.2, points=9, mass=0.3), Circle(x=40.3, y=30.6, r=1.4, points=3, mass=0.1)]
    original = circles_mask(circles, 64)
    for seed in range(5):
        placed = random_circles_mask(circles, chest, seed)
        assert placed.sum() == original.sum()  # same total area (the disks do not overlap each other here)
        assert not (placed & ~chest).any()  # never over the black border
    assert (random_circles_mask(circles, chest, 3) == random_circles_mask(circles, chest, 3)).all()  # seeded
    assert not (random_circles_mask(circles, chest, 0) == random_circles_mask(circles, chest, 1)).all()


def test_a_circle_covers_every_pixel_within_its_radius_and_no_other():
    circle = Circle(x=10.4, y=7.2, r=2.5, points=5, mass=0.2)
    mask = circles_mask([circle], 20)
    rows, columns = np.mgrid[0:20, 0:20]
    assert (mask == ((rows - 7.2) ** 2 + (columns - 10.4) ** 2 <= 2.5**2)).all()
    single = circles_mask([Circle(x=3.0, y=4.0, r=0.0, points=1, mass=0.1)], 8)
    assert single.sum() == 1 and single[4, 3]


def _stored_evidence(removal: str = "imputation") -> Evidence:
    return Evidence(
        reference="mean", probability=0.9, link_distance=7.143, min_points=2, smoothing=2.0,
        regions=(evidence_module.RegionDeletion(0.7, 1, 0.5, 0.88, 0.01, 0.0, 1.99),),
        words=(evidence_module.WordDeletion(1, 0.4, 0.89, (3,), -0.41, 2.09),),
        modality=ModalityAblation(0.8, 0.2, 0.1), log_odds=2.197,
        modality_log_odds=ModalityAblation(1.39, -1.39, -2.2), removal=removal, placements=5, forward_passes=20,
    )


def test_evidence_round_trips_through_its_dict_and_matches_only_its_clustering_and_removal():
    evidence = _stored_evidence()
    again = Evidence.from_dict(json.loads(json.dumps(evidence.to_dict())))
    assert again == evidence
    assert again.matches(7.143, 2, 2.0) and again.matches(7.143, 2, 2.0, "imputation")
    assert not again.matches(7.14, 2, 2.0) and not again.matches(7.143, 3, 2.0) and not again.matches(7.143, 2, 0)
    assert not again.matches(7.143, 2, 2.0, "reference")
    assert again.covers([0.7]) and not again.covers([0.7, 0.5]) and again.covers([])


def test_stored_evidence_of_the_old_meaning_is_not_read_as_the_new():
    old = _stored_evidence().to_dict()
    for key in ("log_odds", "modality_log_odds", "removal", "version"):
        del old[key]
    for row in old["regions"] + old["words"]:
        del row["log_odds"], row["random_log_odds"]
    with pytest.raises((KeyError, TypeError, ValueError)):
        Evidence.from_dict(old)  # version 1: no log-odds, the reference pasted in
    with pytest.raises(ValueError, match="version"):
        Evidence.from_dict(dict(_stored_evidence().to_dict(), version=1))


def test_rows_of_other_thresholds_are_added_not_replaced():
    first = _stored_evidence()
    other = dataclasses.replace(first, regions=(evidence_module.RegionDeletion(0.3, 2, 0.2, 0.8, 0.05, -1.4, 1.4),
                                                evidence_module.RegionDeletion(0.7, 9, 0.0, 0.0, 0.0, -9.0, -9.0)))
    merged = first.with_regions_of(other)
    assert [region.threshold for region in merged.regions] == [0.3, 0.7]
    assert merged.region_at(0.7) == first.regions[0]  # its own row wins
    assert merged.covers([0.3, 0.7])


def test_the_evidence_scope_names_the_thresholds_removed():
    assert scope_thresholds("none", 0.7) == ()
    assert scope_thresholds("current", 0.7) == (0.7,)
    assert scope_thresholds("all", 0.7) == tuple(SLIDER_THRESHOLDS)
    assert 0.71 in scope_thresholds("all", 0.71) and len(scope_thresholds("all", 0.71)) == len(SLIDER_THRESHOLDS) + 1
    with pytest.raises(ValueError, match="none, current, all"):
        scope_thresholds("some", 0.7)


def test_a_disagreement_is_flagged_when_ig_and_removal_tell_different_stories():
    # IG gives the image -15 %, yet removing it lowers P from 0.99 to 0.62: flagged, image only.
    found = modality_disagreements({"image": -0.15, "text": 1.15}, ModalityAblation(0.62, 0.06, 0.14), 0.99)
    assert [item.modality for item in found] == ["image"]
    assert found[0].ablation_share == pytest.approx((0.99 - 0.62) / (0.99 - 0.14))
    # Agreeing stories: nothing flagged.
    assert modality_disagreements({"image": 0.3, "text": 0.7}, ModalityAblation(0.75, 0.35, 0.1), 0.9) == []
    # A study at its reference: shares divide by almost nothing, no flag.
    assert modality_disagreements({"image": 5.0, "text": -4.0}, ModalityAblation(0.2, 0.9, 0.14), 0.15) == []


@pytest.fixture(scope="module")
def demo_document(tmp_path_factory):
    pytest.importorskip("keras")
    from cxrmodel.cli.main import main

    image = DEMO_STUDIES / "NLMCXR_png" / "CXR90015_IM-90015-1001.png"
    report = DEMO_STUDIES / "ecgen-radiology" / "90015.xml"
    output = tmp_path_factory.mktemp("explain") / "document.json"
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        status = main(["explain", "--model", str(DEMO_MODEL), "--image", str(image), "--report", str(report),
                       "--evidence", "all", "--json"])
    assert status == 0
    output.write_text(buffer.getvalue())
    return json.loads(buffer.getvalue()), image, report


def test_every_deletion_number_is_what_the_model_gives_for_that_input(demo_document):
    from cxrmodel.data.openi import parse_openi_xml
    from cxrmodel.explain import make_image_baseline
    from cxrmodel.imaging import decode_image
    from cxrmodel.modeling import load_bundle
    from cxrmodel.modeling.builders import log_odds_model
    from cxrmodel.text import PADDING_ID

    document, image_path, report_path = demo_document
    evidence = document["evidence"]
    assert evidence is not None and evidence["reference"] == document["settings"]["image_baseline"] == "mean"
    assert evidence["removal"] == "imputation"
    assert [region["threshold"] for region in evidence["regions"]] == list(SLIDER_THRESHOLDS)
    bundle = load_bundle(DEMO_MODEL)
    report = parse_openi_xml(report_path.read_bytes(), str(report_path)).report_text
    prepared = bundle.prepare(decode_image(image_path.read_bytes()).pixels, report)
    image, tokens = prepared.model_image, prepared.report.token_ids
    reference = make_image_baseline(image, "mean", bundle.image_baseline)
    size = image.shape[0]
    inputs, expected = [], []

    # Regions: the document's circles at tau (image pixels) -> model grid -> pixels within r -> reference there.
    tau = document["settings"]["sight_sensitivity"]
    region = next(entry for entry in evidence["regions"] if entry["threshold"] == tau)
    assert region["circles"] == len(document["circles"]) >= 1
    mapping = prepared.mapping
    rows, columns = np.mgrid[0:size, 0:size]
    mask = np.zeros((size, size), bool)
    for circle in document["circles"]:
        x, y = mapping.to_grid(circle["x"] + 0.5, circle["y"] + 0.5)
        # The document rounds to 3 decimals of an image pixel: allow that much on the radius (the farthest signal
        # lies exactly on the circle).
        x, y, r = x - 0.5, y - 0.5, mapping.length_to_grid(circle["r"] + 1e-3)
        mask |= (rows - y) ** 2 + (columns - x) ** 2 <= r**2
    inputs.append((linear_imputation(image, mask), tokens))  # filled in from the pixels around the circles
    expected.append(region["probability"])
    expected_log_odds = [region["log_odds"]]

    # Words: the removed words found by their offsets in the report, their slots set to padding.
    slot_of_start = {prepared.report.tokens[index].start: slot for slot, index in enumerate(prepared.report.positions)}
    for entry in evidence["words"]:
        removed = np.array(tokens, copy=True)
        removed[[slot_of_start[start] for start in entry["starts"]]] = PADDING_ID
        inputs.append((image, removed))
        expected.append(entry["probability"])
        expected_log_odds.append(entry["log_odds"])

    # The ledger: image -> reference, report -> padding, both.
    empty = np.full_like(tokens, PADDING_ID)
    for pair, name in (((reference, tokens), "image_removed"), ((image, empty), "report_removed"),
                       ((reference, empty), "both_removed")):
        inputs.append(pair)
        expected.append(evidence["modality"][name])
        expected_log_odds.append(evidence["modality"]["log_odds"][name])

    images, token_batch = np.stack([pair[0] for pair in inputs]), np.stack([pair[1] for pair in inputs])
    probabilities = bundle.predict(images, token_batch)
    np.testing.assert_allclose(probabilities, expected, atol=2e-5)
    # The log-odds are the pre-sigmoid output of the same inputs (4 decimals in the document).
    log_odds = log_odds_model(bundle.model).predict({"image": images, "report_tokens": token_batch}, verbose=0)
    np.testing.assert_allclose(log_odds.reshape(-1), expected_log_odds, atol=2e-4)
    # Removing both halves is the integrated-gradients reference pair.
    assert evidence["modality"]["both_removed"] == pytest.approx(
        document["completeness"]["baseline_probability"], abs=2e-5)
    assert evidence["probability"] == pytest.approx(document["probability"], abs=2e-5)


def test_the_random_control_is_the_median_over_the_seeded_placements(demo_document):
    from cxrmodel.data.openi import parse_openi_xml
    from cxrmodel.detection import smooth_attribution_map, sweep_circles
    from cxrmodel.explain import StudyExplainer
    from cxrmodel.modeling import load_bundle

    document, image_path, report_path = demo_document
    bundle = load_bundle(DEMO_MODEL)
    report = parse_openi_xml(report_path.read_bytes(), str(report_path)).report_text
    explainer = StudyExplainer(bundle, with_evidence=False)
    from cxrmodel.explain import ExplanationSettings

    prepared, attribution, _cached, _timing = explainer.attribute(image_path.read_bytes(), report,
                                                                  ExplanationSettings())
    chest = chest_mask(prepared.model_image)
    raw = attribution.raw_image_attribution
    raw = attribution.image_attribution if raw is None else raw
    index = SLIDER_THRESHOLDS.index(0.5)
    circles = sweep_circles(smooth_attribution_map(raw, bundle.config.default_attribution_smoothing), [0.5],
                            bundle.config.default_link_distance, 2)[0].circles
    masks = [random_circles_mask(circles, chest, seed) for seed in range(evidence_module.RANDOM_PLACEMENTS)]
    images = np.stack([linear_imputation(prepared.model_image, mask) for mask in masks])
    tokens = np.repeat(prepared.report.token_ids[None], len(masks), axis=0)
    median = float(np.median(bundle.predict(images, tokens)))
    assert document["evidence"]["regions"][index]["random_probability"] == pytest.approx(median, abs=2e-5)
    assert document["evidence"]["regions"][index]["circles"] == len(circles)


def test_a_cached_attribution_gets_its_evidence_and_other_clustering_gets_none(tmp_path):
    pytest.importorskip("keras")
    from cxrmodel.data.openi import parse_openi_xml
    from cxrmodel.explain import ExplanationCache, ExplanationSettings, StudyExplainer, explanation_document
    from cxrmodel.modeling import load_bundle

    bundle = load_bundle(DEMO_MODEL)
    image = (DEMO_STUDIES / "NLMCXR_png" / "CXR90003_IM-90003-1001.png").read_bytes()
    report = parse_openi_xml((DEMO_STUDIES / "ecgen-radiology" / "90003.xml").read_bytes(), "90003").report_text
    with ExplanationCache(tmp_path) as cache:
        StudyExplainer(bundle, cache, with_evidence=False).explain(image, report, ExplanationSettings())
        explainer = StudyExplainer(bundle, cache)
        assert explainer.cached(image, report, ExplanationSettings()).attribution.evidence is None
        explained = explainer.explain(image, report, ExplanationSettings())  # no gradients: forward passes only
        assert explained.cached and explained.attribution.evidence is not None
        settings = ExplanationSettings()
        web = StudyExplainer(load_bundle(DEMO_MODEL, load_model=False), cache)
        assert explanation_document(web.bundle, web.cached(image, report, settings), settings)["evidence"]
        other = ExplanationSettings(link_distance=4.0)
        assert explanation_document(web.bundle, web.cached(image, report, other), other)["evidence"] is None


def _demo_study(number: int) -> tuple[bytes, str]:
    from cxrmodel.data.openi import parse_openi_xml

    image = (DEMO_STUDIES / "NLMCXR_png" / f"CXR{number}_IM-{number}-1001.png").read_bytes()
    report = parse_openi_xml((DEMO_STUDIES / "ecgen-radiology" / f"{number}.xml").read_bytes(), str(number))
    return image, report.report_text


@pytest.fixture(scope="module")
def demo_explainer():
    pytest.importorskip("keras")
    from cxrmodel.explain import StudyExplainer
    from cxrmodel.modeling import load_bundle

    return StudyExplainer(load_bundle(DEMO_MODEL))


def test_a_saturated_study_still_shows_its_circles_effect_in_log_odds_read_from_the_logit(demo_explainer):
    from cxrmodel.explain import ExplanationSettings, explanation_document

    # CXR90023: the model's float32 P is exactly 1.0, so log(P / (1 - P)) would be infinite.
    settings = ExplanationSettings()
    explanation = demo_explainer.explain(*_demo_study(90023), settings, evidence_scope="current")
    document = explanation_document(demo_explainer.bundle, explanation, settings, evidence_scope="current")
    evidence = document["evidence"]
    assert document["probability"] == 1.0 and evidence["probability"] == 1.0
    assert math.isfinite(evidence["log_odds"]) and evidence["log_odds"] > 16.6
    (region,) = evidence["regions"]
    assert region["threshold"] == 0.7 and region["circles"] >= 1
    # P is 1.000 with and without the circles, yet removing them lowers the log-odds, more than random regions.
    assert region["probability"] == 1.0
    assert region["log_odds"] < evidence["log_odds"] - 0.5 < region["random_log_odds"]
    assert all(math.isfinite(row["log_odds"]) for row in evidence["words"])
    assert evidence["modality"]["log_odds"]["both_removed"] == pytest.approx(
        math.log(document["completeness"]["baseline_probability"]
                 / (1 - document["completeness"]["baseline_probability"])), abs=1e-3)


def test_the_current_tau_costs_a_few_forward_passes_and_is_the_same_row_as_the_whole_sweep(demo_explainer, tmp_path):
    from cxrmodel.explain import ExplanationCache, ExplanationSettings, StudyExplainer

    settings = ExplanationSettings()
    study = _demo_study(90015)
    with ExplanationCache(tmp_path) as cache:
        explainer = StudyExplainer(demo_explainer.bundle, cache)
        explainer._integrated_gradients = demo_explainer.integrated_gradients  # the compiled model, shared
        _prepared, bare, _cached, timing = explainer.attribute(*study, settings, evidence_scope="none")
        assert bare.evidence is None and "evidence" not in timing
        _prepared, current, cached, _timing = explainer.attribute(*study, settings, evidence_scope="current")
        assert cached  # no gradients again: the stored attribution gets its evidence at tau
        first = Evidence.from_dict(current.evidence)
        assert [region.threshold for region in first.regions] == [0.7]
        _prepared, whole, _cached, _timing = explainer.attribute(*study, settings, evidence_scope="all")
        completed = Evidence.from_dict(whole.evidence)
    assert [region.threshold for region in completed.regions] == list(SLIDER_THRESHOLDS)
    assert completed.region_at(0.7) == first.region_at(0.7)
    # Computed alone, the row at tau is the whole sweep's row (each row depends on its own threshold only).
    alone = demo_explainer.evidence(*demo_explainer.attribute(*study, settings, evidence_scope="none")[:2],
                                    settings, thresholds=SLIDER_THRESHOLDS)
    assert alone.region_at(0.7).log_odds == pytest.approx(first.region_at(0.7).log_odds, abs=1e-4)
    assert first.forward_passes < 60 < alone.forward_passes
