"""Agreement from stored reviews: the pointing game per tau, circle precision, best tau, Cohen's kappa; and on
the demo phantoms, reviewers' points on the lesion masks score exactly what ``evaluate-detection`` scores."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from cxrmodel.evaluation import lesion_masks_for_study, lesion_point, point_inside_circle
from cxrmodel.reviews import (
    CircleMark,
    FindingMark,
    ReviewDraft,
    ReviewStore,
    StoredReview,
    agreement_summary,
    cohen_kappa,
)
from tests.cxrmodel.reviews.conftest import HEIGHT, WIDTH, circle, study_record

ROOT = Path(__file__).resolve().parents[3]
DEMO_MODEL = ROOT / "models" / "demo"
DEMO_STUDIES = ROOT / "studies" / "demo"


def stored(reviewer: str, study, **draft) -> StoredReview:
    from datetime import datetime, timezone

    moment = datetime(2026, 1, 1, tzinfo=timezone.utc)
    return StoredReview(reviewer, study.checked(), ReviewDraft(**draft), moment, moment)


def test_a_point_is_hit_inside_a_circle_rounded_to_its_pixel_like_a_circle_centre_on_a_lesion_mask():
    from cxrmodel.evaluation import centre_inside

    disc = {"x": 10.3, "y": 7.6, "r": 3.0}
    rows, columns = np.mgrid[0:20, 0:25]
    mask = (columns - disc["x"]) ** 2 + (rows - disc["y"]) ** 2 <= disc["r"] ** 2  # the circle's pixels
    for x, y in [(10.3, 7.6), (13.2, 7.6), (13.6, 7.6), (7.5, 5.4), (12.49, 10.51), (0, 0), (24.4, 19.4)]:
        assert point_inside_circle(disc, x, y) == centre_inside(mask, x, y), (x, y)
    assert point_inside_circle(disc, 13.2, 7.6) and not point_inside_circle(disc, 13.6, 7.6)


def test_a_lesion_point_lies_on_its_mask_even_when_the_centroid_does_not():
    crescent = np.zeros((30, 30), dtype=bool)
    crescent[5:25, 5:9] = True
    crescent[5:9, 5:25] = True
    crescent[21:25, 5:25] = True  # a C: its centroid (column ~11, row 15) is outside it
    x, y = lesion_point(crescent)
    assert crescent[int(y), int(x)]
    with pytest.raises(ValueError, match="empty"):
        lesion_point(np.zeros((3, 3), dtype=bool))


def test_a_film_covered_by_circles_hits_every_point_by_size_alone_and_is_not_the_best_tau():
    # At a low tau one huge circle covers the film: every point is hit, but no better than chance.
    sweep = {"thresholds": [0.0, 0.4], "circles": [[circle(100, 80, 500)], [circle(52, 41, 8)]]}
    study = study_record("B", 0.9, sweep=sweep)
    reviews = [stored(reader, study, points=(FindingMark(50, 40),)) for reader in ("alice", "bob")]
    covering, focal = agreement_summary(reviews).thresholds
    assert (covering.pointing_hit_rate, covering.coverage, covering.above_chance) == (1.0, 1.0, 0.0)
    assert focal.pointing_hit_rate == 1.0 and focal.above_chance == pytest.approx(1 - np.pi * 64 / (WIDTH * HEIGHT),
                                                                                   rel=0.01)
    assert agreement_summary(reviews).best_sight_sensitivity == 0.4


def test_circle_coverage_counts_pixels_by_the_point_in_circle_rule():
    from cxrmodel.evaluation import circle_coverage

    discs = [{"x": 10.3, "y": 7.6, "r": 3.0}, {"x": 30, "y": 20, "r": 50}]
    inside = sum(point_inside_circle(discs[0], x, y) for x in range(40) for y in range(25))
    assert circle_coverage(discs[:1], 40, 25) == inside / (40 * 25)
    assert circle_coverage(discs, 40, 25) == 1.0 and circle_coverage([], 40, 25) == 0.0
    big = circle_coverage([{"x": 1000, "y": 1000, "r": 500}], 2000, 2000)  # sampled every 8th pixel
    assert big == pytest.approx(np.pi * 500**2 / 2000**2, rel=0.02)


def test_pointing_game_circle_precision_and_best_tau_on_hand_built_reviews():
    sweep = {"thresholds": [0.1, 0.5, 0.9],
             "circles": [[circle(50, 40, 20), circle(150, 100, 10), circle(20, 140, 5)],  # many: hits, and misses
                         [circle(50, 40, 12)],  # the finding only
                         []]}
    study = study_record("A", 0.9, sweep=sweep)
    reviews = [
        stored("alice", study, reading="abnormal", points=(FindingMark(55, 45), FindingMark(150, 95)),
               circles=(CircleMark(0.1, 0, "agree"), CircleMark(0.1, 2, "other"), CircleMark(0.5, 0, "agree"))),
        stored("bob", study, reading="abnormal", points=(FindingMark(52, 38),)),
        stored("carol", study_record("A", 0.9, fingerprint="earlier", sweep=sweep), reading="normal",
               points=(FindingMark(0, 0),)),
    ]
    summary = agreement_summary(reviews, "0123456789abcdef")
    low, middle, high = summary.thresholds
    image = WIDTH * HEIGHT  # the discs lie inside the image: coverage is their area, to pixel rounding
    assert (low.points, low.points_hit, low.pointing_hit_rate) == (3, 3, 1.0)
    assert low.coverage == pytest.approx(np.pi * (20**2 + 10**2 + 5**2) / image, rel=0.03)
    assert low.above_chance == pytest.approx(1.0 - low.coverage)
    assert (low.circles, low.circles_with_points, low.circle_precision) == (3, 2, pytest.approx(2 / 3))
    assert (low.circle_verdicts, low.circles_agreed, low.agreed_share) == (2, 1, 0.5)
    assert (middle.points_hit, middle.pointing_hit_rate) == (2, pytest.approx(2 / 3))  # (150, 95) is missed
    assert middle.coverage == pytest.approx(np.pi * 12**2 / image, rel=0.03)
    assert (middle.circle_precision, middle.agreed_share) == (1.0, 1.0)
    assert (high.pointing_hit_rate, high.coverage, high.above_chance, high.circles) == (0.0, 0.0, 0.0, 0)
    assert summary.best_sight_sensitivity == 0.1  # 100 % of the points for 5 % of the film beats 67 % for 1.4 %
    assert (summary.reviews, summary.reviewers, summary.studies, summary.reviews_on_earlier_models) == (2, 2, 1, 1)
    # the other model's review (carol) is left out; the default model is the one with the most reviews
    assert agreement_summary(reviews).bundle_fingerprint == "0123456789abcdef"


def test_kappa_model_against_readers_and_between_readers_is_scikit_learns():
    studies = [study_record(f"S{number}", probability) for number, probability in
               enumerate([0.9, 0.8, 0.2, 0.1, 0.7, 0.3])]
    readings = {"alice": ["abnormal", "normal", "normal", "normal", "abnormal", "unsure"],
                "bob": ["abnormal", "abnormal", "normal", "abnormal", "abnormal", "normal"]}
    reviews = [stored(reader, study, reading=reading) for reader, values in readings.items()
               for study, reading in zip(studies, values, strict=True)]
    summary = agreement_summary(reviews)
    decided = [(r.study.model_label, r.draft.reading) for r in reviews if r.draft.reading != "unsure"]
    assert summary.model_vs_reviewers.pairs == 11
    assert summary.model_vs_reviewers.kappa == pytest.approx(cohen_kappa_score(*zip(*decided, strict=True)))
    pairs = [(a, b) for a, b in zip(readings["alice"][:5], readings["bob"][:5], strict=True)]
    assert summary.between_reviewers.pairs == 5
    assert summary.between_reviewers.kappa == pytest.approx(cohen_kappa_score(*zip(*pairs, strict=True)))
    assert cohen_kappa(["normal"] * 3, ["normal"] * 3).kappa is None
    assert agreement_summary([]).between_reviewers.note == "no study was read by two reviewers"


@pytest.mark.slow
def test_reviews_summary_of_points_on_the_phantoms_lesions_gives_evaluate_detections_hit_rates(tmp_path, capsys):
    # Reviewers put their points on the demo phantoms' lesion masks (each lesion's lesion_point); the study
    # records hold the circles the dashboard shows (circle_sweep). `reviews summary` must then give, per tau,
    # the pointing hit rate that evaluate-detection's detection_report computes for the same points.
    pytest.importorskip("keras")
    from cxrmodel.cli.main import main
    from cxrmodel.data import StudyCollection
    from cxrmodel.detection import SLIDER_THRESHOLDS, circle_sweep
    from cxrmodel.evaluation.detection_quality import DEFAULT_SWEEP, detection_report
    from cxrmodel.explain import ExplanationSettings, StudyExplainer
    from cxrmodel.modeling import load_bundle
    from cxrmodel.reviews import study_content_hash
    from cxrmodel.reviews.records import StudyRecord

    lesion_studies = ("CXR90014", "CXR90017")  # a nodule, a mass
    bundle = load_bundle(DEMO_MODEL)
    explainer = StudyExplainer(bundle)
    collection = StudyCollection.from_folder(DEMO_STUDIES)
    chosen = dataclasses.replace(collection, studies={s: collection.studies[s] for s in lesion_studies})
    thresholds = tuple(sorted(set(DEFAULT_SWEEP) & set(SLIDER_THRESHOLDS)))  # 0.1, 0.2, ..., 0.9
    settings = ExplanationSettings(steps=16, attribution_smoothing=0.0)
    qualities = detection_report(explainer, chosen, thresholds, settings).thresholds

    url = f"sqlite:///{tmp_path / 'reviews.sqlite3'}"
    store = ReviewStore(url)
    for study_id in lesion_studies:
        study = collection.studies[study_id]
        image_bytes = study.image_paths[0].read_bytes()
        prepared, attribution, _, _ = explainer.attribute(image_bytes, study.report_text, settings)
        sweep = circle_sweep(attribution.image_attribution, prepared.mapping, bundle.config.default_link_distance,
                             settings.min_points, thresholds)
        record = StudyRecord(study_content_hash(image_bytes, study.report_text), bundle.fingerprint, study_id,
                             sweep["image"]["width"], sweep["image"]["height"], float(attribution.probability), sweep)
        points = tuple(FindingMark(*lesion_point(mask), "lesion")
                       for mask in lesion_masks_for_study(DEMO_STUDIES, study_id))
        for reviewer in ("reader1", "reader2", "reader3"):
            store.save(reviewer, record, ReviewDraft(verdict="helpful", reading="abnormal", points=points))
    store.close()

    assert main(["reviews", "summary", "--database", url, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["reviews"] == 6 and summary["bundle_fingerprint"] == bundle.fingerprint
    from_reviews = [row["pointing_hit_rate"] for row in summary["thresholds"]]
    assert [row["sight_sensitivity"] for row in summary["thresholds"]] == list(thresholds)
    assert from_reviews == [quality.pointing_hit_rate for quality in qualities]
    assert len(set(from_reviews)) > 1  # found at some tau and not at others: the comparison has teeth
