"""Lesion hit rates per slider threshold: hand-built sweeps and agreement with detection_report."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from cxrmodel.evaluation import lesion_masks_for_study, sweep_hit_rates
from cxrmodel.evaluation.detection_quality import DEFAULT_SWEEP, CounterfactualRenderer, chance_hit_rates

ROOT = Path(__file__).resolve().parents[2]
DEMO_MODEL = ROOT / "models" / "demo"
DEMO_STUDIES = ROOT / "studies" / "demo"
LESION_STUDY = "CXR90014"  # one nodule
NORMAL_STUDY = "CXR90001"

WIDTH, HEIGHT = 40, 30


def lesion(rows: slice, columns: slice) -> np.ndarray:
    mask = np.zeros((HEIGHT, WIDTH), dtype=bool)
    mask[rows, columns] = True
    return mask


LESION_A = lesion(slice(5, 10), slice(10, 15))  # rows 5-9, columns 10-14
LESION_B = lesion(slice(20, 25), slice(30, 35))  # rows 20-24, columns 30-34


def circle(x: float, y: float) -> dict:
    return {"x": x, "y": y, "r": 3.0, "points": 4, "mass": 0.1}


def hand_built_sweep() -> dict:
    return {
        "thresholds": [0.2, 0.4, 0.6, 0.8, 1.0],
        "circles": [
            [circle(12, 7), circle(32, 22), circle(2, 2)],  # both lesions and one miss
            [circle(12, 7), circle(11, 6), circle(2, 2)],  # two circles on lesion A: still one lesion
            [circle(9.6, 24.4)],  # nearest pixel is row 24, column 10: outside both lesions
            [circle(14.4, 9.4), circle(30.4, 19.6)],  # nearest pixels (9, 14) in A and (20, 30) in B
            [],
        ],
        "signals": [40, 30, 10, 8, 0],
        "image": {"width": WIDTH, "height": HEIGHT},
        "positive_mass": 12.5,
    }


def test_hit_rate_counts_lesions_with_a_circle_centre_inside_at_each_threshold():
    rates = sweep_hit_rates(hand_built_sweep(), [LESION_A, LESION_B])
    assert rates == [1.0, 0.5, 0.0, 1.0, 0.0]


def test_hit_rate_is_undefined_without_lesions():
    assert sweep_hit_rates(hand_built_sweep(), []) == [None] * 5


def test_masks_of_another_image_size_are_refused():
    with pytest.raises(ValueError, match="original-image pixels"):
        sweep_hit_rates(hand_built_sweep(), [LESION_A[:, :20]])


def test_chance_hit_rate_scores_each_lesion_against_the_circles_of_normal_studies():
    # Two normal studies, centres per threshold (x, y): the first lands on lesion A at the first threshold only,
    # the second on lesion B at both; a study of another image size is not compared.
    normal_studies = [
        ((HEIGHT, WIDTH), [[(12, 7)], [(2, 2)]]),
        ((HEIGHT, WIDTH), [[(32, 22), (1, 1)], [(31, 21)]]),
        ((HEIGHT + 1, WIDTH), [[(12, 7)], [(12, 7)]]),
    ]
    rates = chance_hit_rates([LESION_A, LESION_B], normal_studies, taus=2)
    # 4 (lesion, normal study) pairs: threshold 1 hits A-first and B-second, threshold 2 only B-second.
    assert rates.tolist() == [0.5, 0.25]
    assert chance_hit_rates([LESION_A], [], taus=2) is None


def _film(path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("L")).astype(np.float64)


def test_counterfactual_film_is_the_same_patient_without_the_finding(tiny_studies_directory):
    import io

    from cxrmodel.data.synthetic import IMAGES_FOLDER, load_truth

    record = load_truth(tiny_studies_directory)["CXR2"]  # cardiomegaly
    stored_path = next((tiny_studies_directory / IMAGES_FOLDER).glob("CXR2_*.png"))
    stored = _film(stored_path)
    without = _film(io.BytesIO(CounterfactualRenderer(tiny_studies_directory).without_findings(
        record, stored.astype(np.uint8))))
    (mask,) = lesion_masks_for_study(tiny_studies_directory, "CXR2")
    difference = np.abs(without - stored)
    assert without.shape == stored.shape
    assert difference[mask].mean() > 20 * max(difference[~mask].mean(), 0.01)  # the heart shrank, little else moved


def test_counterfactual_refuses_folders_it_cannot_reproduce(tiny_studies_directory, tmp_path):
    from cxrmodel.data.synthetic import IMAGES_FOLDER, load_truth

    with pytest.raises(ValueError, match="truth.json written by cxrmodel.data.synthetic.studies"):
        CounterfactualRenderer(tmp_path)  # no truth.json
    record = load_truth(tiny_studies_directory)["CXR2"]
    stored = _film(next((tiny_studies_directory / IMAGES_FOLDER).glob("CXR2_*.png")))
    with pytest.raises(ValueError, match="does not reproduce the stored film"):
        CounterfactualRenderer(tiny_studies_directory).without_findings(record, (255 - stored).astype(np.uint8))


def test_lesion_masks_come_from_the_study_folder_truth():
    (mask,) = lesion_masks_for_study(DEMO_STUDIES, LESION_STUDY)
    truth = {record["study_id"]: record for record in json.loads((DEMO_STUDIES / "truth.json").read_text())["studies"]}
    with_lesions = truth[LESION_STUDY]
    assert list(with_lesions["masks"]) == ["nodule"]
    assert mask.dtype == bool and mask.ndim == 2 and 0 < mask.sum() < mask.size / 10  # a nodule, not the film
    assert lesion_masks_for_study(DEMO_STUDIES, NORMAL_STUDY) == []
    assert lesion_masks_for_study(DEMO_STUDIES, "CXR00000") == []


def test_sweep_hit_rates_agree_with_detection_report_on_a_demo_study():
    pytest.importorskip("keras")
    from cxrmodel.data import StudyCollection
    from cxrmodel.detection import SLIDER_THRESHOLDS, circle_sweep
    from cxrmodel.evaluation.detection_quality import detection_report
    from cxrmodel.explain import ExplanationSettings, StudyExplainer
    from cxrmodel.modeling import load_bundle

    bundle = load_bundle(DEMO_MODEL)
    explainer = StudyExplainer(bundle)
    collection = StudyCollection.from_folder(DEMO_STUDIES)
    only_lesion_study = dataclasses.replace(collection, studies={LESION_STUDY: collection.studies[LESION_STUDY]})
    thresholds = tuple(sorted(set(DEFAULT_SWEEP) & set(SLIDER_THRESHOLDS)))  # 0.1, 0.2, ..., 0.9
    # The raw map (no smoothing): on it the nodule is found at low tau and lost at high tau, which gives the
    # comparison below something to disagree about.
    settings = ExplanationSettings(steps=16, attribution_smoothing=0.0)
    qualities = detection_report(explainer, only_lesion_study, thresholds, settings).thresholds

    study = collection.studies[LESION_STUDY]
    prepared, attribution, _, _ = explainer.attribute(study.image_paths[0].read_bytes(), study.report_text, settings)
    sweep = circle_sweep(attribution.image_attribution, prepared.mapping, bundle.config.default_link_distance,
                         settings.min_points, thresholds)
    rates = sweep_hit_rates(sweep, lesion_masks_for_study(DEMO_STUDIES, LESION_STUDY))

    assert len(thresholds) == 9
    assert rates == [quality.lesion_hit_rate for quality in qualities]
    assert len(set(rates)) > 1  # the nodule is found at low tau and lost at high tau: the comparison has teeth
